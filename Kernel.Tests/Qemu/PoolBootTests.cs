using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The kernel's memory is pools (issue 4): the pools found at boot match the memory map and the
/// SRAT, the sums add up, the allocator survives a long checked stress run, out of memory is clean.
/// </summary>
public class PoolBootTests
{
    private const ulong Dma = 16UL << 20, Dma32 = 4UL << 30;
    private readonly ITestOutputHelper _output;

    public PoolBootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    [Theory]
    [InlineData("pc", "128M", 1)]
    [InlineData("q35", "1G", 1)]
    [InlineData("pc", "6G", 1)]
    [InlineData("q35", "6G", 1)]
    [InlineData("q35", "1G", 2)]
    [InlineData("q35", "4G", 4)]
    public void Pools_MatchTheMapAndTheSrat_AndTheSumsAddUp(string machine, string memory, int nodes)
    {
        QemuResult result = Boot(new QemuBoot { Machine = machine, Memory = memory, Nodes = nodes, KernelCommandLine = "run=\"dump;check\"" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "; sums add up");
        BootTests.AssertContains(result, "check: ok");
        MemoryDump dump = MemoryDump.Parse(result);

        ulong poolBytes = (ulong)dump.Pools.Sum(p => (long)p.Present) * 4096;
        ulong reserved = (ulong)dump.Reservations.Sum(r => (long)r.RamBytes);
        Assert.Equal(dump["usable_bytes"], poolBytes + reserved);
        Assert.Equal(dump["present_pages"] * 4096, poolBytes);
        Assert.Equal((ulong)nodes, dump["nodes"]);

        // One pool per node and address class that has memory, with the class's window and the node's mask.
        foreach (MemoryDump.Pool p in dump.Pools)
        {
            Assert.True(ulong.IsPow2(p.NodeMask), $"pool {p.Name} node mask {p.NodeMask:x}");
            int node = System.Numerics.BitOperations.TrailingZeroCount(p.NodeMask);
            Assert.StartsWith($"node{node}-", p.Name);
            (ulong low, ulong high) = p.Name.EndsWith("-dma") ? (0UL, Dma) : p.Name.EndsWith("-dma32") ? (Dma, Dma32) : (Dma32, 1UL << 52);
            Assert.True(p.Low == low && (p.High == high || (low == Dma32 && p.High == 0)), $"pool {p.Name} window {p.Low:x}-{p.High:x}");
            // The kernel itself uses a little (PCI tables, the heap): free is at most present.
            Assert.True(p.Present > 0 && p.Free <= p.Present && p.Free + 4096 >= p.Present, $"pool {p.Name} present {p.Present} free {p.Free}");
            ulong buddyPages = 0;
            for (int o = 0; o < p.Buddy.Length; o++)
                buddyPages += p.Buddy[o] << o;
            Assert.Equal(p.Free, buddyPages + p.Cached); // free = on the buddy lists + in the frame cache
        }

        // Each node's pools hold that node's RAM (per the SRAT lines of the banner) minus reservations.
        ulong given = (ulong)QemuBoot.ParseSize(memory);
        for (int n = 0; n < nodes; n++)
        {
            ulong nodePool = (ulong)dump.Pools.Where(p => p.NodeMask == 1UL << n).Sum(p => (long)p.Present) * 4096;
            Assert.True(nodePool > 0, $"node {n} has no pool memory\n{result}");
            if (nodes > 1)
                Assert.True(nodePool <= given / (ulong)nodes && nodePool + (8UL << 20) >= given / (ulong)nodes - (2UL << 20),
                    $"node {n} pools hold {nodePool} of {given / (ulong)nodes}\n{result}");
        }
        Assert.Contains(dump.Reservations, r => r.Name == "pool metadata");
        Assert.Contains(dump.Reservations, r => r.Name.StartsWith("kernel image"));
        if (given > (4UL << 30))
            Assert.Contains(dump.Pools, p => p.Name.EndsWith("-normal"));
    }

    [Fact]
    public void Stress100000_PassesWithChecks()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "q35", Memory = "1G", Nodes = 2, KernelCommandLine = "run=\"stress 100000 7\"", Timeout = TimeSpan.FromSeconds(120) });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "stress: 100000 operations (seed 7)");
        BootTests.AssertContains(result, "stress: ok, all memory returned, pool and heap checkers clean");
        Match m = Regex.Match(result.Console, @"(\d+) cycles/op");
        Assert.True(m.Success && long.Parse(m.Groups[1].Value) > 0, result.ToString());
    }

    [Fact]
    public void Membench_TimesEveryPairKind_OnEveryCpu_AndLeavesMemoryAsItWas()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "q35", Memory = "1G", Nodes = 2, KernelCommandLine = "run=\"membench 5000;check\"", Timeout = TimeSpan.FromSeconds(120) });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "membench: 5000 pairs a row, TSC ticks per pair, pool ");
        foreach (string row in new[] { "empty", "order0_named", "order0_choice", "order9_named", "order0_dma32_64k" })
        {
            Match m = Regex.Match(result.Console, "  " + row + @" +(\d+) ticks/pair  (\d+)\.(\d)x empty");
            Assert.True(m.Success && long.Parse(m.Groups[1].Value) > 0, row + "\n" + result);
        }
        // The other CPU (node 1) measured alone, on its own node's pool.
        Match header = Regex.Match(result.Console, @"membench: 5000 pairs a row, TSC ticks per pair, pool (\d+)");
        Match other = Regex.Match(result.Console,
            @"membench: cpu 1 \(node 1, pool (\d+)\): empty \d+, order0_named \d+ \(\d+\.\dx\), order0_choice \d+ \(\d+\.\dx\), order9_named \d+ \(\d+\.\dx\), order0_dma32_64k \d+ \(\d+\.\dx\) ticks/pair");
        Assert.True(header.Success && other.Success, result.ToString());
        Assert.NotEqual(header.Groups[1].Value, other.Groups[1].Value);
        BootTests.AssertContains(result, "membench: ok, free pages unchanged, pool and heap checkers clean");
        Assert.DoesNotContain("FAILED", result.Console);
        Assert.DoesNotContain("BROKEN", result.Console);
    }

    [Fact]
    public void OutOfMemory_IsReported_AndTheKernelStaysUsable()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "pc", Memory = "256M", KernelCommandLine = "run=\"exhaust;alloc 0;check;meminfo\"" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "exhaust: out of memory after taking ");
        BootTests.AssertContains(result, "an order-0 request got 'out of memory' with 0 pages free in all pools");
        Match m = Regex.Match(result.Console, @"returned (\d+) pages; free pages (\d+) \(before (\d+)\)");
        Assert.True(m.Success && m.Groups[2].Value == m.Groups[3].Value, result.ToString());
        BootTests.AssertContains(result, "alloc: pfn ");
        Assert.DoesNotContain("BROKEN", result.Console);
        BootTests.AssertContains(result, ": adds up");
    }

    [Fact]
    public void Shell_TypedMemoryCommands()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "q35", Memory = "512M", Input = "buddyinfo\rzoneinfo\rpools\rhalt\r" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Matches(@"Node 0, pool node0-dma32 +(\d+ +){10}\d+", result.Console);
        BootTests.AssertContains(result, "Node 0, zone DMA32   pages free");
        BootTests.AssertContains(result, "node0-dma32");
    }
}
