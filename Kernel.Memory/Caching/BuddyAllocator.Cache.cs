using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// Refill and drain of the per-(pool, CPU) caches (<see cref="FrameCache"/>): the order-0 frame cache and
/// the block caches of orders 1, 2, 3 and 9 (<see cref="FrameCache.BlockSlots"/>), all five of a (pool, CPU)
/// under that CPU's one cache lock of the pool. A cached block is counted in its cache, not in
/// <see cref="Pool.FreePages"/> (which stays "frames on the buddy lists"), and in its page blocks'
/// <see cref="PageblockInfo.Held"/> counts: refill adds to them and drain takes from them, so allocating
/// from and freeing to a cache leave them alone. Its head's byte reads Cached with its order, its other
/// frames Tail, as an allocated block's. Refill and drain hold the pool's lock and the lock of every
/// cache they touch; a pool's high mark of an order is the same for every CPU's cache.
/// Every CPU's cache of a pool serves one class, the pool's cache class (<see cref="CacheClassFor"/>:
/// unmovable in an open pool): refills take frames of that class, and only frames of page blocks of
/// that class are parked, so no cache carries a frame from one class's page blocks to another's (docs/antifrag.md).
/// </summary>
public unsafe partial struct BuddyAllocator
{
    /// <summary>CPU <paramref name="cpu"/>'s cache of <paramref name="pool"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FrameCache* CacheOf(int pool, int cpu) { return _caches + pool * _cpus + cpu; }

    /// <summary>CPU 0's cache of <paramref name="pool"/>: the only one of a single-CPU instance (tests).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FrameCache* CacheOf(int pool) { return _caches + pool * _cpus; }

    /// <summary>CPU <paramref name="cpu"/>'s block cache of <paramref name="pool"/> in slot <paramref name="slot"/> (<see cref="FrameCache.SlotOfOrder"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FrameCache* BlockCacheOf(int pool, int cpu, int slot) { return (FrameCache*)(_blockCaches + ((((pool * _cpus + cpu) << 2) | slot) * FrameCache.BlockBytes)); }

    /// <summary>CPU <paramref name="cpu"/>'s cache of <paramref name="pool"/> for blocks of <paramref name="order"/>; null when that order has none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FrameCache* CacheFor(int pool, int cpu, int order)
    {
        if (order == 0)
            return CacheOf(pool, cpu);
        int slot = FrameCache.SlotOfOrder(order);
        return slot < 0 ? null : BlockCacheOf(pool, cpu, slot);
    }

    /// <summary>The lock of CPU <paramref name="cpu"/>'s cache of <paramref name="pool"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal CacheLock* CacheLockOf(int pool, int cpu) { return _cacheLocks + pool * _cpus + cpu; }

    /// <summary>Frames in every CPU's caches of <paramref name="pool"/>, every order (exact under all of them; a snapshot otherwise).</summary>
    internal ulong CachedCount(int pool)
    {
        ulong n = 0;
        for (int c = 0; c < _cpus; c++)
            n += CpuCachedCount(pool, c);
        return n;
    }

    /// <summary>
    /// True when some CPU's cache of <paramref name="pool"/> (any order) holds a block: <see cref="CachedCount"/> != 0
    /// without the sum (the counts or-ed, one CPU at a time, stopping at the first that holds one). A snapshot
    /// without the caches' locks, as CachedCount. The pool walk asks it of every remembered pool with nothing
    /// listed (<see cref="PhysicalMemory"/>'s HasFreeFrames), on every bulk order-9 allocation once the first pool is out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool AnyCached(int pool)
    {
        // A (pool, CPU)'s block caches are consecutive (BlockCacheOf): one address a CPU, the slots at fixed offsets.
        FrameCache* frames = CacheOf(pool, 0);
        byte* blocks = (byte*)BlockCacheOf(pool, 0, 0);
        for (int c = 0; c < _cpus; c++, frames++, blocks += FrameCache.BlockSlots * FrameCache.BlockBytes)
        {
            int n = frames->Count;
            for (int s = 0; s < FrameCache.BlockSlots; s++)
                n |= ((FrameCache*)(blocks + s * FrameCache.BlockBytes))->Count;
            if (n != 0)
                return true;
        }
        return false;
    }

    /// <summary>
    /// The CPUs whose caches of <paramref name="pool"/> (any order) hold a block, bit c for CPU c, and the frames
    /// cached by all of them but <paramref name="except"/>: counts read without the caches' locks, so a snapshot that
    /// a filter may use (a CPU's count may change right after) and exact under the pool's cache locks.
    /// </summary>
    internal ulong CpusHoldingFrames(int pool, int except, out ulong othersFrames)
    {
        ulong cpus = 0;
        othersFrames = 0;
        for (int c = 0; c < _cpus; c++)
        {
            ulong n = CpuCachedCount(pool, c);
            if (n == 0)
                continue;
            cpus |= 1UL << c;
            if (c != except)
                othersFrames += n;
        }
        return cpus;
    }

