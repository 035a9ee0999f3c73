using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The frame cache never makes a small pool refuse what a plain buddy allocator would give (issue 12):
/// scenarios named after Linux's drm_buddy KUnit tests (optimistic, pessimistic), and a seeded fuzz
/// against a reference plain buddy. Pools are built from 16-frame page blocks (PageblockOrder 4) at
/// 64 MiB, so a pool can be 16..1024 frames and starts on a 1024-frame edge.
/// </summary>
public unsafe class SmallPoolBuddyTests
{
    private const ulong MiB = 1UL << 20;
    private const int SmallPageblockOrder = 4;
    private const ulong PoolStartPfn = (64 * MiB) >> 12;
    private readonly ITestOutputHelper _output;

    public SmallPoolBuddyTests(ITestOutputHelper output) { _output = output; }

    private static HostPhysicalMemory BootSmallPageblocks()
    {
        MemoryConfig config = MemoryConfig.Default;
        config.PageblockOrder = SmallPageblockOrder;
        return QemuMaps.Boot("pc", 128 * MiB, 1, config);
    }

    /// <summary>A pool of <paramref name="frames"/> (a multiple of 16) starting at <see cref="PoolStartPfn"/>.</summary>
    private static PoolId SmallPool(PhysicalMemory* pm, ulong frames)
    {
        Assert.Equal(MemoryStatus.Ok, pm->CreatePoolFromRange(PoolProperties.Open("small"), new Pfn(PoolStartPfn), frames >> SmallPageblockOrder, out PoolId id));
        return id;
    }

