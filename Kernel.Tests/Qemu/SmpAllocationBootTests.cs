using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Every CPU allocates (docs/smp.md): `stress` on all online CPUs at once, with frees of other CPUs'
/// blocks, a clean check afterwards and one line a CPU; heap blocks from each CPU on that CPU's node;
/// a page and a heap block allocated and freed in the timer interrupt of every CPU (`cpu N irqalloc`).
/// Multi-threaded TCG (QemuBoot always asks for it), CPUs dealt over the nodes round-robin: pc and
/// q35, 1, 2 and 4 CPUs, 1, 2 and 4 nodes.
/// </summary>
public class SmpAllocationBootTests
{
    private readonly ITestOutputHelper _output;

    public SmpAllocationBootTests(ITestOutputHelper output) => _output = output;

    private const int Operations = 5000;

    private static readonly Regex CpuLine = new(
        @"^stress: cpu (\d+) \(node (\d+)\): (\d+) page allocs \((\d+) refused\), (\d+) page frees \((\d+) of other CPUs' blocks\), " +
        @"(\d+) heap allocs \((\d+) refused, (\d+) on node (\d+)\), (\d+) heap frees; (\d+) cycles/op$");

    private static readonly Regex IrqAllocLine = new(
        @"^cpu (\d+) irqalloc: page 0x[0-9a-f]+ and heap block 0x[0-9a-f]+ \(node (\d+)\) allocated and freed in the timer interrupt$");

    [Theory]
    [InlineData("pc", 2, 1, 11)]
    [InlineData("q35", 4, 2, 12)]
    [InlineData("pc", 4, 2, 13)]
    [InlineData("q35", 1, 1, 14)]
    [InlineData("pc", 2, 2, 15)]
    [InlineData("q35", 4, 4, 16)]
    public void EveryCpu_Stresses_AtOnce_AllocatesInItsTimerInterrupt_AndOnItsNode(string machine, int cpus, int nodes, int seed)
    {
        string irqallocs = string.Join(";", Enumerable.Range(0, cpus).Select(c => $"cpu {c} irqalloc"));
        QemuResult result = new QemuBoot
        {
            Machine = machine, Memory = "512M", Cpus = cpus, Nodes = nodes,
            KernelCommandLine = $"run=\"stress {Operations} {seed};{irqallocs};check\"",
            Timeout = TimeSpan.FromSeconds(120),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, $"smp:      {cpus} of {cpus} CPUs online");

        string[] lines = result.Lines;
        int at = Array.IndexOf(lines, $"pk> stress {Operations} {seed}");
        Assert.True(at >= 0, $"no stress echo\n{result}");
        Assert.StartsWith($"stress: {Operations} operations (seed {seed}) on each of {cpus} CPUs: ", lines[at + 1]);
        long crossFrees = 0;
        for (int c = 0; c < cpus; c++)
        {
            Match m = CpuLine.Match(lines[at + 2 + c]);
            Assert.True(m.Success, $"cpu {c}'s stress line: '{lines[at + 2 + c]}'\n{result}");
            long N(int group) => long.Parse(m.Groups[group].Value);
            int node = nodes > 1 ? c % nodes : 0;
            Assert.True(N(1) == c && N(2) == node && N(10) == node, $"cpu {c} on node {node}: {m.Value}");
            long pageAllocs = N(3), pageRefused = N(4), heapAllocs = N(7), heapRefused = N(8), onNode = N(9), heapFrees = N(11);
            Assert.True(pageAllocs > Operations / 4 && pageRefused < pageAllocs, $"cpu {c} allocated pages: {m.Value}");
            Assert.True(heapAllocs > Operations / 20 && heapRefused == 0 && heapFrees == heapAllocs, $"cpu {c} heap: {m.Value}");
            // The heap asks for the CPU's node first; a block elsewhere only when that node is short.
            Assert.True(onNode * 100 >= heapAllocs * 95, $"cpu {c}: heap blocks on its node {onNode} of {heapAllocs}");
            Assert.True(N(12) > 0, $"cpu {c} cycles/op: {m.Value}");
            crossFrees += N(6);
        }
        Assert.True(cpus == 1 || crossFrees > 0, $"no CPU freed another CPU's block\n{result}");
        Assert.Equal("stress: ok, all memory returned, pool and heap checkers clean", lines[at + 2 + cpus]);

        for (int c = 0; c < cpus; c++)
        {
            string line = ShellCommandBootTests.LineAfter(result, $"cpu {c} irqalloc");
            Match m = IrqAllocLine.Match(line);
            Assert.True(m.Success, $"cpu {c} irqalloc: '{line}'\n{result}");
            Assert.Equal(c, int.Parse(m.Groups[1].Value));
            Assert.Equal(nodes > 1 ? c % nodes : 0, int.Parse(m.Groups[2].Value));
        }
        Assert.Equal("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", ShellCommandBootTests.LineAfter(result, "check"));
        BootTests.AssertContains(result, "heap check: ok");
    }

