using System.Numerics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>Freeing, pointer lookup, releasing cached slabs, and the collector's mark bits.</summary>
public unsafe partial struct KernelHeap
{
    /// <summary>
    /// Frees an object returned by <see cref="Alloc(ulong, ulong, int)"/>. Null is accepted and does
    /// nothing. Refused with the heap and the pools unchanged: a pointer outside every page the heap
    /// holds (Foreign), an object already free (DoubleFree), a pointer inside heap memory that is
    /// not an object's start (InteriorPointer: inside an object, a slab header, or slab slack).
    /// A slab that becomes empty is kept on its list if fewer than <see cref="EmptySlabsCached"/>
    /// are, else its block goes back to its pool; a large run always goes back.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public HeapStatus Free(void* pointer)
    {
        SlabHeader* slab = AllocatedCellAt((byte*)pointer, out int cls, out ulong index);
        if (slab != null)
            return FreeCell(slab, cls, index);
        return FreeSlow(pointer);
    }

    /// <summary>
    /// The fast path's lookup: the slab when <paramref name="p"/> is the start of an allocated cell
    /// whose slab head is in the same held-bitmap word: the head is held and not a run (the heap's
    /// own bitmaps, which the checker holds to the pools' frame states), the check word matches, the
    /// slab's blocks cover the pointer, the offset is a cell start, its in-use bit is set. Null for
    /// everything else (null, foreign, interior, double free, large runs, corruption):
    /// <see cref="FreeSlow"/> then finds out which, asking the pools as <see cref="Locate"/> does.
    /// Reads only, changes nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private SlabHeader* AllocatedCellAt(byte* p, out int cls, out ulong index)
    {
        cls = 0;
        index = 0;
        ulong pfn = (ulong)(p - _directMapBase) >> Pfn.PageShift;
        ulong at = pfn - _basePfn;
        // p below the base wraps pfn or at past the span.
        if (p < _directMapBase || at >= _spanPages)
            return null;
        ulong w = at >> 6;
        ulong bits = _held[w] & (ulong.MaxValue >> (63 - (int)(at & 63)));
        if (bits == 0)
            return null;
        int bit = BitOperations.Log2(bits);
        ulong head = (at & ~63UL) + (ulong)bit;
        SlabHeader* slab = (SlabHeader*)AddressOf(_basePfn + head);
        if ((_runs[w] & (1UL << bit)) != 0 || slab->Check != SlabHeader.CheckWord(slab) || head + (1UL << slab->Order) <= at)
            return null;
        int c = slab->Class;
        if ((uint)c >= SizeClasses.Count)
            return null;
        ulong rel = (ulong)(p - (byte*)slab) - slab->FirstOffset;
        uint size = slab->ObjectSize;
        ulong i = (rel * _reciprocal[c]) >> 32;
        if (rel >= (ulong)slab->Capacity * size || i * size != rel || !SlabHeader.TestBit(slab->InUse, (int)i))
            return null;
        cls = c;
        index = i;
        return slab;
    }

    /// <summary>
    /// <see cref="Free"/> for what the fast path did not take: null, large runs, slab heads further
    /// back than one bitmap word, and every refusal (counted in RefusedFrees) and corruption.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private HeapStatus FreeSlow(void* pointer)
    {
        if (pointer == null)
            return HeapStatus.Ok;
        HeapStatus status = Locate((byte*)pointer, out ulong head, out SlabHeader* slab, out int cell);
        if (status == HeapStatus.Ok)
        {
            if (slab != null)
                status = SlabHeader.TestBit(slab->InUse, cell) ? FreeCell(slab, slab->Class, (ulong)cell) : HeapStatus.DoubleFree;
            else
                status = FreeLarge(head);
        }
        if (status == HeapStatus.Foreign || status == HeapStatus.DoubleFree || status == HeapStatus.InteriorPointer)
            _refusedFrees++;
        return status;
    }

