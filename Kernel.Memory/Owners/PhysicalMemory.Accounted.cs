using System.Runtime.CompilerServices;
using System.Threading;

namespace PoolKernel.Memory;

/// <summary>
/// The public allocation and free entries, and how a container's calls are accounted without a test on the
/// fast paths (docs/containers.md, "What accounting costs"). The entries are the fast paths themselves
/// (Allocation/*.cs), which serve only owners that are not containers, because every check they already make
/// misses a container:
/// <list type="bullet">
/// <item>a named pool admits on its <see cref="Pool.UnaccountedOwners"/>, the owner mask less the containers;</item>
/// <item>a remembered pool choice is looked up by a shape whose owner byte is plain, while a container's entries
/// are written with the accounted form (<see cref="AccountedShape"/>) and creating or destroying a container bumps
/// the pool generation, which outdates every entry written before;</item>
/// <item>a container's blocks and runs record its owner in the accounted form (<see cref="FrameOwner.Accounted"/>),
/// which the frees' owner compare never matches on a fast path (<see cref="FrameOwner.Frees"/>).</item>
/// </list>
/// So a container's call always reaches a slow path, and the slow paths account it:
/// an allocation's miss goes to <see cref="AllocateMissed"/> (or <see cref="AllocateBypassingCache"/> when nested),
/// which for a container reserves its pages on the held count first (an atomic compare-and-swap that never passes
/// the quota, <see cref="AtomicCount.TryReserve"/>), then asks the pools, then commits the pages to the per-pool and
/// per-node counts, or gives the reservation back when the pools refused; a free that frees an accounted head takes
/// its pages off the container's counts under the pool's lock it frees under (<see cref="TakeOffContainerLocked"/>).
/// The quota holds with every CPU allocating for the same container at once: no step but the reservation decides it.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// Allocates a block of 2^order frames as <see cref="AllocRequest.Owner"/> (the contract of
    /// <see cref="AllocateUnaccounted"/>, which is this entry's body). For a container, also: QuotaExceeded when the
    /// block would take it above its quota (nothing changed but its failure count), and every failure
    /// counted by cause (<see cref="ContainerFailure"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public MemoryStatus Allocate(Order order, in AllocRequest request, out Pfn pfn)
    {
        return AllocateUnaccounted(order, request, out pfn);
    }

    /// <summary>Frees a block (the contract of <see cref="FreeUnaccounted"/>, this entry's body); a container's pages are taken off its counts when the free succeeds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public MemoryStatus Free(Pfn pfn, Order order, byte owner)
    {
        return FreeUnaccounted(pfn, order, owner);
    }

    /// <summary>Allocates a run of pages (<see cref="AllocateRunUnaccounted"/>'s contract), accounted and limited like <see cref="Allocate"/>.</summary>
    public MemoryStatus AllocateRun(ulong pages, in AllocRequest request, out Pfn first)
    {
        if (!IsAccountedOwner(request.Owner) || pages == 0)
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

    /// <summary>Frees a run (<see cref="FreeRunUnaccounted"/>'s contract); a container's pages are taken off its counts by the free (<see cref="TakeOffContainerLocked"/>).</summary>
    public MemoryStatus FreeRun(Pfn first, ulong pages, byte owner)
    {
        return FreeRunUnaccounted(first, pages, owner);
    }

    /// <summary>True when <paramref name="owner"/> is a live container (0..63 and its bit set): the slow paths' test.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsAccountedOwner(byte owner)
    {
        return owner < FrameOwner.Count && ((_accountedOwners >> owner) & 1) != 0;
    }

    /// <summary>The byte a block or run allocated for <paramref name="owner"/> records: the accounted form for a container, the owner otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte RecordedOwner(byte owner)
    {
        return IsAccountedOwner(owner) ? (byte)(owner | FrameOwner.Accounted) : owner;
    }

    /// <summary>
    /// What a slow path compares a head's owner byte with (<see cref="FrameOwner.Frees"/>) for a free by
    /// <paramref name="owner"/>: the accounted form read signed for a container, the owner read unsigned otherwise
    /// (an owner above 63 then matches no head: recorded bytes read signed lie in -128..127, and 64..127 are never recorded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int ExpectedOwner(byte owner)
    {
        return IsAccountedOwner(owner) ? (sbyte)(owner | FrameOwner.Accounted) : owner;
    }

    /// <summary>
    /// What a pool-choice shape (<see cref="ChoiceMemo.Shape"/>) of a slow path adds for <paramref name="owner"/>: the
    /// accounted bit in its owner byte for a container, so the fast paths' plain-shape lookups never find its entries.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong AccountedShape(byte owner)
    {
        return IsAccountedOwner(owner) ? (ulong)FrameOwner.Accounted << 16 : 0;
    }

    /// <summary>
    /// Where an allocation goes when the fast paths missed (<see cref="AllocateUnaccounted"/>, <see cref="AllocateBlock"/>):
    /// a container's to <see cref="AllocateAccounted"/>, any other to <see cref="AllocateSlow"/>.
    /// </summary>
    private MemoryStatus AllocateMissed(Order order, in AllocRequest request, out Pfn pfn)
    {
        if (IsAccountedOwner(request.Owner))
            return AllocateAccounted(order, request, -1, false, 0, out pfn);
        return AllocateSlow(order, request, out pfn);
    }

    /// <summary>
    /// A container's block: reserve, allocate, commit (or give the reservation back). The pools are asked by
    /// <see cref="AllocateSlow"/>, or, for a call nested in the calling CPU's own section on its cache of
    /// <paramref name="nestedPool"/> (not -1), by <see cref="AllocateBypassingCacheCore"/> with
    /// <paramref name="named"/> and <paramref name="generation"/>. A bad order is left to AllocateSlow, which refuses it.
    /// </summary>
    private MemoryStatus AllocateAccounted(Order order, in AllocRequest request, int nestedPool, bool named, uint generation, out Pfn pfn)
    {
        if ((uint)order.Value > (uint)_buddy._maxOrder)
            return AllocateSlow(order, request, out pfn);
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
        MemoryStatus status = nestedPool < 0
            ? AllocateSlow(order, request, out pfn)
            : AllocateBypassingCacheCore(order.Value, nestedPool, named, generation, request, out pfn);
        if (status != MemoryStatus.Ok)
            Unreserve(c, pages, status);
        else
            Commit(c, _buddy.PoolOfFrame(pfn.Value - _basePfn), pfn.Value - _basePfn, (ulong)pages, 1);
        AtomicCount.Add(&c->_inFlight, -1);
        return status;
    }

    /// <summary>
    /// A free just freed the head at <paramref name="index"/> of <paramref name="pages"/> frames in
    /// <paramref name="pool"/>, whose owner byte was <paramref name="recorded"/>; the caller holds the pool's lock.
    /// An accounted form: its container's counts drop by the pages (in the same section as the free, so a checker
    /// or a destroy holding the pool's lock sees both or neither).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void TakeOffContainerLocked(byte recorded, int pool, ulong index, ulong pages)
    {
        if (FrameOwner.IsAccountedForm(recorded))
            Commit(_containers + FrameOwner.OwnerOf(recorded), pool, index, pages, -1);
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
    /// page blocks do not move), or, for a free, under the pool's lock, so a free counts off the pool the allocation counted in.
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

    /// <summary>
    /// Under the table lock and the locks the owner masks and the container set change under (<see cref="CreateContainer"/>,
    /// <see cref="DestroyContainer"/>): every live pool's <see cref="Pool.UnaccountedOwners"/> set to its owner mask less
    /// the containers. A realtime pool whose lock was left out (its mask unchanged) gets one 8-byte store, never torn: its fast
    /// path reads the word either way, and the owner whose bit changes is being created or destroyed, so it has no
    /// call of its own under way (<see cref="CreateContainer"/>: it holds nothing; <see cref="DestroyContainer"/>: its quota is 0).
    /// </summary>
    private void RefreshUnaccountedOwners()
    {
        for (int p = 0; p < _poolLimit; p++)
            if (_buddy._pools[p].Live != 0)
                _buddy._pools[p].UnaccountedOwners = _buddy._pools[p].Properties.OwnerMask & ~_accountedOwners; // one aligned 8-byte store
    }
}
