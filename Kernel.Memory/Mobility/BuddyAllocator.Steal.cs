using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// Keeping the cheapest-block index (<see cref="PageblockIndex"/>) and fallback stealing: when a
/// class has no free block of an order in a pool, neither on its own lists nor as a whole free page
/// block, it takes over the page block of another class that costs least (fewest held frames) and
/// holds a big enough free block, re-steering it (<see cref="Restyle"/>). docs/antifrag.md.
/// </summary>
public unsafe partial struct BuddyAllocator
{
    /// <summary>
    /// Page block <paramref name="pb"/>'s held count changed from <paramref name="oldHeld"/>: refiles it
    /// in the index when its bucket changed. Cheap when it did not (two compares for a page block that
    /// goes from wholly free to wholly held, as an order-9 allocation's does).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void HeldChanged(ulong pb, ushort oldHeld)
    {
        PageblockInfo* info = _pageblocks + pb;
        uint full = 1u << _pageblockOrder;
        int oldKey = PageblockIndex.Key(oldHeld, info->Present, full);
        int newKey = PageblockIndex.Key(info->Held, info->Present, full);
        if (oldKey != newKey)
            Refile(pb, oldKey, newKey);
    }

    private void Refile(ulong pb, int oldKey, int newKey)
    {
        PageblockInfo* info = _pageblocks + pb;
        if (oldKey >= 0)
            _index.Remove(info->Pool, (int)info->Mobility, oldKey, pb);
        if (newKey >= 0)
            _index.Insert(info->Pool, (int)info->Mobility, newKey, pb);
    }

    /// <summary>The bucket page block <paramref name="pb"/> is filed in now, or -1.</summary>
    internal int IndexKeyOf(ulong pb)
    {
        PageblockInfo* info = _pageblocks + pb;
        if (info->Pool == PoolId.None.Value)
            return -1;
        return PageblockIndex.Key(info->Held, info->Present, 1u << _pageblockOrder);
    }

    /// <summary>Takes page block <paramref name="pb"/> out of the index (before its pool or class changes).</summary>
    internal void Unfile(ulong pb)
    {
        int key = IndexKeyOf(pb);
        if (key >= 0)
            _index.Remove(_pageblocks[pb].Pool, (int)_pageblocks[pb].Mobility, key, pb);
    }

    /// <summary>Files page block <paramref name="pb"/> as its pool, class and held count say (after they changed).</summary>
    internal void File(ulong pb)
    {
        int key = IndexKeyOf(pb);
        if (key >= 0)
            _index.Insert(_pageblocks[pb].Pool, (int)_pageblocks[pb].Mobility, key, pb);
    }

    /// <summary>Files every page block (set-up: the pools exist, nothing is held).</summary>
    internal void BuildIndex(int pools, ulong pageblocks)
    {
        _index.Reset(pools, pageblocks, _pageblockOrder);
        for (ulong pb = 0; pb < pageblocks; pb++)
            File(pb);
    }

