using System.Globalization;
using System.Text.RegularExpressions;
using PoolKernel.Boot.Console;
using PoolKernel.Tests.Boot;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The hybrid ISO under UEFI firmware (OVMF, q35): GRUB's EFI image loads the kernel with multiboot2,
/// the shell answers over serial and `halt` ends the machine. OVMF boots take several seconds under
/// TCG, so the suite keeps to a handful of them.
/// </summary>
public class UefiBootTests
{
    private readonly ITestOutputHelper _output;

    public UefiBootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    /// <summary>
    /// Typed at the prompt (an ISO boot's command line is the one in grub.cfg): the memory map is the
    /// EFI one (efimap lists as many descriptors as the banner counted); meminfo's totals are the
    /// banner's usable RAM and add up, with RAM above 4 GiB and over two nodes; OVMF keeps at most
    /// 16 MiB of what QEMU was given.
    /// </summary>
    [Theory]
    [InlineData("1G", 1)]
    [InlineData("1G", 2)]
    [InlineData("6G", 1)]
    [InlineData("6G", 2)]
    public void Ovmf_BootsToTheShell_EfiMapUsed_MeminfoAddsUp_HaltExits33(string memory, int nodes)
    {
        QemuResult result = Boot(new QemuBoot { Uefi = true, Machine = "q35", Memory = memory, Nodes = nodes, Cpus = Math.Max(nodes, 1), Input = "efimap\rmeminfo\rhalt\r" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "loader:   multiboot2 (GRUB");
        BootTests.AssertContains(result, "screen:   framebuffer 1024x768x32 at 0x");
        Match map = Regex.Match(result.Console, @"map:      EFI memory map \(multiboot2 tag 17\): (\d+) descriptors, (\d+) entries once joined");
        Assert.True(map.Success, "the EFI map was not used\n" + result);
        BootTests.AssertContains(result, $"\n{map.Groups[1].Value} descriptors of 48 bytes, {map.Groups[2].Value} map entries once joined");
        Assert.Equal(int.Parse(map.Groups[1].Value), Regex.Matches(result.Console, @"^  0x[0-9a-f]{12}-0x[0-9a-f]{12} \w+ \(\d+\) attr 0x[0-9a-f]+ -> ", RegexOptions.Multiline).Count);
        Assert.DoesNotContain("memmap: ", result.Console);   // no unknown types, nothing the sanitizer had to fix
        // OVMF keeps its ACPI tables in ACPI-reclaimable memory; once they are read it is RAM (and in the usable total below).
        Assert.Matches(@"acpi: tables read; \d+ KiB of ACPI-reclaimable memory is available RAM now", result.Console);
        if (nodes > 1)
            BootTests.AssertContains(result, $"numa:     {nodes} nodes (SRAT)");
        if (QemuBoot.ParseSize(memory) > 3L << 30)
            BootTests.AssertContains(result, "0x000100000000-");
        BootTests.AssertContains(result, "; sums add up");
        long usable = BootTests.UsablePages(result) * 4096;
        long given = QemuBoot.ParseSize(memory);
        Assert.True(usable <= given && usable >= given - (16L << 20), $"usable {usable} vs -m {given}\n{result}");
        Match total = Regex.Match(result.Console, @"MemTotal \(usable RAM\): +(\d+) kB");
        Assert.True(total.Success, "meminfo did not answer\n" + result);
        Assert.Equal(usable / 1024, long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Matches(@"Sum: pools \+ reserved = (\d+) kB, usable = \1 kB: adds up", result.Console);
        BootTests.AssertContains(result, "pk> halt\r\nhalting");
    }
}

/// <summary>
/// The framebuffer console under OVMF, read back through QEMU's monitor (`screendump`, a PPM of the
/// GOP framebuffer): every line the serial console got from the banner's first to the prompt is on
/// the screen, in order from the top, pixel for pixel as the kernel's font renders it (light grey on
/// black), and the rest of the screen is black. Then the shell is driven from the PS/2 keyboard.
/// </summary>
public class UefiScreenTests
{
    private readonly ITestOutputHelper _output;

    public UefiScreenTests(ITestOutputHelper output) => _output = output;

    private const uint Grey = 0xAAAAAA, Black = 0;

    [Fact]
    public void Ovmf_FramebufferShowsTheSerialText_AndThePs2KeyboardDrivesTheShell()
    {
        string socket = Path.Combine(Path.GetTempPath(), $"pk-monitor-{Guid.NewGuid():N}.sock");
        string dump = Path.Combine(Path.GetTempPath(), $"pk-screen-{Guid.NewGuid():N}.ppm");
        var boot = new QemuBoot { Uefi = true, Machine = "q35", Memory = "1G", Input = "" };
        List<string> args = boot.Arguments();
        args[args.IndexOf("-monitor") + 1] = $"unix:{socket},server=on,wait=off";
        var psi = new System.Diagnostics.ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using var qemu = System.Diagnostics.Process.Start(psi)!;
        var console = new System.Text.StringBuilder();
        var reader = new Thread(() =>
        {
            var buffer = new char[4096];
            int n;
            while ((n = qemu.StandardOutput.Read(buffer, 0, buffer.Length)) > 0)
                lock (console)
                    console.Append(buffer, 0, n);
        }) { IsBackground = true };
        reader.Start();
        string Console() { lock (console) return console.ToString(); }
        try
        {
            Assert.True(SpinWait.SpinUntil(() => Console().Contains("pk> "), 120000), "no prompt\n" + Console());
            using var monitor = new QemuMonitor(socket);
            monitor.Command($"screendump {dump}");
            var (width, height, pixels) = Ppm.Read(dump, TimeSpan.FromSeconds(30));
            _output.WriteLine($"screendump {width}x{height}");

            // The serial lines from the banner's first to the prompt, as the screen should show them.
            string serial = Console().Replace("\r", "");
            int first = serial.IndexOf("PoolKernel - generic physical memory pools, in C#", StringComparison.Ordinal);
            Assert.True(first >= 0, "no banner\n" + serial);
            string[] lines = serial[first..].Split('\n');
            Assert.Equal("pk> ", lines[^1]);
            Assert.Contains($"screen:   framebuffer {width}x{height}x32 at ", serial);
            Assert.True(lines.Length <= height / 16, $"{lines.Length} lines do not fit {height / 16} rows: the test expects no scrolling");

            ConsoleFont font = PoolKernel.Tests.Boot.ConsoleFontTests.LoadKernelFont();
            uint[,] expected = ScreenText.Render(font, width, height, lines, Grey, Black);
            int lit = 0, wrong = 0;
            string firstWrong = null;
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    if (pixels[y, x] != Black)
                        lit++;
                    if (pixels[y, x] != expected[y, x] && wrong++ == 0)
                        firstWrong = $"pixel ({x},{y}) in text row {y / 16} (\"{(y / 16 < lines.Length ? lines[y / 16] : "")}\") is {pixels[y, x]:x6}, expected {expected[y, x]:x6}";
                }
            }
            _output.WriteLine($"{lit} pixels lit, {wrong} differ from the rendering of {lines.Length} serial lines");
            Assert.True(lit > 10000, $"the screen is (nearly) blank: {lit} pixels lit");
            Assert.True(wrong == 0, $"{wrong} pixels differ; first: {firstWrong}");

            foreach (string key in new[] { "h", "a", "l", "t", "ret" })
                monitor.Command("sendkey " + key);
            Assert.True(qemu.WaitForExit(60000), "did not halt\n" + Console());
            reader.Join(60000);
            _output.WriteLine(Console());
            Assert.Equal(QemuResult.CleanHalt, qemu.ExitCode);
            Assert.Contains("pk> halt\r\nhalting", Console());
        }
        finally
        {
            if (!qemu.HasExited)
                qemu.Kill(entireProcessTree: true);
            File.Delete(socket);
            File.Delete(dump);
            File.Delete(boot.VariableStore);
        }
    }
}

