using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The virtio balloon driven from QEMU's monitor (docs/balloon.md): a 1 GiB q35 guest with an
/// elastic pool, a reserved pool and an elastic pool that is all guarantee; the host's `balloon`
/// command moves the guest without anyone typing, and the guest's `balloon`, `pools`, `meminfo`
/// and `check` say what happened. The host's view is the QEMU process's resident memory.
/// </summary>
public class BalloonBootTests
{
    private const long MiB = 1L << 20;
    private const string Pools = "pool=guest:256M,elastic pool=gold:64M,min=64M pool=floor:64M,elastic,min=64M";
    private readonly ITestOutputHelper _output;

    public BalloonBootTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Inflate_ShrinksElasticAndDefaultPools_NotGuaranteedOrReserved_HostMemoryDrops_StatsMatch_DeflateGivesAllBack()
    {
        using var s = new BalloonSession(_output, Pools, "deflate-on-oom=on");
        // Touch most of the guest's memory: four zeroed 180 MiB heap blocks (720 MiB), given back at once.
        string touched = s.Type("heaptest 4 180M");
        Assert.Contains("heaptest: 4 x 188743680 bytes from the CPU on node 0: by node 0=4, failed 0;", touched);
        Dictionary<string, PoolRow> before = PoolRows(s.Type("pools"));
        long rssTouched = s.ResidentBytes();

        var clock = Stopwatch.StartNew();
        s.Monitor("balloon 384");
        s.WaitForBalloon(384);
        long toTarget = clock.ElapsedMilliseconds;
        long rssInflated = s.ResidentBytes();
        _output.WriteLine($"balloon 384: target reached after {toTarget} ms; QEMU resident {rssTouched / MiB} MiB -> {rssInflated / MiB} MiB");

        string balloon = s.Type("balloon");
        Assert.Contains("balloon: target 640 MiB, actual 640 MiB (320 page blocks of 2048 kB)", balloon);
        Assert.Matches(@"balloon: lent by pool: .*\bguest \d+ kB", balloon);
        Assert.Matches(@"balloon: inflated 320 deflated 0 page blocks \(\d+ / 0 cycles\), deflated on out of memory 0, stats sent \d+, features 0x6", balloon);
        Assert.Contains("balloon: free page reports 0", balloon);

        string pools = s.Type("pools");
        Dictionary<string, PoolRow> after = PoolRows(pools);
        Dictionary<int, long> lent = LentByPool(pools, out long lentTotal);
        Assert.Equal(640 * 1024, lentTotal);
        Assert.Equal(lentTotal, lent.Values.Sum());
        // The elastic pool lent (nearly) all of itself; the reserved pool, the all-guarantee elastic
        // pool and the low DMA pool lent nothing and are as they were.
        Assert.True(lent.GetValueOrDefault(after["guest"].Id) >= 250 * 1024, pools);
        foreach (string kept in new[] { "gold", "floor", "node0-dma" })
        {
            Assert.False(lent.ContainsKey(after[kept].Id), kept + " lent memory\n" + pools);
            Assert.Equal(before[kept], after[kept]);
        }

        // One 'b' a lent page block: the elastic pool's line counts them.
        string pageblocks = s.Type("pageblocks");
        Assert.Matches(@"pool guest:\r?\n(?:  0x[0-9a-f]+ [b.#1-9 ]+\r?\n)+  empty \d+, partly used \d+, full \d+, ballooned 12[5-8]\r?\n", pageblocks);
        int lentBlocks = Regex.Matches(pageblocks, @"^  0x[0-9a-f]+ (.*)$", RegexOptions.Multiline).Sum(m => m.Groups[1].Value.Count(c => c == 'b'));
        Assert.Equal(320, lentBlocks);

        string meminfo = s.Type("meminfo");
        long present = Kb(meminfo, "Pools present"), free = Kb(meminfo, "  free"), inUse = Kb(meminfo, "  in use"), ballooned = Kb(meminfo, "  ballooned");
        Assert.Equal(640 * 1024, ballooned);
        Assert.Equal(present, free + inUse + ballooned);
        Assert.Contains("kB: adds up", meminfo);

        // The host's view: most of the inflated memory left the QEMU process.
        Assert.True(rssTouched - rssInflated >= 512 * MiB, $"resident {rssTouched / MiB} MiB -> {rssInflated / MiB} MiB after lending 640 MiB");

        // The guest's statistics as the host sees them: free memory within 3% of meminfo's.
        s.Monitor("qom-set /machine/peripheral/balloon0 guest-stats-polling-interval 1");
        string stats = "";
        for (int i = 0; i < 20 && !Regex.IsMatch(stats, "\"last-update\": [1-9]"); i++)
        {
            Thread.Sleep(500);
            stats = s.Monitor("qom-get /machine/peripheral/balloon0 guest-stats");
        }
        _output.WriteLine(stats);
        long statFree = long.Parse(Regex.Match(stats, "\"stat-free-memory\": (\\d+)").Groups[1].Value);
        long statTotal = long.Parse(Regex.Match(stats, "\"stat-total-memory\": (\\d+)").Groups[1].Value);
        long freeNow = Kb(s.Type("meminfo"), "  free") * 1024;
        Assert.InRange(statFree, freeNow * 97 / 100, freeNow * 103 / 100);
        Assert.Equal((present - ballooned) * 1024, statTotal);
        Assert.Matches(@"stats sent [2-9]|stats sent \d\d", s.Type("balloon"));

        clock.Restart();
        s.Monitor("balloon 1024");
        s.WaitForBalloon(1024);
        _output.WriteLine($"balloon 1024: target reached after {clock.ElapsedMilliseconds} ms");
        balloon = s.Type("balloon");
        Assert.Contains("balloon: target 0 MiB, actual 0 MiB (0 page blocks of 2048 kB)", balloon);
        Assert.Contains("balloon: lent by pool: none", balloon);
        Assert.Contains("inflated 320 deflated 320 page blocks", balloon);
        pools = s.Type("pools");
        Assert.DoesNotContain("ballooned:", pools); // the line is there only while the balloon holds memory
        Dictionary<string, PoolRow> back = PoolRows(pools);
        foreach (var (name, row) in before)
            Assert.Equal(row.PresentKb, back[name].PresentKb);
        Assert.Contains("check: ok", s.Type("check"));
        s.Halt();
    }