    /// <summary>
    /// Finds what <paramref name="p"/> points at, without changing anything. Ok: the start of a
    /// cell (<paramref name="slab"/> and <paramref name="cell"/>, allocated or not) or of a large
    /// run (<paramref name="slab"/> null, <paramref name="head"/> its span index). Otherwise
    /// Foreign or InteriorPointer; Corruption when a held page is not what the heap recorded.
    /// </summary>
    private HeapStatus Locate(byte* p, out ulong head, out SlabHeader* slab, out int cell)
    {
        head = ulong.MaxValue;
        slab = null;
        cell = -1;
        if (p < _directMapBase)
            return HeapStatus.Foreign;
        ulong offset = (ulong)(p - _directMapBase);
        ulong pfn = offset >> Pfn.PageShift;
        if (pfn < _basePfn || pfn - _basePfn >= _spanPages)
            return HeapStatus.Foreign;
        head = HeldHeadAtOrBelow(pfn - _basePfn);
        if (head == ulong.MaxValue)
            return HeapStatus.Foreign;
        FrameKind kind = _memory->KindOf(new Pfn(_basePfn + head), out Order order);
        byte* start = AddressOf(_basePfn + head);
        if (kind == FrameKind.Allocated)
        {
            if (_basePfn + head + order.Pages <= pfn)
                return HeapStatus.Foreign;
            SlabHeader* s = (SlabHeader*)start;
            if (s->Check != SlabHeader.CheckWord(s) || s->Order != order.Value)
                return HeapStatus.Corruption;
            if ((uint)s->Class >= SizeClasses.Count)
                return HeapStatus.Corruption;
            int c = CellAt(s, (ulong)(p - start));
            if (c < 0)
                return HeapStatus.InteriorPointer;
            slab = s;
            cell = c;
            return HeapStatus.Ok;
        }
        if (kind == FrameKind.RunFirst)
        {
            if (p == start)
                return HeapStatus.Ok;
            // Inside the run or past it: past its pages the pointer is not heap memory.
            return _basePfn + head + RunPages(_basePfn + head) > pfn ? HeapStatus.InteriorPointer : HeapStatus.Foreign;
        }
        return HeapStatus.Corruption;
    }

    /// <summary>Frees cell <paramref name="index"/> (in use, checked by the caller) of <paramref name="slab"/>, of class <paramref name="cls"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private HeapStatus FreeCell(SlabHeader* slab, int cls, ulong index)
    {
        SlabList* list = ListOf(slab->Node, cls);
        uint offset = slab->FirstOffset + (uint)index * slab->ObjectSize;
        byte* at = (byte*)slab + offset;
        SlabHeader.ClearBit(slab->InUse, (int)index);
        SlabHeader.ClearBit(slab->Marks, (int)index);
        *(ushort*)at = slab->FreeHead;
        slab->FreeHead = (ushort)offset;
        slab->FreeCount++;
        _objects[cls]--;
        if (slab->FreeCount == slab->Capacity)
        {
            // Already the tail of its list with room in the cache: where an empty slab is kept anyway
            // (an alloc/free pair on an otherwise empty class ends here every time).
            if (slab->List == SlabHeader.OnPartialList && list->Tail == slab && list->Empty < EmptySlabsCached)
            {
                list->Empty++;
                return HeapStatus.Ok;
            }
            return SlabEmptied(list, slab);
        }
        if (slab->List == SlabHeader.OnNoList)
            list->PushHead(slab);
        return HeapStatus.Ok;
    }

    /// <summary>A slab has no object left: keep it at the tail of its list while the cache has room, else return its block.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private HeapStatus SlabEmptied(SlabList* list, SlabHeader* slab)
    {
        if (slab->List == SlabHeader.OnPartialList)
            list->Remove(slab);
        if (list->Empty < EmptySlabsCached)
        {
            list->PushTail(slab);
            list->Empty++;
            return HeapStatus.Ok;
        }
        return ReleaseSlab(slab);
    }

    /// <summary>Gives an empty slab (not on any list) back to its pool.</summary>
    private HeapStatus ReleaseSlab(SlabHeader* slab)
    {
        ulong pfn = (ulong)((byte*)slab - _directMapBase) >> Pfn.PageShift;
        int cls = slab->Class;
        Order order = new Order(slab->Order);
        slab->Check = 0;
        ClearHeld(pfn - _basePfn);
        _slabs[cls]--;
        MemoryStatus ms = _memory->Free(new Pfn(pfn), order, _owner);
        return ms == MemoryStatus.Ok ? HeapStatus.Ok : HeapStatus.Corruption;
    }

    private HeapStatus FreeLarge(ulong head)
    {
        ulong pfn = _basePfn + head;
        ulong pages = RunPages(pfn);
        MemoryStatus ms = _memory->FreeRun(new Pfn(pfn), pages, _owner);
        if (ms != MemoryStatus.Ok)
            return HeapStatus.Corruption;
        ClearHeld(head);
        _runs[head >> 6] &= ~(1UL << (int)(head & 63));
        ClearLargeMark(head);
        _largeObjects--;
        _largePages -= pages;
        return HeapStatus.Ok;
    }