/// <summary>A QEMU human monitor on a unix socket: one command at a time, its answer read until the monitor is quiet.</summary>
internal sealed class QemuMonitor : IDisposable
{
    private readonly System.Net.Sockets.Socket _client;
    private readonly System.Net.Sockets.NetworkStream _stream;

    public QemuMonitor(string socketPath)
    {
        _client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        _client.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
        _stream = new System.Net.Sockets.NetworkStream(_client);
        Command("");
    }

    public string Command(string text)
    {
        _stream.Write(System.Text.Encoding.ASCII.GetBytes(text + "\n"));
        var answer = new System.Text.StringBuilder();
        var buffer = new byte[65536];
        for (int quiet = 0; quiet < 5; )
        {
            Thread.Sleep(100);
            if (_client.Available == 0)
            {
                quiet++;
                continue;
            }
            quiet = 0;
            answer.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, _stream.Read(buffer)));
        }
        return answer.ToString();
    }

    public void Dispose()
    {
        _stream.Dispose();
        _client.Dispose();
    }
}

/// <summary>QEMU's screendump format: binary PPM ("P6", width, height, 255, then RGB bytes).</summary>
internal static class Ppm
{
    /// <summary>Waits until the whole file is there (QEMU writes it asynchronously), then returns pixels as 0xRRGGBB.</summary>
    public static (int Width, int Height, uint[,] Pixels) Read(string path, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (File.Exists(path))
            {
                byte[] file = File.ReadAllBytes(path);
                int at = 0;
                string Token()
                {
                    while (at < file.Length && char.IsWhiteSpace((char)file[at]))
                        at++;
                    int start = at;
                    while (at < file.Length && !char.IsWhiteSpace((char)file[at]))
                        at++;
                    return System.Text.Encoding.ASCII.GetString(file, start, at - start);
                }
                if (Token() == "P6" && int.TryParse(Token(), out int w) && int.TryParse(Token(), out int h) && Token() == "255")
                {
                    at++;
                    if (file.Length - at >= w * h * 3)
                    {
                        var pixels = new uint[h, w];
                        for (int y = 0; y < h; y++)
                            for (int x = 0; x < w; x++, at += 3)
                                pixels[y, x] = ((uint)file[at] << 16) | ((uint)file[at + 1] << 8) | file[at + 2];
                        return (w, h, pixels);
                    }
                }
            }
            Assert.True(DateTime.UtcNow < deadline, $"no complete screendump at {path}");
            Thread.Sleep(200);
        }
    }
}
