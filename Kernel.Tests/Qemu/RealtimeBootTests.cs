using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Realtime pools at boot (docs/realtime.md): a realtime pool from the command line, `rtbench` on the boot
/// CPU with the timer running while the other CPU runs `stress`, its one line with min, median, p99.9 and max
/// ticks and the most steps at or under the documented bound; the refusals (bad N; no realtime pool).
/// Every scripted command's line is asserted.
/// </summary>
public class RealtimeBootTests
{
    private readonly ITestOutputHelper _output;

    public RealtimeBootTests(ITestOutputHelper output) => _output = output;

    private static readonly Regex RtLine = new(
        @"^rtbench: 20000 ops on audio_rt \(cpu 0, timer on, stress on 1 other CPUs\): min (\d+) median (\d+) p99\.9 (\d+) max (\d+) ticks; steps max (\d+) \(bound (\d+)\); (\d+) out of memory$");

    [Fact]
    public void RtBench_WithStressOnTheOtherCpu_StaysWithinTheStepBound()
    {
        QemuResult result = new QemuBoot
        {
            Machine = "q35", Memory = "512M", Cpus = 2, Nodes = 1,
            KernelCommandLine = "pool=audio_rt:64M,rt,prio=10,min=16M run=\"rtbench 20000;rtbench 0;check\"",
            Timeout = TimeSpan.FromSeconds(180),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        string[] lines = result.Lines;
        int at = Array.IndexOf(lines, "pk> rtbench 20000");
        Assert.True(at >= 0, $"no rtbench echo\n{result}");
        // The stress the other CPU ran: its summary, its CPU line, its verdict; then the rtbench line.
        Assert.StartsWith("stress: 20000 operations (seed 1) on each of 1 CPUs: ", lines[at + 1]);
        Assert.StartsWith("stress: cpu 1 (node 0): ", lines[at + 2]);
        Assert.Equal("stress: ok, all memory returned, pool and heap checkers clean", lines[at + 3]);
        Match m = RtLine.Match(lines[at + 4]);
        Assert.True(m.Success, $"rtbench line: '{lines[at + 4]}'\n{result}");
        ulong N(int group) => ulong.Parse(m.Groups[group].Value);
        Assert.True(N(1) <= N(2) && N(2) <= N(3) * 2 && N(1) <= N(4), $"min <= median, max: {m.Value}");
        Assert.True(N(5) > 0 && N(5) <= N(6), $"steps {N(5)} within the bound {N(6)}");
        Assert.Equal(708UL, N(6));
        Assert.Equal(0UL, N(7));
        Assert.Equal("pk> rtbench 0", lines[at + 5]);
        Assert.Equal("rtbench: N '0' is out of range; expected 1..10000000", lines[at + 6]);
        BootTests.AssertContains(result, "check: ok");
    }

    [Fact]
    public void RtBench_WithoutARealtimePool_RunsNothing()
    {
        QemuResult result = new QemuBoot
        {
            Machine = "pc", Memory = "256M", Cpus = 1, Nodes = 1,
            KernelCommandLine = "run=\"rtbench\"",
            Timeout = TimeSpan.FromSeconds(60),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        int at = Array.IndexOf(result.Lines, "pk> rtbench");
        Assert.True(at >= 0, $"no rtbench echo\n{result}");
        Assert.Equal("rtbench: no realtime pool (boot with pool=NAME:SIZE,rt); nothing run", result.Lines[at + 1]);
    }
}
