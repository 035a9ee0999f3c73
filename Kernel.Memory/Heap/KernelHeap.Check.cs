using System.Numerics;

namespace PoolKernel.Memory;

/// <summary>The heap's invariant checker.</summary>
public unsafe partial struct KernelHeap
{
    /// <summary>
    /// Verifies the heap against itself and against the pools, and returns the first broken
    /// invariant (see <see cref="HeapInvariant"/>) or Ok. Every held frame must be the head of an
    /// allocated block (a slab, with the pools' order equal to the slab's) or run (a large object)
    /// whose recorded owner is the heap's;
    /// every slab's header must carry its check word and its class's geometry, lie on its page
    /// block's node, and have a free list that stays inside its cells, on cell boundaries, over cells
    /// whose in-use bit is clear, exactly FreeCount long, with in-use bits adding up to the rest;
    /// slabs with free cells are on their (node, class) list and full ones are not; the lists are
    /// well linked with the recorded lengths and empty counts, at most EmptySlabsCached empties
    /// each; and the class and large counters equal what was found. Never changes state;
    /// O(span / 64 + slabs x cells). Read-only, so it may run after every operation in tests.
    /// </summary>
    public HeapCheckReport Check()
    {
        int lists = _nodeCount * SizeClasses.Count;
        uint* partialFound = stackalloc uint[lists];
        uint* emptyFound = stackalloc uint[lists];
        ulong* slabsFound = stackalloc ulong[SizeClasses.Count];
        ulong* objectsFound = stackalloc ulong[SizeClasses.Count];
        for (int i = 0; i < lists; i++)
        {
            partialFound[i] = 0;
            emptyFound[i] = 0;
        }
        for (int c = 0; c < SizeClasses.Count; c++)
        {
            slabsFound[c] = 0;
            objectsFound[c] = 0;
        }
        ulong largeFound = 0, largePagesFound = 0;
        HeapCheckReport report = default;

        for (ulong w = 0; w < _bitmapWords; w++)
        {
            ulong stray = _runs[w] & ~_held[w];
            if (stray != 0)
            {
                ulong index = (w << 6) + (ulong)BitOperations.TrailingZeroCount(stray);
                return HeapCheckReport.Broken(HeapInvariant.RunBitWrong, (ulong)AddressOf(_basePfn + index), LargeClass, 0, 0, 1);
            }
            ulong bits = _held[w];
            while (bits != 0)
            {
                ulong index = (w << 6) + (ulong)BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                ulong pfn = _basePfn + index;
                FrameKind kind = _memory->KindOf(new Pfn(pfn), out Order order);
                byte owner = _memory->OwnerOf(new Pfn(pfn));
                if ((kind == FrameKind.RunFirst || kind == FrameKind.Allocated) && owner != _owner)
                    return HeapCheckReport.Broken(HeapInvariant.HeldPageOfOtherOwner, (ulong)AddressOf(pfn), LargeClass, 0, _owner, owner);
                if ((kind == FrameKind.RunFirst) != IsRun(index))
                    return HeapCheckReport.Broken(HeapInvariant.RunBitWrong, (ulong)AddressOf(pfn), LargeClass, 0,
                        kind == FrameKind.RunFirst ? 1UL : 0UL, IsRun(index) ? 1UL : 0UL);
                if (kind == FrameKind.RunFirst)
                {
                    largeFound++;
                    largePagesFound += RunPages(pfn);
                    continue;
                }
                if (kind != FrameKind.Allocated)
                    return HeapCheckReport.Broken(HeapInvariant.HeldPageNotAllocated, (ulong)AddressOf(pfn), LargeClass, 0,
                        (ulong)FrameKind.Allocated, (ulong)kind);
                SlabHeader* slab = (SlabHeader*)AddressOf(pfn);
                if (!CheckSlab(slab, pfn, order.Value, ref report))
                    return report;
                slabsFound[slab->Class]++;
                objectsFound[slab->Class] += (ulong)(slab->Capacity - slab->FreeCount);
                int list = slab->Node * SizeClasses.Count + slab->Class;
                if (slab->FreeCount != 0)
                    partialFound[list]++;
                if (slab->FreeCount == slab->Capacity)
                    emptyFound[list]++;
            }
        }

        for (int n = 0; n < _nodeCount; n++)
            for (int c = 0; c < SizeClasses.Count; c++)
                if (!CheckList(n, c, slabsFound[c], partialFound[n * SizeClasses.Count + c],
                        emptyFound[n * SizeClasses.Count + c], ref report))
                    return report;

        for (int c = 0; c < SizeClasses.Count; c++)
        {
            if (slabsFound[c] != _slabs[c])
                return HeapCheckReport.Broken(HeapInvariant.ClassCounters, 0, c, 0, _slabs[c], slabsFound[c]);
            if (objectsFound[c] != _objects[c])
                return HeapCheckReport.Broken(HeapInvariant.ClassCounters, 0, c, 0, _objects[c], objectsFound[c]);
        }
        if (largeFound != _largeObjects)
            return HeapCheckReport.Broken(HeapInvariant.LargeCounters, 0, LargeClass, 0, _largeObjects, largeFound);
        if (largePagesFound != _largePages)
            return HeapCheckReport.Broken(HeapInvariant.LargeCounters, 0, LargeClass, 0, _largePages, largePagesFound);
        return report;
    }