    [Fact]
    public void Optimistic_Orders0To3ThenOrder4_FitA32FramePool()
    {
        using var host = BootSmallPageblocks();
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 32);
        Assert.Equal(0, pm->_buddy.CacheOf(pool.Value)->High);
        // A plain buddy places orders 0..3 at +0, +2, +4, +8 and keeps +16..+31 whole.
        ulong[] expected = { 0, 2, 4, 8, 16 };
        for (int order = 0; order <= 4; order++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn pfn));
            Assert.Equal(PoolStartPfn + expected[order], pfn.Value);
            MemoryAssert.Consistent(pm);
        }
        Assert.Equal(MemoryStatus.Ok, pm->GetPoolStats(pool, out PoolStats s));
        Assert.Equal(1UL, s.FreePages); // +1 only
    }

    [Fact]
    public void Pessimistic_EveryOtherFrameFree_NoOrder1_ThenAllMergeBack_SmallPoolWithoutCache()
    {
        using var host = BootSmallPageblocks();
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 64);
        Pessimistic(host, pm, pool, 64, 6, refusalChangesNothing: true);
        Assert.Equal(1UL, pm->FreeBlocks(pool, new Order(6)));
    }

    [Fact]
    public void Pessimistic_EveryOtherFrameFree_NoOrder1_ThenTheDrainMergesEveryLargestBlock_PoolWithCache()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        // The smallest pool with a cache, on a largest-block edge so its page blocks pair up.
        ulong frames = (ulong)FrameCache.MinLargestBlocks << pm->MaxOrder;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePoolFromRange(PoolProperties.Open("cached"), new Pfn(PoolStartPfn), frames >> pm->PageblockOrder, out PoolId pool));
        Assert.True(pm->_buddy.CacheOf(pool.Value)->High > 0);
        Pessimistic(host, pm, pool, frames, pm->MaxOrder, refusalChangesNothing: false);
        // Some frames stay cached; each largest block is still handed out whole (the last after a drain).
        Assert.Equal(MemoryStatus.Ok, pm->GetPoolStats(pool, out PoolStats s));
        Assert.True(s.CachedPages > 0);
        for (int i = 0; i < FrameCache.MinLargestBlocks; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(pm->MaxOrder), AllocRequest.InPool(pool), out _));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// Fills the pool with order 0, frees every other frame: no order-1 block exists, and the request is
    /// refused, with nothing changed in a pool without a cache (one with a cache drains it before it
    /// refuses: the same free frames, merged). Then frees the rest; checks the pool after each step.
    /// </summary>
    private static void Pessimistic(HostPhysicalMemory host, PhysicalMemory* pm, PoolId pool, ulong frames, int largest, bool refusalChangesNothing)
    {
        var held = new List<Pfn>();
        while (pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn p) == MemoryStatus.Ok)
            held.Add(p);
        Assert.Equal(frames, (ulong)held.Count);
        held.Sort((a, b) => a.Value.CompareTo(b.Value));
        for (int i = 0; i < held.Count; i += 2)
            Assert.Equal(MemoryStatus.Ok, pm->Free(held[i], new Order(0), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
        for (int order = 1; order <= largest; order++)
        {
            int o = order;
            if (refusalChangesNothing)
                MemoryAssert.Refused(host, MemoryStatus.OutOfMemory, () => pm->Allocate(new Order(o), AllocRequest.InPool(pool), out _));
            else
                Assert.Equal(MemoryStatus.OutOfMemory, pm->Allocate(new Order(o), AllocRequest.InPool(pool), out _));
            MemoryAssert.Consistent(pm);
        }
        for (int i = 1; i < held.Count; i += 2)
            Assert.Equal(MemoryStatus.Ok, pm->Free(held[i], new Order(0), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// A plain buddy allocator over [0, frames) with the allocator's list discipline: a freed or
    /// split-off block goes to the head of its list, a request takes the head of the smallest
    /// non-empty list of at least its order and keeps the lower half of each split.
    /// </summary>
    private sealed class ReferenceBuddy
    {
        private readonly List<ulong>[] _lists;
        private readonly ulong _frames;
        private readonly int _maxOrder;

        public ReferenceBuddy(ulong frames, int maxOrder, int pageblockOrder)
        {
            _frames = frames;
            _maxOrder = maxOrder;
            _lists = new List<ulong>[maxOrder + 1];
            for (int o = 0; o <= maxOrder; o++)
                _lists[o] = new List<ulong>();
            // As a page-block move builds the pool: each page block freed with merging, in order.
            for (ulong pb = 0; pb < frames >> pageblockOrder; pb++)
                Free(pb << pageblockOrder, pageblockOrder);
        }

        public bool TryAllocate(int order, out ulong at)
        {
            at = 0;
            int o = order;
            while (o <= _maxOrder && _lists[o].Count == 0)
                o++;
            if (o > _maxOrder)
                return false;
            at = _lists[o][0];
            _lists[o].RemoveAt(0);
            while (o > order)
            {
                o--;
                _lists[o].Insert(0, at + (1UL << o));
            }
            return true;
        }

        public void Free(ulong at, int order)
        {
            while (order < _maxOrder)
            {
                ulong buddy = at ^ (1UL << order);
                if (buddy + (1UL << order) > _frames || !_lists[order].Remove(buddy))
                    break;
                at &= buddy;
                order++;
            }
            _lists[order].Insert(0, at);
        }
    }

    [Fact]
    public void Smoke_SmallPoolsNeverRefuseWhatAPlainBuddyGives()
    {
        SeededRuns.Run(_output, "small-pool buddy fuzz", "POOLKERNEL_SMALLPOOL", 40, 400, (seed, ops) =>
        {
            var rng = new Random(seed);
            using var host = BootSmallPageblocks();
            PhysicalMemory* pm = host.Memory;
            ulong frames = (ulong)rng.Next(1, 65) << SmallPageblockOrder; // 16..1024
            PoolId pool = SmallPool(pm, frames);
            var reference = new ReferenceBuddy(frames, pm->MaxOrder, SmallPageblockOrder);
            var live = new List<(Pfn Ours, ulong Ref, int Order)>();
            for (int op = 0; op < ops; op++)
            {
                string where = $"{frames}-frame pool, op {op}";
                if (live.Count > 0 && rng.Next(100) < 45)
                {
                    int i = rng.Next(live.Count);
                    var a = live[i];
                    live[i] = live[^1];
                    live.RemoveAt(live.Count - 1);
                    Assert.True(pm->Free(a.Ours, new Order(a.Order), MemoryAssert.DefaultOwner) == MemoryStatus.Ok, $"{where}: free failed");
                    reference.Free(a.Ref, a.Order);
                }
                else
                {
                    int order = rng.Next(5);
                    MemoryStatus s = pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn pfn);
                    bool refOk = reference.TryAllocate(order, out ulong at);
                    Assert.True(!refOk || s == MemoryStatus.Ok, $"{where}: order {order} refused ({s}) where a plain buddy gives +{at}");
                    if (s == MemoryStatus.Ok)
                    {
                        Assert.True(refOk, $"{where}: order {order} given where a plain buddy has none");
                        // No cache on a pool this small: the very block a plain buddy picks.
                        Assert.True(pfn.Value == PoolStartPfn + at, $"{where}: order {order} at +{pfn.Value - PoolStartPfn}, plain buddy +{at}");
                        live.Add((pfn, at, order));
                    }
                }
                InvariantReport report = pm->Check();
                Assert.True(report.IsOk, $"{where}: {MemoryAssert.Describe(report)}");
            }
        });
    }

    [Fact]
    public void Smoke_PoolsWithACacheRefuseOnlyWhatDrainingCannotMeet()
    {
        // Pools of 8..32 page blocks (4096..16384 frames: batches 4, 8 and 16) at 32 MiB, filled and
        // emptied at random with orders 0..6. A refusal must come with the cache drained and no free
        // block of the order or above left on the lists.
        SeededRuns.Run(_output, "cached-pool refusal fuzz", "POOLKERNEL_CACHEDPOOL", 20, 2000, (seed, ops) =>
        {
            var rng = new Random(seed);
            using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
            PhysicalMemory* pm = host.Memory;
            ulong pageblocks = (ulong)rng.Next(8, 33);
            Assert.Equal(MemoryStatus.Ok, pm->CreatePoolFromRange(PoolProperties.Open("cached"), new Pfn((32 * MiB) >> 12), pageblocks, out PoolId pool));
            Assert.True(pm->_buddy.CacheOf(pool.Value)->High > 0);
            var live = new List<(Pfn Pfn, int Order)>();
            int refusals = 0;
            for (int op = 0; op < ops; op++)
            {
                string where = $"{pageblocks} page blocks, op {op}";
                if (live.Count > 0 && rng.Next(100) < 25)
                {
                    int i = rng.Next(live.Count);
                    var a = live[i];
                    live[i] = live[^1];
                    live.RemoveAt(live.Count - 1);
                    Assert.True(pm->Free(a.Pfn, new Order(a.Order), MemoryAssert.DefaultOwner) == MemoryStatus.Ok, $"{where}: free failed");
                }
                else
                {
                    int order = rng.Next(7);
                    MemoryStatus s = pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn pfn);
                    if (s == MemoryStatus.Ok)
                        live.Add((pfn, order));
                    else
                    {
                        Assert.True(s == MemoryStatus.OutOfMemory, $"{where}: {s}");
                        refusals++;
                        Assert.Equal(MemoryStatus.Ok, pm->GetPoolStats(pool, out PoolStats st));
                        Assert.True(st.CachedPages == 0, $"{where}: order {order} refused with {st.CachedPages} frames cached");
                        for (int o = order; o <= pm->MaxOrder; o++)
                            Assert.True(pm->FreeBlocks(pool, new Order(o)) == 0, $"{where}: order {order} refused with an order-{o} block free");
                    }
                }
                InvariantReport report = pm->Check();
                Assert.True(report.IsOk, $"{where}: {MemoryAssert.Describe(report)}");
            }
            Assert.True(refusals > 0, "the run never filled its pool");
        });
    }

    [Fact]
    public void TheCheckerNamesACacheNotSizedToItsPool()
    {
        using var host = BootSmallPageblocks();
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 32);
        MemoryAssert.Consistent(pm);
        FrameCache* cache = pm->_buddy.CacheOf(pool.Value);
        cache->High = 3; // a cache on a pool too small for one
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.CacheAboveHigh, r.Code);
        Assert.Equal(pool, r.Pool);
        Assert.Equal(0UL, r.Expected);
        Assert.Equal(3UL, r.Actual);
        cache->High = 0;
        MemoryAssert.Consistent(pm);
    }
}
