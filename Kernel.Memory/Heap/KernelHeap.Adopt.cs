namespace PoolKernel.Memory;

/// <summary>
/// Adoption (docs/containers.md, "Destroy: adoption"): a heap takes another heap's managed blocks, with their slabs
/// and runs, without moving a byte of them: their pages are re-owned in the pools (<see cref="PhysicalMemory.Reown"/>)
/// and their heads pass from one heap's bitmaps, lists and counters to the other's.
/// </summary>
public unsafe partial struct KernelHeap
{
    /// <summary>
    /// Takes every managed block of <paramref name="from"/> into this heap: each slab holding at least one managed
    /// (tagged) cell and each managed run is re-owned in the pools from <paramref name="from"/>'s owner to this heap's
    /// (<see cref="PhysicalMemory.Reown"/>) and passes, head bit, run bit, list membership and counts, to this heap.
    /// The raw (untagged) cells of an adopted slab are freed first (raw memory is never traced: it goes with its
    /// owner, as the rest of <paramref name="from"/>'s raw blocks do when its pages are freed). What is left in
    /// <paramref name="from"/> is raw blocks and slabs without a managed cell. Marks are not touched (call it outside
    /// a collection; the sweep leaves them clear). Addresses do not change, so every reference stays valid and the
    /// adopted objects are this heap's to collect from then on.
    /// <para>Refused, nothing changed: <paramref name="from"/> null or this heap, or over other pools, frames or
    /// slab geometry (InvalidArgument); a block the pools would not re-own (PoolsRefused, their answer in
    /// <paramref name="result"/>.Refusal and the block in .RefusedPfn: e.g. OwnerRefused for a block in a pool that
    /// does not admit this heap's owner, such as a container's guarantee pool). Every block is checked before the
    /// first changes. Corruption when a re-own checked a moment before is refused (the pools changed under the
    /// caller, who must hold both heaps): the blocks already adopted stay adopted, each heap whole.</para>
    /// </summary>
    public HeapStatus Adopt(KernelHeap* from, out HeapAdoption result)
    {
        result = default;
        if (from == null || from->_lists == _lists || from->_memory != _memory ||
            from->_directMapBase != _directMapBase || from->_basePfn != _basePfn || from->_spanPages != _spanPages)
            return HeapStatus.InvalidArgument;
        for (int c = 0; c < SizeClasses.Count; c++)
            if (from->_objectSize[c] != _objectSize[c] || from->_capacity[c] != _capacity[c] || from->_slabOrder[c] != _slabOrder[c] ||
                from->_firstOffset[c] != _firstOffset[c])
                return HeapStatus.InvalidArgument;

        HeldWalk walk = default;
        while (from->NextHeld(ref walk, out ulong index))
        {
            if (!from->IsAdoptable(index))
                continue;
            MemoryStatus ms = _memory->CheckReown(new Pfn(_basePfn + index), from->_owner, _owner, out _);
            if (ms != MemoryStatus.Ok)
            {
                result.Refusal = ms;
                result.RefusedPfn = _basePfn + index;
                return HeapStatus.PoolsRefused;
            }
        }

        walk = default;
        while (from->NextHeld(ref walk, out ulong index))
        {
            if (!from->IsAdoptable(index))
                continue;
            if (from->IsRun(index))
            {
                ulong pages = from->RunPages(_basePfn + index);
                MemoryStatus ms = _memory->Reown(new Pfn(_basePfn + index), from->_owner, _owner);
                if (ms != MemoryStatus.Ok)
                    return AdoptionBroken(ref result, ms, _basePfn + index);
                from->ClearHeld(index);
                from->_runs[index >> 6] &= ~(1UL << (int)(index & 63));
                from->_largeObjects--;
                from->_largePages -= pages;
                SetHeld(index);
                _runs[index >> 6] |= 1UL << (int)(index & 63);
                _largeMarks[index >> 6] = (_largeMarks[index >> 6] & ~(1UL << (int)(index & 63))) |
                    (from->_largeMarks[index >> 6] & (1UL << (int)(index & 63)));
                from->ClearLargeMark(index);
                _largeObjects++;
                _largePages += pages;
                result.Objects++;
                result.Bytes += pages << Pfn.PageShift;
                result.Runs++;
                result.Pages += pages;
                continue;
            }
            SlabHeader* slab = (SlabHeader*)AddressOf(_basePfn + index);
            int cls = slab->Class;
            result.RawBlocksFreed += from->FreeRawCells(slab);
            MemoryStatus status = _memory->Reown(new Pfn(_basePfn + index), from->_owner, _owner);
            if (status != MemoryStatus.Ok)
                return AdoptionBroken(ref result, status, _basePfn + index);
            ulong inUse = (ulong)(slab->Capacity - slab->FreeCount);
            bool partial = slab->List == SlabHeader.OnPartialList;
            if (partial)
                from->ListOf(slab->Node, cls)->Remove(slab);
            from->ClearHeld(index);
            from->_slabs[cls]--;
            from->_objects[cls] -= inUse;
            SetHeld(index);
            _slabs[cls]++;
            _objects[cls] += inUse;
            if (partial)
                ListOf(slab->Node, cls)->PushHead(slab);
            result.Objects += inUse;
            result.Bytes += inUse * slab->ObjectSize;
            result.Slabs++;
            result.Pages += 1UL << slab->Order;
        }
        return HeapStatus.Ok;
    }

    /// <summary>A re-own checked a moment before was refused: recorded, Corruption (see <see cref="Adopt"/>).</summary>
    private static HeapStatus AdoptionBroken(ref HeapAdoption result, MemoryStatus ms, ulong pfn)
    {
        result.Refusal = ms;
        result.RefusedPfn = pfn;
        return HeapStatus.Corruption;
    }

    /// <summary>
    /// Whether the held head at <paramref name="index"/> has a managed block to adopt: a tagged run, or a slab with a
    /// tagged cell in use. Reads only.
    /// </summary>
    private bool IsAdoptable(ulong index)
    {
        byte* start = AddressOf(_basePfn + index);
        if (IsRun(index))
            return IsTagged(start);
        SlabHeader* slab = (SlabHeader*)start;
        CellWalk cells = default;
        while (NextInUse(slab, ref cells, out ulong cell))
            if (IsTaggedCell(slab, cell))
                return true;
        return false;
    }

    /// <summary>Frees every raw (untagged) cell in use in <paramref name="slab"/>, which holds a managed cell (so it never empties); how many.</summary>
    private ulong FreeRawCells(SlabHeader* slab)
    {
        ulong freed = 0;
        CellWalk cells = default;
        while (NextInUse(slab, ref cells, out ulong cell))
            if (!IsTaggedCell(slab, cell))
            {
                FreeCell(slab, slab->Class, cell);
                freed++;
            }
        return freed;
    }
}

/// <summary>What <see cref="KernelHeap.Adopt"/> took: managed blocks and their bytes (cell or run sizes), slabs, runs, pages; raw cells freed; a refusal.</summary>
public struct HeapAdoption
{
    public ulong Objects;
    public ulong Bytes;
    public ulong Slabs;
    public ulong Runs;
    public ulong Pages;
    /// <summary>Raw cells of adopted slabs freed with their owner.</summary>
    public ulong RawBlocksFreed;
    /// <summary>The pools' answer for the block that refused the adoption (Ok when none refused).</summary>
    public MemoryStatus Refusal;
    /// <summary>That block's frame number.</summary>
    public ulong RefusedPfn;
}
