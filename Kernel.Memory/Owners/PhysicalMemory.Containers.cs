using System.Threading;

namespace PoolKernel.Memory;

/// <summary>
/// Containers (Owners/Container.cs): an owner number with a record. Created with a quota, a
/// guarantee pool carved from a default pool, and permissions written into the pools' owner masks
/// (the mechanism that already refuses an owner a pool: OwnerRefused); destroyed by freeing every
/// block the owner holds, sending the guarantee pool home and putting the masks back.
/// Lifecycle calls take the instance's locks themselves (owner masks change under every lock); the
/// counters take none. Destruction is safe with the container's allocations in flight on other CPUs
/// (<see cref="Container._inFlight"/>), not with a second lifecycle call at once (the caller serialises those).
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>Bytes of the container table <see cref="AttachContainers"/> takes: one <see cref="Container"/> per owner number.</summary>
    public static ulong ContainerTableBytes { get { return (ulong)FrameOwner.Count * (ulong)sizeof(Container); } }

    /// <summary>
    /// Gives the manager its container table (<see cref="ContainerTableBytes"/> bytes, zeroed here,
    /// owned by the caller for the manager's life) and names the supervisor, the one owner that may
    /// read every container's accounting (the kernel). Refused: a null or short table, a second
    /// table (InvalidArgument), a supervisor above 63.
    /// </summary>
    public MemoryStatus AttachContainers(void* table, ulong bytes, byte supervisor)
    {
        if (table == null || bytes < ContainerTableBytes || _containers != null || !FrameOwner.IsValid(supervisor))
            return MemoryStatus.InvalidArgument;
        byte* at = (byte*)table;
        for (ulong i = 0; i < ContainerTableBytes; i++)
            at[i] = 0;
        _containers = (Container*)table;
        _supervisor = supervisor;
        return MemoryStatus.Ok;
    }

    /// <summary>True when owner <paramref name="owner"/> is a live container.</summary>
    public bool IsContainer(byte owner)
    {
        return FrameOwner.IsValid(owner) && ((_accountedOwners >> owner) & 1) != 0;
    }

    /// <summary>The owner number of the live container named <paramref name="name"/>; false when there is none.</summary>
    public bool FindContainer(in PoolName name, out byte owner)
    {
        for (int o = 0; o < FrameOwner.Count; o++)
        {
            if (((_accountedOwners >> o) & 1) != 0 && _containers[o].Name.SameAs(name))
            {
                owner = (byte)o;
                return true;
            }
        }
        owner = FrameOwner.None;
        return false;
    }

    /// <summary>
    /// Makes owner <see cref="ContainerSpec.Owner"/> a container. The guarantee (rounded up to whole
    /// page blocks) becomes a pool of its own, carved from the default pool with the most free
    /// frames (no DMA, reserved or realtime pool gives it): its window and nodes, priority one above
    /// it (so pool choice tries it first for the container), owner and owner mask the container alone, minimum
    /// its size (moves never shrink it). A <see cref="ContainerSpec.Pools"/> other than
    /// <see cref="PoolSet.All"/> is written into the owner masks: the container's bit set in the
    /// listed pools, cleared in every other live pool. Refused, nothing changed: no table, an owner
    /// above 63 or the supervisor, an owner that is a container or holds a block (PagesInUse), a name
    /// in use, a quota of 0 or above 2^31 - 1, a rounded guarantee above the quota (InvalidArgument);
    /// the pool's own refusals (PoolTableFull, OutOfMemory: too few free page blocks).
    /// </summary>
    public MemoryStatus CreateContainer(in ContainerSpec spec)
    {
        if (_containers == null || !FrameOwner.IsValid(spec.Owner) || spec.Owner == _supervisor || IsContainer(spec.Owner) ||
            spec.Name.Length == 0 || FindContainer(spec.Name, out _))
            return MemoryStatus.InvalidArgument;
        if (spec.QuotaPages == 0 || spec.QuotaPages > ContainerSpec.MaxQuotaPages)
            return MemoryStatus.InvalidArgument;
        ulong blocks = (spec.GuaranteePages + PageblockPages - 1) >> _buddy._pageblockOrder;
        if (spec.GuaranteePages > spec.QuotaPages || blocks << _buddy._pageblockOrder > spec.QuotaPages)
            return MemoryStatus.InvalidArgument;
        if (HoldsAnyBlock(spec.Owner))
            return MemoryStatus.PagesInUse;
        PoolId guarantee = PoolId.None;
        if (blocks != 0)
        {
            MemoryStatus status = CarveGuarantee(spec, blocks, out guarantee);
            if (status != MemoryStatus.Ok)
                return status;
        }

        Container* c = _containers + spec.Owner;
        *c = default;
        c->Name = spec.Name;
        c->GuaranteePool = guarantee;
        c->QuotaPages = (int)spec.QuotaPages;
        c->GuaranteePages = (int)(blocks << _buddy._pageblockOrder);
        // Owner masks and the pool generation change under the table lock and the locks of every pool but the
        // realtime ones whose mask does not change (docs/realtime.md, "Administration"): a realtime pool's lock
        // is taken only when its own mask changes.
        ulong locks = LockForMasks(spec.Owner, spec.Pools, guarantee, out PoolSet skipped);
        if (!spec.Pools.IsAll)
        {
            ulong bit = 1UL << spec.Owner;
            for (int p = 0; p < _poolLimit; p++)
            {
                ref PoolProperties props = ref _buddy._pools[p].Properties;
                if (_buddy._pools[p].Live == 0 || p == guarantee.Value)
                    continue;
                bool allowed = props.AllowsOwner(spec.Owner);
                if (spec.Pools.Contains(p) && !allowed)
                {
                    props.OwnerMask |= bit;
                    c->_opened.Add(new PoolId((byte)p));
                    Modified(p);
                }
                else if (!spec.Pools.Contains(p) && allowed)
                {
                    props.OwnerMask &= ~bit;
                    c->_closed.Add(new PoolId((byte)p));
                    Modified(p);
                }
            }
        }
        c->Live = 1;
        _accountedOwners |= 1UL << spec.Owner;
        // From here the fast paths miss the owner: no pool admits it on them, and remembered pool choices (its plain
        // entries among them) are outdated with the masks (and a new pool).
        RefreshUnaccountedOwners();
        PoolTableChanged();
        UnlockAllBut(in skipped, locks);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Destroys container <paramref name="owner"/>: every block and run it holds is freed (through the
    /// accounted frees, so its counts fall to zero), its guarantee pool is destroyed (its page blocks
    /// go home), the owner masks its creation changed are put back, and the owner number is an
    /// ordinary owner again. Refused, nothing changed: not a container (NoSuchPool is not right for
    /// an owner, so InvalidArgument). Corruption when the held count is not zero after every block
    /// is freed (the counts disagree with the frames).
    /// </summary>
    public MemoryStatus DestroyContainer(byte owner)
    {
        if (_containers == null || !IsContainer(owner))
            return MemoryStatus.InvalidArgument;
        Container* c = _containers + owner;
        // Closed to new reservations first (a quota of 0 refuses every one; creation never gives 0),
        // then the allocations already past their reservation are waited for: after this no block of
        // the owner appears, and FreeEverything finds every one.
        int quota = Volatile.Read(ref c->QuotaPages);
        while (Interlocked.CompareExchange(ref c->QuotaPages, 0, quota) != quota)
            quota = Volatile.Read(ref c->QuotaPages);
        while (Volatile.Read(ref c->_inFlight) != 0)
        {
        }
        MemoryStatus status = FreeEverything(owner);
        if (status != MemoryStatus.Ok)
        {
            Volatile.Write(ref c->QuotaPages, quota);
            return status;
        }
        // No reservation is taken any more (quota 0) and frees take their pages off under the pool's lock; an
        // allocation that had reserved was waited for above, so this finds none: kept as the guard of the count check.
        while (Volatile.Read(ref c->_inFlight) != 0)
        {
        }
        if (Volatile.Read(ref c->_held) != 0)
            return MemoryStatus.Corruption;
        if (!c->GuaranteePool.IsNone)
        {
            status = DestroyPool(c->GuaranteePool);
            if (status != MemoryStatus.Ok)
                return status == MemoryStatus.PoolInUse ? MemoryStatus.Corruption : status;
        }
        ulong bit = 1UL << owner;
        // As at creation: the table lock, every pool's but the realtime ones', and the realtime pools whose mask
        // this puts back (the pools creation opened or closed).
        PoolSet realtime = default;
        for (int p = 0; p < _poolCapacity; p++)
            if (c->_closed.Contains(p) || c->_opened.Contains(p))
                realtime.Add(new PoolId((byte)p));
        ulong locks = LockAllButRealtimeAnd(in realtime, out PoolSet skipped);
        for (int p = 0; p < _poolLimit; p++)
        {
            if (_buddy._pools[p].Live == 0)
                continue;
            if (c->_closed.Contains(p))
                _buddy._pools[p].Properties.OwnerMask |= bit;
            if (c->_opened.Contains(p))
                _buddy._pools[p].Properties.OwnerMask &= ~bit;
            if (c->_closed.Contains(p) || c->_opened.Contains(p))
                Modified(p);
        }
        _accountedOwners &= ~bit;
        *c = default;
        RefreshUnaccountedOwners(); // the owner is an ordinary one again: the fast paths serve it
        PoolTableChanged();
        UnlockAllBut(in skipped, locks);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// A copy of container <paramref name="owner"/>'s record and counters, read by <paramref name="reader"/>:
    /// the container itself or the supervisor (isolation: no container reads another's accounting).
    /// Refused: not a container (InvalidArgument), another reader (NotOwner).
    /// </summary>
    public MemoryStatus GetContainerUsage(byte reader, byte owner, out ContainerUsage usage)
    {
        usage = default;
        if (_containers == null || !IsContainer(owner))
            return MemoryStatus.InvalidArgument;
        if (reader != owner && reader != _supervisor)
            return MemoryStatus.NotOwner;
        Container* c = _containers + owner;
        usage.Name = c->Name;
        usage.Owner = owner;
        usage.GuaranteePool = c->GuaranteePool;
        usage.QuotaPages = (ulong)c->QuotaPages;
        usage.GuaranteePages = (ulong)c->GuaranteePages;
        usage.HeldPages = (ulong)Volatile.Read(ref c->_held);
        usage.PeakPages = (ulong)Volatile.Read(ref c->_peak);
        ulong inGuarantee = c->GuaranteePool.IsNone ? 0 : (ulong)Volatile.Read(ref c->_heldInPool[c->GuaranteePool.Value]);
        usage.AboveGuaranteePages = usage.HeldPages > inGuarantee ? usage.HeldPages - inGuarantee : 0;
        usage.MovedUnderPressurePages = (ulong)Volatile.Read(ref c->_pressureMoved);
        usage.PressureNoRoomStops = (ulong)Volatile.Read(ref c->_pressureNoRoomStops);
        for (int i = 0; i < ContainerFailures.Count; i++)
            usage.Failures[i] = (ulong)Volatile.Read(ref c->_failures[i]);
        return MemoryStatus.Ok;
    }

    /// <summary>Pages container <paramref name="owner"/> holds in <paramref name="pool"/> (or on node <paramref name="pool"/> with <paramref name="byNode"/>), read by it or the supervisor; refused as <see cref="GetContainerUsage"/>.</summary>
    public MemoryStatus GetContainerHeld(byte reader, byte owner, int index, bool byNode, out ulong pages)
    {
        pages = 0;
        if (_containers == null || !IsContainer(owner))
            return MemoryStatus.InvalidArgument;
        if (reader != owner && reader != _supervisor)
            return MemoryStatus.NotOwner;
        if ((uint)index >= (uint)(byNode ? NodeDistances.MaxNodes : PoolId.MaxIds))
            return MemoryStatus.InvalidArgument;
        Container* c = _containers + owner;
        pages = (ulong)Volatile.Read(ref byNode ? ref c->_heldOnNode[index] : ref c->_heldInPool[index]);
        return MemoryStatus.Ok;
    }

    /// <summary>Installs (or, with a null function, removes) container <paramref name="owner"/>'s reclaim hook. Refused: not a container.</summary>
    public MemoryStatus SetReclaimHook(byte owner, in ReclaimHook hook)
    {
        if (_containers == null || !IsContainer(owner))
            return MemoryStatus.InvalidArgument;
        _containers[owner]._reclaim = hook;
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Pressure: <paramref name="pool"/> ran short and wants <paramref name="pages"/> back, or, with
    /// <see cref="PoolId.None"/>, an allocation that may take any pool failed (the kernel's out-of-memory
    /// path: docs/containers.md "Pressure"). Memory a container holds outside its guarantee pool is above
    /// its guarantee, and that is what is taken first: containers with a hook are asked one at a time,
    /// the one holding most (in the pool; for None, above its guarantee over all pools) first, each for
    /// at most that much, until enough is freed or none is left. A container's guarantee pool is never a
    /// victim (the guarantee is never broken): a call for it asks no one, and a hook asked with None
    /// frees only outside its guarantee pool. Returns the pages the hooks say they freed. Must be called
    /// without the pools lock: the hooks free through the ordinary frees, which take it.
    /// </summary>
    public ulong ReclaimAboveGuarantees(PoolId pool, ulong pages)
    {
        if (_containers == null || (!pool.IsNone && pool.Value >= PoolId.MaxIds))
            return 0;
        ulong freed = 0;
        ulong asked = 0;
        while (freed < pages)
        {
            int victim = -1;
            int most = 0;
            for (int o = 0; o < FrameOwner.Count; o++)
            {
                Container* c = _containers + o;
                if (((_accountedOwners >> o) & 1) == 0 || ((asked >> o) & 1) != 0 || c->_reclaim.Function == null || (!pool.IsNone && c->GuaranteePool == pool))
                    continue;
                int held = pool.IsNone ? AboveGuarantee(c) : Volatile.Read(ref c->_heldInPool[pool.Value]);
                if (held > most)
                {
                    most = held;
                    victim = o;
                }
            }
            if (victim < 0)
                break;
            asked |= 1UL << victim;
            ulong want = pages - freed < (ulong)most ? pages - freed : (ulong)most;
            ReclaimHook hook = _containers[victim]._reclaim;
            freed += hook.Function(hook.Context, (byte)victim, pool, want);
        }
        return freed;
    }

    /// <summary>Pages container <paramref name="c"/> holds outside its guarantee pool (a racy read of two counters; 0 when they cross).</summary>
    private static int AboveGuarantee(Container* c)
    {
        int held = Volatile.Read(ref c->_held);
        int inGuarantee = c->GuaranteePool.IsNone ? 0 : Volatile.Read(ref c->_heldInPool[c->GuaranteePool.Value]);
        return held > inGuarantee ? held - inGuarantee : 0;
    }

    /// <summary>Whether any frame's owner byte names <paramref name="owner"/>, in either form (the head of an allocated block or run). O(span).</summary>
    private bool HoldsAnyBlock(byte owner)
    {
        for (ulong i = 0; i < _buddy._spanPages; i++)
            if (FrameOwner.OwnerOf(_buddy._owners[i]) == owner)
                return true;
        return false;
    }

    /// <summary>
    /// Frees every block and run whose head names <paramref name="owner"/>, through the accounted frees, while the
    /// owner's own CPUs may still be freeing its blocks (its allocations have ended: the caller closed its quota and
    /// waited them out). The scan reads each head without a lock, so a block the owner is freeing at the same moment
    /// is skipped when its head reads claimed (cached: that free is inside its pool's locked section), and a refusal
    /// is Corruption only when the head still reads as it did: otherwise that free came first. Then the lock of every
    /// pool where the scan found a head of the owner's is taken and let go once, one at a time: a free of the owner's
    /// that was under way ends in its pool's locked section, where it takes its pages off the counts
    /// (<see cref="TakeOffContainerLocked"/>), before the head stops naming the owner, so the scan saw its head and
    /// afterwards the counts hold every free. Other pools' locks, a realtime pool's the owner holds nothing in
    /// included, are not taken (docs/realtime.md, "Administration"); each section taken is empty.
    /// </summary>
    private MemoryStatus FreeEverything(byte owner)
    {
        PoolSet seen = default;
        for (ulong i = 0; i < _buddy._spanPages; i++)
        {
            byte recorded = _buddy._owners[i];
            if (FrameOwner.OwnerOf(recorded) != owner)
                continue;
            seen.Add(new PoolId((byte)_buddy.PoolOfFrame(i)));
            byte state = _buddy._frames[i];
            FrameKind kind = FrameState.KindOf(state);
            if (kind != FrameKind.Allocated && kind != FrameKind.RunFirst)
                continue; // claimed by the owner's own free, under way
            MemoryStatus status;
            if (kind == FrameKind.RunFirst)
                status = FreeRun(new Pfn(_basePfn + i), RunLength(i), owner);
            else
                status = Free(new Pfn(_basePfn + i), new Order(FrameState.OrderOf(state)), owner);
            if (status != MemoryStatus.Ok && _buddy._frames[i] == state && _buddy._owners[i] == recorded)
                return MemoryStatus.Corruption;
        }
        for (int p = 0; p < _poolLimit; p++)
        {
            if (!seen.Contains(p))
                continue;
            ulong state = LockPool(p);
            UnlockPool(p, state);
        }
        return MemoryStatus.Ok;
    }

    /// <summary>Frames of the run whose first piece is at <paramref name="first"/>: that piece and every RunNext piece after it.</summary>
    private ulong RunLength(ulong first)
    {
        ulong at = first + (1UL << FrameState.OrderOf(_buddy._frames[first]));
        while (at < _buddy._spanPages && FrameState.KindOf(_buddy._frames[at]) == FrameKind.RunNext)
            at += 1UL << FrameState.OrderOf(_buddy._frames[at]);
        return at - first;
    }

    /// <summary>Creates the container's guarantee pool of <paramref name="blocks"/> page blocks from the best donor (see <see cref="CreateContainer"/>).</summary>
    private MemoryStatus CarveGuarantee(in ContainerSpec spec, ulong blocks, out PoolId id)
    {
        id = PoolId.None;
        int donor = -1;
        ulong most = 0;
        for (int p = 0; p < _poolLimit; p++)
        {
            ref Pool pool = ref _buddy._pools[p];
            if (pool.Live == 0 || (pool.Properties.Flags & (PoolFlags.Dma | PoolFlags.Reserved | PoolFlags.Realtime)) != 0)
                continue;
            ulong free = pool.FreePages + _buddy.CachedCount(p);
            if (donor < 0 || free > most)
            {
                donor = p;
                most = free;
            }
        }
        if (donor < 0)
            return MemoryStatus.NoPoolSatisfies;
        ref PoolProperties from = ref _buddy._pools[donor].Properties;
        PoolProperties props = PoolProperties.Open("");
        props.Name = spec.Name;
        props.WindowLow = from.WindowLow;
        props.WindowHigh = from.WindowHigh;
        props.NodeMask = from.NodeMask;
        props.Priority = from.Priority == 255 ? (byte)255 : (byte)(from.Priority + 1);
        props.Owner = spec.Owner;
        props.OwnerMask = 1UL << spec.Owner;
        props.MinimumPages = blocks << _buddy._pageblockOrder;
        return CreatePool(props, new PoolId((byte)donor), blocks, out id);
    }

    /// <summary>
    /// For <see cref="CreateContainer"/>: the table lock and every pool's locks but those of the realtime pools
    /// whose owner mask the container's <paramref name="pools"/> leaves as it is; the slots whose locks were
    /// left out are returned in <paramref name="skipped"/> (to unlock with, <see cref="UnlockAllBut"/>). Which realtime masks change is read without
    /// their locks and checked again under the table lock (masks change only under it): a pool found to need a
    /// change that was not taken (created meanwhile) has the locks taken again with it, at most once a pool slot.
    /// </summary>
    private ulong LockForMasks(byte owner, in PoolSet pools, PoolId guarantee, out PoolSet skipped)
    {
        PoolSet realtime = default;
        while (true)
        {
            if (!pools.IsAll)
                for (int p = 0; p < _poolCapacity; p++)
                    if (_buddy._pools[p].Live != 0 && p != guarantee.Value && IsRealtime(p) &&
                        pools.Contains(p) != _buddy._pools[p].Properties.AllowsOwner(owner))
                        realtime.Add(new PoolId((byte)p));
            ulong state = LockAllButRealtimeAnd(in realtime, out skipped);
            if (RealtimeMasksTaken(owner, pools, guarantee, in realtime))
                return state;
            UnlockAllBut(in skipped, state);
        }
    }

    /// <summary>True when every live realtime pool whose mask <see cref="CreateContainer"/> changes is in <paramref name="realtime"/> (under the table lock).</summary>
    private bool RealtimeMasksTaken(byte owner, in PoolSet pools, PoolId guarantee, in PoolSet realtime)
    {
        if (pools.IsAll)
            return true;
        for (int p = 0; p < _poolCapacity; p++)
            if (_buddy._pools[p].Live != 0 && p != guarantee.Value && IsRealtime(p) &&
                pools.Contains(p) != _buddy._pools[p].Properties.AllowsOwner(owner) && !realtime.Contains(p))
                return false;
        return true;
    }
}
