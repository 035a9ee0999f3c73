using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// Refill and drain of the order-0 frame caches (<see cref="FrameCache"/>), one a (pool, CPU). A cached
/// frame is counted in its cache, not in <see cref="Pool.FreePages"/> (which stays "frames on the buddy
/// lists"), and in its page block's <see cref="PageblockInfo.Held"/> count: refill adds to it and
/// drain takes from it, so allocating from and freeing to the cache leave it alone. Refill and drain
/// hold the pool's lock and the lock of every cache they touch; the pool's high mark is the same for
/// every CPU's cache.
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

    /// <summary>The lock of CPU <paramref name="cpu"/>'s cache of <paramref name="pool"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal SpinLock* CacheLockOf(int pool, int cpu) { return &_cacheLocks[pool * _cpus + cpu].Lock; }

    /// <summary>Frames in every CPU's cache of <paramref name="pool"/> (exact under all of them; a snapshot otherwise).</summary>
    internal ulong CachedCount(int pool)
    {
        ulong n = 0;
        for (int c = 0; c < _cpus; c++)
            n += (ulong)CacheOf(pool, c)->Count;
        return n;
    }

    /// <summary>
    /// Moves up to <see cref="FrameCache.BatchSize"/> order-0 frames from the pool's buddy lists into its
    /// empty-enough cache (never past <see cref="FrameCache.High"/>), marking them Cached; returns how
    /// many (0: the pool has no free frame, or no cache).
    /// The batch is stacked so that it pops in the order the lists gave it (ascending addresses when
    /// it comes from splitting one block), like Linux's bulk refill: consecutive allocations then
    /// get consecutive frames as they did without the cache, which devices and callers merging
    /// adjacent pages may rely on.
    /// </summary>
    internal int Refill(int pool, FrameCache* cache)
    {
        CheckCache(pool, cache);
        int start = cache->Count;
        int n = 0;
        int batch = cache->BatchSize;
        while (n < batch && cache->Count < cache->High)
        {
            ulong index = TakeFirst(pool, 0, (int)_cacheClasses[pool]);
            if (index == FreeList.End)
                break;
            _frames[index] = FrameState.Make(FrameKind.Cached, 0);
            AddHeldOne(index, 1);
            cache->Push(index);
            n++;
        }
        cache->Reverse(start, start + n);
        return n;
    }

    /// <summary>Gives the <paramref name="n"/> oldest cached frames back to the buddy lists, with merging.</summary>
    internal void DrainOldest(int pool, FrameCache* cache, int n)
    {
        CheckCache(pool, cache);
        if (n > cache->Count)
            n = cache->Count;
        for (int i = 0; i < n; i++)
        {
            ulong index = cache->At(i);
            AddHeldOne(index, -1);
            FreeMerging(pool, index, 0);
        }
        cache->DropOldest(n);
    }

    /// <summary>
    /// Sizes the pool's cache to its present frames (<see cref="FrameCache.HighFor"/>), first draining
    /// the oldest entries above the new high mark. Called whenever a pool's present frames change
    /// (set-up, every page-block move: pool creation, moves and destruction all move page blocks).
    /// </summary>
    internal void SizeCache(int pool)
    {
        int high = FrameCache.HighFor(_pools[pool].PresentPages, _maxOrder);
        for (int c = 0; c < _cpus; c++)
        {
            FrameCache* cache = CacheOf(pool, c);
            if (cache->Count > high)
                DrainOldest(pool, cache, cache->Count - high);
            cache->High = high;
        }
    }

    /// <summary>Gives every cached frame of the pool, of every CPU, back to the buddy lists; true if there was any. Under all the pool's cache locks.</summary>
    internal bool Drain(int pool)
    {
        bool any = false;
        for (int c = 0; c < _cpus; c++)
            any |= DrainCpu(pool, c);
        return any;
    }

    /// <summary>Gives CPU <paramref name="cpu"/>'s cached frames of the pool back to the buddy lists; true if there was any. Under that cache's lock.</summary>
    internal bool DrainCpu(int pool, int cpu)
    {
        FrameCache* cache = CacheOf(pool, cpu);
        if (cache->Count == 0)
            return false;
        DrainOldest(pool, cache, cache->Count);
        return true;
    }

    /// <summary>
    /// Contract of a cache about to be refilled or drained (<see cref="FrameCache"/>): its high mark
    /// within <see cref="FrameCache.Capacity"/> and its count in 0..High, every entry's frame byte
    /// Cached, and every entry's page block in <paramref name="pool"/>
    /// holding at least that entry.
    /// </summary>
    [Conditional("MEMORY_CONTRACTS")]
    internal void CheckCache(int pool, FrameCache* cache)
    {
        int high = (uint)cache->High <= FrameCache.Capacity ? cache->High : FrameCache.Capacity;
        bool counted = (uint)cache->Count <= (uint)high;
        Contract.Expect(counted, _onBrokenContract, ContractCode.CacheCountOutOfRange, pool, 0, (ulong)(uint)high, (ulong)(uint)cache->Count);
        if (!counted)
            return;
        byte cached = FrameState.Make(FrameKind.Cached, 0);
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

    /// <summary>Frames of page block <paramref name="pb"/> parked in any CPU's cache of <paramref name="pool"/>. O(caches).</summary>
    internal uint CachedIn(int pool, ulong pb)
    {
        uint n = 0;
        for (int c = 0; c < _cpus; c++)
        {
            FrameCache* cache = CacheOf(pool, c);
            for (int i = 0; i < cache->Count; i++)
                if (cache->At(i) >> _pageblockOrder == pb)
                    n++;
        }
        return n;
    }
}
