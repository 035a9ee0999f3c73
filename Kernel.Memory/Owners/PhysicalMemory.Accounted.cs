using System.Runtime.CompilerServices;
using System.Threading;

namespace PoolKernel.Memory;

/// <summary>
/// The public allocation and free entries: each asks whether the owner is a container (one bit of
/// <see cref="_accountedOwners"/>) and, for an owner that is not, goes straight to the unaccounted
/// path (Allocation/*.cs), so owners without a record pay one load, shift and branch. A container's
/// allocation reserves its pages on the container's held count first (an atomic
/// compare-and-swap that never passes the quota, <see cref="AtomicCount.TryReserve"/>), then asks
/// the pools, then commits the pages to the per-pool and per-node counts, or gives the reservation
/// back when the pools refused. No step takes a lock, so the quota holds whatever lock (one for all
/// pools, one per pool) the caller serialises the pools with, with every CPU allocating for the same
/// container at once.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// Allocates a block of 2^order frames as <see cref="AllocRequest.Owner"/> (the unaccounted path's
    /// contract, <see cref="AllocateUnaccounted"/>). For a container, also: QuotaExceeded when the
    /// block would take it above its quota (nothing changed but its failure count), and every failure
    /// counted by cause (<see cref="ContainerFailure"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public MemoryStatus Allocate(Order order, in AllocRequest request, out Pfn pfn)
    {
        if (((_accountedOwners >> request.Owner) & 1) == 0)
            return AllocateUnaccounted(order, request, out pfn);
        return AllocateAccounted(order, request, out pfn);
    }

    /// <summary>Frees a block (<see cref="FreeUnaccounted"/>'s contract); a container's pages are taken off its counts when the free succeeds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public MemoryStatus Free(Pfn pfn, Order order, byte owner)
    {
        if (((_accountedOwners >> owner) & 1) == 0)
            return FreeUnaccounted(pfn, order, owner);
        return FreeAccounted(pfn, order, owner);
    }

    /// <summary>Allocates a run of pages (<see cref="AllocateRunUnaccounted"/>'s contract), accounted and limited like <see cref="Allocate"/>.</summary>
    public MemoryStatus AllocateRun(ulong pages, in AllocRequest request, out Pfn first)
    {
        if (((_accountedOwners >> request.Owner) & 1) == 0 || !FrameOwner.IsValid(request.Owner) || pages == 0)
            return AllocateRunUnaccounted(pages, request, out first);
        Container* c = _containers + request.Owner;
        AtomicCount.Add(&c->_inFlight, 1);
        if (pages > ContainerSpec.MaxQuotaPages || !AtomicCount.TryReserve(&c->_held, (int)pages, Volatile.Read(ref c->QuotaPages)))
        {
            AtomicCount.Add(&c->_failures[(int)ContainerFailure.Quota], 1);
            AtomicCount.Add(&c->_inFlight, -1);
            first = Pfn.None;
            return MemoryStatus.QuotaExceeded;
        }
        MemoryStatus status = AllocateRunUnaccounted(pages, request, out first);
        if (status != MemoryStatus.Ok)
            Unreserve(c, (int)pages, status);
        else
            Commit(c, _buddy.PoolOfFrame(first.Value - _basePfn), first.Value - _basePfn, pages, 1);
        AtomicCount.Add(&c->_inFlight, -1);
        return status;
    }

    /// <summary>Frees a run (<see cref="FreeRunUnaccounted"/>'s contract); a container's pages are taken off its counts when the free succeeds.</summary>
    public MemoryStatus FreeRun(Pfn first, ulong pages, byte owner)
    {
        if (((_accountedOwners >> owner) & 1) == 0 || !FrameOwner.IsValid(owner))
            return FreeRunUnaccounted(first, pages, owner);
        Container* c = _containers + owner;
        AtomicCount.Add(&c->_inFlight, 1);
        int pool = PoolBeforeFree(first);
        MemoryStatus status = FreeRunUnaccounted(first, pages, owner);
        if (status == MemoryStatus.Ok)
            Commit(c, pool, first.Value - _basePfn, pages, -1);
        AtomicCount.Add(&c->_inFlight, -1);
        return status;
    }

    /// <summary>
    /// A container's block: reserve, allocate, commit (or give the reservation back). An owner above
    /// 63 (its shift wrapped onto a container's bit) or a bad order is left to the unaccounted path,
    /// which refuses it as it always has.
    /// </summary>
    private MemoryStatus AllocateAccounted(Order order, in AllocRequest request, out Pfn pfn)
    {
        if (!FrameOwner.IsValid(request.Owner) || (uint)order.Value > (uint)_buddy._maxOrder)
            return AllocateUnaccounted(order, request, out pfn);
        Container* c = _containers + request.Owner;
        int pages = 1 << order.Value;
        AtomicCount.Add(&c->_inFlight, 1);
        if (!AtomicCount.TryReserve(&c->_held, pages, Volatile.Read(ref c->QuotaPages)))
        {
            AtomicCount.Add(&c->_failures[(int)ContainerFailure.Quota], 1);
            AtomicCount.Add(&c->_inFlight, -1);
            pfn = Pfn.None;
            return MemoryStatus.QuotaExceeded;
        }
        MemoryStatus status = AllocateUnaccounted(order, request, out pfn);
        if (status != MemoryStatus.Ok)
            Unreserve(c, pages, status);
        else
            Commit(c, _buddy.PoolOfFrame(pfn.Value - _basePfn), pfn.Value - _basePfn, (ulong)pages, 1);
        AtomicCount.Add(&c->_inFlight, -1);
        return status;
    }

    private MemoryStatus FreeAccounted(Pfn pfn, Order order, byte owner)
    {
        if (!FrameOwner.IsValid(owner))
            return FreeUnaccounted(pfn, order, owner);
        Container* c = _containers + owner;
        AtomicCount.Add(&c->_inFlight, 1);
        int pool = PoolBeforeFree(pfn);
        MemoryStatus status = FreeUnaccounted(pfn, order, owner);
        if (status == MemoryStatus.Ok)
            Commit(c, pool, pfn.Value - _basePfn, 1UL << order.Value, -1);
        AtomicCount.Add(&c->_inFlight, -1);
        return status;
    }

    /// <summary>
    /// The pool of the block a free names, read before the free: once freed, its page block may move
    /// to another pool (on another CPU, under another pool's lock) before the counts are taken off.
    /// Any value for a frame outside the span: the free refuses it and the value is not used.
    /// </summary>
    private int PoolBeforeFree(Pfn pfn)
    {
        ulong index = pfn.Value - _basePfn;
        return index < _buddy._spanPages ? _buddy.PoolOfFrame(index) : 0;
    }

    /// <summary>The pools refused a reserved allocation: the reservation goes back and the failure is counted by cause.</summary>
    private static void Unreserve(Container* c, int pages, MemoryStatus status)
    {
        AtomicCount.Add(&c->_held, -pages);
        AtomicCount.Add(&c->_failures[(int)ContainerFailures.Of(status)], 1);
    }

    /// <summary>
    /// <paramref name="sign"/> = 1: the reserved pages [index, index + pages) became the container's,
    /// counted in their <paramref name="pool"/> and, page block by page block, on their nodes; the peak follows.
    /// <paramref name="sign"/> = -1: they were freed; the held count drops with the others. A page
    /// block's node never changes; its pool is read while the block is allocated (allocated blocks'
    /// page blocks do not move: <see cref="PoolBeforeFree"/>), so a free counts off the pool the allocation counted in.
    /// </summary>
    private void Commit(Container* c, int pool, ulong index, ulong pages, int sign)
    {
        AtomicCount.Add(&c->_heldInPool[pool], sign * (int)pages);
        AddOnNodes(c, index, pages, sign);
        if (sign > 0)
            AtomicCount.RaiseTo(&c->_peak, System.Threading.Volatile.Read(ref c->_held));
        else
            AtomicCount.Add(&c->_held, -(int)pages);
    }

    /// <summary><paramref name="sign"/> x the pages [index, index + pages) on their nodes' counts, page block by page block (a page block's node never changes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddOnNodes(Container* c, ulong index, ulong pages, int sign)
    {
        int pbo = _buddy._pageblockOrder;
        for (ulong at = index, end = index + pages; at < end; )
        {
            ulong next = ((at >> pbo) + 1) << pbo;
            if (next > end)
                next = end;
            AtomicCount.Add(&c->_heldOnNode[_buddy._pageblocks[at >> pbo].Node], sign * (int)(next - at));
            at = next;
        }
    }
}
