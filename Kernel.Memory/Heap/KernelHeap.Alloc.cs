using System.Numerics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>Allocation: size-class slabs for small objects, page runs for large ones.</summary>
public unsafe partial struct KernelHeap
{
    /// <summary>
    /// Allocates <paramref name="size"/> ZEROED bytes aligned to <paramref name="align"/> (a power of
    /// two up to <see cref="MaxAlignment"/>; 0 means 16, every object's minimum), with pages near
    /// <paramref name="node"/> (the current CPU's node; <see cref="AllocRequest.NoNode"/> = node 0).
    /// Up to 2048 bytes and alignment 2048 the object is a cell of the smallest class that has both;
    /// otherwise it is a run of whole pages (alignment beyond 4 KiB is asked of the pools).
    /// Returns null on failure; <see cref="LastFailure"/> then says what was asked and what was free.
    /// Size 0 is served as the smallest class.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void* Alloc(ulong size, ulong align, int node)
    {
        void* p = TryAllocFast(size, align, node);
        return p != null ? p : AllocSlowOrNull(size, align, node);
    }

    /// <summary><see cref="AllocSlow"/>'s result alone: keeps the caller's pointer out of memory (no address taken on the fast path).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void* AllocSlowOrNull(ulong size, ulong align, int node)
    {
        AllocSlow(size, align, node, out void* p);
        return p;
    }

    /// <summary><see cref="Alloc(ulong, ulong, int)"/> that also returns the status.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public HeapStatus Alloc(ulong size, ulong align, int node, out void* result)
    {
        result = TryAllocFast(size, align, node);
        if (result != null)
            return HeapStatus.Ok;
        return AllocSlow(size, align, node, out result);
    }

    /// <summary>
    /// The fast path: a cell from the head slab of (node, class), for a small size at the minimum
    /// alignment (0..16) on a valid node. Every cell's alignment is at least 16, so the class is
    /// ForSize alone. Null when the request is not of that shape, the list is empty, or the slab's
    /// free head is not a 16-aligned cell of it (then the slow path makes the same request and
    /// reports Corruption); nothing is changed before the checks pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void* TryAllocFast(ulong size, ulong align, int node)
    {
        if (size > SizeClasses.MaxSmall || align > 16 || (align & (align - 1)) != 0 || (uint)node >= (uint)_nodeCount)
            return null;
        int cls = SizeClasses.ForSize(size);
        SlabList* list = ListOf(node, cls);
        SlabHeader* slab = list->Head;
        if (slab == null)
            return null;
        return Pop(list, slab, cls);
    }

    /// <summary>
    /// Takes the free head of <paramref name="slab"/> (on <paramref name="list"/>, so it has a free
    /// cell), zeroed. Checks before changing anything: the head is the start of one of the slab's
    /// cells and lands 16-aligned (check what you return); null, with nothing changed, when not.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* Pop(SlabList* list, SlabHeader* slab, int cls)
    {
        byte* start = (byte*)slab;
        uint offset = slab->FreeHead;
        uint size = slab->ObjectSize;
        ulong rel = (ulong)offset - slab->FirstOffset;
        ulong index = (rel * _reciprocal[cls]) >> 32;
        byte* cell = start + offset;
        if (rel >= (ulong)slab->Capacity * size || index * size != rel || ((ulong)(cell - _directMapBase) & 15) != 0)
            return null;
        if (slab->FreeCount == slab->Capacity)
            list->Empty--;
        slab->FreeHead = *(ushort*)cell;
        slab->FreeCount--;
        SlabHeader.SetBit(slab->InUse, (int)index);
        if (slab->FreeCount == 0)
            list->Remove(slab);
        _objects[cls]++;
        if (size <= HeapZeroing.InlineCellLimit)
            HeapZeroing.Cell(cell, size);
        else
            ZeroBytes(cell, size);
        return cell;
    }

    /// <summary>
    /// Every request the fast path did not serve: argument checks, alignment above 16, an empty
    /// list (a new slab or another node's), large runs, and the failure record.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private HeapStatus AllocSlow(ulong size, ulong align, int node, out void* result)
    {
        result = null;
        if (node == AllocRequest.NoNode)
            node = 0;
        if ((uint)node >= (uint)_nodeCount)
            return Fail(HeapStatus.BadNode, MemoryStatus.Ok, size, align, node, LargeClass, 0);
        if (align == 0)
            align = 16;
        if (!BitOperations.IsPow2(align) || align > MaxAlignment)
            return Fail(HeapStatus.BadAlignment, MemoryStatus.Ok, size, align, node, LargeClass, 0);
        HeapStatus status = HeapStatus.Ok;
        bool large = true;
        if (size <= SizeClasses.MaxSmall)
        {
            int cls = SizeClasses.ForSize(size);
            int shift = BitOperations.TrailingZeroCount(align);
            while (cls < SizeClasses.Count && _alignShift[cls] < shift)
                cls++;
            if (cls < SizeClasses.Count)
            {
                large = false;
                status = AllocSmall(cls, size, align, node, out result);
            }
        }
        if (large)
            status = AllocLarge(size, align, node, out result);
        if (status == HeapStatus.Ok && ((ulong)((byte*)result - _directMapBase) & (align - 1)) != 0)
        {
            // Check what we return: a misaligned result means the slab or the pools are broken.
            Free(result);
            result = null;
            return Fail(HeapStatus.Corruption, MemoryStatus.Ok, size, align, node, LargeClass, 0);
        }
        return status;
    }

