namespace PoolKernel.Memory;

/// <summary>
/// Elastic memory: whole page blocks lent to the hypervisor (a virtio balloon) and taken back.
/// A lent page block stays in its pool (its <see cref="PageblockInfo.Pool"/> is unchanged) as one
/// Allocated block of the page-block order whose owner byte is <see cref="FrameOwner.Balloon"/>: it is
/// on no free list and in no frame cache, so nothing can allocate it; no owner can free it; the pool
/// counts it in <see cref="Pool.BalloonedPages"/>; the checker accounts for it. The kernel must not
/// read, write or DMA to it until <see cref="DeflatePageblock"/> gave it back.
///
/// Which memory is lent (<see cref="InflatePageblock"/>): first the pools created elastic
/// (<see cref="PoolFlags.Elastic"/>), then the other pools the balloon may take from
/// (<see cref="MayBalloon"/>: not Reserved, Realtime or Dma), each only above its guaranteed size
/// (<see cref="PoolProperties.MinimumPages"/>): a pool's present frames minus its lent frames never
/// drop below its minimum. Deflation (<see cref="NextBallooned"/>) gives back in the other order:
/// the non-elastic pools first, the elastic ones last.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// True when the balloon may take memory of a pool with these properties: reserved memory (named
    /// requests only), realtime pools and the low DMA pools are never lent.
    /// </summary>
    public static bool MayBalloon(in PoolProperties props)
    {
        return (props.Flags & (PoolFlags.Reserved | PoolFlags.Realtime | PoolFlags.Dma)) == 0;
    }

    /// <summary>
    /// Lends one wholly free, fully present page block to the hypervisor: the first one of the first
    /// pool in the order above (elastic pools, then the others; higher table slots first within each,
    /// so a default "normal" pool goes before its node's "dma32") that keeps its guarantee. Returns
    /// its first frame and its pool. Results: Ok; BelowMinimum when every pool the balloon may take from is
    /// at its guaranteed size (the balloon must stop there); OutOfMemory when some pool has room above its
    /// guarantee but no wholly free page block (its memory is in use or fragmented). A refusal changes
    /// nothing, except that a pool's order-0 frame cache may have been drained back to its lists
    /// while looking (the same frames free, merged), as <see cref="MovePageblocks"/> does.
    /// O(pools * MaxOrder) plus a cache drain.
    /// </summary>
    public MemoryStatus InflatePageblock(out Pfn start, out PoolId pool)
    {
        ulong state = LockAllButRealtime(); // it never lends a realtime pool's memory, and must not stall one
        MemoryStatus status = InflatePageblockLocked(out start, out pool);
        UnlockAllButRealtime(state);
        return status;
    }

    /// <summary><see cref="InflatePageblock"/> under every lock but the realtime pools' (<see cref="LockAllButRealtime"/>): the drain of a pool's caches reaches every CPU's.</summary>
    private MemoryStatus InflatePageblockLocked(out Pfn start, out PoolId pool)
    {
        start = default;
        pool = PoolId.None;
        ulong pbPages = PageblockPages;
        bool room = false;
        for (int pass = 0; pass < 2; pass++)
        {
            for (int i = _poolLimit - 1; i >= 0; i--)
            {
                ref Pool p = ref _buddy._pools[i];
                if (p.Live == 0 || !MayBalloon(p.Properties))
                    continue;
                bool elastic = (p.Properties.Flags & PoolFlags.Elastic) != 0;
                if (elastic != (pass == 0))
                    continue;
                if (p.PresentPages - p.BalloonedPages < p.Properties.MinimumPages + pbPages)
                    continue;
                room = true;
                ulong pb = FreePageblockOf(i);
                if (pb == FreeList.End && _buddy.Drain(i))
                    pb = FreePageblockOf(i);
                if (pb == FreeList.End)
                    continue;
                ulong first = pb << _buddy._pageblockOrder;
                _buddy.CarveRange(i, first, first + pbPages);
                _buddy._frames[first] = FrameState.Make(FrameKind.Allocated, _buddy._pageblockOrder);
                _buddy._owners[first] = FrameOwner.Balloon;
                _buddy.AddHeld(first, pbPages, 1);
                p.BalloonedPages += pbPages;
                start = new Pfn(_basePfn + first);
                pool = new PoolId((byte)i);
                return MemoryStatus.Ok;
            }
        }
        return room ? MemoryStatus.OutOfMemory : MemoryStatus.BelowMinimum;
    }

    /// <summary>
    /// A page block of <paramref name="pool"/> wholly on its free lists, or End: the first page block
    /// of the first block on its lists of order &gt;= the page-block order (such a block is made of
    /// whole, fully present page blocks of the pool). O(MaxOrder).
    /// </summary>
    private ulong FreePageblockOf(int pool)
    {
        int pbo = _buddy._pageblockOrder;
        // The shared lists (orders from the page-block order up, any class) follow the 3 * pbo class slots.
        ulong listed = _buddy._pools[pool].ListedSlots >> (BuddyAllocator.ClassCount * pbo);
        if (listed == 0)
            return FreeList.End;
        int order = pbo + System.Numerics.BitOperations.TrailingZeroCount(listed);
        return _buddy.ListOf(pool, order, (int)MobilityClass.Unmovable)->Head >> pbo;
    }

    /// <summary>
    /// Takes back the page block starting at <paramref name="start"/> from the hypervisor: it becomes
    /// free memory of its pool again (merged with its free neighbours). Its contents are whatever the
    /// hypervisor left (zero or old data); the pools never promise zeroed frames. Refused, nothing
    /// changed: a frame outside every pool (OutsideEveryPool), not on a page-block edge (Unaligned),
    /// or a page block that is not lent (NotBallooned).
    /// </summary>
    public MemoryStatus DeflatePageblock(Pfn start)
    {
        ulong state = LockAllButRealtime(); // a realtime pool never holds a lent page block (its owner byte is never Balloon)
        MemoryStatus status = DeflatePageblockLocked(start);
        UnlockAllButRealtime(state);
        return status;
    }

    /// <summary><see cref="DeflatePageblock"/> under every lock but the realtime pools' (<see cref="LockAllButRealtime"/>).</summary>
    private MemoryStatus DeflatePageblockLocked(Pfn start)
    {
        ulong index = start.Value - _basePfn;
        if (start.Value < _basePfn || index >= _buddy._spanPages || _buddy.PoolOfFrame(index) == PoolId.None.Value)
            return MemoryStatus.OutsideEveryPool;
        if ((index & (PageblockPages - 1)) != 0)
            return MemoryStatus.Unaligned;
        int pbo = _buddy._pageblockOrder;
        if (_buddy._frames[index] != FrameState.Make(FrameKind.Allocated, pbo) || _buddy._owners[index] != FrameOwner.Balloon)
            return MemoryStatus.NotBallooned;
        int pool = _buddy.PoolOfFrame(index);
        _buddy._owners[index] = FrameOwner.None;
        _buddy.AddHeld(index, PageblockPages, -1);
        _buddy.FreeMerging(pool, index, pbo);
        _buddy._pools[pool].BalloonedPages -= PageblockPages;
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// The lent page block <see cref="DeflatePageblock"/> should give back next: the lowest one in a
    /// pool that is not elastic, else the lowest one in an elastic pool (elastic memory is lent first
    /// and taken back last). NotBallooned when nothing is lent. O(page blocks), for a driver that
    /// deflates a few page blocks at a time.
    /// </summary>
    public MemoryStatus NextBallooned(out Pfn start, out PoolId pool)
    {
        ulong state = LockAllButRealtime(); // a realtime pool never holds a lent page block (its owner byte is never Balloon)
        MemoryStatus status = NextBalloonedLocked(out start, out pool);
        UnlockAllButRealtime(state);
        return status;
    }

    /// <summary><see cref="NextBallooned"/> under every lock but the realtime pools' (<see cref="LockAllButRealtime"/>).</summary>
    private MemoryStatus NextBalloonedLocked(out Pfn start, out PoolId pool)
    {
        start = default;
        pool = PoolId.None;
        int pbo = _buddy._pageblockOrder;
        byte lent = FrameState.Make(FrameKind.Allocated, pbo);
        ulong chosen = FreeList.End; // a non-elastic pool's block ends the walk, an elastic one is kept as the fallback
        for (ulong pb = 0; pb < _pageblockCount; pb++)
        {
            ulong first = pb << pbo;
            if (_buddy._frames[first] != lent || _buddy._owners[first] != FrameOwner.Balloon)
                continue;
            int p = _buddy._pageblocks[pb].Pool;
            if ((_buddy._pools[p].Properties.Flags & PoolFlags.Elastic) == 0)
            {
                chosen = pb;
                break;
            }
            if (chosen == FreeList.End)
                chosen = pb;
        }
        if (chosen == FreeList.End)
            return MemoryStatus.NotBallooned;
        start = new Pfn(_basePfn + (chosen << pbo));
        pool = new PoolId(_buddy._pageblocks[chosen].Pool);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Free frames the balloon could still take without breaking a guarantee: over the pools it may
    /// take from, each pool's free frames (cached ones included) up to its present frames minus its lent
    /// frames minus its minimum, rounded down to whole page blocks. An upper bound: only wholly free page blocks are lent, so fragmented
    /// free memory counts here but cannot be taken.
    /// </summary>
    public ulong BalloonablePages()
    {
        ulong state = LockAllButRealtime(); // it never counts a realtime pool (MayBalloon), and must not stall one
        ulong pages = BalloonablePagesLocked();
        UnlockAllButRealtime(state);
        return pages;
    }

    /// <summary><see cref="BalloonablePages"/> under every lock but the realtime pools' (<see cref="LockAllButRealtime"/>).</summary>
    private ulong BalloonablePagesLocked()
    {
        ulong total = 0;
        for (int i = 0; i < _poolLimit; i++)
        {
            ref Pool p = ref _buddy._pools[i];
            if (p.Live == 0 || !MayBalloon(p.Properties))
                continue;
            ulong free = p.FreePages + _buddy.CachedCount(i);
            ulong above = (p.PresentPages - p.BalloonedPages - p.Properties.MinimumPages) & ~(PageblockPages - 1);
            total += free < above ? free : above;
        }
        return total;
    }
}