    [Fact]
    public void DeflateOnOom_ExhaustTakesTheLentMemory_ThenTheBalloonRefills_AndFreePageReportingDropsFreedMemory()
    {
        using var s = new BalloonSession(_output, Pools, "deflate-on-oom=on,free-page-reporting=on");
        s.Monitor("balloon 384");
        s.WaitForBalloon(384);
        Assert.Contains("balloon: target 640 MiB, actual 640 MiB", s.Type("balloon"));

        // Free page reporting: touch 300 MiB, free it; the idle guest reports it and the host drops it.
        long rssBefore = s.ResidentBytes();
        Assert.Contains("heaptest: 1 x 314572800 bytes from the CPU on node 0: by node 0=1, failed 0;", s.Type("heaptest 1 300M"));
        long rssTouched = s.ResidentBytes();
        long rssReported = rssTouched;
        // The guest waits about two seconds before it reports freed memory (as Linux does).
        for (int i = 0; i < 80 && rssTouched - rssReported < 200 * MiB; i++)
        {
            Thread.Sleep(250);
            rssReported = s.ResidentBytes();
        }
        _output.WriteLine($"free page reporting: resident {rssBefore / MiB} -> {rssTouched / MiB} (touched) -> {rssReported / MiB} MiB (reported)");
        Assert.True(rssTouched - rssBefore >= 200 * MiB, $"touching 300 MiB raised resident memory only {(rssTouched - rssBefore) / MiB} MiB");
        Assert.True(rssTouched - rssReported >= 200 * MiB, $"resident {rssTouched / MiB} MiB -> {rssReported / MiB} MiB after freeing 300 MiB");
        Assert.Matches(@"balloon: free page reports [1-9]\d*, last \d+ blocks", s.Type("balloon"));

        // Out of memory with 640 MiB lent: the balloon gives it back and the allocations go on.
        string exhaust = s.Type("exhaust", TimeSpan.FromSeconds(120));
        long taken = long.Parse(Regex.Match(exhaust, @"exhaust: out of memory after taking (\d+) pages").Groups[1].Value);
        Assert.True(taken * 4096 > 900 * MiB, exhaust);
        Assert.Contains("check: ok", exhaust);
        string balloon = s.Type("balloon");
        long oomDeflated = long.Parse(Regex.Match(balloon, @"deflated on out of memory (\d+)").Groups[1].Value);
        Assert.True(oomDeflated >= 300, balloon);
        // The target did not change: the idle guest lends the memory again.
        string again = "";
        for (int i = 0; i < 60 && !again.Contains("balloon: target 640 MiB, actual 640 MiB"); i++)
        {
            Thread.Sleep(250);
            again = s.Type("balloon");
        }
        Assert.Contains("balloon: target 640 MiB, actual 640 MiB", again);
        s.WaitForBalloon(384);
        Assert.Contains("check: ok", s.Type("check"));

        // Unloading the driver takes everything back (the device is told) and stops the device.
        Assert.Contains("unload: virtio-balloon stopped, memory returned", s.Type("unload virtio-balloon"));
        Assert.Contains("balloon: no virtio-balloon device", s.Type("balloon"));
        Assert.DoesNotContain("ballooned:", s.Type("pools"));
        Assert.Contains("  ballooned:                        0 kB", s.Type("meminfo"));
        Assert.Contains("check: ok", s.Type("check"));
        s.Halt();
    }

