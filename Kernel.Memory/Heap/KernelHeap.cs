using System.Numerics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The kernel heap: small objects in size-class slabs, larger ones as page runs, every page taken
/// from the pools of a <see cref="PhysicalMemory"/>. It serves the runtime's managed allocations
/// (RhpNewFast and friends call <see cref="Alloc"/>) and raw kernel allocations (<see cref="Alloc"/>
/// / <see cref="Free"/>). It lives at the start of caller-provided memory and is used through a pointer:
/// <code>
///   KernelHeap.ComputeSize(pm, out ulong bytes);
///   // caller finds `bytes` (64-byte aligned): boot allocator or pm-&gt;AllocateRun in the kernel, native memory on the host
///   KernelHeap.Initialize(block, bytes, pm, directMapBase, owner, out KernelHeap* heap);
///   void* p = heap-&gt;Alloc(size, align, node);   // zeroed, or null and heap-&gt;LastFailure says why
///   heap-&gt;Free(p);
/// </code>
/// Contracts for every method: no locks (the caller serialises calls on one instance; in the
/// kernel that is KernelHeapGlue, which says what guards it); no managed allocation; no exceptions; a refused call leaves the heap and
/// the pools as they were. Split by concept: set-up and shared helpers (this file), allocation,
/// freeing, statistics, the checker.
/// </summary>
public unsafe partial struct KernelHeap
{
    /// <summary>The "class" of a large (page-run) object in reports.</summary>
    public const byte LargeClass = 0xFF;

    /// <summary>
    /// Empty slabs kept per (node, class) list. Two: one lets an alloc/free pair at a slab boundary
    /// not return and re-take a page each time; a second absorbs the next slab emptying while the
    /// first is still cached. Beyond that memory goes back to the pools. <see cref="Trim"/> drops them all.
    /// </summary>
    public const int EmptySlabsCached = 2;

    /// <summary>Largest slab order considered: 32 KiB slabs, enough for the 2048-byte class to waste at most 1/8.</summary>
    public const int MaxSlabOrder = 3;

    /// <summary>Largest alignment Alloc accepts: 1 GiB (page-order alignment of large runs).</summary>
    public const ulong MaxAlignment = 1UL << 30;

    internal PhysicalMemory* _memory;
    internal byte* _directMapBase;
    /// <summary>Node count x class count lists, node-major.</summary>
    internal SlabList* _lists;
    /// <summary>One bit per frame of the pools' span: set on the first frame of every slab and large run the heap holds.</summary>
    internal ulong* _held;
    /// <summary>One bit per frame: the mark bit of a large run (slab objects have theirs in the slab header).</summary>
    internal ulong* _largeMarks;
    /// <summary>
    /// One bit per frame: set on the first frame of every large run the heap holds (a subset of the
    /// held heads; the others are slabs), so Free tells a slab from a run without asking the pools.
    /// </summary>
    internal ulong* _runs;
    internal ulong _basePfn;
    internal ulong _spanPages;
    internal ulong _bitmapWords;
    internal int _nodeCount;
    internal int _pageblockOrder;
    internal byte _owner;

    internal fixed ushort _objectSize[SizeClasses.Count];
    internal fixed ushort _firstOffset[SizeClasses.Count];
    internal fixed ushort _capacity[SizeClasses.Count];
    internal fixed byte _slabOrder[SizeClasses.Count];
    internal fixed byte _alignShift[SizeClasses.Count];
    /// <summary>ceil(2^32 / size): offset / size as a multiply and a shift, exact for offsets and sizes below 2^16.</summary>
    internal fixed uint _reciprocal[SizeClasses.Count];

    internal fixed ulong _slabs[SizeClasses.Count];
    internal fixed ulong _objects[SizeClasses.Count];
    internal ulong _largeObjects;
    internal ulong _largePages;
    internal ulong _refusedFrees;
    internal HeapFailure _lastFailure;
    /// <summary>Nodes page refills may come from (bit n = node n); 0 = any node (KernelHeap.Nodes.cs).</summary>
    internal ulong _boundNodes;
    /// <summary>Page refills since the heap was made (new slabs and large runs).</summary>
    internal ulong _refills;
    /// <summary>The node the last page refill's frames are on.</summary>
    internal byte _lastRefillNode;
    /// <summary>The zeroing routine of the host or kernel (<see cref="SetZeroing"/>); null: <see cref="HeapZeroing.Portable"/>.</summary>
    internal delegate*<byte*, ulong, void> _zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AlignUp(ulong value, ulong alignment) { return (value + alignment - 1) & ~(alignment - 1); }

