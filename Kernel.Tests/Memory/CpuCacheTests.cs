using System.Collections.Generic;
using System.Threading;
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

    /// <summary>
    /// The order-0 hit and push have a copy for an instance of one CPU and one for several
    /// (<c>TakeCachedFrame</c>, <c>ParkFrame</c>): with either, a named allocation takes the CPU's cache's newest
    /// frame and a free parks it there, and each refuses, with nothing changed, a free by another owner, a free of
    /// the wrong order, a second free of the parked frame and an allocation by an owner the pool does not admit.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TheOrder0HitAndPushRefuseTheSameCallsWithOneCpuAndWithSeveral(int cpus)
    {
        int cpu = cpus - 1;
        HostCpus.Enter(cpu);
        using HostPhysicalMemory host = QemuMaps.Boot("q35", 256 * MiB, 1, HostCpus.Config(cpus));
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        PoolProperties props = PoolProperties.Open("owner0-cached");
        props.Flags = PoolFlags.Reserved;
        props.OwnerMask = 1UL << MemoryAssert.DefaultOwner;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, MemoryAssert.FindPool(pm, "node0-dma32"), CachedPoolPageblocks, out PoolId pool));
        Assert.True(pm->_buddy.CacheOf(pool.Value, cpu)->High > 0);
        AllocRequest mine = AllocRequest.InPool(pool);
        AllocRequest stranger = mine;
        stranger.Owner = 3;

        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), mine, out Pfn refilled));
        int cached = Cached(pm, pool, cpu);
        Assert.True(cached > 0);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), mine, out Pfn frame));
        Assert.Equal(cached - 1, Cached(pm, pool, cpu));
        MemoryAssert.Refused(host, MemoryStatus.OwnerRefused, () => pm->Allocate(new Order(0), stranger, out _));
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(frame, new Order(0), 3));
        MemoryAssert.Refused(host, MemoryStatus.WrongOrder, () => pm->Free(frame, new Order(1), MemoryAssert.DefaultOwner));

        Assert.Equal(MemoryStatus.Ok, pm->Free(frame, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(cached, Cached(pm, pool, cpu));
        Assert.Equal(FrameKind.Cached, pm->KindOf(frame, out _));
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(frame, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), mine, out Pfn again));
        Assert.Equal(frame, again);
        Assert.Equal(MemoryStatus.Ok, pm->Free(again, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Free(refilled, new Order(0), MemoryAssert.DefaultOwner));
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
    /// An own-cache hit (an order-0 pair on a CPU's own cache) takes no lock in an instance of one CPU (its one CPU
    /// is the only caller) nor in one of several CPUs with a process-wide barrier (the lock-free own cache, what
    /// <see cref="HostCpus.Config"/> sets); without the barrier, one of several CPUs takes the CPU's cache lock
    /// once per call. The pool's lock (order 9 in a pool too small for a cache of that order) is taken once per
    /// call with several CPUs either way. Counted through the locks' interrupt hook, which every acquisition calls.
    /// </summary>
    [Theory]
    [InlineData(1, true, 0, 0)]
    [InlineData(2, true, 0, 2)]
    [InlineData(2, false, 2, 2)]
    public void OwnCacheHitsTakeNoLockWithOneCpuOrTheBarrier_OneLockACallWithout(int cpus, bool barrier, int cacheLocks, int poolLocks)
    {
        HostCpus.Enter(0);
        MemoryConfig config = HostCpus.Config(cpus);
        if (!barrier)
            config.ProcessWideBarrier = null;
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
        Assert.Equal(cacheLocks, t_locksTaken);

        t_locksTaken = 0;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(pbo), AllocRequest.InPool(pool), out Pfn block));
        Assert.Equal(MemoryStatus.Ok, pm->Free(block, new Order(pbo), MemoryAssert.DefaultOwner));
        Assert.Equal(poolLocks, t_locksTaken);
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// The lock-free own cache, shown by what a lock would do: another thread holds CPU 1's cache lock of the pool
    /// (as a drain that has not yet frozen the cache would), and CPU 1's thread still makes a thousand order-0 and
    /// order-1 pairs on its own cache (each a hit: the cache was warmed, a pair leaves it as it was). With a cache
    /// lock on the hit (main before issue 13's lock-free round) the thread would wait for the lock.
    /// </summary>
    [Fact]
    public void OwnCacheHitsGoOnWhileAnotherCpuHoldsTheCacheLock()
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        PoolId pool = CachedPool(pm);
        Exception failure = null;
        int pairs = 0;
        var warmed = new ManualResetEventSlim();
        var go = new ManualResetEventSlim();
        var owner = new Thread(() =>
        {
            try
            {
                HostCpus.Enter(1);
                for (int order = 0; order <= 1; order++)
                {
                    Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn w));
                    Assert.Equal(MemoryStatus.Ok, pm->Free(w, new Order(order), MemoryAssert.DefaultOwner));
                }
                warmed.Set();
                go.Wait();
                for (int i = 0; i < 1000; i++)
                {
                    int order = i & 1;
                    Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn p));
                    Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(order), MemoryAssert.DefaultOwner));
                    pairs++;
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        owner.Start();
        Assert.True(warmed.Wait(TimeSpan.FromSeconds(60)));
        ulong state = pm->_buddy.CacheLockOf(pool.Value, 1)->Acquire();
        go.Set();
        bool finished = owner.Join(TimeSpan.FromSeconds(20));
        pm->_buddy.CacheLockOf(pool.Value, 1)->Release(state);
        owner.Join();
        Assert.Null(failure);
        Assert.True(finished, $"CPU 1 made {pairs} of 1000 pairs while its cache lock was held elsewhere");
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// A call nested in the CPU's own lock-free section on its cache (an interrupt handler that interrupted a pop or
    /// a push: its <see cref="CacheLock.Active"/> word found raised) neither touches that cache nor takes its lock:
    /// order-0 and order-1 pairs are served by the pool's lists under the pool's lock, the cache left as it was.
    /// </summary>
    [Fact]
    public void ACallNestedInTheOwnCachesSectionBypassesTheCache()
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        PoolId pool = CachedPool(pm);
        HostCpus.Enter(1);
        for (int order = 0; order <= 1; order++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn w));
            Assert.Equal(MemoryStatus.Ok, pm->Free(w, new Order(order), MemoryAssert.DefaultOwner));
        }
        ulong cachedBefore = CachedFrames(pm, pool, 1);
        ulong freeBefore = pm->GetTotals().FreePages;
        CacheLock* l = pm->_buddy.CacheLockOf(pool.Value, 1);
        ulong state = l->Acquire(); // held elsewhere: a nested call must not wait for it
        l->Active = 1;
        for (int order = 0; order <= 1; order++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn p));
            Assert.Equal(cachedBefore, CachedFrames(pm, pool, 1));
            Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(order), MemoryAssert.DefaultOwner));
            Assert.Equal(MemoryStatus.AlreadyFree, pm->Free(p, new Order(order), MemoryAssert.DefaultOwner));
            Assert.Equal(cachedBefore, CachedFrames(pm, pool, 1));
        }
        l->Active = 0;
        l->Release(state);
        Assert.Equal(freeBefore, pm->GetTotals().FreePages);
        MemoryAssert.Consistent(pm);
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

    private static int s_barriers;
    private static void CountingBarrier(ulong cpus) { Interlocked.Increment(ref s_barriers); HostCpus.Barrier(cpus); }

    /// <summary>
    /// What a drain costs in process-wide barriers (the kernel's NMI round trips, docs/smp.md "A lock-free own
    /// cache"), counted through the barrier hook: <see cref="PhysicalMemory.DrainCaches"/> with nothing cached runs
    /// none (main: one a pool slot), with two CPUs' caches of two pools holding frames one for all of them, and they
    /// end empty; a pool that runs short while no other CPU's cache of it holds a frame runs none per refusal.
    /// </summary>
    [Fact]
    public void DrainsRunOneBarrierForAllCachesHoldingFramesAndNoneWhenNoneDo()
    {
        HostCpus.Enter(0);
        MemoryConfig config = HostCpus.Config(3);
        config.ProcessWideBarrier = &CountingBarrier;
        using HostPhysicalMemory host = QemuMaps.Boot("q35", 256 * MiB, 1, config);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = CachedPool(pm);
        PoolId donor = MemoryAssert.FindPool(pm, "node0-dma32");
        pm->DrainCaches();
        Volatile.Write(ref s_barriers, 0);
        pm->DrainCaches();
        Assert.Equal(0, Volatile.Read(ref s_barriers));

        foreach (int cpu in new[] { 1, 2 })
        {
            HostCpus.Enter(cpu);
            foreach (PoolId id in new[] { pool, donor })
            {
                Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(id), out Pfn f));
                Assert.Equal(MemoryStatus.Ok, pm->Free(f, new Order(0), MemoryAssert.DefaultOwner));
                Assert.True(CachedFrames(pm, id, cpu) > 0);
            }
        }
        HostCpus.Enter(0);
        Volatile.Write(ref s_barriers, 0);
        pm->DrainCaches();
        Assert.Equal(1, Volatile.Read(ref s_barriers));
        for (int cpu = 0; cpu < 3; cpu++)
            foreach (PoolId id in new[] { pool, donor })
                Assert.Equal(0UL, CachedFrames(pm, id, cpu));
        MemoryAssert.Consistent(pm);

        // The pool runs short (CPU 0 takes every page block) with no cache of it holding a frame: no barrier.
        int max = pm->PageblockOrder;
        var held = new List<Pfn>();
        Volatile.Write(ref s_barriers, 0);
        while (pm->Allocate(new Order(max), AllocRequest.InPool(pool), out Pfn b) == MemoryStatus.Ok)
            held.Add(b);
        Assert.Equal(MemoryStatus.OutOfMemory, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out _));
        Assert.Equal(0, Volatile.Read(ref s_barriers));
        foreach (Pfn b in held)
            Assert.Equal(MemoryStatus.Ok, pm->Free(b, new Order(max), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    private static long s_barrierCpus;
    private static void RecordingBarrier(ulong cpus)
    {
        Interlocked.Increment(ref s_barriers);
        Interlocked.Or(ref s_barrierCpus, (long)cpus);
        HostCpus.Barrier(cpus);
    }

    /// <summary>
    /// A CPU on locked caches (<see cref="PhysicalMemory.UseLockedCaches"/>, the kernel's realtime CPU): switching
    /// it runs one barrier, for that CPU alone; afterwards its own cache hits take its cache lock (one a call, the
    /// locked path) while another CPU's stay lock-free; drains of caches that hold frames on both CPUs send one
    /// barrier, to the others only (main: to every CPU), also when only its caches hold frames; the checker and a
    /// pool-wide freeze never name it; its cached frames are still drained. Asking again changes
    /// nothing; a CPU the instance has no caches for is refused.
    /// </summary>
    [Fact]
    public void ACpuOnLockedCaches_TakesItsCacheLockOnHits_AndFreezesNeverSendItABarrier()
    {
        HostCpus.Enter(0);
        MemoryConfig config = HostCpus.Config(3);
        config.ProcessWideBarrier = &RecordingBarrier;
        config.SaveAndDisableInterrupts = &CountLock;
        config.RestoreInterrupts = &Restore;
        using HostPhysicalMemory host = QemuMaps.Boot("q35", 256 * MiB, 1, config);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = CachedPool(pm);

        Volatile.Write(ref s_barriers, 0);
        Volatile.Write(ref s_barrierCpus, 0);
        Assert.Equal(MemoryStatus.Ok, pm->UseLockedCaches(2));
        Assert.Equal(4UL, pm->LockedCacheCpus);
        Assert.Equal(1, Volatile.Read(ref s_barriers));
        Assert.Equal(4L, Volatile.Read(ref s_barrierCpus));
        Assert.Equal(MemoryStatus.Ok, pm->UseLockedCaches(2));
        Assert.Equal(1, Volatile.Read(ref s_barriers));
        Assert.Equal(MemoryStatus.InvalidArgument, pm->UseLockedCaches(3));
        Assert.Equal(4UL, pm->LockedCacheCpus);

        foreach (int cpu in new[] { 1, 2 })
        {
            HostCpus.Enter(cpu);
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn warm));
            Assert.Equal(MemoryStatus.Ok, pm->Free(warm, new Order(0), MemoryAssert.DefaultOwner));
            Assert.True(Cached(pm, pool, cpu) > 1);
            t_locksTaken = 0;
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn frame));
            Assert.Equal(MemoryStatus.Ok, pm->Free(frame, new Order(0), MemoryAssert.DefaultOwner));
            Assert.Equal(cpu == 2 ? 2 : 0, t_locksTaken);
        }

        HostCpus.Enter(0);
        Volatile.Write(ref s_barriers, 0);
        Volatile.Write(ref s_barrierCpus, 0);
        pm->DrainCaches();
        Assert.Equal(1, Volatile.Read(ref s_barriers));
        Assert.Equal(0L, Volatile.Read(ref s_barrierCpus) & 4);
        Assert.Equal(0UL, CachedFrames(pm, pool, 1));
        Assert.Equal(0UL, CachedFrames(pm, pool, 2));

        HostCpus.Enter(2);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn only));
        Assert.Equal(MemoryStatus.Ok, pm->Free(only, new Order(0), MemoryAssert.DefaultOwner));
        Assert.True(CachedFrames(pm, pool, 2) > 0);
        HostCpus.Enter(0);
        Volatile.Write(ref s_barrierCpus, 0);
        pm->DrainCaches();
        Assert.Equal(3L, Volatile.Read(ref s_barrierCpus));
        Assert.Equal(0UL, CachedFrames(pm, pool, 2));

        Volatile.Write(ref s_barrierCpus, 0);
        MemoryAssert.Consistent(pm);
        ulong state = pm->LockAll();
        pm->UnlockAll(state);
        Assert.Equal(0L, Volatile.Read(ref s_barrierCpus) & 4);
        Assert.NotEqual(0L, Volatile.Read(ref s_barrierCpus));
    }

    /// <summary>
    /// The rate limit of drains of a short pool (Pool.FutileDrainFrames): CPU 0 holds every page block but one, CPU 1
    /// holds a frame of that one and caches some of its other frames. CPU 0's page-block request drains CPU 1's
    /// cache (one barrier) and is still refused (the held frame keeps the block from merging); CPU 1 caches frames
    /// again, and CPU 0's next request as large skips the drain (no barrier: CPU 1 caches fewer frames than it asks
    /// for; main drained again), while an order-0 request of CPU 0 is served. The checker stays clean.
    /// </summary>
    [Fact]
    public void ARequestRefusedRightAfterADrainDoesNotDrainAgainForTheSameSize()
    {
        HostCpus.Enter(0);
        MemoryConfig config = HostCpus.Config(2);
        config.ProcessWideBarrier = &CountingBarrier;
        using HostPhysicalMemory host = QemuMaps.Boot("q35", 256 * MiB, 1, config);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = CachedPool(pm);
        int max = pm->PageblockOrder;
        var held = new Pfn[CachedPoolPageblocks - 1];
        for (int i = 0; i < held.Length; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(max), AllocRequest.InPool(pool), out held[i]));
        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn pinned));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn f));
        Assert.Equal(MemoryStatus.Ok, pm->Free(f, new Order(0), MemoryAssert.DefaultOwner));
        Assert.True(CachedFrames(pm, pool, 1) > 0);

        HostCpus.Enter(0);
        Volatile.Write(ref s_barriers, 0);
        Assert.Equal(MemoryStatus.OutOfMemory, pm->Allocate(new Order(max), AllocRequest.InPool(pool), out _));
        Assert.Equal(1, Volatile.Read(ref s_barriers));
        Assert.Equal(0UL, CachedFrames(pm, pool, 1));

        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out f));
        Assert.Equal(MemoryStatus.Ok, pm->Free(f, new Order(0), MemoryAssert.DefaultOwner));
        ulong parked = CachedFrames(pm, pool, 1);
        Assert.True(parked > 0 && parked < 1UL << max);
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.OutOfMemory, pm->Allocate(new Order(max), AllocRequest.InPool(pool), out _));
        Assert.Equal(1, Volatile.Read(ref s_barriers));
        Assert.Equal(parked, CachedFrames(pm, pool, 1));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn small));
        MemoryAssert.Consistent(pm);

        Assert.Equal(MemoryStatus.Ok, pm->Free(small, new Order(0), MemoryAssert.DefaultOwner));
        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Free(pinned, new Order(0), MemoryAssert.DefaultOwner));
        HostCpus.Enter(0);
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
    /// Parks the allocated block at <paramref name="index"/> of <paramref name="order"/> in <paramref name="cache"/> as
    /// ParkFrame and ParkBlock park, but without their class test (the head Cached, the owner byte cleared, held counts
    /// unchanged), runs the checker, and takes it back out allocated to the default owner; returns the checker's report.
    /// </summary>
    private static InvariantReport CheckWithParked(PhysicalMemory* pm, FrameCache* cache, ulong index, int order)
    {
        ref BuddyAllocator b = ref pm->_buddy;
        b._frames[index] = FrameState.Make(FrameKind.Cached, order);
        b._owners[index] = FrameOwner.None;
        cache->Push(index);
        InvariantReport r = pm->Check();
        Assert.Equal(index, cache->Pop());
        b._frames[index] = FrameState.Make(FrameKind.Allocated, order);
        b._owners[index] = MemoryAssert.DefaultOwner;
        return r;
    }

    /// <summary>
    /// The class rule for cached blocks covers every CPU's caches, every order: a movable frame, then a movable order-1
    /// block, parked in CPU 1's caches of an open pool (whose caches serve the unmovable class), as a park that skipped
    /// the class test would leave them, is reported as <see cref="InvariantCode.CachedFrameOfAnotherClass"/> naming the
    /// frame, the pool, the order and both classes. (Before, the rule was checked in instances of one CPU only.)
    /// </summary>
    [Fact]
    public void AFrameOfAnotherClassInAnotherCpusCache_IsReported_EveryOrder()
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        ref BuddyAllocator b = ref pm->_buddy;
        PoolId pool = CachedPool(pm);
        AllocRequest movable = AllocRequest.InPool(pool);
        movable.Mobility = MobilityClass.Movable;
        HostCpus.Enter(1);
        foreach (int order in new[] { 0, 1 })
        {
            FrameCache* cache = b.CacheFor(pool.Value, 1, order);
            Assert.True(cache->High > cache->Count, $"order {order}: CPU 1's cache has no room");
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), movable, out Pfn pfn));
            ulong index = pfn.Value - pm->_basePfn;
            Assert.Equal(MobilityClass.Movable, b._pageblocks[index >> b._pageblockOrder].Mobility);
            MemoryAssert.Consistent(pm);

            InvariantReport r = CheckWithParked(pm, cache, index, order);
            Assert.Equal(InvariantCode.CachedFrameOfAnotherClass, r.Code);
            Assert.Equal(pfn.Value, r.Pfn.Value);
            Assert.Equal(pool, r.Pool);
            Assert.Equal(order, r.Order);
            Assert.Equal((ulong)MobilityClass.Unmovable, r.Expected);
            Assert.Equal((ulong)MobilityClass.Movable, r.Actual);
            MemoryAssert.Consistent(pm);
            Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
        }
        HostCpus.Enter(0);
        MemoryAssert.Consistent(pm);
    }

    /// <summary>What <see cref="StealWhileCpu1Caches"/> left: the pool, the stolen page block, the page blocks held whole, CPU 1's frame and CPU 0's stolen one.</summary>
    private readonly record struct Stolen(PoolId Pool, ulong Pageblock, List<Pfn> Whole, Pfn Unmovable, Pfn Movable);

    /// <summary>
    /// Every page block of the cached pool held whole but one; CPU 1 allocates a frame of that one (its refill claims it
    /// unmovable and caches more of its frames); CPU 0's movable frame can then only come from stealing it. Asserts the
    /// steal left CPU 1's frames cached and marked the page block (<see cref="BuddyAllocator.LeftCacheClass"/>), the checker clean.
    /// The calling thread is CPU 0 again at the end.
    /// </summary>
    private static Stolen StealWhileCpu1Caches(PhysicalMemory* pm)
    {
        ref BuddyAllocator b = ref pm->_buddy;
        int pbo = b._pageblockOrder;
        PoolId pool = CachedPool(pm);
        var whole = new List<Pfn>();
        while (pm->Allocate(new Order(pbo), AllocRequest.InPool(pool), out Pfn p) == MemoryStatus.Ok)
            whole.Add(p);
        Assert.Equal(MemoryStatus.Ok, pm->Free(whole[^1], new Order(pbo), MemoryAssert.DefaultOwner));
        ulong pb = (whole[^1].Value - pm->_basePfn) >> pbo;
        whole.RemoveAt(whole.Count - 1);

        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn unmovable));
        Assert.Equal(pb, (unmovable.Value - pm->_basePfn) >> pbo);
        Assert.True(CachedFrames(pm, pool, 1) > 0);
        MemoryAssert.Consistent(pm);

        HostCpus.Enter(0);
        AllocRequest movable = AllocRequest.InPool(pool);
        movable.Mobility = MobilityClass.Movable;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), movable, out Pfn stolen));
        Assert.Equal(pb, (stolen.Value - pm->_basePfn) >> pbo);
        Assert.Equal(MobilityClass.Movable, b._pageblocks[pb].Mobility);
        Assert.True(b.CachedIn(pool.Value, pb) > 0, "CPU 1's frames of the stolen page block left its cache");
        Assert.True(b.LeftCacheClass(pb));
        MemoryAssert.Consistent(pm);
        return new Stolen(pool, pb, whole, unmovable, stolen);
    }

    /// <summary>
    /// The rule's one exception, on several CPUs: a steal that steers a page block away from the caches' class cannot take
    /// the other CPUs' caches (their locks rank below the pool's), so the frames of it CPU 1 parked stay there, and the
    /// checker is clean (the page block is marked, <see cref="BuddyAllocator.LeftCacheClass"/>). Once those frames are
    /// drained and the page block is claimed again wholly free, the mark is gone: a movable frame parked in CPU 1's cache
    /// then is reported again.
    /// </summary>
    [Fact]
    public void AStealWhileAnotherCpuCachesFramesOfThePageblock_LeavesThemCached_TheCheckerClean_UntilClaimedAgain()
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        ref BuddyAllocator b = ref pm->_buddy;
        int pbo = b._pageblockOrder;
        (PoolId pool, ulong pb, List<Pfn> whole, Pfn unmovable, Pfn stolen) = StealWhileCpu1Caches(pm);
        AllocRequest movable = AllocRequest.InPool(pool);
        movable.Mobility = MobilityClass.Movable;

        // Everything back: the page block wholly free, then claimed by a movable allocation: no longer marked.
        Assert.Equal(MemoryStatus.Ok, pm->Free(stolen, new Order(0), MemoryAssert.DefaultOwner));
        HostCpus.Enter(1);
        Assert.Equal(MemoryStatus.Ok, pm->Free(unmovable, new Order(0), MemoryAssert.DefaultOwner));
        Assert.True(b.Drain(pool.Value));
        Assert.Equal(0, b._pageblocks[pb].Held);
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), movable, out Pfn claimed));
        Assert.Equal(pb, (claimed.Value - pm->_basePfn) >> pbo);
        Assert.False(b.LeftCacheClass(pb));
        MemoryAssert.Consistent(pm);

        Assert.Equal(InvariantCode.CachedFrameOfAnotherClass, CheckWithParked(pm, b.CacheOf(pool.Value, 1), claimed.Value - pm->_basePfn, 0).Code);
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->Free(claimed, new Order(0), MemoryAssert.DefaultOwner));
        foreach (Pfn p in whole)
            Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(pbo), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// A drain of every CPU's caches of the pool clears the steal's mark (no cache then holds a frame of the page block,
    /// and a CPU parking one later reads its class first), so the class rule holds for that page block again at once,
    /// before it is ever claimed again: CPU 0's movable frame of it parked in CPU 1's cache is reported.
    /// </summary>
    [Fact]
    public void AFullDrainOfThePoolsCaches_ClearsTheStealMark_TheRuleHoldsForThePageblockAgain()
    {
        using HostPhysicalMemory host = TwoCpus();
        PhysicalMemory* pm = host.Memory;
        ref BuddyAllocator b = ref pm->_buddy;
        Stolen s = StealWhileCpu1Caches(pm);
        Assert.True(b.Drain(s.Pool.Value));
        Assert.Equal(0UL, b.CachedIn(s.Pool.Value, s.Pageblock));
        Assert.False(b.LeftCacheClass(s.Pageblock));
        MemoryAssert.Consistent(pm);

        InvariantReport r = CheckWithParked(pm, b.CacheOf(s.Pool.Value, 1), s.Movable.Value - pm->_basePfn, 0);
        Assert.Equal(InvariantCode.CachedFrameOfAnotherClass, r.Code);
        Assert.Equal(s.Movable.Value, r.Pfn.Value);
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->Free(s.Movable, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Free(s.Unmovable, new Order(0), MemoryAssert.DefaultOwner));
        foreach (Pfn p in s.Whole)
            Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(b._pageblockOrder), MemoryAssert.DefaultOwner));
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
                Claim(pm->_buddy.CacheLockOf(pool, cpu), sizeof(CacheLock), $"cache lock ({pool}, {cpu}) with its active and frozen words");
                Claim(pm->_buddy.CacheOf(pool, cpu), sizeof(FrameCache), $"frame cache ({pool}, {cpu})");
                Claim(pm->_buddy.BlockCacheOf(pool, cpu, 0), FrameCache.BlockSlots * FrameCache.BlockBytes, $"block caches ({pool}, {cpu})");
            }
        }
    }
}