    /// <summary>Frames in CPU <paramref name="cpu"/>'s caches of <paramref name="pool"/>, every order.</summary>
    internal ulong CpuCachedCount(int pool, int cpu)
    {
        ulong n = (ulong)CacheOf(pool, cpu)->Count;
        for (int s = 0; s < FrameCache.BlockSlots; s++)
            n += (ulong)BlockCacheOf(pool, cpu, s)->Count << FrameCache.OrderOfSlot(s);
        return n;
    }

    /// <summary>
    /// Moves up to <see cref="FrameCache.BatchSize"/> blocks of <paramref name="order"/> from the pool's buddy
    /// lists into its empty-enough cache of that order (never past <see cref="FrameCache.High"/>), marking them
    /// Cached; returns how many (0: the pool has no listed block of that order or above, or no cache).
    /// The batch is stacked so that it pops in the order the lists gave it (ascending addresses when
    /// it comes from splitting one block), like Linux's bulk refill: consecutive allocations then
    /// get consecutive frames as they did without the cache, which devices and callers merging
    /// adjacent pages may rely on. An order-0 batch that frame-by-frame taking would split off one block
    /// is taken as that block (<see cref="RefillBlock"/>); otherwise block by block (<see cref="RefillFrames"/>).
    /// </summary>
    internal int Refill(int pool, FrameCache* cache, int order)
    {
        CheckCache(pool, cache, order);
        if (order == 0 && _cpus > 1 && cache->Count == 0 && cache->High == FrameCache.Capacity && _pageblockOrder >= FrameCache.LineOrder)
        {
            int lined = RefillLine(pool, cache);
            if (lined != 0)
                return lined;
        }
        if (order == 0)
        {
            int whole = RefillBlock(pool, cache);
            if (whole != 0)
                return whole;
        }
        return RefillFrames(pool, cache, order);
    }

    /// <summary>
    /// <see cref="Refill"/> one block at a time: up to <see cref="FrameCache.BatchSize"/> first listed blocks of
    /// <paramref name="order"/> (<see cref="TakeFirst"/>, each split down from the smallest listed order that has one),
    /// stacked to pop in the order they were taken; returns how many.
    /// </summary>
    internal int RefillFrames(int pool, FrameCache* cache, int order)
    {
        int start = cache->Count;
        int n = 0;
        int batch = cache->BatchSize;
        while (n < batch && cache->Count < cache->High)
        {
            ulong index = TakeFirst(pool, order, (int)_cacheClasses[pool]);
            if (index == FreeList.End)
                break;
            // A block of at least the page-block order comes whole from the shared lists, its page blocks' class as
            // the last claim left it: they become the cache's class (wholly free until now, so in no index bucket), or
            // the cache would hold a block of another class (CachedFrameOfAnotherClass; issue 12, found by the
            // one-CPU whole-block runs with page blocks of order 2).
            if (order >= _pageblockOrder)
                for (ulong pb = index >> _pageblockOrder, end = (index + (1UL << order)) >> _pageblockOrder; pb < end; pb++)
                    _pageblocks[pb].Mobility = _cacheClasses[pool];
            _frames[index] = FrameState.Make(FrameKind.Cached, order);
            if (order == 0)
                AddHeldOne(index, 1);
            else
                AddHeld(index, 1UL << order, 1);
            cache->Push(index);
            n++;
        }
        cache->Reverse(start, start + n);
        return n;
    }

    /// <summary>
    /// The order-0 batch (<see cref="FrameCache.BatchSize"/> = 2^b frames, b at least 1 and below the page-block
    /// order) in one step, when the pool's cache-class view lists no block below order b and one of order b or
    /// above (<see cref="ClassView"/>): then <see cref="RefillFrames"/> would split the first block of the lowest
    /// listed order down to frames and take the 2^b frames of its first order-b piece one by one, leaving the lists
    /// as taking that piece whole does (<see cref="TakeFirst"/> of order b). So the piece is taken whole, its frames
    /// marked Cached and stacked to pop in ascending order, and its page block's held count changed once: one list
    /// pop and one held-count change a batch instead of one each a frame (issue 12, bulk order-0 allocation: the
    /// frame-by-frame refill was 47% of the allocation half's cycles). Returns 2^b, or 0 (nothing changed) when the
    /// lists or the cache's room do not allow it.
    /// </summary>
    private int RefillBlock(int pool, FrameCache* cache)
    {
        int batch = cache->BatchSize;
        int b = BitOperations.Log2((uint)batch);
        if (b < 1 || b >= _pageblockOrder || batch != 1 << b || cache->Count + batch > cache->High)
            return 0;
        int cls = (int)_cacheClasses[pool];
        ulong view = ClassView(_pools[pool].ListedSlots, cls);
        if ((view & ((1UL << b) - 1)) != 0 || view >> b == 0)
            return 0;
        ulong head = TakeFirst(pool, b, cls);
        if (head == FreeList.End)
            return 0;
        CacheBlock(cache, head, batch);
        return batch;
    }