    private static void Layout(PhysicalMemory* memory, out ulong listsOffset, out ulong heldOffset, out ulong marksOffset,
        out ulong runsOffset, out ulong words, out ulong total)
    {
        MemoryTotals totals = memory->GetTotals();
        words = (totals.SpanPages + 63) >> 6;
        listsOffset = AlignUp((ulong)sizeof(KernelHeap), 64);
        heldOffset = AlignUp(listsOffset + (ulong)(memory->NodeCount * SizeClasses.Count) * (ulong)sizeof(SlabList), 64);
        marksOffset = AlignUp(heldOffset + words * 8, 64);
        runsOffset = AlignUp(marksOffset + words * 8, 64);
        total = AlignUp(runsOffset + words * 8, 64);
    }

    /// <summary>
    /// Bytes <see cref="Initialize"/> needs for a heap over <paramref name="memory"/>: the header,
    /// one partial list per node and class (32 B each), and three bits per frame of the span
    /// (held heads, large-object marks, run heads): 96 KiB per GiB of span.
    /// </summary>
    public static HeapStatus ComputeSize(PhysicalMemory* memory, out ulong bytes)
    {
        bytes = 0;
        if (memory == null)
            return HeapStatus.InvalidArgument;
        Layout(memory, out _, out _, out _, out _, out _, out bytes);
        return HeapStatus.Ok;
    }

    /// <summary>
    /// Builds an empty heap in <paramref name="block"/> (ComputeSize bytes, 64-byte aligned) over
    /// <paramref name="memory"/>, whose frame p is at <paramref name="directMapBase"/> + p * 4096.
    /// Pages are asked for as <paramref name="owner"/> (AllocRequest.Owner). Takes no pages yet.
    /// </summary>
    public static HeapStatus Initialize(void* block, ulong bytes, PhysicalMemory* memory, byte* directMapBase, byte owner,
        out KernelHeap* heap)
    {
        heap = null;
        if (memory == null || owner > 63)
            return HeapStatus.InvalidArgument;
        Layout(memory, out ulong listsOffset, out ulong heldOffset, out ulong marksOffset, out ulong runsOffset, out ulong words,
            out ulong total);
        if (block == null || bytes < total || ((ulong)block & 63) != 0)
            return HeapStatus.MetadataTooSmall;

        byte* at = (byte*)block;
        KernelHeap* h = (KernelHeap*)at;
        *h = default;
        h->_memory = memory;
        h->_directMapBase = directMapBase;
        h->_lists = (SlabList*)(at + listsOffset);
        h->_held = (ulong*)(at + heldOffset);
        h->_largeMarks = (ulong*)(at + marksOffset);
        h->_runs = (ulong*)(at + runsOffset);
        h->_basePfn = memory->BasePfn.Value;
        h->_spanPages = memory->GetTotals().SpanPages;
        h->_bitmapWords = words;
        h->_nodeCount = memory->NodeCount;
        h->_pageblockOrder = memory->PageblockOrder;
        h->_owner = owner;
        for (int i = 0; i < h->_nodeCount * SizeClasses.Count; i++)
            h->_lists[i] = default;
        for (ulong w = 0; w < words; w++)
        {
            h->_held[w] = 0;
            h->_largeMarks[w] = 0;
            h->_runs[w] = 0;
        }
        int maxOrder = memory->MaxOrder < MaxSlabOrder ? memory->MaxOrder : MaxSlabOrder;
        for (int c = 0; c < SizeClasses.Count; c++)
            h->PlanClass(c, maxOrder);
        heap = h;
        return HeapStatus.Ok;
    }

    /// <summary>
    /// Chooses the slab order of a class: the smallest order (up to <paramref name="maxOrder"/>) whose
    /// header, alignment padding and tail slack together waste at most 1/8 of the slab, else the
    /// order that wastes the smallest fraction. Capacity is capped by the 256-bit bitmaps.
    /// </summary>
    private void PlanClass(int cls, int maxOrder)
    {
        uint size = SizeClasses.SizeOf(cls);
        int shift = SizeClasses.AlignShiftOf(cls);
        ulong first = AlignUp(SlabHeader.Bytes, 1UL << shift);
        int best = 0;
        ulong bestWasteScaled = ulong.MaxValue;
        for (int k = 0; k <= maxOrder; k++)
        {
            ulong slab = Pfn.PageSize << k;
            ulong cap = (slab - first) / size;
            if (cap > SlabHeader.MaxObjects)
                cap = SlabHeader.MaxObjects;
            if (cap == 0)
                continue;
            ulong waste = slab - cap * size;
            // Compare waste fractions without division: waste / slab scaled to the largest slab.
            ulong scaled = waste << (maxOrder - k);
            if (scaled < bestWasteScaled)
            {
                bestWasteScaled = scaled;
                best = k;
            }
            if (waste * 8 <= slab)
            {
                best = k;
                break;
            }
        }
        ulong bytes = Pfn.PageSize << best;
        ulong capacity = (bytes - first) / size;
        if (capacity > SlabHeader.MaxObjects)
            capacity = SlabHeader.MaxObjects;
        _objectSize[cls] = (ushort)size;
        _firstOffset[cls] = (ushort)first;
        _capacity[cls] = (ushort)capacity;
        _slabOrder[cls] = (byte)best;
        _alignShift[cls] = (byte)shift;
        _reciprocal[cls] = (uint)(((1UL << 32) + size - 1) / size);
    }

