using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The frame caches one a (pool, CPU), on one thread that plays two CPUs in turn (<see cref="HostCpus.Enter"/>):
/// each CPU frees to and allocates from its own cache; a pool that shrinks, is destroyed or runs short drains
/// every CPU's cache of it; the checker accounts for every CPU's cached frames. (Threads at once:
/// <see cref="ConcurrentOperationsTests"/>.)
/// </summary>
public unsafe class CpuCacheTests
{
    private const ulong MiB = 1UL << 20;
    /// <summary>The fewest page blocks of a pool with a frame cache at the default config (FrameCache.MinLargestBlocks order-10 blocks).</summary>
    private const ulong CachedPoolPageblocks = 8;

    private static HostPhysicalMemory TwoCpus()
    {
        HostCpus.Enter(0);
        HostPhysicalMemory host = QemuMaps.Boot("q35", 256 * MiB, 1, HostCpus.Config(2));
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        return host;
    }

    /// <summary>A pool of its own, big enough for caches, from the normal memory of node 0.</summary>
    private static PoolId CachedPool(PhysicalMemory* pm)
    {
        PoolId donor = MemoryAssert.FindPool(pm, "node0-dma32");
        PoolProperties props = PoolProperties.Open("cpu-cached");
        props.Flags = PoolFlags.Reserved;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, donor, CachedPoolPageblocks, out PoolId id));
        Assert.True(pm->_buddy.CacheOf(id.Value, 0)->High > 0);
        return id;
    }

    private static int Cached(PhysicalMemory* pm, PoolId id, int cpu) => pm->_buddy.CacheOf(id.Value, cpu)->Count;

    /// <summary>Frames in CPU <paramref name="cpu"/>'s caches of the pool, every order (0 and the block caches of 1, 2, 3, 9).</summary>
    private static ulong CachedFrames(PhysicalMemory* pm, PoolId id, int cpu) => pm->_buddy.CpuCachedCount(id.Value, cpu);

    [Fact]
    public void EachCpuFreesToAndAllocatesFromItsOwnCache()
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        PoolId pool = CachedPool(pm);

        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn mine));
        Assert.Equal(MemoryStatus.Ok, pm->Free(mine, new Order(0), MemoryAssert.DefaultOwner));
        int cpu1 = Cached(pm, pool, 1);
        Assert.True(cpu1 > 0);
        Assert.Equal(0, Cached(pm, pool, 0));
        MemoryAssert.Consistent(pm);

        // CPU 0 refills its own cache: CPU 1's most recently freed frame stays where it is.
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn other));
        Assert.NotEqual(mine, other);
        Assert.Equal(cpu1, Cached(pm, pool, 1));
        Assert.True(Cached(pm, pool, 0) > 0);
        Assert.Equal(FrameKind.Cached, pm->KindOf(mine, out _));

        // CPU 1 gets its own frame back (LIFO, its cache only).
        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn again));
        Assert.Equal(mine, again);
        Assert.Equal(cpu1 - 1, Cached(pm, pool, 1));
        MemoryAssert.Consistent(pm);

        // A free on one CPU of a frame the other allocated parks it in the freeing CPU's cache.
        Assert.Equal(MemoryStatus.Ok, pm->Free(other, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(cpu1, Cached(pm, pool, 1));
        Assert.Equal(MemoryStatus.AlreadyFree, pm->Free(other, new Order(0), MemoryAssert.DefaultOwner));
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.AlreadyFree, pm->Free(other, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Free(again, new Order(0), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ShrinkingAPoolDrainsEveryCpusCache(int order)
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        PoolId pool = CachedPool(pm);
        PoolId donor = MemoryAssert.FindPool(pm, "node0-dma32");
        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn pfn));
        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
        Assert.True(CachedFrames(pm, pool, 1) > 0);

        // CPU 0 gives every page block back: the frames parked in CPU 1's cache have to merge first.
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, pm->MovePageblocks(pool, donor, CachedPoolPageblocks));
        Assert.Equal(0UL, CachedFrames(pm, pool, 1));
        Assert.Equal(0, pm->_buddy.CacheOf(pool.Value, 1)->High); // an empty pool has no cache
        MemoryAssert.Consistent(pm);
    }

    [ThreadStatic]
    private static int t_locksTaken;
    private static ulong CountLock() { t_locksTaken++; return 0; }
    private static void Restore(ulong state) { }

    /// <summary>
    /// An instance of one CPU takes no lock on its fast paths (its one CPU is the only caller), one of
    /// several CPUs takes the CPU's cache lock (order 0) or the pool's lock (order 9 in a pool too small
    /// for a cache of that order) once per call: counted
    /// through the locks' interrupt hook, which every acquisition calls.
    /// </summary>
    [Fact]
    public void FastPathsTakeNoLockWithOneCpu_OneLockACallWithSeveral()
    {
        foreach (int cpus in new[] { 1, 2 })
        {
            HostCpus.Enter(0);
            MemoryConfig config = HostCpus.Config(cpus);
            config.SaveAndDisableInterrupts = &CountLock;
            config.RestoreInterrupts = &Restore;
            using HostPhysicalMemory host = QemuMaps.Boot("q35", 256 * MiB, 1, config);
            Assert.Equal(MemoryStatus.Ok, host.InitStatus);
            PhysicalMemory* pm = host.Memory;
            PoolId pool = CachedPool(pm);
            int pbo = pm->PageblockOrder;
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn warm));
            Assert.Equal(MemoryStatus.Ok, pm->Free(warm, new Order(0), MemoryAssert.DefaultOwner));
            Assert.True(Cached(pm, pool, 0) > 1);

            t_locksTaken = 0;
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn frame));
            Assert.Equal(MemoryStatus.Ok, pm->Free(frame, new Order(0), MemoryAssert.DefaultOwner));
            Assert.Equal(cpus == 1 ? 0 : 2, t_locksTaken);

            t_locksTaken = 0;
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(pbo), AllocRequest.InPool(pool), out Pfn block));
            Assert.Equal(MemoryStatus.Ok, pm->Free(block, new Order(pbo), MemoryAssert.DefaultOwner));
            Assert.Equal(cpus == 1 ? 0 : 2, t_locksTaken);
            MemoryAssert.Consistent(pm);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void InflatingTheBalloonDrainsEveryCpusCacheOfThePool(int order)
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        PoolId donor = MemoryAssert.FindPool(pm, "node0-dma32");
        PoolProperties props = PoolProperties.Open("elastic-cached");
        props.Flags = PoolFlags.Elastic; // lent first: the balloon looks at it before any other pool
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, donor, CachedPoolPageblocks, out PoolId pool));
        Assert.True(pm->_buddy.CacheOf(pool.Value, 1)->High > 0);
        int pbo = pm->PageblockOrder;
        // CPU 0 holds every page block but one; CPU 1 breaks the last one and parks its frames in its cache.
        var held = new Pfn[CachedPoolPageblocks - 1];
        for (int i = 0; i < held.Length; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(pbo), AllocRequest.InPool(pool), out held[i]));
        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn small));
        Assert.Equal(MemoryStatus.Ok, pm->Free(small, new Order(order), MemoryAssert.DefaultOwner));
        Assert.True(CachedFrames(pm, pool, 1) > 0);
        Assert.Equal(0UL, pm->FreeBlocks(pool, new Order(pbo)));

        // CPU 0 inflates: the only whole free page block of the elastic pool appears once CPU 1's cache is drained.
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, pm->InflatePageblock(out Pfn lent, out PoolId from));
        Assert.Equal(pool, from);
        Assert.Equal(0UL, CachedFrames(pm, pool, 1));
        Assert.Equal(small.Value >> pbo, lent.Value >> pbo);
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->DeflatePageblock(lent));
        foreach (Pfn p in held)
            Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(pbo), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void DestroyingAPoolDrainsEveryCpusCache(int order)
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        ulong freeBefore = pm->GetTotals().FreePages;
        PoolId pool = CachedPool(pm);
        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn pfn));
        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
        Assert.True(CachedFrames(pm, pool, 1) > 0);

        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyPool(pool));
        Assert.Equal(0UL, CachedFrames(pm, pool, 1));
        Assert.NotEqual(FrameKind.Cached, pm->KindOf(pfn, out _));
        Assert.Equal(freeBefore, pm->GetTotals().FreePages);
        MemoryAssert.Consistent(pm);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void APoolRunningShortDrainsTheOtherCpusCaches(int order)
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        PoolId pool = CachedPool(pm);
        // Page-block-sized blocks: the pool's page blocks need not be neighbours, so larger ones may not exist.
        int max = pm->PageblockOrder;
        // CPU 0 holds every page block but one.
        ulong largest = CachedPoolPageblocks;
        var held = new Pfn[largest - 1];
        for (int i = 0; i < held.Length; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(max), AllocRequest.InPool(pool), out held[i]));
        // CPU 1 breaks the last one: a refill splits it, the frame goes back to CPU 1's cache.
        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn small));
        Assert.Equal(MemoryStatus.Ok, pm->Free(small, new Order(order), MemoryAssert.DefaultOwner));
        Assert.True(CachedFrames(pm, pool, 1) > 0);
        for (int o = max; o <= pm->MaxOrder; o++)
            Assert.Equal(0UL, pm->FreeBlocks(pool, new Order(o)));

        // CPU 0 asks for a page block's worth: its own cache is empty, so CPU 1's is drained and the block merges.
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(max), AllocRequest.InPool(pool), out Pfn last));
        Assert.Equal(0UL, CachedFrames(pm, pool, 1));
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->Free(last, new Order(max), MemoryAssert.DefaultOwner));
        foreach (Pfn p in held)
            Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(max), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void TheCheckerAccountsForEveryCpusCachedFrames()
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        PoolId pool = CachedPool(pm);
        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn pfn));
        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(0), MemoryAssert.DefaultOwner));
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn other));
        Assert.Equal(MemoryStatus.Ok, pm->Free(other, new Order(0), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);

        // The same frame in both CPUs' caches: found, naming both CPUs.
        FrameCache* cpu0 = pm->_buddy.CacheOf(pool.Value, 0);
        FrameCache* cpu1 = pm->_buddy.CacheOf(pool.Value, 1);
        ulong saved = cpu0->At(0);
        cpu0->Set(0, cpu1->At(0));
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.CacheDuplicate, r.Code);
        Assert.Equal(0UL, r.Expected);
        Assert.Equal(1UL, r.Actual);
        cpu0->Set(0, saved);
        MemoryAssert.Consistent(pm);

        // A cached frame in no CPU's cache: the counts no longer add up.
        ulong dropped = cpu1->Pop();
        r = pm->Check();
        Assert.Equal(InvariantCode.CacheCount, r.Code);
        cpu1->Push(dropped);
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// What a CPU writes on its fast paths and under locks sits on cache lines no other CPU's or pool's writes share
    /// (issue 13, false sharing): in an instance built for 4 CPUs, each (pool, CPU) cache lock and each pool lock is
    /// alone on its 64-byte line, each (pool, CPU) frame cache and block-cache set spans lines of its own, and no lock
    /// line is a cache's line.
    /// </summary>
    [Fact]
    public void LocksAndCachesOfDifferentCpusAndPoolsShareNoCacheLine()
    {
        const int Cpus = 4;
        HostCpus.Enter(0);
        using HostPhysicalMemory host = QemuMaps.Boot("q35", 256 * MiB, 1, HostCpus.Config(Cpus));
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(64, sizeof(CacheLock));
        var owners = new Dictionary<ulong, string>(); // line -> the one thing written on it
        void Claim(void* at, int bytes, string what)
        {
            for (ulong line = (ulong)at >> 6; line <= ((ulong)at + (ulong)bytes - 1) >> 6; line++)
            {
                Assert.False(owners.TryGetValue(line, out string other), $"{what} shares line {line:x} with {other}");
                owners[line] = what;
            }
        }
        for (int pool = 0; pool < pm->_poolCapacity; pool++)
        {
            Assert.Equal(0UL, (ulong)&pm->_poolLocks[pool] & 63);
            Claim(&pm->_poolLocks[pool], sizeof(PoolKernel.Memory.SpinLock), $"pool {pool}'s lock");
            for (int cpu = 0; cpu < Cpus; cpu++)
            {
                Claim(pm->_buddy.CacheLockOf(pool, cpu), sizeof(PoolKernel.Memory.SpinLock), $"cache lock ({pool}, {cpu})");
                Claim(pm->_buddy.CacheOf(pool, cpu), sizeof(FrameCache), $"frame cache ({pool}, {cpu})");
                Claim(pm->_buddy.BlockCacheOf(pool, cpu, 0), FrameCache.BlockSlots * FrameCache.BlockBytes, $"block caches ({pool}, {cpu})");
            }
        }
    }
}
