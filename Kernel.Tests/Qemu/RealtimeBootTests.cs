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
        Assert.Equal(13UL, N(6));
        Assert.Equal(0UL, N(7));
        Assert.Equal("pk> rtbench 0", lines[at + 5]);
        Assert.Equal("rtbench: N '0' is out of range; expected 1..10000000", lines[at + 6]);
        BootTests.AssertContains(result, "check: ok");
    }

    private static readonly Regex RtCheckLine = new(
        @"^rtbench: 20000 ops on audio_rt \(cpu 0, timer on, check on cpu 1\): min (\d+) median (\d+) p99\.9 (\d+) max (\d+) ticks; steps max (\d+) \(bound (\d+)\); (\d+) out of memory$");

    private static readonly Regex CheckLoopLine = new(
        @"^rtbench: check on cpu 1 meanwhile: (\d+) runs, (\d+) clean, (\d+) busy \(realtime pool not checked\), (\d+) broken; longest realtime-lock section (\d+) steps \(bound (\d+)\)$");

    /// <summary>
    /// `rtbench N check` (docs/realtime.md, "Administration"): while CPU 0 times realtime operations, CPU 1 runs the
    /// pools' checker in a loop. The realtime operations stay within their step bound, every checker run is clean
    /// or names the realtime pool busy (never broken), and the longest section any non-realtime path held the
    /// realtime pool's lock is within the stated bound (1027 steps); afterwards `check` is clean.
    /// </summary>
    [Fact]
    public void RtBench_WithTheCheckerLoopingOnTheOtherCpu_HoldsTheRealtimePoolInBoundedSections()
    {
        QemuResult result = new QemuBoot
        {
            Machine = "q35", Memory = "512M", Cpus = 2, Nodes = 1,
            KernelCommandLine = "pool=audio_rt:64M,rt,prio=10,min=16M run=\"rtbench 20000 check;check\"",
            Timeout = TimeSpan.FromSeconds(180),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        string[] lines = result.Lines;
        int at = Array.IndexOf(lines, "pk> rtbench 20000 check");
        Assert.True(at >= 0, $"no rtbench echo\n{result}");
        Match m = RtCheckLine.Match(lines[at + 1]);
        Assert.True(m.Success, $"rtbench line: '{lines[at + 1]}'\n{result}");
        ulong N(Match match, int group) => ulong.Parse(match.Groups[group].Value);
        Assert.True(N(m, 5) > 0 && N(m, 5) <= N(m, 6), $"steps {N(m, 5)} within the bound {N(m, 6)}");
        Assert.Equal(13UL, N(m, 6));
        Assert.Equal(0UL, N(m, 7));
        Match c = CheckLoopLine.Match(lines[at + 2]);
        Assert.True(c.Success, $"check loop line: '{lines[at + 2]}'\n{result}");
        Assert.True(N(c, 1) >= 1 && N(c, 2) + N(c, 3) == N(c, 1), $"runs clean or busy: {c.Value}");
        Assert.Equal(0UL, N(c, 4));
        Assert.Equal(1027UL, N(c, 6));
        Assert.True(N(c, 5) > 0 && N(c, 5) <= N(c, 6), $"longest section {N(c, 5)} within the bound {N(c, 6)}");
        Assert.Equal("pk> check", lines[at + 3]);
        Assert.Equal("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", lines[at + 4]);
    }

    private static readonly Regex GrownLine = new(
        @"^\s+\d+ audio_rt\s+any\s+\S+\s+resv rt\s+10 kern\s+32768\s+32768\s+16$");

    private static readonly Regex IrqLine = new(
        @"^cpu (\d) irqalloc: realtime pool audio_rt orders 0-3 allocated and freed in the timer interrupt, steps max (\d+) \(bound 13\)$");

    /// <summary>
    /// An rt pool made smaller than its min= at boot (16 MiB of 32) grows to it with no command: the housekeeping
    /// CPU's timer ticks move page blocks from the set-up pool (`pools` shows 32768 kB after a sleep); then
    /// `cpu N irqalloc` on both CPUs also takes and frees a block of orders 0-3 on the rt pool in the timer
    /// interrupt, within the step bound.
    /// </summary>
    [Fact]
    public void RtPoolBelowItsMinimumAtBoot_GrowsOnTheHousekeepingTicks_AndServesTheTimerInterrupt()
    {
        QemuResult result = new QemuBoot
        {
            Machine = "q35", Memory = "512M", Cpus = 2, Nodes = 1,
            KernelCommandLine = "pool=audio_rt:16M,rt,prio=10,min=32M run=\"sleep 300;pools;cpu 0 irqalloc;cpu 1 irqalloc;check\"",
            Timeout = TimeSpan.FromSeconds(120),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        string[] lines = result.Lines;
        BootTests.AssertContains(result, "cmdline: pool audio_rt: created 16 MiB in node0-dma32; min above the size: the rt pool grows to it from lower priorities");
        int at = Array.IndexOf(lines, "pk> sleep 300");
        Assert.True(at >= 0, $"no sleep echo\n{result}");
        Assert.Equal("sleep: 300 ms (30 timer ticks; drivers polled by cpu 1)", lines[at + 1]);
        Assert.Equal("pk> pools", lines[at + 2]);
        Assert.StartsWith(" id name ", lines[at + 3]);
        int end = Array.IndexOf(lines, "pk> cpu 0 irqalloc", at);
        Assert.True(end > at, $"no irqalloc echo\n{result}");
        Assert.Single(lines[(at + 4)..end], l => GrownLine.IsMatch(l));
        for (int c = 0; c < 2; c++)
        {
            int i = Array.IndexOf(lines, $"pk> cpu {c} irqalloc");
            Assert.Matches($@"^cpu {c} irqalloc: page 0x[0-9a-f]+ and heap block 0x[0-9a-f]+ \(node 0\) allocated and freed in the timer interrupt$", lines[i + 1]);
            Match m = IrqLine.Match(lines[i + 2]);
            Assert.True(m.Success, $"rt irqalloc line: '{lines[i + 2]}'\n{result}");
            Assert.Equal(c.ToString(), m.Groups[1].Value);
            ulong steps = ulong.Parse(m.Groups[2].Value);
            Assert.True(steps > 0 && steps <= 13, $"steps {steps}");
        }
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