    /// <summary>One slab: header, geometry, node, free list, in-use bits, list membership.</summary>
    private bool CheckSlab(SlabHeader* slab, ulong pfn, int order, ref HeapCheckReport report)
    {
        ulong at = (ulong)slab;
        if (slab->Check != SlabHeader.CheckWord(slab))
        {
            report = HeapCheckReport.Broken(HeapInvariant.SlabHeaderBroken, at, LargeClass, 0, SlabHeader.CheckWord(slab), slab->Check);
            return false;
        }
        int c = slab->Class;
        if ((uint)c >= SizeClasses.Count)
        {
            report = HeapCheckReport.Broken(HeapInvariant.SlabGeometry, at, c, slab->Node, SizeClasses.Count, (ulong)c);
            return false;
        }
        if (slab->ObjectSize != _objectSize[c] || slab->FirstOffset != _firstOffset[c] || slab->Capacity != _capacity[c]
            || slab->Order != _slabOrder[c] || slab->FreeCount > slab->Capacity)
        {
            report = HeapCheckReport.Broken(HeapInvariant.SlabGeometry, at, c, slab->Node, _capacity[c], slab->FreeCount);
            return false;
        }
        if (order != slab->Order)
        {
            report = HeapCheckReport.Broken(HeapInvariant.SlabOrderMismatch, at, c, slab->Node, slab->Order, (ulong)order);
            return false;
        }
        byte node = NodeOf(pfn);
        if (slab->Node != node)
        {
            report = HeapCheckReport.Broken(HeapInvariant.SlabWrongNode, at, c, slab->Node, node, slab->Node);
            return false;
        }

        uint end = slab->FirstOffset + (uint)slab->Capacity * slab->ObjectSize;
        uint offset = slab->FreeHead;
        uint steps = 0;
        while (offset != 0)
        {
            if (steps == slab->FreeCount)
            {
                report = HeapCheckReport.Broken(HeapInvariant.FreeListTooLong, at + offset, c, slab->Node, slab->FreeCount, steps + 1UL);
                return false;
            }
            int cell = CellAt(slab, offset);
            if (cell < 0)
            {
                report = HeapCheckReport.Broken(HeapInvariant.FreeListOutOfRange, at, c, slab->Node, end, offset);
                return false;
            }
            if (SlabHeader.TestBit(slab->InUse, cell))
            {
                report = HeapCheckReport.Broken(HeapInvariant.FreeListCellInUse, at + offset, c, slab->Node, 0, 1);
                return false;
            }
            steps++;
            offset = *(ushort*)((byte*)slab + offset);
        }
        if (steps != slab->FreeCount)
        {
            report = HeapCheckReport.Broken(HeapInvariant.FreeCountMismatch, at, c, slab->Node, slab->FreeCount, steps);
            return false;
        }
        ulong inUse = 0;
        for (int i = 0; i < SlabHeader.MaxObjects / 64; i++)
        {
            ulong word = slab->InUse[i];
            // Bits of cells past the capacity must be clear.
            int valid = slab->Capacity - i * 64;
            if (valid < 64)
                word &= valid <= 0 ? 0 : ulong.MaxValue >> (64 - valid);
            if (word != slab->InUse[i])
                inUse = ulong.MaxValue;
            else if (inUse != ulong.MaxValue)
                inUse += (ulong)BitOperations.PopCount(word);
        }
        if (inUse != (ulong)(slab->Capacity - slab->FreeCount))
        {
            report = HeapCheckReport.Broken(HeapInvariant.InUseCountMismatch, at, c, slab->Node, (ulong)(slab->Capacity - slab->FreeCount), inUse);
            return false;
        }
        byte expected = slab->FreeCount != 0 ? SlabHeader.OnPartialList : SlabHeader.OnNoList;
        if (slab->List != expected)
        {
            report = HeapCheckReport.Broken(HeapInvariant.ListMembership, at, c, slab->Node, expected, slab->List);
            return false;
        }
        return true;
    }

