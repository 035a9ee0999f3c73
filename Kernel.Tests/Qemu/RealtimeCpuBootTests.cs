using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The realtime CPU (docs/realtime.md "The realtime CPU", <c>rtcpu=N</c>): collections neither park it nor scan
/// it, so rtbench's loop there runs through a gcstress on the boot CPU (parked 0 times, steps within the bound),
/// and `gc` parks one CPU fewer; the bad tokens are refused one line each (the boot CPU at parse time, an absent
/// CPU and the housekeeping CPU when applied); the heap called on it stops the machine naming it.
/// Every scripted command's line is asserted.
/// </summary>
public class RealtimeCpuBootTests
{
    private readonly ITestOutputHelper _output;

    public RealtimeCpuBootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(string commandLine, int cpus = 3)
    {
        QemuResult result = new QemuBoot
        {
            Machine = "q35",
            Memory = "512M",
            Cpus = cpus,
            KernelCommandLine = commandLine,
            Timeout = TimeSpan.FromSeconds(240),
        }.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    /// <summary>The line after the prompt line of <paramref name="command"/> plus <paramref name="line"/> - 1.</summary>
    private static string Reply(QemuResult result, string command, int line = 1)
    {
        string[] lines = result.Lines;
        int at = Array.IndexOf(lines, "pk> " + command);
        Assert.True(at >= 0 && at + line < lines.Length, $"no prompt line for '{command}'\n{result}");
        return lines[at + line];
    }

    private static Match Matches(QemuResult result, string command, string pattern, int line = 1)
    {
        string reply = Reply(result, command, line);
        Match m = Regex.Match(reply, "^" + pattern + "$");
        Assert.True(m.Success, $"'{command}' answered '{reply}', not /{pattern}/\n{result}");
        return m;
    }

    private const string UnderTheHold = "': it ended under the hold";

    /// <summary>`rtbench hold CMD`'s last line: CMD ran on cpu 0 while cpu 2 held the realtime pool's locks.</summary>
    private static void AssertHeld(QemuResult result, string command, int line, string end = UnderTheHold)
        => Assert.Equal($"rtbench hold: cpu 2 held audio_rt's locks while cpu 0 ran '{command}" + end, Reply(result, "rtbench hold " + command, line));

    /// <summary>
    /// The reports and the movable areas (docs/realtime.md, "Administration"): while cpu 2 holds the realtime pool's
    /// locks as its realtime path does (`rtbench hold`), an area made, compacted (its mover), listed and freed, and the
    /// `fragindex`, `dmapools` (a virtio disk's DMA pool), `heaptest` (the pool named) and `bcache` (a cached sector) reports each end on cpu 0 under the hold: none
    /// takes a realtime pool's lock (with main's locks each took every lock and waited for the hold to run out: checked
    /// by hand, docs/realtime.md). Then rtbench on the
    /// realtime CPU runs through a `vareatest` on cpu 0 within its step bound, and everything is clean afterwards.
    /// </summary>
    [Fact]
    public void ReportsAndMovableAreas_EndWhileAnotherCpuHoldsTheRealtimePoolsLocks_AndRtBenchStaysWithinItsBound()
    {
        string image = VirtioBlockTests.CreateImage();
        QemuResult result;
        try
        {
            result = new QemuBoot
            {
                Machine = "q35", Memory = "512M", Cpus = 3,
                KernelCommandLine = "pool=audio_rt:64M,rt,prio=10 rtcpu=1 run=\"bcache read vda 5 2;rtbench hold vareatest 4M 3;rtbench hold vareas;" +
                    "rtbench hold fragindex;rtbench hold dmapools;rtbench hold heaptest 4;rtbench hold bcache;rtbench hold vfree 0;" +
                    "rtbench 20000 rtcpu vareatest 4M 3;vfree 0;check;halt\"",
                ExtraArgs = new[] { "-drive", $"file={image},if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-modern=on" },
                Timeout = TimeSpan.FromSeconds(240),
            }.Run();
        }
        finally
        {
            File.Delete(image);
        }
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        // A page in the sector cache and the driver's DMA pool, so that `bcache` and `dmapools` reach the pools' locks.
        Assert.Equal("bcache read: ok, 0 pages hit, 1 missed", Reply(result, "bcache read vda 5 2", 4));
        Matches(result, "rtbench hold vareatest 4M 3",
            @"vareatest: area 0, 1024 pages between \d+ fillers \(freed\); compact moved [1-9]\d* pages, [1-9]\d* of the area's frames; checksum intact");
        AssertHeld(result, "vareatest 4M 3", 2);
        Matches(result, "rtbench hold vareas", @"vareas: area 0 at 0xfffff00000000000, 1024 pages: node0 1024; moved \d+ by compaction, 0 by migration");
        Matches(result, "rtbench hold vareas", @"vareas: 1 areas; \d+ pages of reverse map and tables; \d+ shootdowns sent", 2);
        AssertHeld(result, "vareas", 3);
        // Four pools (the two set-up pools, audio_rt, the driver's DMA pool): a row each, the realtime pool's read as a snapshot.
        for (int pool = 0; pool < 4; pool++)
            Matches(result, "rtbench hold fragindex", $@"fragindex: pool {pool}:( -?\d+){{11}}  score \d+", 1 + pool);
        AssertHeld(result, "fragindex", 5);
        Matches(result, "rtbench hold dmapools", @"dma pool dma44-n0 \(pool 3\): below 2\^44, node 0, 2 MiB \(\d+ KiB free\), 3 buffers, grown 0 times");
        Assert.Equal("    user virtio-blk: 3 buffers, owner 63 (container)", Reply(result, "rtbench hold dmapools", 2));
        AssertHeld(result, "dmapools", 3);
        Matches(result, "rtbench hold heaptest 4", @"heaptest: 4 x 64 bytes from the CPU on node 0: by node 0=4, failed 0; managed objects on the local node \d/4");
        Matches(result, "rtbench hold heaptest 4", @"heaptest: first object in pool node0-\w+", 2);
        AssertHeld(result, "heaptest 4", 3);
        Assert.Equal("bcache: 1 pages (4 KiB, reclaimable, 1 in reclaimable page blocks), 0 dirty; 0 hits, 1 misses, 0 dropped, 0 written back, 0 lost",
            Reply(result, "rtbench hold bcache"));
        AssertHeld(result, "bcache", 2);
        Assert.Equal("vfree: area 0: 1024 frames and 3 page-table pages given back", Reply(result, "rtbench hold vfree 0"));
        AssertHeld(result, "vfree 0", 2);
        Matches(result, "rtbench 20000 rtcpu vareatest 4M 3",
            @"vareatest: area 0, 1024 pages between \d+ fillers \(freed\); compact moved \d+ pages, \d+ of the area's frames; checksum intact");
        Match rt = Matches(result, "rtbench 20000 rtcpu vareatest 4M 3",
            @"rtbench: (\d+) ops on audio_rt \(cpu 1, the realtime CPU, timer on, while cpu 0 ran 'vareatest 4M 3'\): min (\d+) median \d+ p99\.9 \d+ max (\d+) ticks; steps max (\d+) \(bound (\d+)\); 0 out of memory; \d+ collections meanwhile parked it 0 times; 0 barrier NMIs reached it", 2);
        Assert.True(long.Parse(rt.Groups[1].Value) >= 20000, result.ToString());
        Assert.True(long.Parse(rt.Groups[2].Value) <= long.Parse(rt.Groups[3].Value), result.ToString());
        Assert.Equal("13", rt.Groups[5].Value);
        Assert.True(int.Parse(rt.Groups[4].Value) > 0 && int.Parse(rt.Groups[4].Value) <= 13, $"steps above the bound\n{result}");
        Assert.Equal("vfree: area 0: 1024 frames and 3 page-table pages given back", Reply(result, "vfree 0"));
        Matches(result, "check", @"check: ok \(.*\)");
    }

    [Fact]
    public void RtBenchOnTheRealtimeCpu_RunsThroughGcstressCollections_NeverParked_WithinTheStepBound()
    {
        QemuResult result = Boot("pool=audio_rt:64M,rt,prio=10,min=16M rtcpu=1 run=\"gc;rtbench 20000 rtcpu gcstress 64;gc;check;halt\"");
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Contains("smp:      cpu 1 is the realtime CPU: collections neither park it nor scan its stack; it runs no heap code; cache freezes send it no NMI", result.Lines);
        // Two other CPUs online, one of them the realtime CPU: a collection parks one (without rtcpu=: 2, below).
        Matches(result, "gc", @"gc: freed \d+ objects \(\d+ bytes\); live \d+ objects \(\d+ bytes\); heap pages \d+ -> \d+; pause \d+ ticks; mark stack overflows 0; other CPUs parked 1 in \d+ ticks");
        Match stress = Matches(result, "rtbench 20000 rtcpu gcstress 64",
            @"gcstress: 64 MiB \(0 MiB extra live\) in \d+ objects, (\d+) collections \(longest pause \d+ ticks\); heap pages before \d+, after \d+; heap check ok; live set 64/64 intact");
        Assert.True(int.Parse(stress.Groups[1].Value) >= 1, result.ToString());
        Match rt = Matches(result, "rtbench 20000 rtcpu gcstress 64",
            @"rtbench: (\d+) ops on audio_rt \(cpu 1, the realtime CPU, timer on, while cpu 0 ran 'gcstress 64'\): min (\d+) median (\d+) p99\.9 (\d+) max (\d+) ticks; steps max (\d+) \(bound (\d+)\); 0 out of memory; (\d+) collections meanwhile parked it 0 times; 0 barrier NMIs reached it", 2);
        Assert.True(long.Parse(rt.Groups[1].Value) >= 20000, result.ToString());
        long min = long.Parse(rt.Groups[2].Value), max = long.Parse(rt.Groups[5].Value);
        Assert.True(min > 0 && min <= max, result.ToString());
        Assert.True(int.Parse(rt.Groups[6].Value) <= int.Parse(rt.Groups[7].Value), $"steps above the bound\n{result}");
        Assert.Equal("13", rt.Groups[7].Value);
        // The collections that ran while the realtime CPU measured: at least gcstress's.
        Assert.True(int.Parse(rt.Groups[8].Value) >= int.Parse(stress.Groups[1].Value), result.ToString());
        Matches(result, "gc", @"gc: freed \d+ objects \(\d+ bytes\); live \d+ objects \(\d+ bytes\); heap pages \d+ -> \d+; pause \d+ ticks; mark stack overflows 0; other CPUs parked 1 in \d+ ticks");
        Matches(result, "check", @"check: ok \(.*\)");
    }

    [Fact]
    public void BadRtcpuTokens_AreRefusedOneLineEach_AndEveryCpuIsParkedThen()
    {
        QemuResult result = Boot("rtcpu=0 rtcpu=5 run=\"gc;rtbench heap;rtbench 10 rtcpu gc;rtbench 10 rtcpu;halt\"");
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Contains("cmdline: 'rtcpu=0': rtcpu cannot be CPU 0, the boot CPU (it runs the shell and the collector); rtcpu ignored", result.Lines);
        Assert.Contains("cmdline: 'rtcpu=5': no CPU 5 is online (3 CPUs); rtcpu ignored", result.Lines);
        Assert.DoesNotContain(result.Lines, l => l.Contains("is the realtime CPU"));
        Matches(result, "gc", @"gc: .*; other CPUs parked 2 in \d+ ticks");
        Assert.Equal("rtbench heap: no realtime CPU (boot with rtcpu=N); nothing run", Reply(result, "rtbench heap"));
        Assert.Equal("rtbench: no realtime CPU (boot with rtcpu=N); nothing run", Reply(result, "rtbench 10 rtcpu gc"));
        Assert.Equal("usage: rtbench N rtcpu CMD... (CMD runs on this CPU meanwhile, e.g. gcstress 64)", Reply(result, "rtbench 10 rtcpu"));

        QemuResult housekeeper = Boot("rtcpu=2 run=\"halt\"");
        BootTests.AssertStatus(housekeeper, QemuResult.CleanHalt);
        Assert.Contains("cmdline: 'rtcpu=2': CPU 2 is the housekeeping CPU (drivers' polls, realtime pool resizing); rtcpu ignored", housekeeper.Lines);
    }

    [Fact]
    public void TheHeapCalledOnTheRealtimeCpu_StopsTheMachine_NamingIt()
    {
        QemuResult result = Boot("rtcpu=1 run=\"rtbench heap;halt\"");
        BootTests.AssertStatus(result, QemuResult.Panic);
        Assert.Equal("rtbench heap: cpu 1, the realtime CPU, makes a managed object", Reply(result, "rtbench heap"));
        Assert.Contains(result.Lines, l => l.EndsWith("PANIC: realtime cpu: the kernel heap was called on the realtime CPU (it must not allocate managed objects or heap blocks; docs/realtime.md) (cpu 1)"));
        Assert.DoesNotContain("rtbench heap: the object was made: the contract was not enforced", result.Lines);
    }
}