    private HeapStatus AllocSmall(int cls, ulong size, ulong align, int node, out void* result)
    {
        result = null;
        SlabList* list = ListOf(node, cls);
        SlabHeader* slab = list->Head;
        if (slab == null)
        {
            HeapStatus status = FindSlab(cls, node, size, align, out slab);
            if (status != HeapStatus.Ok)
                return status;
            list = ListOf(slab->Node, cls);
        }
        result = Pop(list, slab, cls);
        if (result == null)
            return Fail(HeapStatus.Corruption, MemoryStatus.Ok, size, align, node, cls, 0);
        return HeapStatus.Ok;
    }

    /// <summary>
    /// A slab with a free cell for (node, class) when the node's list is empty, in this order:
    /// a new slab from the node's own pools (NodeStrict); a partial slab of another node (by node
    /// number from node+1; PhysicalMemory does not expose distances yet); a new slab wherever pool
    /// choice finds one (the pools' distance rule); the same after releasing every cached empty
    /// slab. The slab is on the list of its own frames' node. A Corruption answer ends the search
    /// at once (asking other pools would hide it). A bound heap (<see cref="BindNodes"/>) takes each
    /// step only on its bound nodes: the node's own pools if it is one, partial slabs of bound nodes,
    /// then a new slab strict on each bound node nearest first (<see cref="AllocateBound"/>); when
    /// none has memory it fails with nothing changed but the failure record.
    /// </summary>
    private HeapStatus FindSlab(int cls, int node, ulong size, ulong align, out SlabHeader* slab)
    {
        slab = null;
        AllocRequest request = AllocRequest.Any;
        request.PreferredNode = (byte)node;
        request.Owner = _owner;
        request.Flags = RequestFlags.NodeStrict;
        Order order = new Order(_slabOrder[cls]);
        Pfn pfn = Pfn.None;
        MemoryStatus ms = NodeAllowed(node) ? _memory->Allocate(order, request, out pfn) : MemoryStatus.NoPoolSatisfies;
        MemoryStatus own = ms;
        if (ms == MemoryStatus.Corruption)
            return Fail(HeapStatus.Corruption, ms, size, align, node, cls, order.Pages);
        if (ms != MemoryStatus.Ok)
        {
            for (int i = 1; i < _nodeCount; i++)
            {
                int otherNode = (node + i) % _nodeCount;
                SlabList* other = ListOf(otherNode, cls);
                if (other->Head != null && NodeAllowed(otherNode))
                {
                    slab = other->Head;
                    return HeapStatus.Ok;
                }
            }
            request.Flags = RequestFlags.None;
            ms = NewPages(order, 0, request, node, own, out pfn);
            if ((ms == MemoryStatus.OutOfMemory || ms == MemoryStatus.QuotaExceeded) && Trim() != 0)
                ms = NewPages(order, 0, request, node, own, out pfn);
            if (ms != MemoryStatus.Ok)
                return Fail(FromPools(ms), ms, size, align, node, cls, order.Pages);
        }
        CountRefill(pfn.Value);
        slab = MakeSlab(cls, pfn.Value);
        return HeapStatus.Ok;
    }

    /// <summary>
    /// Pages for a refill after the node's own strict attempt answered <paramref name="own"/> (NoPoolSatisfies
    /// when it was not made): unbound, wherever pool choice finds them (<paramref name="request"/> as given);
    /// bound, from the bound nodes only (<see cref="AllocateBound"/>, the own node skipped when it was tried),
    /// and OutOfMemory rather than NoPoolSatisfies when the own node had pools but no memory.
    /// </summary>
    private MemoryStatus NewPages(Order order, ulong runPages, in AllocRequest request, int node, MemoryStatus own, out Pfn pfn)
    {
        if (_boundNodes != 0)
        {
            MemoryStatus bound = AllocateBound(order, runPages, request, node, own != MemoryStatus.NoPoolSatisfies ? node : -1, out pfn);
            return bound == MemoryStatus.NoPoolSatisfies && own == MemoryStatus.OutOfMemory ? own : bound;
        }
        return runPages == 0 ? _memory->Allocate(order, request, out pfn) : _memory->AllocateRun(runPages, request, out pfn);
    }

