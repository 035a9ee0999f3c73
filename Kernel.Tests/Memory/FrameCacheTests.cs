using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The per-pool order-0 frame cache: batch refill and drain, frees of cached frames refused, the
/// checker's view of caches, page-block moves and pool life cycle with cached frames, and address
/// rules that a cached frame must obey before it is handed out.
/// </summary>
public unsafe class FrameCacheTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public FrameCacheTests(ITestOutputHelper output) => _output = output;

    /// <summary>The fewest page blocks (2 MiB) of a pool with a frame cache at the default config: four order-10 blocks (FrameCache.MinLargestBlocks).</summary>
    private const ulong CachedPoolPageblocks = 8;

    private static PoolStats Stats(PhysicalMemory* pm, PoolId id)
    {
        Assert.Equal(MemoryStatus.Ok, pm->GetPoolStats(id, out PoolStats s));
        return s;
    }

    private static ulong BuddyFree(PhysicalMemory* pm, PoolId id)
    {
        ulong free = 0;
        for (int o = 0; o <= pm->MaxOrder; o++)
            free += pm->FreeBlocks(id, new Order(o)) << o;
        return free;
    }

    [Fact]
    public void FirstAllocationRefillsABatch_FreeParksTheFrameUnmerged()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        PoolStats start = Stats(pm, dma32);
        Assert.Equal(0UL, start.CachedPages);

        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out Pfn pfn));
        PoolStats s = Stats(pm, dma32);
        Assert.Equal((ulong)FrameCache.Batch - 1, s.CachedPages);
        Assert.Equal(start.FreePages - 1, s.FreePages);                 // cached frames count as free
        Assert.Equal(s.FreePages - s.CachedPages, BuddyFree(pm, dma32)); // but not in buddyinfo
        Assert.Equal(FrameKind.Allocated, pm->KindOf(pfn, out _));
        MemoryAssert.Consistent(pm);

        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(FrameKind.Cached, pm->KindOf(pfn, out _));
        s = Stats(pm, dma32);
        Assert.Equal((ulong)FrameCache.Batch, s.CachedPages);
        Assert.Equal(start.FreePages, s.FreePages);
        MemoryAssert.Consistent(pm);

        // LIFO: the frame just freed is the next one handed out; the buddy lists are not touched.
        ulong[][] lists = MemoryAssert.BuddyInfo(pm);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out Pfn again));
        Assert.Equal(pfn, again);
        Assert.Equal(lists, MemoryAssert.BuddyInfo(pm));
        Assert.Equal(MemoryStatus.Ok, pm->Free(again, new Order(0), MemoryAssert.DefaultOwner));

        // Draining merges everything back: the lists are as set-up left them.
        pm->DrainCaches();
        Assert.Equal(0UL, Stats(pm, dma32).CachedPages);
        Assert.Equal(start.FreePages, BuddyFree(pm, dma32));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void AFullCacheDrainsItsOldestBatch_AnEmptyOneRefillsOne()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        int n = FrameCache.Capacity + FrameCache.Batch;
        var frames = new Pfn[n];
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out frames[i]));
            // Refills come in batches: the cache never holds more than a batch less one after a pop.
            Assert.Equal((ulong)((FrameCache.Batch - 1 - i % FrameCache.Batch + FrameCache.Batch) % FrameCache.Batch), Stats(pm, dma32).CachedPages);
        }
        pm->DrainCaches();
        for (int i = 0; i < FrameCache.Capacity; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Free(frames[i], new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal((ulong)FrameCache.Capacity, Stats(pm, dma32).CachedPages);
        MemoryAssert.Consistent(pm);

        // One more free: the oldest batch (the first frames freed) goes back to the lists first.
        Assert.Equal(MemoryStatus.Ok, pm->Free(frames[FrameCache.Capacity], new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal((ulong)(FrameCache.Capacity - FrameCache.Batch + 1), Stats(pm, dma32).CachedPages);
        for (int i = 0; i < FrameCache.Batch; i++)
            Assert.NotEqual(FrameKind.Cached, pm->KindOf(frames[i], out _));
        for (int i = FrameCache.Batch; i <= FrameCache.Capacity; i++)
            Assert.Equal(FrameKind.Cached, pm->KindOf(frames[i], out _));
        MemoryAssert.Consistent(pm);

        for (int i = FrameCache.Capacity + 1; i < n; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Free(frames[i], new Order(0), MemoryAssert.DefaultOwner));
        Assert.True(Stats(pm, dma32).CachedPages <= (ulong)FrameCache.Capacity);
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// Issue 12's drain by runs: a drained batch whose entries are consecutive frames (ascending or descending, as frees
    /// in address order leave them) goes back as whole aligned blocks, which must leave what frame-by-frame freeing left:
    /// every free buddy merged, held counts and pool counters right (the checker), and, once everything is freed and
    /// the caches drained, the pool's lists as they were. Randomized: 2,048 frames of the dma32 pool of a pc 128 MiB map,
    /// freed as runs of 1-48 consecutive frames in random directions, the runs in random order, some runs split by frees
    /// of other runs; the checker every 16 frees. Defaults: 12 seeds; POOLKERNEL_DRAINRUN_SEEDS / _SEED.
    /// </summary>
    [Fact]
    public void ADrainedBatchOfConsecutiveFrames_MergesAsFrameByFrameFreeingWould()
        => SeededRuns.Run(_output, "drain by runs", "POOLKERNEL_DRAINRUN", 12, 2048, (seed, ops) =>
        {
            var rng = new Random(seed);
            using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
            PhysicalMemory* pm = host.Memory;
            PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
            ulong[][] before = MemoryAssert.BuddyInfo(pm);
            var frames = new List<Pfn>();
            for (int i = 0; i < ops; i++)
            {
                Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out Pfn pfn));
                frames.Add(pfn);
            }
            frames.Sort((a, b) => a.Value.CompareTo(b.Value));
            var runs = new List<List<Pfn>>();
            for (int i = 0; i < frames.Count;)
            {
                int length = Math.Min(1 + rng.Next(48), frames.Count - i);
                List<Pfn> run = frames.GetRange(i, length);
                if (rng.Next(2) == 0)
                    run.Reverse();
                runs.Add(run);
                i += length;
            }
            var order = new List<Pfn>();
            while (runs.Count > 0)
            {
                // Mostly whole runs; now and then a run cut off by the next one, so a batch holds pieces of several.
                int r = rng.Next(runs.Count);
                int take = rng.Next(4) == 0 ? 1 + rng.Next(runs[r].Count) : runs[r].Count;
                order.AddRange(runs[r].GetRange(0, take));
                runs[r].RemoveRange(0, take);
                if (runs[r].Count == 0)
                    runs.RemoveAt(r);
            }
            for (int i = 0; i < order.Count; i++)
            {
                Assert.Equal(MemoryStatus.Ok, pm->Free(order[i], new Order(0), MemoryAssert.DefaultOwner));
                if (i % 16 == 15)
                    MemoryAssert.Consistent(pm);
            }
            MemoryAssert.Consistent(pm);
            pm->DrainCaches();
            MemoryAssert.Consistent(pm);
            Assert.Equal(before, MemoryAssert.BuddyInfo(pm));
        });

    /// <summary>
    /// A refill that takes its batch as one block (BuddyAllocator.RefillBlock, reached through Refill) leaves the pool
    /// as taking the batch frame by frame (RefillFrames) does. Two instances of the pc 128 MiB map go through the same
    /// seeded allocations (orders 0-5) and frees, so the lists below the batch's order are now empty, now not; then both
    /// drain their caches and refill the dma32 pool's cache, one with Refill, the other with RefillFrames. Compared: the
    /// cached frames in pop order, every frame's state and owner byte, the pool's free count and listed-slot mask, every
    /// page block's held count and index bucket, the free blocks per order; both checkers clean; and the next
    /// allocations hand out the same frames. Both ways must have been taken. Defaults: 8 seeds of 48 rounds;
    /// POOLKERNEL_REFILLBLOCK_SEEDS / _SEED.
    /// </summary>
    [Fact]
    public void ARefillTakingItsBatchAsOneBlock_LeavesThePoolAsTakingItFrameByFrame()
        => SeededRuns.Run(_output, "refill by block", "POOLKERNEL_REFILLBLOCK", 8, 48, (seed, rounds) =>
        {
            using var hostA = QemuMaps.Boot("pc", 128 * MiB, 1);
            using var hostB = QemuMaps.Boot("pc", 128 * MiB, 1);
            PhysicalMemory* a = hostA.Memory, b = hostB.Memory;
            PoolId dma32 = MemoryAssert.FindPool(a, "node0-dma32");
            Assert.Equal(dma32, MemoryAssert.FindPool(b, "node0-dma32"));
            int pool = dma32.Value;
            FrameCache* cacheA = a->_buddy.CacheOf(pool), cacheB = b->_buddy.CacheOf(pool);
            Assert.Equal(FrameCache.Capacity, cacheA->High);
            int batchOrder = System.Numerics.BitOperations.Log2((uint)cacheA->BatchSize);
            var rng = new Random(seed);
            var live = new List<(Pfn Pfn, int Order)>();
            int whole = 0, byFrames = 0;
            for (int round = 0; round < rounds; round++)
            {
                for (int op = rng.Next(1, 200); op > 0; op--)
                {
                    if (live.Count > 0 && rng.Next(3) == 0)
                    {
                        int i = rng.Next(live.Count);
                        (Pfn pfn, int order) = live[i];
                        live[i] = live[^1];
                        live.RemoveAt(live.Count - 1);
                        Assert.Equal(MemoryStatus.Ok, a->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
                        Assert.Equal(MemoryStatus.Ok, b->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
                    }
                    else
                    {
                        int order = rng.Next(4) == 0 ? rng.Next(1, 6) : 0;
                        Assert.Equal(MemoryStatus.Ok, a->Allocate(new Order(order), AllocRequest.InPool(dma32), out Pfn pa));
                        Assert.Equal(MemoryStatus.Ok, b->Allocate(new Order(order), AllocRequest.InPool(dma32), out Pfn pb));
                        Assert.Equal(pa, pb);
                        live.Add((pa, order));
                    }
                }
                // Frames are allocated towards emptying the lists below the batch's order (each refill on the way takes from
                // them first), each step going on with probability 1/2; then until the cache has room for a batch (pops touch no list).
                ulong low = (1UL << batchOrder) - 1;
                for (int i = 0; i < 4096 && rng.Next(2) == 0 && (ListedView(a, pool) & low) != 0; i++)
                    AllocateBoth(a, b, dma32, live);
                while (cacheA->Count + cacheA->BatchSize > cacheA->High)
                    AllocateBoth(a, b, dma32, live);
                ulong view = ListedView(a, pool);
                bool asBlock = (view & ((1UL << batchOrder) - 1)) == 0 && view >> batchOrder != 0;
                whole += asBlock ? 1 : 0;
                byFrames += asBlock ? 0 : 1;
                Assert.Equal(cacheB->Count, cacheA->Count);
                Assert.Equal(cacheA->BatchSize, a->_buddy.Refill(pool, cacheA, 0));
                Assert.Equal(cacheB->BatchSize, b->_buddy.RefillFrames(pool, cacheB, 0));

                Assert.Equal(cacheB->Count, cacheA->Count);
                for (int i = 0; i < cacheA->Count; i++)
                    Assert.Equal(cacheB->At(i), cacheA->At(i));
                for (ulong f = 0; f < a->_buddy._spanPages; f++)
                {
                    Assert.Equal(b->_buddy._frames[f], a->_buddy._frames[f]);
                    Assert.Equal(b->_buddy._owners[f], a->_buddy._owners[f]);
                }
                Assert.Equal(b->_buddy._pools[pool].FreePages, a->_buddy._pools[pool].FreePages);
                Assert.Equal(b->_buddy._pools[pool].ListedSlots, a->_buddy._pools[pool].ListedSlots);
                for (ulong pb = 0; pb < a->_buddy._spanPages >> a->_buddy._pageblockOrder; pb++)
                {
                    Assert.Equal(b->_buddy._pageblocks[pb].Held, a->_buddy._pageblocks[pb].Held);
                    Assert.Equal(b->_buddy.IndexKeyOf(pb), a->_buddy.IndexKeyOf(pb));
                }
                Assert.Equal(MemoryAssert.BuddyInfo(b), MemoryAssert.BuddyInfo(a));
                MemoryAssert.Consistent(a);
                MemoryAssert.Consistent(b);
            }
            // The lists' order too: the same frames come off them from here on.
            for (int i = 0; i < 256; i++)
            {
                int order = i % 3;
                Assert.Equal(MemoryStatus.Ok, a->Allocate(new Order(order), AllocRequest.InPool(dma32), out Pfn pa));
                Assert.Equal(MemoryStatus.Ok, b->Allocate(new Order(order), AllocRequest.InPool(dma32), out Pfn pb));
                Assert.Equal(pa, pb);
            }
            Assert.True(whole > 0 && byFrames > 0, $"seed {seed}: {whole} refills as one block, {byFrames} frame by frame; both are needed");
        });

    /// <summary>The dma32 pool's cache class's view of its listed slots (BuddyAllocator.ClassView): bit o, a block of order o listed.</summary>
    private static ulong ListedView(PhysicalMemory* pm, int pool)
        => pm->_buddy.ClassView(pm->_buddy._pools[pool].ListedSlots, (int)pm->_buddy._cacheClasses[pool]);

    /// <summary>One order-0 frame from <paramref name="pool"/> in both instances, which must hand out the same frame.</summary>
    private static void AllocateBoth(PhysicalMemory* a, PhysicalMemory* b, PoolId pool, List<(Pfn, int)> live)
    {
        Assert.Equal(MemoryStatus.Ok, a->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn pa));
        Assert.Equal(MemoryStatus.Ok, b->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn pb));
        Assert.Equal(pa, pb);
        live.Add((pa, 0));
    }

    [Fact]
    public void FreesOfCachedFramesAreRefusedWithNothingChanged()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out Pfn a));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out Pfn b));
        Assert.Equal(MemoryStatus.Ok, pm->Free(a, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(FrameKind.Cached, pm->KindOf(a, out _));

        // Freed twice, with the right order, the wrong one, or as a run.
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(a, new Order(0), MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(a, new Order(1), MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->FreeRun(a, 1, MemoryAssert.DefaultOwner));

        // A frame of the refill batch that was never handed out.
        Pfn never = Pfn.None;
        for (ulong p = 0; p < 0x8000 && never == Pfn.None; p++)
            if (pm->KindOf(new Pfn(p), out _) == FrameKind.Cached && new Pfn(p) != a)
                never = new Pfn(p);
        Assert.NotEqual(Pfn.None, never);
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(never, new Order(0), MemoryAssert.DefaultOwner));

        // The still-allocated frame is freed normally afterwards.
        Assert.Equal(MemoryStatus.Ok, pm->Free(b, new Order(0), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    private static FrameCache* CacheOf(PhysicalMemory* pm, PoolId id) => pm->_buddy.CacheOf(id.Value);

    [Fact]
    public void CheckerCatchesACorruptedCache()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out Pfn held));
        FrameCache* cache = CacheOf(pm, dma32);
        Assert.Equal(FrameCache.Batch - 1, cache->Count);
        MemoryAssert.Consistent(pm);

        // An entry written twice (another cached frame is lost from the cache).
        ulong saved = cache->At(0);
        cache->Set(0, cache->At(1));
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.CacheDuplicate, r.Code);
        cache->Set(0, saved);
        MemoryAssert.Consistent(pm);

        // An entry naming an allocated frame: the allocator would hand it out twice.
        cache->Set(0, held.Value - pm->BasePfn.Value);
        r = pm->Check();
        Assert.Equal(InvariantCode.CacheBadEntry, r.Code);
        Assert.Equal(held, r.Pfn);
        cache->Set(0, saved);

        // A count that disagrees with the Cached frames of the pool.
        cache->Count--;
        r = pm->Check();
        Assert.Equal(InvariantCode.CacheCount, r.Code);
        cache->Count++;
        MemoryAssert.Consistent(pm);

        // A cached frame whose byte says Free (but it is on no list) is caught by the list counts or the cache.
        byte* frames = pm->_buddy._frames;
        byte state = frames[saved];
        frames[saved] = FrameState.Make(FrameKind.Free, 0);
        Assert.False(pm->Check().IsOk);
        frames[saved] = state;
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void TheInlinedFastPathAdmitsOnlyWhatTheSlowPathWould()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        PoolProperties props = PoolProperties.Open("owned");
        props.OwnerMask = 1UL << 5;
        props.AcceptedMobility = MobilityMask.Movable;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, dma32, CachedPoolPageblocks, out PoolId owned));
        AllocRequest ok = AllocRequest.InPool(owned);
        ok.Owner = 5;
        ok.Mobility = MobilityClass.Movable;
        // Warm the cache, so every request below meets a non-empty cache on the fast path.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), ok, out Pfn warm));
        Assert.Equal(MemoryStatus.Ok, pm->Free(warm, new Order(0), ok.Owner));
        Assert.True(Stats(pm, owned).CachedPages > 0);

        AllocRequest wrongOwner = ok;
        wrongOwner.Owner = 6;
        MemoryAssert.Refused(host, MemoryStatus.OwnerRefused, () => pm->Allocate(new Order(0), wrongOwner, out _));
        AllocRequest ownerOutOfRange = ok;
        ownerOutOfRange.Owner = 200;
        MemoryAssert.Refused(host, MemoryStatus.OwnerRefused, () => pm->Allocate(new Order(0), ownerOutOfRange, out _));
        AllocRequest wrongMobility = ok;
        wrongMobility.Mobility = MobilityClass.Unmovable;
        MemoryAssert.Refused(host, MemoryStatus.PropertiesMismatch, () => pm->Allocate(new Order(0), wrongMobility, out _));
        AllocRequest badOrder = ok;
        MemoryAssert.Refused(host, MemoryStatus.InvalidOrder, () => pm->Allocate(new Order(pm->MaxOrder + 1), badOrder, out _));

        // A rule the cache cannot vouch for leaves the fast path: the cached frames all lie above
        // 16 MiB, so a 24-bit request on this pool finds no fitting frame.
        AllocRequest isa = ok;
        isa.DmaAddressBits = 24;
        MemoryAssert.Refused(host, MemoryStatus.OutOfMemory, () => pm->Allocate(new Order(0), isa, out _));

        // A destroyed pool's id, with its old cache slot emptied: NoSuchPool, not a stale frame.
        Assert.Equal(MemoryStatus.Ok, pm->DestroyPool(owned));
        MemoryAssert.Refused(host, MemoryStatus.NoSuchPool, () => pm->Allocate(new Order(0), ok, out _));
        MemoryAssert.Refused(host, MemoryStatus.NoSuchPool, () => pm->Allocate(new Order(0), AllocRequest.InPool(new PoolId(254)), out _));
        MemoryAssert.Refused(host, MemoryStatus.NoSuchPool, () => pm->Allocate(new Order(0), AllocRequest.InPool(new PoolId(200)), out _));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void PageblockUseTellsAllocatedFromCachedFrames_TheHeldCountCoversBoth()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        var frames = new Pfn[3];
        for (int i = 0; i < frames.Length; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out frames[i]));
        ulong pb = (frames[0].Value - pm->BasePfn.Value) >> pm->PageblockOrder;
        // One refill took a batch from one split block: all in the same page block.
        foreach (Pfn f in frames)
            Assert.Equal(pb, (f.Value - pm->BasePfn.Value) >> pm->PageblockOrder);
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb, out PageblockUse use));
        Assert.Equal(3U, use.InUsePages);
        Assert.Equal((uint)FrameCache.Batch - 3, use.CachedPages);
        Assert.Equal(use.InUsePages + use.CachedPages, (uint)pm->_buddy._pageblocks[pb].Held);

        Assert.Equal(MemoryStatus.Ok, pm->Free(frames[1], new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb, out use));
        Assert.Equal(2U, use.InUsePages);
        Assert.Equal((uint)FrameCache.Batch - 2, use.CachedPages);

        // A held count that misses a cached frame is named by the checker.
        pm->_buddy._pageblocks[pb].Held--;
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.PageblockHeldCount, r.Code);
        pm->_buddy._pageblocks[pb].Held++;
        MemoryAssert.Consistent(pm);

        // Only allocated frames make a page block "in use" for pool creation: with the two frames
        // freed, the block (still partly cached) can become a pool.
        Assert.Equal(MemoryStatus.Ok, pm->Free(frames[0], new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Free(frames[2], new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb, out use));
        Assert.Equal(0U, use.InUsePages);
        Assert.Equal((uint)FrameCache.Batch, use.CachedPages);
        Assert.Equal(MemoryStatus.Ok, pm->CreatePoolFromRange(PoolProperties.Open("was-cached"), new Pfn(pm->BasePfn.Value + (pb << pm->PageblockOrder)), 1, out PoolId made));
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb, out use));
        Assert.Equal(0U, use.CachedPages);
        Assert.Equal(0, (int)pm->_buddy._pageblocks[pb].Held);
        Assert.Equal(made, use.Pool);
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void PageblockMovesAndPoolLifeCycleTakeCachedFramesAlong()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        // Frames cached in the dma32 pool: where do they lie?
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out Pfn pfn));
        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal((ulong)FrameCache.Batch, Stats(pm, dma32).CachedPages);
        ulong pbPages = 1UL << pm->PageblockOrder;
        Pfn pbStart = new Pfn(pfn.Value & ~(pbPages - 1));
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock((pbStart.Value - pm->BasePfn.Value) >> pm->PageblockOrder, out PageblockUse use));
        // A pool made from the page blocks up to the one holding the cached frames (as many as a pool
        // with a cache needs): the donor's cache is drained first, and every frame of the range
        // arrives free in the new pool.
        // (one more than the fewest: the top page block of low RAM is partial).
        ulong count = CachedPoolPageblocks + 1;
        Pfn rangeStart = new Pfn(pbStart.Value - (count - 1) * pbPages);
        ulong present = 0;
        for (ulong i = 0; i < count; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->GetPageblock((rangeStart.Value - pm->BasePfn.Value) / pbPages + i, out PageblockUse u));
            present += u.PresentPages;
        }
        PoolStats before = Stats(pm, dma32);
        Assert.Equal(MemoryStatus.Ok, pm->CreatePoolFromRange(PoolProperties.Open("cached"), rangeStart, count, out PoolId made));
        MemoryAssert.Consistent(pm);
        Assert.Equal(0UL, Stats(pm, dma32).CachedPages);
        Assert.Equal(before.FreePages - present, Stats(pm, dma32).FreePages);
        Assert.Equal(present, Stats(pm, made).FreePages);

        // Cached frames in the new pool, then the pool destroyed: they go home with their page block.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(made), out Pfn inMade));
        MemoryAssert.Refused(host, MemoryStatus.PoolInUse, () => pm->DestroyPool(made));
        Assert.Equal(MemoryStatus.Ok, pm->Free(inMade, new Order(0), MemoryAssert.DefaultOwner));
        Assert.True(Stats(pm, made).CachedPages > 0);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyPool(made));
        MemoryAssert.Consistent(pm);
        Assert.Equal(before.FreePages, Stats(pm, dma32).FreePages);

        // A pool (the smallest with a cache) whose page blocks are partly cached: moving them out
        // drains the cache (the first move already takes the pool below the size that has one).
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(PoolProperties.Open("small"), dma32, CachedPoolPageblocks, out PoolId small));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(small), out Pfn s0));
        Assert.Equal(MemoryStatus.Ok, pm->Free(s0, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(CachedPoolPageblocks * pbPages, Stats(pm, small).FreePages);
        Assert.True(Stats(pm, small).CachedPages > 0);
        Assert.Equal(MemoryStatus.Ok, pm->MovePageblocks(small, dma32, CachedPoolPageblocks));
        MemoryAssert.Consistent(pm);
        Assert.Equal(0UL, Stats(pm, small).PresentPages);
        Assert.Equal(0UL, Stats(pm, small).CachedPages);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyPool(small));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void ConstrainedAllocationsNeverGetACachedFrameThatBreaksTheirRules()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        ulong limit = 32 * MiB;
        // Fill the dma32 pool's cache with frames from above 32 MiB only.
        AllocRequest high = AllocRequest.InPool(dma32);
        high.Lowest = new PhysAddr(64 * MiB);
        var taken = new List<Pfn>();
        for (int i = 0; i < FrameCache.Capacity; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), high, out Pfn p));
            Assert.True(p.Address.Value >= 64 * MiB);
            taken.Add(p);
        }
        pm->DrainCaches();
        foreach (Pfn p in taken)
            Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal((ulong)FrameCache.Capacity, Stats(pm, dma32).CachedPages);

        // Below 32 MiB, in the named pool and by pool choice with 25 DMA address bits: no cached frame fits,
        // so the lists are searched (after the cache is drained) and the result obeys the rule.
        AllocRequest low = AllocRequest.InPool(dma32);
        low.Highest = new PhysAddr(limit - 1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), low, out Pfn got));
        Assert.True(got.Address.Value < limit, $"0x{got.Address.Value:x}");
        MemoryAssert.Consistent(pm);
        AllocRequest dma25 = AllocRequest.Dma(25);
        for (int i = 0; i < 3 * FrameCache.Capacity; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), dma25, out Pfn d));
            Assert.True(d.Address.Value < limit, $"0x{d.Address.Value:x}");
            Assert.Equal(MemoryStatus.Ok, pm->Free(d, new Order(0), MemoryAssert.DefaultOwner));
        }
        MemoryAssert.Consistent(pm);

        // A cached frame that obeys the rules is taken (the most recently freed fitting one).
        Assert.Equal(MemoryStatus.Ok, pm->Free(got, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(FrameKind.Cached, pm->KindOf(got, out _));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), low, out Pfn again));
        Assert.Equal(got, again);

        // Alignment: an order-0 request aligned to 64 KiB never gets an unaligned cached frame.
        AllocRequest aligned = AllocRequest.InPool(dma32);
        aligned.Alignment = 64 * 1024;
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), aligned, out Pfn al));
            Assert.Equal(0UL, al.Address.Value % (64 * 1024));
        }
        // ISA DMA by pool choice: the dma pool's cache serves it, below 16 MiB.
        for (int i = 0; i < 2 * FrameCache.Capacity; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Dma(24), out Pfn isa));
            Assert.True(isa.Address.Value < 16 * MiB);
            if (i % 2 == 0)
                Assert.Equal(MemoryStatus.Ok, pm->Free(isa, new Order(0), MemoryAssert.DefaultOwner));
        }
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void OutOfMemoryOnlyWhenNeitherCacheNorListsHaveAFittingBlock()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        // The smallest pool that has a cache (a smaller one has none, so nothing would be cached).
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(PoolProperties.Open("tiny"), dma32, CachedPoolPageblocks, out PoolId tiny));
        ulong pbPages = 1UL << pm->PageblockOrder;
        var frames = new List<Pfn>();
        while (pm->Allocate(new Order(0), AllocRequest.InPool(tiny), out Pfn p) == MemoryStatus.Ok)
            frames.Add(p);
        Assert.Equal(CachedPoolPageblocks * pbPages, (ulong)frames.Count);
        Assert.Equal(0UL, Stats(pm, tiny).FreePages);
        // Free all: most merge back through drains, the last ones stay cached; a whole-page-block
        // allocation drains the cache and finds the merged block.
        foreach (Pfn p in frames)
            Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(0), MemoryAssert.DefaultOwner));
        Assert.True(Stats(pm, tiny).CachedPages > 0);
        // Every page block of the pool as one block: the last ones only after the drain.
        var wholes = new List<Pfn>();
        for (ulong i = 0; i < CachedPoolPageblocks; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(pm->PageblockOrder), AllocRequest.InPool(tiny), out Pfn whole));
            wholes.Add(whole);
        }
        Assert.Equal(0UL, Stats(pm, tiny).CachedPages);
        MemoryAssert.Consistent(pm);
        foreach (Pfn whole in wholes)
            Assert.Equal(MemoryStatus.Ok, pm->Free(whole, new Order(pm->PageblockOrder), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(pbPages, AllocRequest.InPool(tiny), out Pfn run));
        Assert.Equal(MemoryStatus.Ok, pm->FreeRun(run, pbPages, MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }
}