    /// <summary>
    /// The frames of block <paramref name="head"/> of <paramref name="batch"/> frames, just taken from the lists, into
    /// <paramref name="cache"/>: marked Cached, stacked to pop in ascending order, their page block's held count
    /// changed once. Contract: the block lies in one page block and the cache has room for it.
    /// </summary>
    internal void CacheBlock(FrameCache* cache, ulong head, int batch)
    {
        byte cached = FrameState.Make(FrameKind.Cached, 0);
        for (int i = batch - 1; i >= 0; i--)
        {
            _frames[head + (ulong)i] = cached;
            cache->Push(head + (ulong)i);
        }
        AddHeld(head, (ulong)batch, 1);
    }

    /// <summary>
    /// The order-0 refill of an empty full-size cache in an instance of several CPUs: one aligned block of
    /// <see cref="FrameCache.LineOrder"/> (64 frames, whose frame-state bytes and owner bytes are each exactly one
    /// 64-byte line: the metadata arrays start on lines) is split into the cache, its first 63 frames cached
    /// (<see cref="FrameCache.Capacity"/>) and its last freed back to the lists; 63 when done, 0 (nothing changed)
    /// when the pool has no such block. Why: batch refills of 16 consecutive frames put two CPUs' batches on one
    /// line of each byte array, and each CPU's pairs then wrote lines the other wrote too; two threads making
    /// order-0 pairs on one shared pool ran at 0.98-1.06x one thread that way and at 1.67-1.97x with this
    /// refill (docs/memory-bench.md, "The lock-free own cache"). The cache then pops its frames in ascending order.
    /// </summary>
    private int RefillLine(int pool, FrameCache* cache)
    {
        ulong head = TakeFirst(pool, FrameCache.LineOrder, (int)_cacheClasses[pool]);
        if (head == FreeList.End)
            return 0;
        const int cached = FrameCache.Capacity;
        for (int i = cached - 1; i >= 0; i--)
        {
            ulong index = head + (ulong)i;
            _frames[index] = FrameState.Make(FrameKind.Cached, 0);
            cache->Push(index);
        }
        AddHeld(head, cached, 1); // one page block: LineOrder is at most the page-block order
        FreeMerging(pool, head + cached, 0);
        return cached;
    }

    /// <summary>Gives the <paramref name="n"/> oldest blocks of the cache of <paramref name="order"/> back to the buddy lists, with merging.</summary>
    internal void DrainOldest(int pool, FrameCache* cache, int n, int order)
    {
        CheckCache(pool, cache, order);
        if (n > cache->Count)
            n = cache->Count;
        if (order == 0)
            FreeCachedFrames(pool, cache, n); // runs of consecutive frames as whole blocks (Buddy/BuddyAllocator.Drain.cs)
        else
        {
            for (int i = 0; i < n; i++)
            {
                ulong index = cache->At(i);
                AddHeld(index, 1UL << order, -1);
                FreeMerging(pool, index, order);
            }
        }
        cache->DropOldest(n);
    }

    /// <summary>
    /// Sizes the pool's caches of every order to its present frames (<see cref="FrameCache.HighFor(ulong, int, int)"/>),
    /// first draining the oldest entries above each new high mark. Called whenever a pool's present frames change
    /// (set-up, every page-block move: pool creation, moves and destruction all move page blocks).
    /// </summary>
    internal void SizeCache(int pool)
    {
        for (int s = -1; s < FrameCache.BlockSlots; s++)
        {
            int order = s < 0 ? 0 : FrameCache.OrderOfSlot(s);
            int high = CacheHighFor(pool, order);
            for (int c = 0; c < _cpus; c++)
            {
                FrameCache* cache = CacheFor(pool, c, order);
                if (cache->Count > high)
                    DrainOldest(pool, cache, cache->Count - high, order);
                cache->High = high;
            }
        }
    }

    /// <summary>
    /// The high mark of <paramref name="pool"/>'s caches of <paramref name="order"/>: <see cref="FrameCache.HighFor(ulong, int, int)"/>
    /// of its present frames, except that a realtime pool has no caches at all (0 for every order): its bounded path
    /// (Kernel.Memory/Realtime) takes every block from its lists and frees every block to them, so no frame waits in
    /// one CPU's cache out of another's reach, and no rare refill runs cold (docs/realtime.md, "No caches").
    /// </summary>
    internal int CacheHighFor(int pool, int order)
    {
        if ((_pools[pool].Properties.Flags & PoolFlags.Realtime) != 0)
            return 0;
        return FrameCache.HighFor(_pools[pool].PresentPages, _maxOrder, order);
    }