    private sealed record PoolRow(int Id, long PresentKb, long FreeKb);

    private static Dictionary<string, PoolRow> PoolRows(string pools)
    {
        var rows = new Dictionary<string, PoolRow>();
        foreach (Match m in Regex.Matches(pools, @"^\s*(\d+) (\S+)\s.*?\s(\d+)\s+(\d+)\s+\d+\s*$", RegexOptions.Multiline))
            rows[m.Groups[2].Value] = new PoolRow(int.Parse(m.Groups[1].Value), long.Parse(m.Groups[3].Value), long.Parse(m.Groups[4].Value));
        return rows;
    }

    /// <summary>The pools report's "ballooned: N kB, pool ID K kB, ..." line.</summary>
    private static Dictionary<int, long> LentByPool(string pools, out long total)
    {
        Match line = Regex.Match(pools, @"^ballooned: (\d+) kB(.*)$", RegexOptions.Multiline);
        Assert.True(line.Success, pools);
        total = long.Parse(line.Groups[1].Value);
        var lent = new Dictionary<int, long>();
        foreach (Match m in Regex.Matches(line.Groups[2].Value, @", pool (\d+) (\d+) kB"))
            lent[int.Parse(m.Groups[1].Value)] = long.Parse(m.Groups[2].Value);
        return lent;
    }

    private static long Kb(string meminfo, string row)
    {
        Match m = Regex.Match(meminfo, "^" + Regex.Escape(row) + @":\s+(\d+) kB", RegexOptions.Multiline);
        Assert.True(m.Success, row + " not in\n" + meminfo);
        return long.Parse(m.Groups[1].Value);
    }

    /// <summary>
    /// A QEMU guest at the shell prompt with a virtio-balloon device (id balloon0) and the monitor on
    /// a socket: <see cref="Type"/> types a command and returns its output up to the next prompt.
    /// </summary>
    private sealed class BalloonSession : IDisposable
    {
        private readonly ITestOutputHelper _output;
        private readonly Process _qemu;
        private readonly StringBuilder _console = new();
        private readonly Thread _reader;
        private readonly string _socket = Path.Combine(Path.GetTempPath(), $"pk-balloon-{Guid.NewGuid():N}.sock");
        private readonly QemuMonitor _monitor;

