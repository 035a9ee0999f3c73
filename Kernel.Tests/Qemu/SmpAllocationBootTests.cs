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
}
