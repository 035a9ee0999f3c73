namespace PoolKernel.Memory;

/// <summary>
/// Pool life cycle and page-block moves. Page blocks are the unit of membership: a move
/// re-tags one page block and relinks its free blocks, O(blocks in the page block) and never
/// more than O(2^PageblockOrder), independent of memory size.
/// Locks (PhysicalMemory.Locks.cs): a move holds both pools' locks and all their caches' (every CPU's cached
/// frames of the source may have to be drained: a pool shrinks), lower slot first; creation holds the table
/// lock, then the donor's and the new slot's; creation from a range and destruction, which may touch any
/// pool's page blocks, hold the table lock and every pool's lock but the realtime pools' they do not touch
/// (<see cref="LockAllButRealtimeAnd"/>, docs/realtime.md "Administration"), so they drain every CPU's caches
/// of the pools they take from.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    private ulong PageblockPages { get { return 1UL << _buddy._pageblockOrder; } }

    /// <summary>Validates properties for a new pool (the window must be non-empty, sizes consistent).</summary>
    private static MemoryStatus CheckProperties(in PoolProperties props)
    {
        if (props.WindowEndPfn <= props.WindowStartPfn || props.NodeMask == 0)
            return MemoryStatus.InvalidArgument;
        if (props.MaximumPages != 0 && props.MinimumPages > props.MaximumPages)
            return MemoryStatus.InvalidArgument;
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// A pool was created or destroyed (and the call succeeded): remembered pool choices are
    /// outdated. Refused calls, which may open and close a slot on the way, do not come here, so
    /// they leave the metadata as it was.
    /// </summary>
    private void PoolTableChanged() { _poolGeneration++; }

    /// <summary>Empties a pool slot (the pool owns no page block) and lowers the live limit. Under the table lock and the slot's lock.</summary>
    private void CloseSlot(int slot)
    {
        uint modifications = _buddy._pools[slot].Modifications; // kept across the slot's lives (Pool.Modifications)
        _buddy._pools[slot] = default;
        _buddy._pools[slot].Modifications = modifications;
        _buddy._cacheClasses[slot] = MobilityClass.Unmovable;
        while (_poolLimit > 0 && _buddy._pools[_poolLimit - 1].Live == 0)
            _poolLimit--;
    }

    private int FreeSlot()
    {
        for (int i = 0; i < _poolCapacity; i++)
            if (_buddy._pools[i].Live == 0)
                return i;
        return -1;
    }

    /// <summary>Does <paramref name="pool"/>'s properties admit page block <paramref name="pb"/>?</summary>
    private bool Admits(int pool, ulong pb)
    {
        return _buddy._pools[pool].Properties.Admits(_basePfn + (pb << _buddy._pageblockOrder), PageblockPages, _buddy._pageblocks[pb].Node);
    }

    /// <summary>
    /// Creates a pool with <paramref name="props"/> and gives it <paramref name="pageblocks"/> free
    /// page blocks from <paramref name="donor"/> that match its window and nodes. Refused, with
    /// nothing changed: bad properties, an unknown donor, a full pool table, a size outside the new
    /// pool's minimum/maximum or below the donor's minimum, or too few matching free page blocks.
    /// </summary>
    public MemoryStatus CreatePool(in PoolProperties props, PoolId donor, ulong pageblocks, out PoolId id)
    {
        id = PoolId.None;
        MemoryStatus status = CheckProperties(props);
        if (status != MemoryStatus.Ok)
            return status;
        if (donor.Value >= _poolCapacity)
            return MemoryStatus.NoSuchPool;
        ulong table = _tableLock.Acquire();
        int slot = FreeSlot();
        if (slot < 0)
        {
            _tableLock.Release(table);
            return IsLive(donor) ? MemoryStatus.PoolTableFull : MemoryStatus.NoSuchPool;
        }
        ulong state = LockTwo(donor.Value, slot);
        status = CreatePoolLocked(props, donor, pageblocks, slot, out id);
        UnlockTwo(donor.Value, slot, state);
        _tableLock.Release(table);
        return status;
    }

    /// <summary><see cref="CreatePool"/> under the table lock and the locks of the donor and of free slot <paramref name="slot"/>.</summary>
    private MemoryStatus CreatePoolLocked(in PoolProperties props, PoolId donor, ulong pageblocks, int slot, out PoolId id)
    {
        id = PoolId.None;
        MemoryStatus status;
        if (!IsLive(donor))
            return MemoryStatus.NoSuchPool;
        if (pageblocks > _pageblockCount)
            return MemoryStatus.OutOfMemory;
        ulong pages = pageblocks * PageblockPages;
        if (pages < props.MinimumPages)
            return MemoryStatus.BelowMinimum;
        if (props.MaximumPages != 0 && pages > props.MaximumPages)
            return MemoryStatus.AboveMaximum;
        OpenSlot(slot, props);
        status = pageblocks == 0 ? MemoryStatus.Ok : MovePageblocksLocked(donor, new PoolId((byte)slot), pageblocks);
        if (status != MemoryStatus.Ok)
        {
            // MovePageblocks moved nothing on failure; closing the slot undoes the rest.
            CloseSlot(slot);
            return status;
        }
        id = new PoolId((byte)slot);
        PoolTableChanged();
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Creates a pool from the page blocks [start, start + pageblocks * 2^PageblockOrder), which may
    /// belong to several pools. Refused, with nothing changed: a start that is not on a page-block
    /// edge (Unaligned), a range leaving the span or holding a page block with no memory
    /// (OutsideEveryPool), any allocated frame in the range (PagesInUse), a page block the properties
    /// do not admit (PropertiesMismatch), or a donor that would drop below its minimum.
    /// </summary>
    public MemoryStatus CreatePoolFromRange(in PoolProperties props, Pfn start, ulong pageblocks, out PoolId id)
    {
        id = PoolId.None;
        MemoryStatus status = CheckProperties(props);
        if (status != MemoryStatus.Ok)
            return status;
        if (pageblocks == 0)
            return MemoryStatus.InvalidArgument;
        if (start.Value < _basePfn)
            return MemoryStatus.OutsideEveryPool;
        if (((start.Value - _basePfn) & (PageblockPages - 1)) != 0)
            return MemoryStatus.Unaligned;
        ulong firstPb = (start.Value - _basePfn) >> _buddy._pageblockOrder;
        if (firstPb >= _pageblockCount || pageblocks > _pageblockCount - firstPb)
            return MemoryStatus.OutsideEveryPool;
        // The realtime pools the range takes from are the only realtime pools whose locks it takes (docs/realtime.md,
        // "Administration"). Which pools own the range is read without their locks, then again under the table lock:
        // a realtime owner not taken (a page block moved meanwhile) has the locks taken again with it.
        PoolSet realtime = default;
        while (true)
        {
            for (ulong pb = firstPb; pb < firstPb + pageblocks; pb++)
                AddIfRealtime(ref realtime, pb);
            ulong state = LockAllButRealtimeAnd(in realtime, out PoolSet skipped);
            if (RangeOwnersTaken(firstPb, pageblocks, in realtime))
            {
                status = CreatePoolFromRangeLocked(props, firstPb, pageblocks, out id);
                UnlockAllBut(in skipped, state);
                return status;
            }
            UnlockAllBut(in skipped, state);
        }
    }

    /// <summary>True when every realtime pool owning a page block of the range is in <paramref name="realtime"/> (its lock held).</summary>
    private bool RangeOwnersTaken(ulong firstPb, ulong pageblocks, in PoolSet realtime)
    {
        for (ulong pb = firstPb; pb < firstPb + pageblocks; pb++)
        {
            byte pool = _buddy._pageblocks[pb].Pool;
            if (pool < _poolCapacity && IsRealtime(pool) && !realtime.Contains(pool))
                return false;
        }
        return true;
    }

    /// <summary><see cref="CreatePoolFromRange"/> from page block <paramref name="firstPb"/> on, under the table lock and the locks of every pool but the realtime ones that own none of the range.</summary>
    private MemoryStatus CreatePoolFromRangeLocked(in PoolProperties props, ulong firstPb, ulong pageblocks, out PoolId id)
    {
        id = PoolId.None;
        int slot = FreeSlot();
        if (slot < 0)
            return MemoryStatus.PoolTableFull;

        ulong* taken = stackalloc ulong[PoolId.MaxIds];
        for (int i = 0; i < _poolCapacity; i++)
            taken[i] = 0;
        ulong total = 0;
        for (ulong pb = firstPb; pb < firstPb + pageblocks; pb++)
        {
            PageblockInfo info = _buddy._pageblocks[pb];
            if (info.Pool == PoolId.None.Value)
                return MemoryStatus.OutsideEveryPool;
            if (info.Held != _buddy.CachedIn(info.Pool, pb))
                return MemoryStatus.PagesInUse;
            if (!props.Admits(_basePfn + (pb << _buddy._pageblockOrder), PageblockPages, info.Node))
                return MemoryStatus.PropertiesMismatch;
            taken[info.Pool] += info.Present;
            total += info.Present;
        }
        for (int i = 0; i < _poolCapacity; i++)
        {
            ref Pool donor = ref _buddy._pools[i];
            if (taken[i] != 0 && donor.PresentPages - donor.BalloonedPages - taken[i] < donor.Properties.MinimumPages)
                return MemoryStatus.BelowMinimum;
        }
        if (total < props.MinimumPages)
            return MemoryStatus.BelowMinimum;
        if (props.MaximumPages != 0 && total > props.MaximumPages)
            return MemoryStatus.AboveMaximum;

        // Validated: now the donors' cached frames go back to their lists, so every present frame
        // of the range is on a free list (a move relinks free blocks, it does not know caches).
        for (int i = 0; i < _poolCapacity; i++)
            if (taken[i] != 0)
            {
                _buddy.Drain(i);
                Modified(i);
            }
        OpenSlot(slot, props);
        for (ulong pb = firstPb; pb < firstPb + pageblocks; pb++)
            MovePageblock(pb, slot);
        id = new PoolId((byte)slot);
        PoolTableChanged();
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Destroys an unused pool, returning each page block to the pool set-up gave it to. Refused:
    /// an unknown pool, a pool with allocated frames (PoolInUse), or a set-up pool that is some
    /// page block's home (PoolIsHome).
    /// </summary>
    public MemoryStatus DestroyPool(PoolId id)
    {
        if (id.Value >= _poolCapacity)
            return MemoryStatus.NoSuchPool;
        // The realtime pools it touches are the only realtime pools whose locks it takes: the pool itself and
        // the homes its page blocks go back to (read without their locks, again under them, as for a range).
        PoolSet realtime = default;
        while (true)
        {
            if (IsRealtime(id.Value))
                realtime.Add(id);
            for (ulong pb = 0; pb < _pageblockCount; pb++)
                if (_buddy._pageblocks[pb].Pool == id.Value && _buddy._pageblocks[pb].Home < _poolCapacity && IsRealtime(_buddy._pageblocks[pb].Home))
                    realtime.Add(new PoolId(_buddy._pageblocks[pb].Home));
            ulong state = LockAllButRealtimeAnd(in realtime, out PoolSet skipped);
            if (DestroyLocksTaken(id.Value, in realtime))
            {
                MemoryStatus status = DestroyPoolLocked(id);
                UnlockAllBut(in skipped, state);
                return status;
            }
            UnlockAllBut(in skipped, state);
        }
    }

    /// <summary>True when pool <paramref name="pool"/> and the homes of its page blocks are non-realtime or in <paramref name="realtime"/>.</summary>
    private bool DestroyLocksTaken(int pool, in PoolSet realtime)
    {
        if (IsRealtime(pool) && !realtime.Contains(pool))
            return false;
        for (ulong pb = 0; pb < _pageblockCount; pb++)
        {
            PageblockInfo info = _buddy._pageblocks[pb];
            if (info.Pool == pool && info.Home < _poolCapacity && IsRealtime(info.Home) && !realtime.Contains(info.Home))
                return false;
        }
        return true;
    }

    /// <summary><see cref="DestroyPool"/> under the table lock and every pool's lock but the realtime pools' it does not touch.</summary>
    private MemoryStatus DestroyPoolLocked(PoolId id)
    {
        if (!IsLive(id))
            return MemoryStatus.NoSuchPool;
        ref Pool pool = ref _buddy._pools[id.Value];
        if (pool.FreePages + _buddy.CachedCount(id.Value) != pool.PresentPages)
            return MemoryStatus.PoolInUse;
        for (ulong pb = 0; pb < _pageblockCount; pb++)
            if (_buddy._pageblocks[pb].Home == id.Value)
                return MemoryStatus.PoolIsHome;
        _buddy.Drain(id.Value);
        Modified(id.Value);
        for (ulong pb = 0; pb < _pageblockCount; pb++)
            if (_buddy._pageblocks[pb].Pool == id.Value)
                MovePageblock(pb, _buddy._pageblocks[pb].Home);
        CloseSlot(id.Value);
        PoolTableChanged();
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Moves <paramref name="count"/> wholly free, fully present page blocks from one pool to
    /// another, taking those the destination's properties admit. The sizes are checked and the
    /// candidates counted first, so the call either moves all of them or nothing (it may drain the
    /// source's frame cache to find them, see below). Each move is
    /// O(MaxOrder): the page block is cut out of a free block on the source's lists of order
    /// &gt;= PageblockOrder and merged into the destination's.
    /// </summary>
    public MemoryStatus MovePageblocks(PoolId from, PoolId to, ulong count)
    {
        if (from.Value >= _poolCapacity || to.Value >= _poolCapacity)
            return MemoryStatus.NoSuchPool;
        ulong state = LockTwo(from.Value, to.Value);
        MemoryStatus status = MovePageblocksLocked(from, to, count);
        UnlockTwo(from.Value, to.Value, state);
        return status;
    }

    /// <summary>
    /// <see cref="MovePageblocks"/> into a pool of other nodes: the destination admits the source's nodes
    /// from then on (its node mask widened by the source's), so it can take the page blocks of a pool on
    /// another node. What a DMA pool whose node has no page block left grows by (falling back by distance:
    /// docs/drivers.md). All or nothing: refused, the destination's node mask is as it was. A changed mask
    /// outdates remembered pool choices, as a created pool does.
    /// </summary>
    public MemoryStatus MovePageblocksAcrossNodes(PoolId from, PoolId to, ulong count)
    {
        if (from.Value >= _poolCapacity || to.Value >= _poolCapacity)
            return MemoryStatus.NoSuchPool;
        PoolSet realtime = default; // the two pools' locks, and no other realtime pool's
        realtime.Add(from);
        realtime.Add(to);
        ulong state = LockAllButRealtimeAnd(in realtime, out PoolSet skipped);
        MemoryStatus status = MemoryStatus.NoSuchPool;
        if (IsLive(from) && IsLive(to))
        {
            ref PoolProperties target = ref _buddy._pools[to.Value].Properties;
            ulong before = target.NodeMask;
            target.NodeMask = before | _buddy._pools[from.Value].Properties.NodeMask;
            status = MovePageblocksLocked(from, to, count);
            if (status != MemoryStatus.Ok)
                target.NodeMask = before;
            else if (target.NodeMask != before)
                PoolTableChanged();
        }
        UnlockAllBut(in skipped, state);
        return status;
    }

    /// <summary><see cref="MovePageblocks"/> under both pools' locks.</summary>
    private MemoryStatus MovePageblocksLocked(PoolId from, PoolId to, ulong count)
    {
        if (!IsLive(from) || !IsLive(to))
            return MemoryStatus.NoSuchPool;
        if (from == to || count == 0)
            return MemoryStatus.InvalidArgument;
        if (count > _pageblockCount)
            return MemoryStatus.OutOfMemory;
        ref Pool source = ref _buddy._pools[from.Value];
        ref Pool target = ref _buddy._pools[to.Value];
        ulong pages = count * PageblockPages;
        // Frames lent to the hypervisor do not count towards the guarantee (PhysicalMemory.Balloon.cs).
        ulong usable = source.PresentPages - source.BalloonedPages;
        if (usable < pages || usable - pages < source.Properties.MinimumPages)
            return MemoryStatus.BelowMinimum;
        if (target.Properties.MaximumPages != 0 && target.PresentPages + pages > target.Properties.MaximumPages)
            return MemoryStatus.AboveMaximum;
        // A realtime pool's memory is never taken for a pool of lower priority (DMA grow, any pressure).
        if (IsRealtime(from.Value) && target.Properties.Priority < source.Properties.Priority)
            return MemoryStatus.RealtimeProtected;
        // Cached frames are in no free list, so they can keep a page block from counting as free;
        // only when that makes the move fall short is the source's cache drained and counted again.
        // (A refusal for OutOfMemory may therefore have drained the cache: same free frames, merged.)
        if (CountMovable(from.Value, to.Value, count) < count)
        {
            if (!_buddy.Drain(from.Value))
                return MemoryStatus.OutOfMemory;
            Modified(from.Value);
            if (CountMovable(from.Value, to.Value, count) < count)
                return MemoryStatus.OutOfMemory;
        }
        for (ulong i = 0; i < count; i++)
            MovePageblock(NextMovable(from.Value, to.Value), to.Value);
        return MemoryStatus.Ok;
    }

    /// <summary>Free page blocks of <paramref name="from"/> that <paramref name="to"/> admits, counted up to <paramref name="enough"/>.</summary>
    private ulong CountMovable(int from, int to, ulong enough)
    {
        ulong found = 0;
        int pbo = _buddy._pageblockOrder;
        for (int o = pbo; o <= _buddy._maxOrder && found < enough; o++)
        {
            FreeList* list = _buddy.ListOf(from, o, 0); // o >= PageblockOrder: the shared list
            for (ulong b = list->Head; b != FreeList.End && found < enough; b = _buddy._nodes.Of(b)->NextIndex)
                for (ulong pb = b >> pbo; pb < (b + (1UL << o)) >> pbo && found < enough; pb++)
                    if (Admits(to, pb))
                        found++;
        }
        return found;
    }

    /// <summary>The first page block <see cref="CountMovable"/> would count.</summary>
    private ulong NextMovable(int from, int to)
    {
        int pbo = _buddy._pageblockOrder;
        for (int o = pbo; o <= _buddy._maxOrder; o++)
        {
            FreeList* list = _buddy.ListOf(from, o, 0); // o >= PageblockOrder: the shared list
            for (ulong b = list->Head; b != FreeList.End; b = _buddy._nodes.Of(b)->NextIndex)
                for (ulong pb = b >> pbo; pb < (b + (1UL << o)) >> pbo; pb++)
                    if (Admits(to, pb))
                        return pb;
        }
        return FreeList.End;
    }

    /// <summary>
    /// Moves one page block with no allocated frame to pool <paramref name="to"/>. First every free
    /// block in it is unlinked and marked Isolated (a larger block straddling it is cut, its other
    /// parts given back to the old pool); then the page block is re-tagged; then each isolated block
    /// is freed into the new pool with merging. Isolated heads never match a buddy test, so the
    /// second pass merges only with blocks already in the new pool. Last, both pools' caches are
    /// sized to their new present frames (<see cref="BuddyAllocator.SizeCache"/>).
    /// </summary>
    private void MovePageblock(ulong pb, int to) // under both pools' locks
    {
        int pbo = _buddy._pageblockOrder;
        int from = _buddy._pageblocks[pb].Pool;
        ulong start = pb << pbo, end = start + PageblockPages;
        for (ulong p = start; p < end; )
        {
            if (FrameState.KindOf(_buddy._frames[p]) == FrameKind.Absent)
            {
                p++;
                continue;
            }
            ulong head = _buddy.FreeHeadContaining(p, out int order);
            ulong headEnd = head + (1UL << order);
            _buddy.Unlink(from, head, order);
            if (head < start || headEnd > end)
            {
                _buddy._frames[head] = FrameState.Tail;
                if (head < start)
                    _buddy.LinkPieces(from, head, start);
                if (headEnd > end)
                    _buddy.LinkPieces(from, end, headEnd);
                _buddy._frames[start] = FrameState.Make(FrameKind.Isolated, pbo);
                p = end;
            }
            else
            {
                _buddy._frames[head] = FrameState.Make(FrameKind.Isolated, order);
                p = headEnd;
            }
        }

        ushort present = _buddy._pageblocks[pb].Present;
        Modified(from);
        Modified(to);
        _buddy.Unfile(pb); // a page block with holes is filed even with nothing held
        _buddy._pageblocks[pb].Pool = (byte)to;
        _buddy.ForgetLeftCacheClass(pb); // nothing of it allocated, so nothing cached
        // Every page block's class is one its pool accepts (the fast paths rely on it): a class the
        // new pool refuses becomes its cache class, while the free blocks are off the lists. Every page
        // block of a realtime pool is of its cache class (its bounded path never steals, Kernel.Memory/Realtime).
        if (!_buddy._pools[to].Properties.Accepts(_buddy._pageblocks[pb].Mobility) || IsRealtime(to))
            _buddy._pageblocks[pb].Mobility = _buddy._cacheClasses[to];
        _buddy.File(pb);
        _buddy._pools[from].PresentPages -= present;
        _buddy._pools[from].Pageblocks--;
        _buddy._pools[to].PresentPages += present;
        _buddy._pools[to].Pageblocks++;

        for (ulong p = start; p < end; )
        {
            byte s = _buddy._frames[p];
            if (FrameState.KindOf(s) != FrameKind.Isolated)
            {
                p++;
                continue;
            }
            int order = FrameState.OrderOf(s);
            _buddy.FreeMerging(to, p, order);
            p += 1UL << order;
        }
        // Both pools changed size: so do their caches (the one that shrank may drain its oldest frames).
        _buddy.SizeCache(from);
        _buddy.SizeCache(to);
    }
}
