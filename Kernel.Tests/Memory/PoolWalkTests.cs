using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Blocks and runs chosen by pool choice share one walk over the pools (PhysicalMemory.WalkPools):
/// whatever a request's rules, a block of order k and a run of 2^k pages with the same rules are
/// refused for the same reason whenever the reason does not depend on free memory (no qualifying
/// pool holds memory the rules allow: NoPoolSatisfies; malformed or impossible rules). Randomized:
/// per seed a QEMU map (pc or q35, 64..256 MiB, 1 or 2 nodes) and a random request per operation:
/// order, owner (some above 63, which no pool admits), node and NodeStrict, mobility, DMA bits,
/// lowest/highest address, alignment (some not a power of two), boundary; a random share of the
/// successes is kept, so later requests meet a fragmented, partly full machine. The checker runs
/// every 64 operations and at the end. Defaults: 24 seeds x 400 operations;
/// POOLKERNEL_WALK_SEEDS / _OPS for longer runs, POOLKERNEL_WALK_SEED=N replays one seed.
/// </summary>
public unsafe class PoolWalkTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public PoolWalkTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void BlocksAndRunsByChoice_AreRefusedForTheSameReasons()
        => SeededRuns.Run(_output, "pool walk: blocks vs runs", "POOLKERNEL_WALK", 24, 400, RunSeed);

    private static bool IndependentOfFreeMemory(MemoryStatus s)
        => s == MemoryStatus.NoPoolSatisfies || s == MemoryStatus.InvalidArgument || s == MemoryStatus.ImpossibleRules;

    private static void RunSeed(int seed, int ops)
    {
        var rng = new Random(seed);
        string machine = rng.Next(2) == 0 ? "pc" : "q35";
        int nodes = 1 + rng.Next(2);
        ulong ram = (64UL << rng.Next(3)) * MiB;
        using HostPhysicalMemory host = QemuMaps.Boot(machine, ram, nodes);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        var heldBlocks = new List<(Pfn pfn, int order, byte owner)>();
        var heldRuns = new List<(Pfn pfn, ulong pages, byte owner)>();
        MobilityClass[] mobilities = Enum.GetValues<MobilityClass>();
        int noPool = 0;
        for (int op = 0; op < ops; op++)
        {
            int order = rng.Next(pm->MaxOrder + 1);
            AllocRequest request = AllocRequest.Any;
            request.Owner = rng.Next(8) == 0 ? (byte)(64 + rng.Next(8)) : (byte)rng.Next(4);
            request.PreferredNode = rng.Next(4) == 0 ? AllocRequest.NoNode : (byte)rng.Next(nodes + 1);
            if (rng.Next(4) == 0)
                request.Flags = RequestFlags.NodeStrict;
            request.Mobility = mobilities[rng.Next(mobilities.Length)];
            if (rng.Next(3) == 0)
                request.DmaAddressBits = (byte)(rng.Next(10) == 0 ? rng.Next(0, 12) : rng.Next(12, 34));
            if (rng.Next(5) == 0)
                request.Lowest = new PhysAddr((ulong)rng.Next(0, 300) * MiB);
            if (rng.Next(5) == 0)
                request.Highest = new PhysAddr((ulong)rng.Next(1, 300) * MiB - 1);
            if (rng.Next(4) == 0)
                request.Alignment = rng.Next(10) == 0 ? 3UL << 12 : 1UL << rng.Next(12, 25);
            if (rng.Next(4) == 0)
                request.Boundary = 1UL << rng.Next(12, 25);

            MemoryStatus block = pm->Allocate(new Order(order), request, out Pfn pfn);
            if (block == MemoryStatus.Ok)
            {
                if (rng.Next(3) == 0)
                    heldBlocks.Add((pfn, order, request.Owner));
                else
                    Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), request.Owner));
            }
            ulong pages = 1UL << order;
            MemoryStatus run = pm->AllocateRun(pages, request, out Pfn first);
            if (run == MemoryStatus.Ok)
            {
                if (rng.Next(3) == 0)
                    heldRuns.Add((first, pages, request.Owner));
                else
                    Assert.Equal(MemoryStatus.Ok, pm->FreeRun(first, pages, request.Owner));
            }
            if (IndependentOfFreeMemory(block) || IndependentOfFreeMemory(run))
                Assert.True(block == run, $"op {op}: order {order} owner {request.Owner} node {request.PreferredNode} flags {request.Flags} bits {request.DmaAddressBits} low 0x{request.Lowest.Value:x} high 0x{request.Highest.Value:x} align 0x{request.Alignment:x} boundary 0x{request.Boundary:x}: block {block}, run {run}");
            Assert.NotEqual(MemoryStatus.Corruption, block);
            Assert.NotEqual(MemoryStatus.Corruption, run);
            if (block == MemoryStatus.NoPoolSatisfies)
                noPool++;
            if (op % 64 == 63)
                MemoryAssert.Consistent(pm);
        }
        // The case the walk decides on its failure path must have come up.
        Assert.True(noPool > 0, $"no request was NoPoolSatisfies in {ops} operations");
        foreach (var (pfn, order, owner) in heldBlocks)
            Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), owner));
        foreach (var (first, pages, owner) in heldRuns)
            Assert.Equal(MemoryStatus.Ok, pm->FreeRun(first, pages, owner));
        MemoryAssert.Consistent(pm);
        Assert.Equal(pm->GetTotals().PresentPages, pm->GetTotals().FreePages);
    }
}