    /// <summary>
    /// Gives every cached block of the pool, of every CPU and order, back to the buddy lists; true if there was any. Under
    /// all the pool's cache locks. No cache of the pool then holds a frame of a page block a steal took from its caches'
    /// class, so those page blocks' marks go (<see cref="ForgetLeftCacheClassOf"/>).
    /// </summary>
    internal bool Drain(int pool)
    {
        bool any = false;
        for (int c = 0; c < _cpus; c++)
            any |= DrainCpu(pool, c);
        ForgetLeftCacheClassOf(pool);
        return any;
    }

    /// <summary>
    /// Gives CPU <paramref name="cpu"/>'s cached blocks of the pool, every order, back to the buddy lists (the
    /// order-0 frames first, so the larger blocks' merges meet the frames they may pair with); true if there
    /// was any. Under that CPU's cache lock of the pool.
    /// </summary>
    internal bool DrainCpu(int pool, int cpu)
    {
        bool any = false;
        for (int s = -1; s < FrameCache.BlockSlots; s++)
        {
            int order = s < 0 ? 0 : FrameCache.OrderOfSlot(s);
            FrameCache* cache = CacheFor(pool, cpu, order);
            if (cache->Count == 0)
                continue;
            DrainOldest(pool, cache, cache->Count, order);
            any = true;
        }
        return any;
    }

    /// <summary>
    /// Contract of a cache of <paramref name="order"/> about to be refilled or drained (<see cref="FrameCache"/>): its
    /// high mark within <see cref="FrameCache.Capacity"/> and its count in 0..High, every entry's head byte
    /// Cached with that order, and every entry's page block in <paramref name="pool"/>
    /// holding at least that entry's first frame.
    /// </summary>
    [Conditional("MEMORY_CONTRACTS")]
    internal void CheckCache(int pool, FrameCache* cache, int order)
    {
        int capacity = order == 0 ? FrameCache.Capacity : FrameCache.BlockCapacity;
        int high = (uint)cache->High <= (uint)capacity ? cache->High : capacity;
        bool counted = (uint)cache->Count <= (uint)high;
        Contract.Expect(counted, _onBrokenContract, ContractCode.CacheCountOutOfRange, pool, 0, (ulong)(uint)high, (ulong)(uint)cache->Count);
        if (!counted)
            return;
        byte cached = FrameState.Make(FrameKind.Cached, order);
        for (int i = 0; i < cache->Count; i++)
        {
            ulong index = cache->At(i);
            Contract.Expect(index < _spanPages, _onBrokenContract, ContractCode.FrameOutsideSpan, pool, index, _spanPages, index);
            if (index >= _spanPages)
                continue;
            Contract.Expect(_frames[index] == cached, _onBrokenContract, ContractCode.CachedFrameNotCached, pool, index, cached, _frames[index]);
            Contract.Expect(PoolOfFrame(index) == pool, _onBrokenContract, ContractCode.ForeignPageblock, pool, index, (ulong)pool, (ulong)PoolOfFrame(index));
            ushort held = _pageblocks[index >> _pageblockOrder].Held;
            Contract.Expect(held >= 1, _onBrokenContract, ContractCode.HeldUnderflow, pool, index, 1, held);
        }
    }

    /// <summary>Adds <paramref name="sign"/> (1 or -1) to the held count of frame <paramref name="index"/>'s page block, keeping the index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void AddHeldOne(ulong index, int sign)
    {
        ulong pb = index >> _pageblockOrder;
        ushort old = _pageblocks[pb].Held;
        _pageblocks[pb].Held = (ushort)(old + sign);
        HeldChanged(pb, old);
    }

    /// <summary>Frames of page block <paramref name="pb"/> parked in any CPU's caches of <paramref name="pool"/>, every order. O(caches).</summary>
    internal uint CachedIn(int pool, ulong pb)
    {
        uint n = 0;
        for (int c = 0; c < _cpus; c++)
        {
            for (int s = -1; s < FrameCache.BlockSlots; s++)
            {
                int order = s < 0 ? 0 : FrameCache.OrderOfSlot(s);
                FrameCache* cache = CacheFor(pool, c, order);
                for (int i = 0; i < cache->Count; i++)
                {
                    // A block above the page-block order covers whole page blocks; one below it lies in one.
                    ulong head = cache->At(i);
                    if (order <= _pageblockOrder)
                        n += head >> _pageblockOrder == pb ? 1u << order : 0u;
                    else if (pb >= head >> _pageblockOrder && pb < (head + (1UL << order)) >> _pageblockOrder)
                        n += 1u << _pageblockOrder;
                }
            }
        }
        return n;
    }
}
