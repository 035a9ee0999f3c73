namespace PoolKernel.Memory;

/// <summary>Page runs: any count of contiguous frames, allocated and freed as one (<see cref="AllocateRun"/>, <see cref="FreeRun"/>).</summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// Allocates <paramref name="pages"/> contiguous frames (any count, not only powers of two, also
    /// more than the largest block) under the same rules and pool choice as <see cref="Allocate"/>.
    /// Up to the largest block it takes a covering buddy block (the first one, or one obeying the
    /// rules found on the lists) and gives back the tail; otherwise, or when that fails, it scans
    /// the pool's blocks in address order for a free stretch. The run records
    /// <see cref="AllocRequest.Owner"/> on its first frame; free it with <see cref="FreeRun"/>, the
    /// same count and the same owner.
    /// </summary>
    internal MemoryStatus AllocateRunUnaccounted(ulong pages, in AllocRequest request, out Pfn first)
    {
        first = Pfn.None;
        if (pages == 0 || pages > _buddy._spanPages)
            return pages == 0 ? MemoryStatus.InvalidArgument : MemoryStatus.ImpossibleRules;
        MemoryStatus resolved = DmaRules.Resolve(request, pages, out DmaRules rules);
        if (resolved != MemoryStatus.Ok)
            return resolved;
        if (!request.Pool.IsNone)
        {
            if (request.Pool.Value >= _poolCapacity)
                return MemoryStatus.NoSuchPool;
            int pool = request.Pool.Value;
            int cpu = CurrentCpu();
            MemoryStatus status = MemoryStatus.OutOfMemory;
            for (int attempt = 0; attempt < 2 && status == MemoryStatus.OutOfMemory; attempt++)
            {
                // The second attempt only when other CPUs' caches of the pool held frames, now drained.
                if (attempt == 1 && !DrainOtherCpus(pool, cpu, pages))
                    break;
                ulong state = LockCpuPool(pool, cpu);
                MemoryStatus admitted = AdmitNamed(request);
                ulong cachedBefore = _buddy.CpuCachedCount(pool, cpu);
                status = admitted != MemoryStatus.Ok ? admitted : AllocateRunInPoolLocked(pool, pages, rules, request.Owner, request.Mobility, cpu, out first);
                if (status == MemoryStatus.Ok || _buddy.CpuCachedCount(pool, cpu) != cachedBefore)
                    Modified(pool);
                UnlockCpuPool(pool, cpu, state);
                if (attempt == 1)
                    NoteDrainOutcome(pool, pages, status);
            }
            return status;
        }
        return WalkPools(RunOrder, pages, request, rules, out first);
    }

    private MemoryStatus AllocateRunInPoolLocked(int pool, ulong pages, in DmaRules rules, byte owner, MobilityClass mobility, int cpu, out Pfn first)
    {
        int cls = (int)mobility;
        first = Pfn.None;
        ulong index = FreeList.End;
        int order = Order.Covering(pages).Value;
        if (order <= _buddy._maxOrder && Implies(pool, rules, 1UL << order))
        {
            index = TakeFirstOrDrainLocked(pool, order, cpu, cls);
            if (index != FreeList.End)
            {
                // The given-back tail's pieces each have their buddy inside the run: no merge
                // possible. The run cannot cross a boundary: Resolve refused boundaries below
                // `pages`, so any boundary is at least the covering block, which is aligned.
                _buddy.LinkPieces(pool, index + pages, index + (1UL << order));
            }
        }
        else if (order <= _buddy._maxOrder)
        {
            // A covering block that obeys the rules, searched on the lists, before the scan; cached
            // frames go back to the lists first so the search sees them.
            _buddy.DrainCpu(pool, cpu);
            index = _buddy.FindFit(pool, order, rules, _basePfn, cls);
            if (index != FreeList.End)
                _buddy.CarveRange(pool, index, index + pages);
        }
        if (index == FreeList.End)
        {
            _buddy.DrainCpu(pool, cpu);
            index = ScanForRun(pool, pages, rules);
            if (index == FreeList.End)
                return MemoryStatus.OutOfMemory;
            _buddy.CarveRange(pool, index, index + pages);
        }
        MarkRun(index, index + pages, RecordedOwner(owner));
        if (!rules.Admits(_basePfn + index, pages))
        {
            UnmarkRun(pool, index, index + pages);
            return MemoryStatus.Corruption;
        }
        first = new Pfn(_basePfn + index);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// The lowest start of <paramref name="pages"/> free frames of the pool obeying the rules, or
    /// End. Walks blocks in address order from the rules' low end; O(blocks in the window).
    /// </summary>
    private ulong ScanForRun(int pool, ulong pages, in DmaRules rules)
    {
        ref PoolProperties props = ref _buddy._pools[pool].Properties;
        ulong low = rules.LowPfn > props.WindowStartPfn ? rules.LowPfn : props.WindowStartPfn;
        ulong high = rules.EndPfn < props.WindowEndPfn ? rules.EndPfn : props.WindowEndPfn;
        if (low < _basePfn)
            low = _basePfn;
        if (high <= low)
            return FreeList.End;
        ulong limit = high - _basePfn;
        if (limit > _buddy._spanPages)
            limit = _buddy._spanPages;
        // Multiples of the largest block are always block boundaries.
        ulong p = (low - _basePfn) & ~((1UL << _buddy._maxOrder) - 1);
        int pbo = _buddy._pageblockOrder;
        ulong runStart = FreeList.End;
        while (p < limit)
        {
            if (_buddy._pageblocks[p >> pbo].Pool != pool)
            {
                runStart = FreeList.End;
                p = ((p >> pbo) + 1) << pbo;
                continue;
            }
            byte s = _buddy._frames[p];
            FrameKind kind = FrameState.KindOf(s);
            if (kind == FrameKind.Free)
            {
                ulong blockEnd = p + (1UL << FrameState.OrderOf(s));
                if (runStart == FreeList.End)
                    runStart = p;
                ulong fit = rules.FirstFit(_basePfn + runStart, _basePfn + blockEnd, pages, 1);
                if (fit != FreeList.End)
                    return fit - _basePfn;
                p = blockEnd;
            }
            else
            {
                runStart = FreeList.End;
                p += kind == FrameKind.Absent || kind == FrameKind.Tail ? 1UL : 1UL << FrameState.OrderOf(s);
            }
        }
        return FreeList.End;
    }

    /// <summary>Marks [start, end) as a run of <paramref name="owner"/> (the byte to record: <see cref="RecordedOwner"/>): maximal aligned pieces, the first RunFirst (carrying the owner), the rest RunNext.</summary>
    private void MarkRun(ulong start, ulong end, byte owner)
    {
        _buddy._owners[start] = owner;
        FrameKind kind = FrameKind.RunFirst;
        while (start < end)
        {
            int o = _buddy.PieceOrder(start, end);
            _buddy._frames[start] = FrameState.Make(kind, o);
            _buddy.AddHeld(start, 1UL << o, 1);
            kind = FrameKind.RunNext;
            start += 1UL << o;
        }
    }

    /// <summary>Gives the run [start, end) back to the pool's lists and clears its owner.</summary>
    private void UnmarkRun(int pool, ulong start, ulong end)
    {
        _buddy._owners[start] = FrameOwner.None;
        while (start < end)
        {
            int o = _buddy.PieceOrder(start, end);
            _buddy.AddHeld(start, 1UL << o, -1);
            _buddy.FreeMerging(pool, start, o);
            start += 1UL << o;
        }
    }

    /// <summary>
    /// Frees a run returned by <see cref="AllocateRun"/> on behalf of <paramref name="owner"/>, the
    /// owner it was allocated as (NotOwner otherwise, checked first); <paramref name="pages"/> must be
    /// the count it was allocated with (WrongRunLength otherwise). Every piece is validated before
    /// any is freed, so a refused call changes nothing.
    /// </summary>
    internal MemoryStatus FreeRunUnaccounted(Pfn first, ulong pages, byte owner)
    {
        ulong start = first.Value - _basePfn;
        if (first.Value < _basePfn || start >= _buddy._spanPages)
            return MemoryStatus.OutsideEveryPool;
        while (true)
        {
            int pool = _buddy.PoolOfFrame(start);
            if ((uint)pool >= (uint)_poolCapacity)
                return FreeRunLocked(start, pages, owner); // a frame in no pool: refused, and such frames never change
            ulong state = LockPool(pool);
            if (_buddy.PoolOfFrame(start) == pool)
            {
                MemoryStatus status = FreeRunLocked(start, pages, owner);
                if (status == MemoryStatus.Ok)
                    Modified(pool);
                UnlockPool(pool, state);
                return status;
            }
            UnlockPool(pool, state);
        }
    }

    /// <summary>
    /// <see cref="FreeRun"/> under the lock of the pool of the run's first frame (a run lies in one pool; a
    /// longer length claimed by the caller reads the next pool's frames without its lock, only to refuse).
    /// </summary>
    private MemoryStatus FreeRunLocked(ulong start, ulong pages, byte owner)
    {
        byte recorded = _buddy._owners[start];
        if (FrameState.KindOf(_buddy._frames[start]) == FrameKind.RunFirst && !FrameOwner.Frees(recorded, ExpectedOwner(owner)))
            return MemoryStatus.NotOwner;
        if (pages == 0 || pages > _buddy._spanPages - start)
            return MemoryStatus.WrongRunLength;
        ulong end = start + pages;
        FrameKind expected = FrameKind.RunFirst;
        for (ulong p = start; p < end; )
        {
            int o = _buddy.PieceOrder(p, end);
            byte state = _buddy._frames[p];
            if (state != FrameState.Make(expected, o))
            {
                if (p == start)
                    return Diagnose(p, state, o, FrameKind.RunFirst, owner);
                return MemoryStatus.WrongRunLength;
            }
            expected = FrameKind.RunNext;
            p += 1UL << o;
        }
        if (end < _buddy._spanPages && FrameState.KindOf(_buddy._frames[end]) == FrameKind.RunNext)
            return MemoryStatus.WrongRunLength;
        int pool = _buddy.PoolOfFrame(start);
        TakeOffContainerLocked(recorded, pool, start, pages); // a container's run: off its counts in this section
        UnmarkRun(pool, start, end);
        return MemoryStatus.Ok;
    }
}