    /// <summary>One (node, class) list: links, membership, lengths, empty count.</summary>
    private bool CheckList(int n, int c, ulong slabsOfClass, uint partial, uint empty, ref HeapCheckReport report)
    {
        SlabList* list = ListOf(n, c);
        SlabHeader* prev = null;
        ulong count = 0, empties = 0;
        for (SlabHeader* s = list->Head; s != null; s = s->Next)
        {
            ulong at = (ulong)s;
            bool held = false;
            if ((byte*)s >= _directMapBase && ((at - (ulong)_directMapBase) & (Pfn.PageSize - 1)) == 0)
            {
                ulong pfn = (at - (ulong)_directMapBase) >> Pfn.PageShift;
                held = pfn >= _basePfn && pfn - _basePfn < _spanPages && IsHeld(pfn - _basePfn);
            }
            if (!held || count >= slabsOfClass || s->Check != SlabHeader.CheckWord(s) || s->Class != c || s->Node != n
                || s->Prev != prev || s->List != SlabHeader.OnPartialList)
            {
                report = HeapCheckReport.Broken(HeapInvariant.PartialListBroken, at, c, n, (ulong)prev, held ? (ulong)s->Prev : 0);
                return false;
            }
            if (s->FreeCount == s->Capacity)
                empties++;
            prev = s;
            count++;
        }
        if (list->Tail != prev)
        {
            report = HeapCheckReport.Broken(HeapInvariant.PartialListBroken, (ulong)list->Tail, c, n, (ulong)prev, (ulong)list->Tail);
            return false;
        }
        if (count != list->Count || count != partial)
        {
            report = HeapCheckReport.Broken(HeapInvariant.PartialListCount, (ulong)list->Head, c, n, partial, count != list->Count ? list->Count : count);
            return false;
        }
        if (empties != list->Empty || empties != empty)
        {
            report = HeapCheckReport.Broken(HeapInvariant.PartialListCount, (ulong)list->Head, c, n, empty, empties != list->Empty ? list->Empty : empties);
            return false;
        }
        if (list->Empty > EmptySlabsCached)
        {
            report = HeapCheckReport.Broken(HeapInvariant.EmptyCacheOverLimit, (ulong)list->Head, c, n, EmptySlabsCached, list->Empty);
            return false;
        }
        return true;
    }
}
