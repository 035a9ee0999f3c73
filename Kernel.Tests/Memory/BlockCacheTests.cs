using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The block caches of orders 1, 2, 3 and 9, one a (pool, CPU, order) beside the order-0 frame cache
/// (<see cref="FrameCache.BlockSlots"/>), on one thread that plays two CPUs in turn (<see cref="HostCpus.Enter"/>):
/// a CPU frees a block to and allocates it from its own cache of the block's order; a request the lists
/// cannot meet drains every order's cache, its own CPU's and the others', and merges; the checker names a
/// block in the cache of another order. Drains on shrink, destroy, balloon and running short with blocks of
/// orders 1-3 parked: <see cref="CpuCacheTests"/>; under real threads: <see cref="ConcurrentOperationsTests"/>.
/// </summary>
public unsafe class BlockCacheTests
{
    private const ulong MiB = 1UL << 20;
    private const ulong GiB = 1UL << 30;

    private static HostPhysicalMemory TwoCpus(ulong bytes)
    {
        HostCpus.Enter(0);
        HostPhysicalMemory host = QemuMaps.Boot("q35", bytes, 1, HostCpus.Config(2));
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        return host;
    }

    /// <summary>A pool of 8 page blocks (4096 frames: order-0 high mark 15, so order-1, -2, -3 marks 7, 3, 1, no order-9 cache).</summary>
    private static PoolId SmallCachedPool(PhysicalMemory* pm)
    {
        PoolProperties props = PoolProperties.Open("block-cached");
        props.Flags = PoolFlags.Reserved;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, MemoryAssert.FindPool(pm, "node0-dma32"), 8, out PoolId id));
        for (int slot = 0; slot < 3; slot++)
            Assert.True(pm->_buddy.BlockCacheOf(id.Value, 0, slot)->High > 0);
        Assert.Equal(0, pm->_buddy.BlockCacheOf(id.Value, 0, FrameCache.SlotOfOrder(FrameCache.HugeOrder))->High);
        return id;
    }

    private static FrameCache* CacheOf(PhysicalMemory* pm, PoolId pool, int cpu, int order) => pm->_buddy.CacheFor(pool.Value, cpu, order);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void EachCpuFreesBlocksToAndAllocatesThemFromItsOwnCacheOfTheirOrder(int order)
    {
        using HostPhysicalMemory host = TwoCpus(256 * MiB);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallCachedPool(pm);

        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn mine));
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->Free(mine, new Order(order), MemoryAssert.DefaultOwner));
        Assert.Equal(FrameKind.Cached, pm->KindOf(mine, out _));
        int cpu1 = CacheOf(pm, pool, 1, order)->Count;
        Assert.True(cpu1 > 0);
        Assert.Equal(0, CacheOf(pm, pool, 0, order)->Count);
        MemoryAssert.Consistent(pm);

        // The newest block of CPU 1's cache comes back to CPU 1.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn again));
        Assert.Equal(mine, again);
        Assert.Equal(FrameKind.Allocated, pm->KindOf(again, out _));
        Assert.Equal(cpu1 - 1, CacheOf(pm, pool, 1, order)->Count);
        MemoryAssert.Consistent(pm);

        // Freed on the other CPU, it parks in that CPU's cache; a second free is refused on either CPU.
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, pm->Free(again, new Order(order), MemoryAssert.DefaultOwner));
        Assert.Equal(1, CacheOf(pm, pool, 0, order)->Count);
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(again, new Order(order), MemoryAssert.DefaultOwner));
        HostCpus.Enter(1);
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(again, new Order(order), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// Issue 12's order-9 pair becomes a cache hit: on a pool of 2 GiB (order-9 high mark 1) the block freed
    /// is the block the next request gets, named or by pool choice, without touching the buddy lists.
    /// </summary>
    [Fact]
    public void AnOrder9PairIsACacheHitNamedAndByPoolChoice()
    {
        using HostPhysicalMemory host = TwoCpus(2 * GiB);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = MemoryAssert.FindPool(pm, "node0-dma32");
        int slot = FrameCache.SlotOfOrder(9);
        Assert.True(pm->_buddy.BlockCacheOf(pool.Value, 0, slot)->High >= 1);
        foreach (AllocRequest request in new[] { AllocRequest.InPool(pool), AllocRequest.Any })
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(9), request, out Pfn first));
            Assert.Equal(MemoryStatus.Ok, pm->Free(first, new Order(9), MemoryAssert.DefaultOwner));
            Assert.Equal(FrameKind.Cached, pm->KindOf(first, out _));
            ulong listed = pm->FreeBlocks(pm->PoolOf(first), new Order(9));
            MemoryAssert.Consistent(pm);
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(9), request, out Pfn second));
            Assert.Equal(first, second);
            Assert.Equal(listed, pm->FreeBlocks(pm->PoolOf(first), new Order(9)));
            MemoryAssert.Consistent(pm);
            Assert.Equal(MemoryStatus.Ok, pm->Free(second, new Order(9), MemoryAssert.DefaultOwner));
        }
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// A free to a full block cache goes straight to the lists, as Linux's pcp frees past its high mark, and the
    /// cache keeps its blocks (issue 12: the bulk order-9 shape then costs what a free to the lists costs, with no
    /// drain and no section on the cache). A CPU allocates its cache's high mark of blocks and two more and frees
    /// them all: the first High park in its cache of the order, the last two are freed to the lists (neither
    /// Allocated nor Cached, the pool's listed pages grown by them), the cache holds exactly the blocks it parked,
    /// the checker is clean and a second free of a listed block is refused. The next High requests are then
    /// cache hits, newest first.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(9)]
    public void AFreeToAFullBlockCacheGoesToTheListsAndTheCacheKeepsItsBlocks(int order)
    {
        using HostPhysicalMemory host = TwoCpus(order == 9 ? 2 * GiB : 256 * MiB);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = order == 9 ? MemoryAssert.FindPool(pm, "node0-dma32") : SmallCachedPool(pm);
        HostCpus.Enter(1);
        FrameCache* cache = CacheOf(pm, pool, 1, order);
        int high = cache->High;
        Assert.True(high >= 1);
        var blocks = new List<Pfn>();
        for (int i = 0; i < high + 2; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn block));
            blocks.Add(block);
        }
        Assert.Equal(0, cache->Count);
        for (int i = 0; i < high; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Free(blocks[i], new Order(order), MemoryAssert.DefaultOwner));
        Assert.Equal(high, cache->Count);
        var parked = new List<ulong>();
        for (int i = 0; i < high; i++)
            parked.Add(cache->At(i));
        ulong listedBefore = pm->_buddy._pools[pool.Value].FreePages;

        for (int i = high; i < high + 2; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Free(blocks[i], new Order(order), MemoryAssert.DefaultOwner));
            FrameKind kind = pm->KindOf(blocks[i], out _);
            Assert.NotEqual(FrameKind.Allocated, kind);
            Assert.NotEqual(FrameKind.Cached, kind);
            MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(blocks[i], new Order(order), MemoryAssert.DefaultOwner));
        }
        Assert.Equal(listedBefore + (2UL << order), pm->_buddy._pools[pool.Value].FreePages);
        Assert.Equal(high, cache->Count);
        for (int i = 0; i < high; i++)
            Assert.Equal(parked[i], cache->At(i));
        Assert.Equal(0, CacheOf(pm, pool, 0, order)->Count);
        MemoryAssert.Consistent(pm);

        for (int i = high - 1; i >= 0; i--)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn hit));
            Assert.Equal(blocks[i], hit);
            Assert.Equal(i, cache->Count);
        }
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// The drain-on-short rule for the block caches (issue 12: a cache never makes a request fail that draining
    /// and merging could meet): a full pool with one order-4 block free; two blocks of order 1, one of 2 and one of
    /// 3 are allocated from it and freed again, each to the CPU's cache of its order, so all its 16 frames sit in
    /// one CPU's caches of orders 1-3 and no block is listed. An order-4 request then succeeds, with that very
    /// block, only by draining them: the same CPU's caches, or the other CPU's.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void AnOrder4RequestOnASmallPoolSucceedsOnlyAfterDrainingCachedOrder1To3Blocks(int cachingCpu)
    {
        using HostPhysicalMemory host = TwoCpus(256 * MiB);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallCachedPool(pm);
        var held = new List<Pfn>();
        while (pm->Allocate(new Order(4), AllocRequest.InPool(pool), out Pfn block) == MemoryStatus.Ok)
            held.Add(block);
        Assert.Equal(4096 / 16, held.Count);
        Pfn freed = held[held.Count / 2];
        held.RemoveAt(held.Count / 2);
        Assert.Equal(MemoryStatus.Ok, pm->Free(freed, new Order(4), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);

        HostCpus.Enter(cachingCpu);
        var small = new List<(Pfn Pfn, int Order)>();
        foreach (int order in new[] { 1, 1, 2, 3 })
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn pfn));
            Assert.Equal(freed.Value, pfn.Value & ~15UL);
            small.Add((pfn, order));
            MemoryAssert.Consistent(pm);
        }
        foreach ((Pfn pfn, int order) in small)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
            MemoryAssert.Consistent(pm);
        }
        Assert.Equal(16UL, pm->_buddy.CpuCachedCount(pool.Value, cachingCpu));
        for (int order = 0; order <= pm->MaxOrder; order++)
            Assert.Equal(0UL, pm->FreeBlocks(pool, new Order(order)));

        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(4), AllocRequest.InPool(pool), out Pfn whole));
        Assert.Equal(freed, whole);
        Assert.Equal(0UL, pm->_buddy.CachedCount(pool.Value));
        MemoryAssert.Consistent(pm);
        held.Add(whole);
        foreach (Pfn p in held)
            Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(4), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>Every cached block is counted once, with its order: a block moved into the cache of another order is named.</summary>
    [Fact]
    public void TheCheckerNamesACachedBlockInTheCacheOfAnotherOrder()
    {
        using HostPhysicalMemory host = TwoCpus(256 * MiB);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallCachedPool(pm);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), AllocRequest.InPool(pool), out Pfn pfn));
        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(2), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
        FrameCache* order2 = CacheOf(pm, pool, 0, 2);
        FrameCache* order1 = CacheOf(pm, pool, 0, 1);
        Assert.Equal(0, order1->Count);
        ulong head = order2->Pop();
        order1->Push(head);
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.CacheBadEntry, r.Code);
        Assert.Equal(pfn, r.Pfn);
        Assert.Equal((ulong)FrameState.Make(FrameKind.Cached, 1), r.Expected);
        Assert.Equal((ulong)FrameState.Make(FrameKind.Cached, 2), r.Actual);
        order1->Pop();
        order2->Push(head);
        MemoryAssert.Consistent(pm);
    }
}