    /// <summary>
    /// Steers page block <paramref name="pb"/> of <paramref name="pool"/> to class <paramref name="cls"/>:
    /// its free blocks move from the old class's lists to the new one's, and it is refiled in the
    /// index. Under the pool's lock. In an instance of one CPU, a page block leaving the pool's cache class
    /// first has the pool's frame cache drained when the cache holds one of its frames (so the cache holds
    /// only frames of that class's page blocks; the only CPU is the caller, its interrupts off, so no
    /// fast path holds the cache). With several CPUs the other CPUs' caches cannot be taken here (their
    /// locks rank below the pool's, docs/smp.md), and another CPU may be parking a frame of it (its class read
    /// before this change): frames of the page block they hold stay cached, are handed out to the caches'
    /// class, and return to the lists of the page block's class of the time when drained. The page block is
    /// marked for that (<see cref="LeftCacheClass"/>: the checker's one exception to its class rule for cached
    /// frames), and unmarked when steered back to the cache class. O(frames of a page block).
    /// </summary>
    internal void Restyle(int pool, ulong pb, int cls)
    {
        if ((int)_pageblocks[pb].Mobility == cls)
            return;
        if (_cpus == 1 && CacheServes(pool, _pageblocks[pb].Mobility) && CachedIn(pool, pb) != 0)
            Drain(pool);
        if (CacheServes(pool, (MobilityClass)cls))
            ForgetLeftCacheClass(pb);
        else if (_cpus != 1 && CacheServes(pool, _pageblocks[pb].Mobility))
            _leftCacheClass[pb >> 6] |= 1UL << (int)(pb & 63);
        Unfile(pb);
        int pbo = _pageblockOrder;
        ulong start = pb << pbo, end = start + (1UL << pbo);
        // Free blocks below the page-block order are listed by class: unlink them under the old
        // class, then relink under the new (no merge: they were merged, the same buddies stay).
        // A page block that became wholly free through the drain is one shared block: nothing moves.
        for (ulong p = start; p < end; )
        {
            byte s = _frames[p];
            FrameKind kind = FrameState.KindOf(s);
            int order = FrameState.OrderOf(s);
            if (kind == FrameKind.Free && order < pbo)
            {
                Unlink(pool, p, order);
                _frames[p] = FrameState.Make(FrameKind.Isolated, order);
            }
            p += kind == FrameKind.Absent || kind == FrameKind.Tail ? 1UL : 1UL << (order < pbo ? order : pbo);
        }
        _pageblocks[pb].Mobility = (MobilityClass)cls;
        for (ulong p = start; p < end; )
        {
            byte s = _frames[p];
            FrameKind kind = FrameState.KindOf(s);
            int order = FrameState.OrderOf(s);
            if (kind == FrameKind.Isolated)
                Link(pool, p, order);
            p += kind == FrameKind.Absent || kind == FrameKind.Tail ? 1UL : 1UL << (order < pbo ? order : pbo);
        }
        File(pb);
    }

    /// <summary>Bytes of the <see cref="_leftCacheClass"/> bitmap for <paramref name="pageblocks"/> page blocks: one bit each, whole words.</summary>
    public static ulong LeftCacheClassBytes(ulong pageblocks) { return (pageblocks + 63) / 64 * sizeof(ulong); }

    /// <summary>
    /// True when page block <paramref name="pb"/> was steered away from its pool's cache class by a steal in an instance
    /// of several CPUs (<see cref="Restyle"/>) and has not been claimed, moved or steered back since: other CPUs' caches
    /// may hold frames of it although its class is not theirs.
    /// </summary>
    internal bool LeftCacheClass(ulong pb) { return (_leftCacheClass[pb >> 6] & (1UL << (int)(pb & 63))) != 0; }

    /// <summary>Unmarks page block <paramref name="pb"/> (<see cref="LeftCacheClass"/>): no cache holds a frame of it, or its class is the caches' again. Writes only when it was marked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ForgetLeftCacheClass(ulong pb)
    {
        ulong bit = 1UL << (int)(pb & 63);
        if ((_leftCacheClass[pb >> 6] & bit) != 0)
            _leftCacheClass[pb >> 6] &= ~bit;
    }

    /// <summary>
    /// Unmarks every marked page block of <paramref name="pool"/> (<see cref="LeftCacheClass"/>): called when every CPU's
    /// caches of the pool were just drained (<see cref="Drain"/>), so no cache holds a frame of them, and a CPU parking one
    /// later reads the page block's class first. O(page blocks / 64 + marked page blocks).
    /// </summary>
    internal void ForgetLeftCacheClassOf(int pool)
    {
        ulong words = LeftCacheClassBytes(_spanPages >> _pageblockOrder) / sizeof(ulong);
        for (ulong w = 0; w < words; w++)
        {
            ulong marked = _leftCacheClass[w];
            while (marked != 0)
            {
                int bit = System.Numerics.BitOperations.TrailingZeroCount(marked);
                marked &= marked - 1;
                if (_pageblocks[w * 64 + (ulong)bit].Pool == pool)
                    _leftCacheClass[w] &= ~(1UL << bit);
            }
        }
    }