    /// <summary>
    /// The cell at <paramref name="offset"/> bytes from the slab start, or -1 when the offset is not
    /// the start of one of the slab's cells (header, slack, or inside a cell).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int CellAt(SlabHeader* slab, ulong offset)
    {
        ulong rel = offset - slab->FirstOffset;
        if (offset < slab->FirstOffset || rel >= (ulong)slab->Capacity * slab->ObjectSize)
            return -1;
        ulong cell = (rel * _reciprocal[slab->Class]) >> 32;
        return cell * slab->ObjectSize == rel ? (int)cell : -1;
    }

    /// <summary>The partial list of (node, class).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal SlabList* ListOf(int node, int cls) { return _lists + node * SizeClasses.Count + cls; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte* AddressOf(ulong pfn) { return _directMapBase + (pfn << Pfn.PageShift); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsHeld(ulong index) { return (_held[index >> 6] & (1UL << (int)(index & 63))) != 0; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetHeld(ulong index) { _held[index >> 6] |= 1UL << (int)(index & 63); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ClearHeld(ulong index) { _held[index >> 6] &= ~(1UL << (int)(index & 63)); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsRun(ulong index) { return (_runs[index >> 6] & (1UL << (int)(index & 63))) != 0; }

    /// <summary>
    /// The highest held head at or below span index <paramref name="index"/>, or ulong.MaxValue.
    /// A slab's head is at most 7 frames back, usually in the same word, so the common case is one word.
    /// </summary>
    internal ulong HeldHeadAtOrBelow(ulong index)
    {
        ulong w = index >> 6;
        ulong bits = _held[w] & (ulong.MaxValue >> (63 - (int)(index & 63)));
        while (true)
        {
            if (bits != 0)
                return (w << 6) + (ulong)BitOperations.Log2(bits);
            if (w == 0)
                return ulong.MaxValue;
            w--;
            bits = _held[w];
        }
    }

    /// <summary>The node of the page block holding frame <paramref name="pfn"/>.</summary>
    internal byte NodeOf(ulong pfn)
    {
        _memory->GetPageblock((pfn - _basePfn) >> _pageblockOrder, out PageblockUse use);
        return use.Node;
    }

    /// <summary>Pages of the large run starting at <paramref name="pfn"/> (a RunFirst head): its pieces, walked in the pools' frame states.</summary>
    internal ulong RunPages(ulong pfn)
    {
        _memory->KindOf(new Pfn(pfn), out Order order);
        ulong p = pfn + order.Pages;
        while (_memory->KindOf(new Pfn(p), out order) == FrameKind.RunNext)
            p += order.Pages;
        return p - pfn;
    }

    /// <summary>
    /// Sets the routine that zeroes page runs and cells above <see cref="HeapZeroing.InlineCellLimit"/>:
    /// it must set exactly [at, at + bytes) to zero, for any address and length, and return. Null
    /// goes back to <see cref="HeapZeroing.Portable"/>. The kernel passes <c>rep stos</c>, the host a
    /// vectorised clear; pure code cannot reach either (docs/heap.md, "Zeroing").
    /// </summary>
    public void SetZeroing(delegate*<byte*, ulong, void> zero) { _zero = zero; }

    /// <summary>Zeroes <paramref name="bytes"/> bytes at <paramref name="at"/> with the routine set, else the portable one.</summary>
    internal void ZeroBytes(byte* at, ulong bytes)
    {
        delegate*<byte*, ulong, void> zero = _zero;
        if (zero != null)
            zero(at, bytes);
        else
            HeapZeroing.Portable(at, bytes);
    }

    /// <summary>The last failed allocation (Count = 0: none yet).</summary>
    public HeapFailure LastFailure { get { return _lastFailure; } }

    public int NodeCount { get { return _nodeCount; } }

    /// <summary>The physical memory manager the heap takes its pages from.</summary>
    public PhysicalMemory* Memory { get { return _memory; } }
}