    /// <summary>Formats a fresh block as an empty slab of the class and puts it at the head of its node's list.</summary>
    private SlabHeader* MakeSlab(int cls, ulong pfn)
    {
        SlabHeader* slab = (SlabHeader*)AddressOf(pfn);
        HeapZeroing.Cell((byte*)slab, SlabHeader.Bytes);
        slab->Check = SlabHeader.CheckWord(slab);
        slab->ObjectSize = _objectSize[cls];
        slab->FirstOffset = _firstOffset[cls];
        slab->Capacity = _capacity[cls];
        slab->FreeCount = _capacity[cls];
        slab->Class = (byte)cls;
        slab->Node = NodeOf(pfn);
        slab->Order = _slabOrder[cls];
        // Free cells chained in address order; the last link is 0 (end).
        uint offset = slab->FirstOffset;
        slab->FreeHead = (ushort)offset;
        for (int i = 0; i < slab->Capacity; i++)
        {
            uint next = i + 1 < slab->Capacity ? offset + slab->ObjectSize : 0;
            *(ushort*)((byte*)slab + offset) = (ushort)next;
            offset += slab->ObjectSize;
        }
        SetHeld(pfn - _basePfn);
        _slabs[cls]++;
        SlabList* list = ListOf(slab->Node, cls);
        list->PushHead(slab);
        list->Empty++;
        return slab;
    }

    private HeapStatus AllocLarge(ulong size, ulong align, int node, out void* result)
    {
        result = null;
        if (size > MaxAlignment << 22)
            return Fail(HeapStatus.InvalidArgument, MemoryStatus.Ok, size, align, node, LargeClass, 0);
        ulong pages = size == 0 ? 1 : (size + Pfn.PageSize - 1) >> Pfn.PageShift;
        AllocRequest request = AllocRequest.Any;
        request.PreferredNode = (byte)node;
        request.Owner = _owner;
        request.Alignment = align > Pfn.PageSize ? align : 0;
        MemoryStatus ms = NewPages(default, pages, request, node, MemoryStatus.NoPoolSatisfies, out Pfn first);
        if ((ms == MemoryStatus.OutOfMemory || ms == MemoryStatus.QuotaExceeded) && Trim() != 0)
            ms = NewPages(default, pages, request, node, MemoryStatus.NoPoolSatisfies, out first);
        if (ms != MemoryStatus.Ok)
            return Fail(FromPools(ms), ms, size, align, node, LargeClass, pages);
        CountRefill(first.Value);
        ulong index = first.Value - _basePfn;
        SetHeld(index);
        _runs[index >> 6] |= 1UL << (int)(index & 63);
        ClearLargeMark(index);
        _largeObjects++;
        _largePages += pages;
        byte* p = AddressOf(first.Value);
        ZeroBytes(p, pages << Pfn.PageShift);
        result = p;
        return HeapStatus.Ok;
    }

    /// <summary>
    /// What a failed request to the pools means to the heap's caller. Out of memory and "no pool
    /// satisfies" are the answers a caller acts on (free something, ask elsewhere) and keep their
    /// meaning; Corruption stays Corruption (the pools cannot be trusted, the kernel fails fast); any
    /// other answer refused the heap's own request (too large for the machine, rules the pools
    /// cannot meet) and is PoolsRefused, never passed off as out of memory.
    /// <see cref="HeapFailure.MemoryStatus"/> keeps the pools' exact answer.
    /// </summary>
    private static HeapStatus FromPools(MemoryStatus ms) => ms switch
    {
        MemoryStatus.Ok => HeapStatus.Ok,
        MemoryStatus.OutOfMemory => HeapStatus.OutOfMemory,
        // A heap of a container (its owner): freeing its own objects helps, as with out of memory.
        MemoryStatus.QuotaExceeded => HeapStatus.OutOfMemory,
        MemoryStatus.NoPoolSatisfies => HeapStatus.NoPoolSatisfies,
        MemoryStatus.Corruption => HeapStatus.Corruption,
        _ => HeapStatus.PoolsRefused,
    };

    /// <summary>Records a failed allocation in <see cref="LastFailure"/> and returns its status.</summary>
    private HeapStatus Fail(HeapStatus status, MemoryStatus ms, ulong size, ulong align, int node, int cls, ulong pages)
    {
        HeapFailure f = default;
        f.Status = status;
        f.MemoryStatus = ms;
        f.RequestedBytes = size;
        f.Alignment = align;
        f.Node = (byte)node;
        f.Class = (byte)cls;
        f.Pool = PoolId.None;
        f.PagesAsked = pages;
        f.FreePagesAtFailure = _memory->GetTotals().FreePages;
        for (PoolId id = _memory->FirstPool(); !id.IsNone; id = _memory->NextPool(id))
        {
            _memory->GetPoolProperties(id, out PoolProperties props);
            if ((uint)node < 64 && (props.NodeMask & (1UL << node)) != 0)
            {
                _memory->GetPoolStats(id, out PoolStats stats);
                f.FreePagesOnNode += stats.FreePages;
            }
        }
        f.HeapPagesHeld = PagesHeld;
        f.Count = _lastFailure.Count + 1;
        _lastFailure = f;
        return status;
    }
}
