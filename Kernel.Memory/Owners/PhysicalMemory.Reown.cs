using System.Threading;

namespace PoolKernel.Memory;

/// <summary>
/// Re-owning (docs/containers.md, "Adoption on destroy"): an allocated block or run passes from one owner to
/// another without being freed, its owner byte rewritten and both owners' accounting adjusted. The kernel uses it
/// to adopt a container's surviving heap objects into the kernel's heap when the container is destroyed.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// Moves the allocated block or run whose head is <paramref name="head"/> from owner <paramref name="from"/> to
    /// owner <paramref name="to"/>: its head records <paramref name="to"/> (the accounted form when it is a live
    /// container); a container <paramref name="from"/> loses the pages from its held, per-pool and per-node counts (its
    /// peak stays); a container <paramref name="to"/> gains them, reserved on its held count against its quota first
    /// (as an allocation's reservation), its peak raised. The frames, their pool and their node do not change.
    /// <para>Refused, nothing changed (see <see cref="CheckReown"/>): InvalidArgument (an owner above 63, the same
    /// owner twice, a head outside the span); NotAllocated (the frame is not the head of an allocated block or run);
    /// NotOwner (its head does not record <paramref name="from"/>); OwnerRefused (the block's pool does not admit
    /// <paramref name="to"/>: the permissions an allocation by <paramref name="to"/> there would need, so a block in
    /// a container's guarantee pool never leaves it); QuotaExceeded (<paramref name="to"/> is a container and the
    /// pages would take it past its quota, or it is being destroyed; not counted in its allocation failures: a re-own is not an allocation).
    /// The rules are the same for every target: the kernel heap's owner is not a container, so only the permissions
    /// apply to it.</para>
    /// <para>Locks: the block's pool with its CPU caches frozen (<see cref="LockPoolWithCaches"/>), so no free of
    /// the block can be half done while its byte changes, and a checker holding the pool's lock sees the byte and
    /// the counts change together. The caller is the block's holder (no free of it of its own under way).</para>
    /// </summary>
    public MemoryStatus Reown(Pfn head, byte from, byte to)
    {
        MemoryStatus status = ReownArguments(head, from, to, out ulong index);
        if (status != MemoryStatus.Ok)
            return status;
        int pool = _buddy.PoolOfFrame(index);
        Container* cFrom = IsAccountedOwner(from) ? _containers + from : null;
        Container* cTo = IsAccountedOwner(to) ? _containers + to : null;
        if (cFrom != null)
            AtomicCount.Add(&cFrom->_inFlight, 1);
        if (cTo != null)
            AtomicCount.Add(&cTo->_inFlight, 1);
        ulong state = LockPoolWithCaches(pool);
        status = ReownCheckLocked(index, from, to, pool, out ulong pages);
        if (status == MemoryStatus.Ok && cTo != null &&
            (pages > ContainerSpec.MaxQuotaPages || !AtomicCount.TryReserve(&cTo->_held, (int)pages, Volatile.Read(ref cTo->QuotaPages))))
            status = MemoryStatus.QuotaExceeded;
        if (status == MemoryStatus.Ok)
        {
            if (cFrom != null)
                Commit(cFrom, pool, index, pages, -1);
            _buddy._owners[index] = RecordedOwner(to);
            if (cTo != null)
                Commit(cTo, pool, index, pages, 1);
            Modified(pool);
        }
        UnlockPoolWithCaches(pool, state);
        if (cTo != null)
            AtomicCount.Add(&cTo->_inFlight, -1);
        if (cFrom != null)
            AtomicCount.Add(&cFrom->_inFlight, -1);
        return status;
    }

    /// <summary>
    /// What <see cref="Reown"/> would answer now, changing nothing: every refusal but a quota's is read exactly; for
    /// a container <paramref name="to"/> the quota is read as held + pages &lt;= quota (a racy read: the reservation
    /// decides). <paramref name="pages"/>: the block's or run's pages when Ok. Reads under the block's pool's lock.
    /// </summary>
    public MemoryStatus CheckReown(Pfn head, byte from, byte to, out ulong pages)
    {
        pages = 0;
        MemoryStatus status = ReownArguments(head, from, to, out ulong index);
        if (status != MemoryStatus.Ok)
            return status;
        int pool = _buddy.PoolOfFrame(index);
        ulong state = LockPool(pool);
        status = ReownCheckLocked(index, from, to, pool, out pages);
        UnlockPool(pool, state);
        if (status == MemoryStatus.Ok && IsAccountedOwner(to))
        {
            Container* c = _containers + to;
            if ((ulong)Volatile.Read(ref c->_held) + pages > (ulong)Volatile.Read(ref c->QuotaPages))
                status = MemoryStatus.QuotaExceeded;
        }
        return status;
    }

    /// <summary><see cref="Reown"/>'s argument checks; the head's span index in <paramref name="index"/>.</summary>
    private MemoryStatus ReownArguments(Pfn head, byte from, byte to, out ulong index)
    {
        index = head.Value - _basePfn;
        if (!FrameOwner.IsValid(from) || !FrameOwner.IsValid(to) || from == to || head.Value < _basePfn || index >= _buddy._spanPages)
            return MemoryStatus.InvalidArgument;
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// <see cref="Reown"/>'s checks of the head at <paramref name="index"/> in <paramref name="pool"/> (its lock held):
    /// allocated (a block or a run's first piece), recording <paramref name="from"/>, in a pool admitting
    /// <paramref name="to"/>. The pages of the block or run in <paramref name="pages"/>.
    /// </summary>
    private MemoryStatus ReownCheckLocked(ulong index, byte from, byte to, int pool, out ulong pages)
    {
        pages = 0;
        byte state = _buddy._frames[index];
        FrameKind kind = FrameState.KindOf(state);
        if (kind != FrameKind.Allocated && kind != FrameKind.RunFirst)
            return MemoryStatus.NotAllocated;
        if (!FrameOwner.Frees(_buddy._owners[index], ExpectedOwner(from)))
            return MemoryStatus.NotOwner;
        if (_buddy._pools[pool].Live == 0 || !_buddy._pools[pool].Properties.AllowsOwner(to))
            return MemoryStatus.OwnerRefused;
        pages = kind == FrameKind.RunFirst ? RunLength(index) : 1UL << FrameState.OrderOf(state);
        return MemoryStatus.Ok;
    }
}