        public BalloonSession(ITestOutputHelper output, string commandLine, string balloonOptions)
        {
            _output = output;
            var boot = new QemuBoot
            {
                Machine = "q35", Memory = "1G", Input = "", KernelCommandLine = commandLine,
                ExtraArgs = new[] { "-device", "virtio-balloon-pci,id=balloon0,disable-modern=on," + balloonOptions },
            };
            List<string> args = boot.Arguments();
            args[args.IndexOf("-monitor") + 1] = $"unix:{_socket},server=on,wait=off";
            var psi = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            foreach (string a in args)
                psi.ArgumentList.Add(a);
            _qemu = Process.Start(psi)!;
            _reader = new Thread(() =>
            {
                var buffer = new char[4096];
                int n;
                while ((n = _qemu.StandardOutput.Read(buffer, 0, buffer.Length)) > 0)
                    lock (_console)
                        _console.Append(buffer, 0, n);
            }) { IsBackground = true };
            _reader.Start();
            WaitFor(0, "pk> ", TimeSpan.FromSeconds(60));
            _monitor = new QemuMonitor(_socket);
        }

        private string Console
        {
            get
            {
                lock (_console)
                    return _console.ToString();
            }
        }

        private string WaitFor(int from, string text, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < deadline)
            {
                string c = Console;
                int at = c.IndexOf(text, from, StringComparison.Ordinal);
                if (at >= 0)
                    return c.Substring(from, at - from);
                Thread.Sleep(50);
            }
            throw new Xunit.Sdk.XunitException($"'{text}' did not appear\n--- console ---\n{Console}");
        }

        public string Type(string command) => Type(command, TimeSpan.FromSeconds(60));

        public string Type(string command, TimeSpan timeout)
        {
            int from = Console.Length;
            _qemu.StandardInput.Write(command + "\n");
            _qemu.StandardInput.Flush();
            // The echo of the command line, then its output up to the next prompt.
            WaitFor(from, command, timeout);
            string output = WaitFor(from, "\npk> ", timeout);
            _output.WriteLine("pk> " + output.TrimStart());
            return output;
        }

        public string Monitor(string command) => _monitor.Command(command);

        /// <summary>Waits until `info balloon` reports <paramref name="mib"/> MiB of guest memory (the guest reached the target).</summary>
        public void WaitForBalloon(int mib)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            string info = "";
            while (DateTime.UtcNow < deadline)
            {
                info = Monitor("info balloon");
                if (info.Contains($"balloon: actual={mib}\r") || info.Contains($"balloon: actual={mib}\n"))
                    return;
            }
            throw new Xunit.Sdk.XunitException($"info balloon never said actual={mib}: {info}\n--- console ---\n{Console}");
        }

        /// <summary>The QEMU process's resident memory (VmRSS of /proc/PID/status), in bytes.</summary>
        public long ResidentBytes()
        {
            foreach (string line in File.ReadAllLines($"/proc/{_qemu.Id}/status"))
            {
                if (line.StartsWith("VmRSS:"))
                    return long.Parse(Regex.Match(line, @"\d+").Value) * 1024;
            }
            throw new InvalidOperationException("no VmRSS");
        }

        public void Halt()
        {
            _qemu.StandardInput.Write("halt\n");
            _qemu.StandardInput.Flush();
            Assert.True(_qemu.WaitForExit(30000), "did not halt\n" + Console);
            Assert.Equal(QemuResult.CleanHalt, _qemu.ExitCode);
        }

        public void Dispose()
        {
            _monitor?.Dispose();
            if (!_qemu.HasExited)
                _qemu.Kill(entireProcessTree: true);
            _qemu.WaitForExit(10000);
            _output.WriteLine("--- console ---\n" + Console);
            File.Delete(_socket);
        }
    }
}
