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

    [Fact]
    public void RtBenchOnTheRealtimeCpu_RunsThroughGcstressCollections_NeverParked_WithinTheStepBound()
    {
        QemuResult result = Boot("pool=audio_rt:64M,rt,prio=10,min=16M rtcpu=1 run=\"gc;rtbench 20000 rtcpu gcstress 64;gc;check;halt\"");
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Contains("smp:      cpu 1 is the realtime CPU: collections neither park it nor scan its stack; it runs no heap code", result.Lines);
        // Two other CPUs online, one of them the realtime CPU: a collection parks one (without rtcpu=: 2, below).
        Matches(result, "gc", @"gc: freed \d+ objects \(\d+ bytes\); live \d+ objects \(\d+ bytes\); heap pages \d+ -> \d+; pause \d+ ticks; mark stack overflows 0; other CPUs parked 1 in \d+ ticks");
        Match stress = Matches(result, "rtbench 20000 rtcpu gcstress 64",
            @"gcstress: 64 MiB \(0 MiB extra live\) in \d+ objects, (\d+) collections \(longest pause \d+ ticks\); heap pages before \d+, after \d+; heap check ok; live set 64/64 intact");
        Assert.True(int.Parse(stress.Groups[1].Value) >= 1, result.ToString());
        Match rt = Matches(result, "rtbench 20000 rtcpu gcstress 64",
            @"rtbench: (\d+) ops on audio_rt \(cpu 1, the realtime CPU, timer on, while cpu 0 ran 'gcstress 64'\): min (\d+) median (\d+) p99\.9 (\d+) max (\d+) ticks; steps max (\d+) \(bound (\d+)\); 0 out of memory; (\d+) collections meanwhile parked it 0 times", 2);
        Assert.True(long.Parse(rt.Groups[1].Value) >= 20000, result.ToString());
        long min = long.Parse(rt.Groups[2].Value), max = long.Parse(rt.Groups[5].Value);
        Assert.True(min > 0 && min <= max, result.ToString());
        Assert.True(int.Parse(rt.Groups[6].Value) <= int.Parse(rt.Groups[7].Value), $"steps above the bound\n{result}");
        Assert.Equal("708", rt.Groups[7].Value);
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