    /// <summary>
    /// Fallback of <see cref="TakeFirst"/> for <paramref name="order"/> below the page-block order:
    /// the cheapest page block of another class holding a free block of at least that order
    /// (<see cref="CheapestHolding"/>) is steered to <paramref name="cls"/>, then taken from as usual.
    /// End when no class of the pool lists such a block.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal ulong TakeStolen(int pool, int order, int cls)
    {
        ulong pb = CheapestHolding(pool, order, cls);
        if (pb == FreeList.End)
            return FreeList.End;
        Restyle(pool, pb, cls);
        // The page block now lists its free blocks under cls (or, drained whole, on the shared lists).
        return (ClassView(_pools[pool].ListedSlots, cls) >> order) != 0 ? TakeFirst(pool, order, cls) : FreeList.End;
    }

    /// <summary>
    /// The page block of <paramref name="pool"/> of a class other than <paramref name="except"/> with
    /// the fewest held frames (to a factor of two: the lowest bucket of either class holding a fitting
    /// page block) that holds a free block of at least <paramref name="order"/>; End when there is none.
    /// Classes whose lists hold no such block are not searched; buckets are searched lowest first and
    /// within a bucket the page blocks in turn (for order 0 the first one fits: a filed page block has
    /// a listed free frame), so the work is the page blocks passed over for holding only smaller blocks.
    /// </summary>
    internal ulong CheapestHolding(int pool, int order, int except)
    {
        ulong slots = _pools[pool].ListedSlots;
        int pbo = _pageblockOrder;
        ulong best = FreeList.End;
        int bestBucket = int.MaxValue;
        for (int c = 0; c < ClassCount; c++)
        {
            if (c == except || ((ClassView(slots, c) & ((1UL << pbo) - 1)) >> order) == 0)
                continue;
            ulong pb = FirstHolding(pool, c, order, bestBucket, out int bucket);
            if (pb != FreeList.End)
            {
                best = pb;
                bestBucket = bucket;
            }
        }
        return best;
    }

    /// <summary>
    /// The first page block of (pool, class), lowest bucket first and below bucket <paramref name="below"/>,
    /// holding a free block of at least <paramref name="order"/>; its bucket in <paramref name="bucket"/>.
    /// </summary>
    private ulong FirstHolding(int pool, int cls, int order, int below, out int bucket)
    {
        int end = below < _index._buckets ? below : _index._buckets;
        for (int b = 0; b < end; b++)
        {
            if (((_index.Mask(pool, cls) >> b) & 1) == 0)
                continue;
            for (uint pb = *_index.HeadOf(pool, cls, b); pb != PageblockIndex.None; pb = _index.Next(pb))
                if (order == 0 || LargestFreeIn(pb) >= order)
                {
                    bucket = b;
                    return pb;
                }
        }
        bucket = -1;
        return FreeList.End;
    }

    /// <summary>The order of the largest free block inside page block <paramref name="pb"/>, -1 when none. O(frames of a page block).</summary>
    internal int LargestFreeIn(ulong pb)
    {
        int pbo = _pageblockOrder;
        ulong start = pb << pbo, end = start + (1UL << pbo);
        int largest = -1;
        for (ulong p = start; p < end; )
        {
            byte s = _frames[p];
            FrameKind kind = FrameState.KindOf(s);
            int order = FrameState.OrderOf(s);
            if (kind == FrameKind.Free && order > largest)
                largest = order;
            p += kind == FrameKind.Absent || kind == FrameKind.Tail ? 1UL : 1UL << (order < pbo ? order : pbo);
        }
        return largest;
    }
}
