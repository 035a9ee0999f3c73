namespace PoolKernel.Memory;

/// <summary>
/// Resizing realtime pools (docs/realtime.md): a realtime pool below its minimum takes page blocks from pools
/// of lower priority, elastic pools first, then the default pools (neither reserved, DMA nor realtime),
/// lowest priority first; above its maximum it gives page blocks back to the pools set-up gave them to.
/// One page block a step, through the page-block move (<see cref="MovePageblock"/>), each found in a
/// bounded number of list nodes (<see cref="FreePageblockFor"/>), at most <see cref="MaxRebalanceBatch"/>
/// a call: each step holds the two pools' locks for one move, whatever the memory size.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>Most page blocks one <see cref="RebalanceRealtime"/> moves: 8 (16 MiB at 2 MiB page blocks).</summary>
    public const int MaxRebalanceBatch = 8;

    /// <summary>
    /// List nodes of each order's list that <see cref="FreePageblockFor"/> looks at: 4. A free block of the
    /// page-block order or above is wholly free; only a window or node the receiving pool refuses passes one
    /// over, and giving up after a few keeps the step bounded (the next call looks again).
    /// </summary>
    private const int FreePageblockProbes = 4;

    /// <summary>
    /// Page blocks each realtime pool may move in one housekeeping pass (<see cref="RebalanceRealtimePools"/>): 2,
    /// 4 MiB at 2 MiB page blocks, 400 MiB a second at the timer's 100 Hz: a pool short by its minimum is
    /// whole within a few ticks, and a pass holds two pools' locks for at most two moves a pool.
    /// </summary>
    public const int HousekeepingRebalanceBatch = 2;

    /// <summary>
    /// The periodic resize (docs/realtime.md, "Resizable and prioritised"): <see cref="RebalanceRealtime"/> with
    /// <see cref="HousekeepingRebalanceBatch"/> for every live realtime pool, in slot order. The kernel runs it
    /// at every timer tick of its housekeeping CPU, not on the allocation path: a move takes a donor's lock,
    /// which non-realtime paths (compaction, the balloon) hold for as long as they run. Returns the page blocks
    /// moved; nothing to do costs one look at each pool slot. Takes its locks itself, one move at a time.
    /// </summary>
    public int RebalanceRealtimePools()
    {
        int total = 0;
        for (int p = 0; p < _poolLimit; p++)
        {
            PoolId id = new PoolId((byte)p);
            if (IsLive(id) && IsRealtime(p) && RebalanceRealtime(id, HousekeepingRebalanceBatch, out int moved) == MemoryStatus.Ok)
                total += moved;
        }
        return total;
    }

    /// <summary>
    /// Sets realtime pool <paramref name="id"/>'s minimum and maximum (pages; a maximum of 0: none). Nothing
    /// moves until <see cref="RebalanceRealtime"/>. Refused, nothing changed: NoSuchPool, PropertiesMismatch
    /// (not a realtime pool), InvalidArgument (minimum above a non-zero maximum).
    /// </summary>
    public MemoryStatus SetRealtimeLimits(PoolId id, ulong minimumPages, ulong maximumPages)
    {
        if (id.Value >= _poolCapacity)
            return MemoryStatus.NoSuchPool;
        if (maximumPages != 0 && minimumPages > maximumPages)
            return MemoryStatus.InvalidArgument;
        ulong table = _tableLock.Acquire();
        ulong state = LockPool(id.Value);
        MemoryStatus status = MemoryStatus.Ok;
        if (!IsLive(id))
            status = MemoryStatus.NoSuchPool;
        else if (!IsRealtime(id.Value))
            status = MemoryStatus.PropertiesMismatch;
        else
        {
            _buddy._pools[id.Value].Properties.MinimumPages = minimumPages;
            _buddy._pools[id.Value].Properties.MaximumPages = maximumPages;
            Modified(id.Value);
        }
        UnlockPool(id.Value, state);
        _tableLock.Release(table);
        return status;
    }

    /// <summary>
    /// Moves up to <paramref name="batch"/> page blocks towards realtime pool <paramref name="id"/>'s limits:
    /// into it while it is below its minimum (from the first donor in give order with a free page block it
    /// admits, <see cref="NextDonor"/>), out of it to their home pools while it is above its maximum.
    /// <paramref name="moved"/>: page blocks moved; Ok also when none could move (no donor has a free page
    /// block; the pool is within its limits). Refused, nothing changed: NoSuchPool, PropertiesMismatch (not
    /// realtime), InvalidArgument (a batch outside 1..<see cref="MaxRebalanceBatch"/>).
    /// </summary>
    public MemoryStatus RebalanceRealtime(PoolId id, int batch, out int moved)
    {
        moved = 0;
        if (batch < 1 || batch > MaxRebalanceBatch)
            return MemoryStatus.InvalidArgument;
        if (!IsLive(id))
            return MemoryStatus.NoSuchPool;
        if (!IsRealtime(id.Value))
            return MemoryStatus.PropertiesMismatch;
        int rt = id.Value;
        while (moved < batch)
        {
            ref Pool pool = ref _buddy._pools[rt];
            ulong usable = pool.PresentPages - pool.BalloonedPages;
            bool grown = usable < pool.Properties.MinimumPages ? GrowRealtimeStep(rt) :
                pool.Properties.MaximumPages != 0 && pool.PresentPages > pool.Properties.MaximumPages && ShrinkRealtimeStep(rt);
            if (!grown)
                break;
            moved++;
        }
        return MemoryStatus.Ok;
    }

    /// <summary>One page block into realtime pool <paramref name="rt"/> from the first donor, in give order, that has one it admits. O(pool slots) donors, each a bounded look.</summary>
    private bool GrowRealtimeStep(int rt)
    {
        for (int donor = NextDonor(rt, -1); donor >= 0; donor = NextDonor(rt, donor))
        {
            ulong state = LockTwo(donor, rt);
            bool done = false;
            ulong held = 0;
            ref Pool d = ref _buddy._pools[donor];
            ref Pool r = ref _buddy._pools[rt];
            if (IsDonorFor(donor, rt) && r.Live != 0 && IsRealtime(rt) && r.PresentPages - r.BalloonedPages < r.Properties.MinimumPages &&
                d.PresentPages - d.BalloonedPages >= PageblockPages + d.Properties.MinimumPages)
            {
                ulong pb = FreePageblockFor(donor, rt);
                if (pb != FreeList.End)
                {
                    held = MoveSteps(pb, donor, rt);
                    done = true;
                }
            }
            UnlockTwo(donor, rt, state);
            NoteRealtimeHold(held);
            if (done)
                return true;
        }
        return false;
    }

    /// <summary>One free page block of realtime pool <paramref name="rt"/> (above its maximum) back to its home pool, when that pool is live and admits it.</summary>
    private bool ShrinkRealtimeStep(int rt)
    {
        int pbo = _buddy._pageblockOrder;
        for (int o = pbo; o <= _buddy._maxOrder; o++)
        {
            ulong b = _buddy.ListOf(rt, o, 0)->Head; // a snapshot: looked at again under the locks
            if (b == FreeList.End)
                continue;
            int home = _buddy._pageblocks[b >> pbo].Home;
            if (home == rt || (uint)home >= (uint)_poolCapacity)
                return false;
            ulong state = LockTwo(rt, home);
            bool done = false;
            ulong held = 0;
            ref Pool r = ref _buddy._pools[rt];
            ulong pb = FreePageblockFor(rt, home);
            if (pb != FreeList.End && r.Live != 0 && IsRealtime(rt) && _buddy._pageblocks[pb].Home == home && _buddy._pools[home].Live != 0 &&
                r.Properties.MaximumPages != 0 && r.PresentPages > r.Properties.MaximumPages &&
                r.PresentPages - r.BalloonedPages >= PageblockPages + r.Properties.MinimumPages)
            {
                held = MoveSteps(pb, rt, home);
                done = true;
            }
            UnlockTwo(rt, home, state);
            NoteRealtimeHold(held);
            return done;
        }
        return false;
    }

    /// <summary>
    /// Whether pool <paramref name="donor"/> gives page blocks to realtime pool <paramref name="rt"/>: live,
    /// another pool, neither reserved, DMA nor realtime, and of lower priority.
    /// </summary>
    private bool IsDonorFor(int donor, int rt)
    {
        ref Pool d = ref _buddy._pools[donor];
        return donor != rt && d.Live != 0 && (d.Properties.Flags & (PoolFlags.Reserved | PoolFlags.Dma | PoolFlags.Realtime)) == 0 &&
            d.Properties.Priority < _buddy._pools[rt].Properties.Priority;
    }

    /// <summary>The give order of a donor: elastic pools before default ones, then lowest priority first, then slot.</summary>
    private ulong GiveKey(int pool)
    {
        ref PoolProperties p = ref _buddy._pools[pool].Properties;
        ulong group = (p.Flags & PoolFlags.Elastic) != 0 ? 0UL : 1UL;
        return (group << 16) | ((ulong)p.Priority << 8) | (uint)pool;
    }

    /// <summary>The donor for <paramref name="rt"/> after <paramref name="after"/> (-1: the first) in give order (<see cref="GiveKey"/>), -1 when none. O(pool slots); a snapshot.</summary>
    private int NextDonor(int rt, int after)
    {
        ulong floor = after < 0 ? 0 : GiveKey(after) + 1;
        int best = -1;
        ulong bestKey = ulong.MaxValue;
        for (int p = 0; p < _poolLimit; p++)
        {
            if (!IsDonorFor(p, rt))
                continue;
            ulong key = GiveKey(p);
            if (key >= floor && key < bestKey)
            {
                best = p;
                bestKey = key;
            }
        }
        return best;
    }

    /// <summary>
    /// A wholly free page block of pool <paramref name="from"/> that pool <paramref name="to"/> admits, looking at
    /// no more than <see cref="FreePageblockProbes"/> blocks of each of <paramref name="from"/>'s lists of the
    /// page-block order and above (each block's page blocks in turn); End when none. Under both pools' locks.
    /// Bounded: (MaxOrder - PageblockOrder + 1) x probes x 2^(MaxOrder - PageblockOrder) page blocks at most.
    /// </summary>
    private ulong FreePageblockFor(int from, int to)
    {
        int pbo = _buddy._pageblockOrder;
        for (int o = pbo; o <= _buddy._maxOrder; o++)
        {
            FreeList* list = _buddy.ListOf(from, o, 0); // o >= PageblockOrder: the shared list
            int probes = 0;
            for (ulong b = list->Head; b != FreeList.End && probes < FreePageblockProbes; b = _buddy._nodes.Of(b)->NextIndex, probes++)
                for (ulong pb = b >> pbo; pb < (b + (1UL << o)) >> pbo; pb++)
                    if (Admits(to, pb))
                        return pb;
        }
        return FreeList.End;
    }

    /// <summary>
    /// <see cref="MovePageblock"/> of <paramref name="pb"/> from <paramref name="from"/> to <paramref name="to"/> (one of them
    /// realtime), under both pools' locks; returns the steps it held them, for <see cref="NoteRealtimeHold"/>: the
    /// page block's frames and the cached frames the two pools' caches gave back when they were sized again.
    /// </summary>
    private ulong MoveSteps(ulong pb, int from, int to)
    {
        ulong cached = _buddy.CachedCount(from) + _buddy.CachedCount(to);
        MovePageblock(pb, to);
        ulong after = _buddy.CachedCount(from) + _buddy.CachedCount(to);
        return PageblockPages + (cached > after ? cached - after : 0);
    }
}
