using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// For machines without a serial console (VMware, real hardware): the kernel's output is mirrored
/// on the VGA text screen and the shell reads the PS/2 keyboard. Checked through QEMU's monitor:
/// the screen memory is read back with `xp`, keys are typed with `sendkey`.
/// </summary>
public class ScreenAndKeyboardTests
{
    private readonly ITestOutputHelper _output;

    public ScreenAndKeyboardTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void BannerOnTheVgaScreen_AndShellCommandsFromThePs2Keyboard()
    {
        string socket = Path.Combine(Path.GetTempPath(), $"pk-monitor-{Guid.NewGuid():N}.sock");
        var boot = new QemuBoot { Machine = "pc", Memory = "256M", Input = "" };
        List<string> args = boot.Arguments();
        int monitor = args.IndexOf("-monitor");
        args[monitor + 1] = $"unix:{socket},server=on,wait=off";
        var psi = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using Process qemu = Process.Start(psi)!;
        var console = new StringBuilder();
        var reader = new Thread(() =>
        {
            var buffer = new char[4096];
            int n;
            while ((n = qemu.StandardOutput.Read(buffer, 0, buffer.Length)) > 0)
                lock (console)
                    console.Append(buffer, 0, n);
        }) { IsBackground = true };
        reader.Start();
        try
        {
            Assert.True(SpinWait.SpinUntil(() => { lock (console) return console.ToString().Contains("pk> "); }, 60000), "no prompt\n" + console);
            using var hmp = new QemuMonitor(socket);
            string Command(string text) => hmp.Command(text);
            // The whole 80x25 screen: its last lines hold the end of the boot log and the prompt.
            string dump = Command("xp /2000hx 0xb8000");
            var screen = new StringBuilder();
            foreach (Match line in Regex.Matches(dump, @"^[0-9a-f]{16}:((?: 0x[0-9a-f]{4})+)", RegexOptions.Multiline))
            {
                foreach (string cell in line.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    screen.Append((char)(Convert.ToInt32(cell[2..], 16) & 0xFF));
            }
            string cells = screen.ToString();
            for (int row = 0; row + 80 <= cells.Length; row += 80)
                _output.WriteLine("screen: " + cells.Substring(row, 80).TrimEnd());
            Assert.Equal(2000, cells.Length);
            Assert.Contains("pools:    ", cells);
            Assert.Contains("sums add up", cells);
            Assert.Contains("pk> ", cells);

            foreach (string key in new[] { "n", "u", "m", "a", "ret", "h", "a", "l", "t", "ret" })
                Command("sendkey " + key);
            Assert.True(qemu.WaitForExit(30000), "did not halt\n" + console);
            reader.Join(60000);
            string text;
            lock (console)
                text = console.ToString();
            _output.WriteLine(text);
            Assert.Equal(QemuResult.CleanHalt, qemu.ExitCode);
            Assert.Contains("pk> numa", text);
            Assert.Contains("pk> halt", text);
        }
        finally
        {
            if (!qemu.HasExited)
                qemu.Kill(entireProcessTree: true);
            File.Delete(socket);
        }
    }
}
