using System.Threading;

namespace PoolKernel.Memory;

/// <summary>What <see cref="PhysicalMemory.MoveAboveGuarantees"/> did, in pages.</summary>
public struct PressureMoves
{
    /// <summary>Pages migrated out of the short pool (each block copied, remapped by its owner's mover, freed there).</summary>
    public ulong PagesMoved;
    public ulong BlocksMoved;
    /// <summary>Pages of the block the walk stopped at: no other pool the container may use had room for it (it stayed).</summary>
    public ulong NoRoom;
    /// <summary>Pages of blocks the owner's mover declined or would not move (pinned, or not its mapping): they stayed.</summary>
    public ulong Declined;
    /// <summary>The container the walk stopped at for lack of room, or FrameOwner.None.</summary>
    public byte NoRoomOwner;
}

/// <summary>
/// The movable step of pressure (docs/containers.md "Pressure"): after the reclaim hooks, a short pool
/// gets back what containers hold in it above their guarantees by <b>migration</b>: each movable block
/// a container holds there is copied to another pool the container may use, its mapping rewritten by
/// the owner's <see cref="FrameMover"/> (the mover compaction uses), and freed in the short pool. The
/// container's pages stay its pages (held, quota and peak unchanged); only its per-pool and per-node
/// counts follow the block.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// Migrates up to <paramref name="pages"/> pages of containers' movable blocks out of the short pool
    /// <paramref name="pool"/>. Victims: live containers with a mover registered for their owner number,
    /// whose guarantee pool is not <paramref name="pool"/> (a guarantee is never broken: a container's
    /// guarantee pool is never a source), the one holding most in the pool first (ties: the lower owner
    /// number). Each victim's blocks are taken in ascending frame order; each goes to the first pool in slot
    /// order that is not <paramref name="pool"/>, live, neither reserved nor realtime, admits the owner and
    /// the movable class, and has a block of the order (the target is taken as the allocator takes one:
    /// that pool is "not short" for it). A block the mover declines stays (<see cref="PressureMoves.Declined"/>);
    /// the first block no pool has room for ends the call (<see cref="PressureMoves.NoRoom"/>: nothing else
    /// could move either, the targets being the same). A container being destroyed (quota closed) is passed over.
    /// Refused, nothing changed: no container table or 0 pages (InvalidArgument), a pool that is not live
    /// (NoSuchPool), a realtime pool (RealtimeProtected: pressure never takes a realtime pool's memory, and
    /// this call does not take its lock). Takes every lock but the realtime pools' (as compaction does) for
    /// the whole walk; the movers run under it and must not call into the instance.
    /// </summary>
    public MemoryStatus MoveAboveGuarantees(PoolId pool, ulong pages, out PressureMoves moves)
    {
        moves = default;
        moves.NoRoomOwner = FrameOwner.None;
        if (_containers == null || pages == 0)
            return MemoryStatus.InvalidArgument;
        if (!IsLive(pool))
            return MemoryStatus.NoSuchPool;
        if (IsRealtime(pool.Value))
            return MemoryStatus.RealtimeProtected;
        ulong state = LockAllButRealtime();
        ulong asked = 0;
        while (IsLive(pool) && moves.PagesMoved < pages && moves.NoRoom == 0)
        {
            int victim = PressureVictim(pool.Value, asked);
            if (victim < 0)
                break;
            asked |= 1UL << victim;
            Container* c = _containers + victim;
            // In flight like an accounted allocation: a destruction that closed the quota before this either
            // is seen here (quota 0: passed over) or waits for this to end before it frees the owner's blocks.
            AtomicCount.Add(&c->_inFlight, 1);
            if (Volatile.Read(ref c->QuotaPages) != 0)
                MoveOwnerOutLocked(pool.Value, (byte)victim, pages, ref moves);
            AtomicCount.Add(&c->_inFlight, -1);
        }
        UnlockAllButRealtime(state);
        return MemoryStatus.Ok;
    }

    /// <summary>The next container to migrate out of <paramref name="pool"/> (see <see cref="MoveAboveGuarantees"/>), not in <paramref name="asked"/>; -1 when none holds anything there.</summary>
    private int PressureVictim(int pool, ulong asked)
    {
        int victim = -1;
        int most = 0;
        for (int o = 0; o < FrameOwner.Count; o++)
        {
            Container* c = _containers + o;
            if (((_accountedOwners >> o) & 1) == 0 || ((asked >> o) & 1) != 0 || c->GuaranteePool.Value == pool || !_movers[o].IsRegistered)
                continue;
            int held = Volatile.Read(ref c->_heldInPool[pool]);
            if (held > most)
            {
                most = held;
                victim = o;
            }
        }
        return victim;
    }

    /// <summary>
    /// Walks <paramref name="pool"/>'s page blocks in frame order and migrates <paramref name="owner"/>'s
    /// blocks out until <paramref name="moves"/> reaches <paramref name="pages"/> or a block finds no room.
    /// Under every non-realtime lock.
    /// </summary>
    private void MoveOwnerOutLocked(int pool, byte owner, ulong pages, ref PressureMoves moves)
    {
        ref BuddyAllocator b = ref _buddy;
        int pbo = b._pageblockOrder;
        FrameMover mover = _movers[owner];
        Container* c = _containers + owner;
        int cpu = CurrentCpu();
        for (ulong p = 0; p < b._spanPages && moves.PagesMoved < pages; )
        {
            if (b.PoolOfFrame(p) != pool)
            {
                p = ((p >> pbo) + 1) << pbo;
                continue;
            }
            if (!b.AllocatedHeadAt(p, out int order, out ulong step))
            {
                p += step;
                continue;
            }
            ulong size = 1UL << order;
            if (FrameOwner.OwnerOf(b._owners[p]) != owner)
            {
                p += size;
                continue;
            }
            Pfn from = new Pfn(_basePfn + p);
            if (!mover.CanMove(mover.Context, from, order))
            {
                moves.Declined += size;
                p += size;
                continue;
            }
            int toPool = TakePressureTargetLocked(pool, owner, order, cpu, out Pfn to);
            if (toPool < 0)
            {
                moves.NoRoom += size;
                moves.NoRoomOwner = owner;
                AtomicCount.Add(&c->_pressureNoRoomStops, 1);
                return;
            }
            ulong target = to.Value - _basePfn;
            if (!mover.Move(mover.Context, from, to, order))
            {
                b._owners[target] = FrameOwner.None;
                b.AddHeld(target, size, -1);
                b.FreeMerging(toPool, target, order);
                moves.Declined += size;
                p += size;
                continue;
            }
            b._owners[p] = FrameOwner.None;
            b.AddHeld(p, size, -1);
            b.FreeMerging(pool, p, order);
            AtomicCount.Add(&c->_heldInPool[pool], -(int)size);
            AtomicCount.Add(&c->_heldInPool[toPool], (int)size);
            AddOnNodes(c, p, size, -1);
            AddOnNodes(c, target, size, 1);
            AtomicCount.Add(&c->_pressureMoved, (int)size);
            moves.PagesMoved += size;
            moves.BlocksMoved++;
            p += size;
        }
    }

    /// <summary>
    /// A block of <paramref name="order"/> for <paramref name="owner"/>'s migrated block, marked allocated to it
    /// and counted in its page block: from the first qualifying pool in slot order (see <see cref="MoveAboveGuarantees"/>).
    /// The pool's slot, or -1 when none has room. Under every non-realtime lock.
    /// </summary>
    private int TakePressureTargetLocked(int shortPool, byte owner, int order, int cpu, out Pfn to)
    {
        to = Pfn.None;
        for (int t = 0; t < _poolLimit; t++)
        {
            ref Pool target = ref _buddy._pools[t];
            if (t == shortPool || target.Live == 0 || (target.Properties.Flags & (PoolFlags.Reserved | PoolFlags.Realtime)) != 0 ||
                !target.Properties.AllowsOwner(owner) || !target.Properties.Accepts(MobilityClass.Movable))
                continue;
            if (AllocateInPoolLocked(t, order, DmaRules.None, owner, MobilityClass.Movable, cpu, out to) == MemoryStatus.Ok)
                return t;
        }
        to = Pfn.None;
        return -1;
    }
}
