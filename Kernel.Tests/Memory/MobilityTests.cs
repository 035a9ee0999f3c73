using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Grouping by mobility (docs/antifrag.md): page blocks steered to one class, a whole free page block
/// claimed before another class's is stolen, the cheapest page block stolen, found through the
/// cheapest-block index, and the checker's view of all of it. With grouping off
/// (<see cref="MemoryConfig.OneMobilityClass"/>, the benchmarks' comparison): one class, no steering, no stealing.
/// </summary>
public unsafe class MobilityTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public MobilityTests(ITestOutputHelper output) { _output = output; }

    private static AllocRequest Of(PoolId pool, MobilityClass cls)
    {
        AllocRequest r = AllocRequest.InPool(pool);
        r.Mobility = cls;
        return r;
    }

    private static PageblockUse Pageblock(PhysicalMemory* pm, Pfn pfn)
    {
        ulong index = (pfn.Value - pm->BasePfn.Value) >> pm->PageblockOrder;
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(index, out PageblockUse use));
        return use;
    }

    /// <summary>A pool of <paramref name="pageblocks"/> page blocks carved from dma32 (under 8 page blocks: no frame cache).</summary>
    private static PoolId SmallPool(PhysicalMemory* pm, ulong pageblocks)
    {
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(PoolProperties.Open("mob"), dma32, pageblocks, out PoolId id));
        return id;
    }

    [Fact]
    public void EachClassFillsItsOwnPageblocks()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        var blocksOf = new HashSet<Pfn>[3];
        for (int c = 0; c < 3; c++)
            blocksOf[c] = new HashSet<Pfn>();
        for (int i = 0; i < 600; i++)
        {
            var cls = (MobilityClass)(i % 3);
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(i % 4), Of(dma32, cls), out Pfn pfn));
            PageblockUse use = Pageblock(pm, pfn);
            Assert.Equal(cls, use.Mobility);
            blocksOf[(int)cls].Add(use.Start);
        }
        MemoryAssert.Consistent(pm);
        // Plenty of free page blocks: no class had to share one.
        Assert.Empty(blocksOf[0].Intersect(blocksOf[1]));
        Assert.Empty(blocksOf[0].Intersect(blocksOf[2]));
        Assert.Empty(blocksOf[1].Intersect(blocksOf[2]));
    }

    [Fact]
    public void AClassClaimsAWholeFreePageblockBeforeStealingOne()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        // One unmovable frame steers one page block; the movable allocation that follows takes a
        // whole free page block of its own rather than the unmovable one's 511 free frames.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), Of(pool, MobilityClass.Unmovable), out Pfn u));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), Of(pool, MobilityClass.Movable), out Pfn m));
        Assert.NotEqual(Pageblock(pm, u).Start, Pageblock(pm, m).Start);
        Assert.Equal(MobilityClass.Unmovable, Pageblock(pm, u).Mobility);
        Assert.Equal(MobilityClass.Movable, Pageblock(pm, m).Mobility);
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void WithNoWholePageblockLeft_TheCheapestPageblockOfAnotherClassIsStolen()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        int pbPages = 1 << pm->PageblockOrder;
        // Fill every page block with unmovable frames, then free all but 10 of the third one and all
        // but 100 of the others: the third holds fewest.
        var held = new List<Pfn>[4];
        for (int i = 0; i < 4; i++)
            held[i] = new List<Pfn>();
        Pfn[] starts = new Pfn[4];
        for (int i = 0; i < 4 * pbPages; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), Of(pool, MobilityClass.Unmovable), out Pfn pfn));
            ulong pb = (pfn.Value - pm->BasePfn.Value) >> pm->PageblockOrder;
            int slot = Array.IndexOf(starts, Pageblock(pm, pfn).Start);
            if (slot < 0)
            {
                slot = Array.IndexOf(starts, default(Pfn));
                starts[slot] = Pageblock(pm, pfn).Start;
            }
            held[slot].Add(pfn);
        }
        Assert.Equal(MemoryStatus.OutOfMemory, pm->Allocate(new Order(0), Of(pool, MobilityClass.Movable), out _));
        for (int i = 0; i < 4; i++)
        {
            int keep = i == 2 ? 10 : 100;
            foreach (Pfn pfn in held[i].Skip(keep))
                Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(0), MemoryAssert.DefaultOwner));
        }
        MemoryAssert.Consistent(pm);

        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), Of(pool, MobilityClass.Movable), out Pfn stolen));
        PageblockUse use = Pageblock(pm, stolen);
        Assert.Equal(starts[2], use.Start);
        Assert.Equal(MobilityClass.Movable, use.Mobility);
        MemoryAssert.Consistent(pm);
        // The next movable frames come from the stolen page block too: it is the class's now.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(3), Of(pool, MobilityClass.Movable), out Pfn next));
        Assert.Equal(starts[2], Pageblock(pm, next).Start);
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void AStealNeedsABigEnoughFreeBlock()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 2);
        int pbPages = 1 << pm->PageblockOrder;
        // Page block A: every other frame held (cheapest in count, 256, but no free order-1 block);
        // page block B: 300 frames held in one run from its start (its free blocks are large).
        var frames = new List<Pfn>();
        for (int i = 0; i < 2 * pbPages; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), Of(pool, MobilityClass.Unmovable), out Pfn pfn));
            frames.Add(pfn);
        }
        frames.Sort((a, b) => a.Value.CompareTo(b.Value));
        for (int i = 0; i < pbPages; i += 2)
            Assert.Equal(MemoryStatus.Ok, pm->Free(frames[i], new Order(0), MemoryAssert.DefaultOwner));
        for (int i = pbPages + 300; i < 2 * pbPages; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Free(frames[i], new Order(0), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);

        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), Of(pool, MobilityClass.Reclaimable), out Pfn pfn4));
        Assert.Equal(Pageblock(pm, frames[pbPages]).Start, Pageblock(pm, pfn4).Start);
        Assert.Equal(MobilityClass.Reclaimable, Pageblock(pm, pfn4).Mobility);
        MemoryAssert.Consistent(pm);
        // An order-0 movable request can use the cheaper one.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), Of(pool, MobilityClass.Movable), out Pfn one));
        Assert.Equal(Pageblock(pm, frames[0]).Start, Pageblock(pm, one).Start);
        MemoryAssert.Consistent(pm);
    }

    /// <summary>The brute-force cheapest candidate: held count of the page block with the fewest held among those of another class holding a free block of the order.</summary>
    private static int BruteCheapestHeld(PhysicalMemory* pm, int pool, int order, int except)
    {
        int best = -1;
        for (ulong pb = 0; pb < pm->PageblockCount; pb++)
        {
            PageblockInfo info = pm->_buddy._pageblocks[pb];
            if (info.Pool != pool || (int)info.Mobility == except || pm->_buddy.IndexKeyOf(pb) < 0)
                continue;
            if (pm->_buddy.LargestFreeIn(pb) < order || pm->_buddy.LargestFreeIn(pb) >= pm->PageblockOrder)
                continue;
            if (best < 0 || info.Held < best)
                best = info.Held;
        }
        return best;
    }

    /// <summary>The index's bucket of a held count: within a factor of two.</summary>
    private static int Bucket(int held) => held == 0 ? 0 : 1 + System.Numerics.BitOperations.Log2((uint)held);

    [Fact]
    public void SeededMixedClasses_KeepListsAndIndexConsistent_AndTheIndexFindsTheCheapest()
    {
        SeededRuns.Run(_output, "mixed-class alloc/free", "MOBILITY", 8, 1500, (seed, ops) =>
        {
            using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
            PhysicalMemory* pm = host.Memory;
            PoolId pool = SmallPool(pm, 6);
            var rng = new Random(seed);
            var live = new List<(Pfn pfn, int order)>();
            for (int op = 0; op < ops; op++)
            {
                if (live.Count > 0 && rng.Next(100) < 40)
                {
                    int i = rng.Next(live.Count);
                    MemoryStatus freed = pm->Free(live[i].pfn, new Order(live[i].order), MemoryAssert.DefaultOwner);
                    if (freed != MemoryStatus.Ok)
                        throw new Exception($"op {op}: free {freed}");
                    live[i] = live[^1];
                    live.RemoveAt(live.Count - 1);
                }
                else
                {
                    int order = rng.Next(4);
                    var cls = (MobilityClass)rng.Next(3);
                    MemoryStatus s = pm->Allocate(new Order(order), Of(pool, cls), out Pfn pfn);
                    if (s == MemoryStatus.Ok)
                        live.Add((pfn, order));
                    else if (s != MemoryStatus.OutOfMemory)
                        throw new Exception($"op {op}: allocate {s}");
                }
                InvariantReport r = pm->Check();
                if (!r.IsOk)
                    throw new Exception($"op {op}: {MemoryAssert.Describe(r)}");
                if (op % 50 == 0)
                {
                    for (int order = 0; order < 4; order++)
                        for (int except = 0; except < 3; except++)
                        {
                            ulong pb = pm->_buddy.CheapestHolding(pool.Value, order, except);
                            int brute = BruteCheapestHeld(pm, pool.Value, order, except);
                            if ((pb == FreeList.End) != (brute < 0))
                                throw new Exception($"op {op}: index found {pb:x}, brute force held {brute}");
                            if (brute >= 0 && Bucket(pm->_buddy._pageblocks[pb].Held) != Bucket(brute))
                                throw new Exception($"op {op}: index took held {pm->_buddy._pageblocks[pb].Held}, cheapest is {brute}");
                        }
                }
            }
        });
    }
    [Fact]
    public void WithGroupingOff_EveryRequestTakesItsPoolsOneClass_NoPageblockIsSteeredOrStolen()
    {
        MemoryConfig config = MemoryConfig.Default;
        config.OneMobilityClass = true;
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1, config);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        var rng = new Random(15);
        var held = new List<(Pfn pfn, int order)>();
        for (int i = 0; i < 3000; i++)
        {
            if (held.Count > 0 && rng.Next(3) == 0)
            {
                int k = rng.Next(held.Count);
                Assert.Equal(MemoryStatus.Ok, pm->Free(held[k].pfn, new Order(held[k].order), MemoryAssert.DefaultOwner));
                held.RemoveAt(k);
                continue;
            }
            int order = rng.Next(4);
            if (pm->Allocate(new Order(order), Of(pool, (MobilityClass)rng.Next(3)), out Pfn pfn) == MemoryStatus.Ok)
            {
                held.Add((pfn, order));
                // Whatever the request's class, the page block is the pool's cache class (unmovable in an open pool).
                Assert.Equal(MobilityClass.Unmovable, Pageblock(pm, pfn).Mobility);
            }
        }
        MemoryAssert.Consistent(pm);
        for (ulong pb = 0; pb < pm->PageblockCount; pb++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb, out PageblockUse use));
            if (use.Pool == pool)
                Assert.Equal(MobilityClass.Unmovable, use.Mobility);
        }
        // A pool that accepts only movable requests still refuses the others, and serves movable ones in its one class.
        PoolProperties props = PoolProperties.Open("movonly");
        props.AcceptedMobility = MobilityMask.Movable;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, MemoryAssert.FindPool(pm, "node0-dma32"), 2, out PoolId movable));
        MemoryAssert.Refused(host, MemoryStatus.PropertiesMismatch, () => pm->Allocate(new Order(0), Of(movable, MobilityClass.Unmovable), out _));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(1), Of(movable, MobilityClass.Movable), out Pfn m));
        Assert.Equal(MobilityClass.Movable, Pageblock(pm, m).Mobility);
        Assert.Equal(MemoryStatus.Ok, pm->Free(m, new Order(1), MemoryAssert.DefaultOwner));
        foreach (var (pfn, order) in held)
            Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void WithGroupingOn_TheSameSequenceSteersPageblocksToEveryClass()
    {
        // The control of the test above: the same seeded sequence on a default instance uses page blocks of every class.
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        var rng = new Random(15);
        var held = new List<(Pfn pfn, int order)>();
        var seen = new HashSet<MobilityClass>();
        for (int i = 0; i < 3000; i++)
        {
            if (held.Count > 0 && rng.Next(3) == 0)
            {
                int k = rng.Next(held.Count);
                Assert.Equal(MemoryStatus.Ok, pm->Free(held[k].pfn, new Order(held[k].order), MemoryAssert.DefaultOwner));
                held.RemoveAt(k);
                continue;
            }
            int order = rng.Next(4);
            if (pm->Allocate(new Order(order), Of(pool, (MobilityClass)rng.Next(3)), out Pfn pfn) == MemoryStatus.Ok)
            {
                held.Add((pfn, order));
                seen.Add(Pageblock(pm, pfn).Mobility);
            }
        }
        MemoryAssert.Consistent(pm);
        Assert.Equal(3, seen.Count);
    }

    /// <summary>
    /// The one-shift views of the listed lists from the page-block order up (issue 12's order-9 path:
    /// <see cref="BuddyAllocator.ClassViewFrom"/>, <see cref="BuddyAllocator.HasListedAtLeast"/>) say what the lists
    /// say: after every seeded allocation or free of any order (so the shared lists of whole page blocks fill and
    /// empty, and class lists below them too), for every pool, class and order, bit k of a class's view is set exactly
    /// when the list that class takes order + k from is not empty, and a pool lists a block of at least an order
    /// exactly when one of its lists of that order or above is not empty. Three shapes: the default (page blocks of
    /// order 9, largest block 10), page blocks of order 3 under a largest block of 5, and page blocks as large as the
    /// largest block (4).
    /// </summary>
    [Fact]
    public void ListedViewsOfEveryOrder_SayWhatTheListsSay_WhileBlocksOfEveryOrderComeAndGo()
    {
        SeededRuns.Run(_output, "listed views against the lists", "LISTED_VIEWS", 6, 300, (seed, ops) =>
        {
            var rng = new Random(seed);
            MemoryConfig cfg = MemoryConfig.Default;
            if (seed % 3 == 1)
            {
                cfg.MaxOrder = 5;
                cfg.PageblockOrder = 3;
            }
            else if (seed % 3 == 2)
            {
                cfg.MaxOrder = 4;
                cfg.PageblockOrder = 4;
            }
            using var host = QemuMaps.Boot("pc", 64 * MiB, 1, cfg);
            Assert.Equal(MemoryStatus.Ok, host.InitStatus);
            PhysicalMemory* pm = host.Memory;
            ref BuddyAllocator b = ref pm->_buddy;
            var live = new List<(Pfn Pfn, int Order, MobilityClass Cls)>();
            for (int op = 0; op < ops; op++)
            {
                if (live.Count == 0 || rng.Next(100) < 60)
                {
                    int order = rng.Next(b._maxOrder + 1);
                    var cls = (MobilityClass)rng.Next(3);
                    AllocRequest request = AllocRequest.Any;
                    request.Mobility = cls;
                    if (pm->Allocate(new Order(order), request, out Pfn pfn) == MemoryStatus.Ok)
                        live.Add((pfn, order, cls));
                }
                else
                {
                    int i = rng.Next(live.Count);
                    Assert.Equal(MemoryStatus.Ok, pm->Free(live[i].Pfn, new Order(live[i].Order), MemoryAssert.DefaultOwner));
                    live.RemoveAt(i);
                }
                for (int pool = 0; pool < pm->_poolCapacity; pool++)
                {
                    if (b._pools[pool].Live == 0)
                        continue;
                    ulong slots = b._pools[pool].ListedSlots;
                    for (int order = 0; order <= b._maxOrder; order++)
                    {
                        bool any = false;
                        for (int o = order; o <= b._maxOrder; o++)
                            any |= b.ListedBlocks(pool, o) != 0;
                        Assert.True(any == b.HasListedAtLeast(pool, order), $"seed {seed} op {op}: pool {pool} order {order}: listed {any}");
                        for (int cls = 0; cls < 3; cls++)
                        {
                            ulong view = b.ClassViewFrom(slots, cls, order);
                            for (int o = order; o <= b._maxOrder; o++)
                            {
                                bool listed = b.ListOf(pool, o, cls)->Head != FreeList.End;
                                Assert.True(listed == (((view >> (o - order)) & 1) != 0), $"seed {seed} op {op}: pool {pool} class {cls} order {order}, bit of {o}");
                            }
                            Assert.Equal(0UL, view >> (b._maxOrder + 1 - order));
                        }
                    }
                }
            }
            foreach (var (pfn, order, _) in live)
                Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
            MemoryAssert.Consistent(pm);
        });
    }
}
