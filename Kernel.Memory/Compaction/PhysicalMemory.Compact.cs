namespace PoolKernel.Memory;

/// <summary>
/// Compaction entry points (docs/antifrag.md): movers registered by owners, compaction of a pool on
/// demand, for a failing request, and proactively above the fragmentation threshold. The pass
/// itself is <see cref="CompactPool"/> (PhysicalMemory.Evacuate.cs). Same contracts as every
/// entry point; refused calls change nothing. Locks (docs/smp.md, docs/antifrag.md "Locks"): registration holds
/// the table lock alone (the movers are read only under it: by passes and by pressure's movable step; no pool's
/// lock, docs/realtime.md). A compaction pass holds the pool table's lock from start to
/// end (the pool stays live with the same properties, passes run one at a time, so movers are called one at a
/// time), and the lock of the pool it compacts with its caches' (<see cref="LockPoolWithCaches"/>) only in
/// sections: one a candidate page block (<see cref="CompactPool"/>). Between sections the pool is free for every
/// CPU's allocations and frees, and each section looks at the pool afresh. A realtime pool is never compacted nor
/// locked. Movers run in a section: the pool's locks and the table lock held, so a mover must not call into the instance.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// Sets the hook <see cref="CompactPool"/> calls between its sections (null: none). The hook may allocate and
    /// free, but must take no lock the pass holds (the table lock: no pool creation or destruction, no
    /// <see cref="LockAll"/>, no <see cref="Check"/>; <see cref="CheckLocked"/> when nothing else runs).
    /// </summary>
    internal void SetCompactionStep(delegate*<void*, void> step, void* context)
    {
        _compactionStep = step;
        _compactionStepContext = context;
    }

    /// <summary>Between two sections of a pass: the hook, when set.</summary>
    private void StepTaken()
    {
        if (_compactionStep != null)
            _compactionStep(_compactionStepContext);
    }

    /// <summary>
    /// Registers <paramref name="mover"/> for the blocks <paramref name="owner"/> allocates, replacing
    /// any earlier one. Refused (InvalidArgument, nothing changed): an owner outside 0..63, or a mover
    /// without both calls.
    /// </summary>
    public MemoryStatus RegisterMover(byte owner, in FrameMover mover)
    {
        if (!FrameOwner.IsValid(owner) || mover.Move == null || mover.CanMove == null)
            return MemoryStatus.InvalidArgument;
        ulong state = _tableLock.Acquire(); // passes read the movers under it (LockAllButRealtime): no pool's lock
        _movers[owner] = mover;
        _tableLock.Release(state);
        return MemoryStatus.Ok;
    }

    /// <summary>Forgets <paramref name="owner"/>'s mover: its blocks are unmovable from now on. Refused (InvalidArgument): an owner outside 0..63.</summary>
    public MemoryStatus UnregisterMover(byte owner)
    {
        if (!FrameOwner.IsValid(owner))
            return MemoryStatus.InvalidArgument;
        ulong state = _tableLock.Acquire();
        _movers[owner] = default;
        _tableLock.Release(state);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Compacts pool <paramref name="id"/> until it lists a free block of <paramref name="order"/>, or,
    /// with <paramref name="order"/> = -1, as far as it goes (the shell's <c>compact</c>). Refused:
    /// NoSuchPool, InvalidOrder (nothing changed). Otherwise Ok with what was done in
    /// <paramref name="result"/> (which may be nothing: <see cref="CompactionResult.Stop"/> says why).
    /// The pool's frame cache is drained first (its frames are free memory compaction can use).
    /// </summary>
    public MemoryStatus Compact(PoolId id, int order, out CompactionResult result)
    {
        result = default;
        if (!IsLive(id))
            return MemoryStatus.NoSuchPool;
        if (order < -1 || order > _buddy._maxOrder)
            return MemoryStatus.InvalidOrder;
        ulong state = _tableLock.Acquire();
        if (IsLive(id))
            CompactPool(id.Value, order < 0 ? _buddy._maxOrder + 1 : order, ref result);
        _tableLock.Release(state);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// <see cref="Allocate"/>, and when that finds no block of an order above 0 (OutOfMemory), compaction
    /// of the pools the request may use (the named one, or every pool that qualifies by
    /// <see cref="PoolChoice"/>) until one lists a block of the order, then once more Allocate. An
    /// order-0 failure is returned as it is: compaction makes no free frame, it only gathers them.
    /// </summary>
    public MemoryStatus AllocateCompacting(Order order, in AllocRequest request, out Pfn pfn)
    {
        MemoryStatus status = Allocate(order, request, out pfn);
        if (status != MemoryStatus.OutOfMemory || order.Value == 0)
            return status;
        DmaRules rules = DmaRules.None;
        if (request.HasAddressRules && DmaRules.Resolve(request, order.Pages, out rules) != MemoryStatus.Ok)
            return status;
        CompactionResult result = default;
        // The table lock keeps every pool's liveness and properties as Qualifies read them, for the whole walk.
        ulong state = _tableLock.Acquire();
        if (!request.Pool.IsNone)
        {
            if (IsLive(request.Pool))
                CompactPool(request.Pool.Value, order.Value, ref result);
        }
        else
        {
            for (int pool = 0; pool < _poolLimit; pool++)
            {
                if (!PoolChoice.Qualifies(ref _buddy._pools[pool], request, rules, order.Pages))
                    continue;
                CompactPool(pool, order.Value, ref result);
                if (result.Stop == CompactionStop.Satisfied)
                    break;
            }
        }
        _tableLock.Release(state);
        if (result.PagesMoved == 0 && result.Stop != CompactionStop.Satisfied)
            return status;
        return Allocate(order, request, out pfn);
    }

    /// <summary>
    /// Proactive compaction: when pool <paramref name="id"/>'s <see cref="FragmentationScore"/> is above
    /// <see cref="ProactiveThreshold"/>, a full pass (as <c>compact</c>); otherwise nothing. True when a
    /// pass ran. Refused: NoSuchPool.
    /// </summary>
    public MemoryStatus CompactIfFragmented(PoolId id, out bool ran, out CompactionResult result)
    {
        result = default;
        ran = false;
        if (!IsLive(id))
            return MemoryStatus.NoSuchPool;
        ulong state = _tableLock.Acquire();
        if (IsLive(id) && FragmentationScoreForPass(id.Value) > ProactiveThreshold)
        {
            ran = true;
            CompactPool(id.Value, _buddy._maxOrder + 1, ref result);
        }
        _tableLock.Release(state);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Per mille of a pool's free frames above which proactive compaction runs: more than half of the
    /// free memory lies in blocks smaller than a page block (so cannot serve a page-block-sized request).
    /// Linux's proactive compaction aims its score at 20% by default and its extfrag_threshold is the
    /// same 500; half is where a page-block request is more likely to fail for fragmentation than for
    /// want of memory, and below it a pass would mostly move frames for little gain.
    /// </summary>
    public const int ProactiveThreshold = 500;
}