    /// <summary>
    /// Remote drains while every other CPU works its own caches (docs/smp.md, "A lock-free own cache"):
    /// `stress 3000 21 compact` on 4 CPUs, 2 nodes: CPUs 1-3 stress (their own caches' pops and pushes take no
    /// lock) while CPU 0 compacts every pool pass after pass and runs the checker after each, each pass and each
    /// check freezing every CPU's caches with one NMI barrier, waiting their owners out and draining them. Every
    /// stressing CPU's line, the compactor's line, a clean end and a clean `check`.
    /// </summary>
    [Fact]
    public void ThreeCpusStress_WhileTheFourthFreezesAndDrainsTheirCachesPassAfterPass_CheckerClean()
    {
        QemuResult result = new QemuBoot
        {
            Machine = "q35", Memory = "512M", Cpus = 4, Nodes = 2,
            KernelCommandLine = "run=\"stress 3000 21 compact;check\"",
            Timeout = TimeSpan.FromSeconds(240),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "smp:      4 of 4 CPUs online");
        string[] stress = VirtioBlockTests.Section(result, "stress 3000 21 compact");
        Match compact = Regex.Match(stress[0],
            @"^stress: cpu 0 compacted every pool (\d+) times while the others stressed: (\d+) pages moved, (\d+) of the area's 1024 frames; checker clean after every pass; area checksum intact$");
        Assert.True(compact.Success, $"compactor's line: '{stress[0]}'\n{result}");
        Assert.True(long.Parse(compact.Groups[1].Value) >= 1, stress[0]);
        Assert.Matches(@"^stress: 3000 operations \(seed 21\) on each of 3 CPUs: \d+ allocs \(\d+ refused\), \d+ frees \(\d+ left in the exchange\), \d+ checks; \d+ cycles/op$", stress[1]);
        long crossFrees = 0;
        for (int c = 1; c <= 3; c++)
        {
            Match m = CpuLine.Match(stress[1 + c]);
            Assert.True(m.Success, $"cpu {c}'s stress line: '{stress[1 + c]}'\n{result}");
            long N(int group) => long.Parse(m.Groups[group].Value);
            Assert.True(N(1) == c && N(2) == c % 2, $"cpu {c} on node {c % 2}: {m.Value}");
            Assert.True(N(3) > 3000 / 4 && N(4) < N(3), $"cpu {c} allocated pages: {m.Value}");
            Assert.True(N(8) == 0 && N(11) == N(7), $"cpu {c} heap: {m.Value}");
            crossFrees += N(6);
        }
        Assert.True(crossFrees > 0, $"no CPU freed another CPU's block\n{result}");
        Assert.Equal("stress: ok, all memory returned, pool and heap checkers clean", stress[5]);
        Assert.Equal(6, stress.Length);
        Assert.Equal("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", ShellCommandBootTests.LineAfter(result, "check"));
        BootTests.AssertContains(result, "heap check: ok");
    }
}