    /// <summary>
    /// Returns every cached empty slab to its pool; how many frames went back. The heap calls it
    /// itself before reporting out of memory; the kernel may call it under memory pressure.
    /// </summary>
    public ulong Trim()
    {
        ulong pages = 0;
        for (int n = 0; n < _nodeCount; n++)
        {
            for (int c = 0; c < SizeClasses.Count; c++)
            {
                SlabList* list = ListOf(n, c);
                SlabHeader* slab = list->Head;
                while (slab != null && list->Empty != 0)
                {
                    SlabHeader* next = slab->Next;
                    if (slab->FreeCount == slab->Capacity)
                    {
                        list->Remove(slab);
                        list->Empty--;
                        pages += 1UL << slab->Order;
                        ReleaseSlab(slab);
                    }
                    slab = next;
                }
            }
        }
        return pages;
    }

    /// <summary>
    /// What <paramref name="pointer"/> points into: the object's start, usable size, class and node,
    /// and whether it is allocated. Any pointer inside a cell or a large run is resolved (the
    /// collector's conservative scan needs that); a header, slack or foreign pointer is refused.
    /// </summary>
    public HeapStatus Describe(void* pointer, out HeapObjectInfo info)
    {
        info = default;
        byte* p = (byte*)pointer;
        HeapStatus status = Locate(p, out ulong head, out SlabHeader* slab, out int cell);
        if (status == HeapStatus.InteriorPointer)
        {
            // Resolve interior pointers to their object when they are inside one.
            FrameKind kind = _memory->KindOf(new Pfn(_basePfn + head), out _);
            byte* start = AddressOf(_basePfn + head);
            if (kind == FrameKind.RunFirst)
            {
                status = HeapStatus.Ok;
                p = start;
            }
            else
            {
                SlabHeader* s = (SlabHeader*)start;
                ulong at = (ulong)(p - start);
                ulong end = s->FirstOffset + (ulong)s->Capacity * s->ObjectSize;
                if (at < s->FirstOffset || at >= end)
                    return status;
                slab = s;
                cell = (int)((at - s->FirstOffset) / s->ObjectSize);
                status = HeapStatus.Ok;
            }
        }
        if (status != HeapStatus.Ok)
            return status;
        if (slab != null)
        {
            info.Start = (byte*)slab + slab->FirstOffset + (ulong)cell * slab->ObjectSize;
            info.Size = slab->ObjectSize;
            info.Class = slab->Class;
            info.Node = slab->Node;
            info.Allocated = SlabHeader.TestBit(slab->InUse, cell);
        }
        else
        {
            info.Start = p;
            info.Size = RunPages(_basePfn + head) << Pfn.PageShift;
            info.Class = LargeClass;
            info.Node = NodeOf(_basePfn + head);
            info.Allocated = true;
        }
        return HeapStatus.Ok;
    }

    /// <summary>
    /// Sets the mark bit of the allocated object starting at <paramref name="pointer"/>;
    /// <paramref name="wasMarked"/> tells whether it was already set. For the collector (issue 4 leaves
    /// marking to it; the heap only clears a mark when the object is freed).
    /// </summary>
    public HeapStatus Mark(void* pointer, out bool wasMarked)
    {
        wasMarked = false;
        HeapStatus status = Locate((byte*)pointer, out ulong head, out SlabHeader* slab, out int cell);
        if (status != HeapStatus.Ok)
            return status;
        if (slab != null)
        {
            if (!SlabHeader.TestBit(slab->InUse, cell))
                return HeapStatus.InvalidArgument;
            wasMarked = SlabHeader.TestBit(slab->Marks, cell);
            SlabHeader.SetBit(slab->Marks, cell);
        }
        else
        {
            wasMarked = (_largeMarks[head >> 6] & (1UL << (int)(head & 63))) != 0;
            _largeMarks[head >> 6] |= 1UL << (int)(head & 63);
        }
        return HeapStatus.Ok;
    }

    /// <summary>Clears every mark bit (slab cells and large runs): the start of a collection. O(span / 64 + slabs).</summary>
    public void ClearMarks()
    {
        for (ulong w = 0; w < _bitmapWords; w++)
        {
            _largeMarks[w] = 0;
            ulong bits = _held[w];
            while (bits != 0)
            {
                ulong index = (w << 6) + (ulong)System.Numerics.BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                if (_memory->KindOf(new Pfn(_basePfn + index), out _) != FrameKind.Allocated)
                    continue;
                SlabHeader* slab = (SlabHeader*)AddressOf(_basePfn + index);
                for (int i = 0; i < SlabHeader.MaxObjects / 64; i++)
                    slab->Marks[i] = 0;
            }
        }
    }

    private void ClearLargeMark(ulong index) { _largeMarks[index >> 6] &= ~(1UL << (int)(index & 63)); }
}
