using System.Numerics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// What the collector (<see cref="HeapCollector"/>) needs from the heap: managed blocks told apart
/// from raw ones, any address resolved to the managed block containing it, mark bits, the walk over
/// marked objects (the mark stack's overflow fallback) and the sweep. docs/gc.md.
/// </summary>
public unsafe partial struct KernelHeap
{
    /// <summary>
    /// "PKMANAGE": a managed object's block starts with its header word set to this XOR the block's
    /// address (<see cref="AllocObject(ulong, int)"/>). Raw blocks (<see cref="Alloc(ulong, ulong, int)"/>)
    /// are zeroed and never tagged, so the sweep leaves them alone: only a raw block whose owner
    /// writes exactly this address-keyed value into its first word could be mistaken for an object.
    /// </summary>
    public const ulong ManagedTag = 0x504B4D414E414745UL;

    /// <summary>The object header word: a managed reference points this far into its block (at the MethodTable pointer).</summary>
    public const ulong ObjectHeaderBytes = 8;

    /// <summary>Whether the block at <paramref name="block"/> carries the managed tag.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsTagged(byte* block) => *(ulong*)block == (ManagedTag ^ (ulong)block);

    /// <summary>
    /// A managed object's block: <see cref="Alloc(ulong, ulong, int)"/> at the runtime's object
    /// alignment (8; every cell is 16-aligned anyway), then the managed tag in its first (header) word. Null on failure, <see cref="LastFailure"/> says why.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void* AllocObject(ulong size, int node)
    {
        byte* p = (byte*)Alloc(size < ObjectHeaderBytes ? ObjectHeaderBytes : size, 8, node);
        if (p != null)
            *(ulong*)p = ManagedTag ^ (ulong)p;
        return p;
    }

    /// <summary>
    /// The managed block that contains <paramref name="p"/> (any byte of it, its header word
    /// included), or null: <paramref name="p"/> is outside the span, in no held page, in a slab header
    /// or slack, in a free cell, or in a raw block. Reads only; safe for any value (a stack word),
    /// since it trusts only the held and run bitmaps (which the checker holds to the pools), a slab's
    /// check word and the pools' frame states for a run's length. <paramref name="slab"/> and
    /// <paramref name="cell"/> name a cell; for a run <paramref name="slab"/> is null and
    /// <paramref name="runHead"/> is its span index.
    /// </summary>
    internal byte* ManagedBlockContaining(byte* p, out SlabHeader* slab, out int cell, out ulong runHead)
    {
        slab = null;
        cell = -1;
        runHead = ulong.MaxValue;
        if (p < _directMapBase)
            return null;
        ulong pfn = (ulong)(p - _directMapBase) >> Pfn.PageShift;
        ulong at = pfn - _basePfn;
        if (pfn < _basePfn || at >= _spanPages)
            return null;
        ulong head = HeldHeadAtOrBelow(at);
        if (head == ulong.MaxValue)
            return null;
        byte* start = AddressOf(_basePfn + head);
        if (IsRun(head))
        {
            if (head != at && head + RunPages(_basePfn + head) <= at)
                return null;
            if (!IsTagged(start))
                return null;
            runHead = head;
            return start;
        }
        SlabHeader* s = (SlabHeader*)start;
        if (s->Check != SlabHeader.CheckWord(s) || head + (1UL << s->Order) <= at || (uint)s->Class >= SizeClasses.Count)
            return null;
        ulong offset = (ulong)(p - start);
        if (offset < s->FirstOffset)
            return null;
        ulong rel = offset - s->FirstOffset;
        ulong c = (rel * _reciprocal[s->Class]) >> 32;
        if (c >= s->Capacity || !SlabHeader.TestBit(s->InUse, (int)c))
            return null;
        byte* block = start + s->FirstOffset + c * s->ObjectSize;
        if (!IsTagged(block))
            return null;
        slab = s;
        cell = (int)c;
        return block;
    }

    /// <summary>
    /// Bounds of the memory the heap holds: from the lowest held head to the end of the highest one
    /// (a run's pages, or the largest slab). Nothing outside can be a heap object, so the
    /// conservative scan rejects most words with two compares. Empty heap: both null.
    /// </summary>
    internal void HeldBounds(out byte* low, out byte* high)
    {
        low = null;
        high = null;
        for (ulong w = 0; w < _bitmapWords; w++)
        {
            if (_held[w] != 0)
            {
                low = AddressOf(_basePfn + (w << 6) + (ulong)BitOperations.TrailingZeroCount(_held[w]));
                break;
            }
        }
        for (ulong w = _bitmapWords; w-- > 0;)
        {
            if (_held[w] != 0)
            {
                ulong head = (w << 6) + (ulong)BitOperations.Log2(_held[w]);
                ulong pages = IsRun(head) ? RunPages(_basePfn + head) : 1UL << MaxSlabOrder;
                high = AddressOf(_basePfn + head + pages);
                break;
            }
        }
    }

    /// <summary>Sets the mark of a block found by <see cref="ManagedBlockContaining"/>; true when it was not set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool SetMark(SlabHeader* slab, int cell, ulong runHead)
    {
        if (slab != null)
        {
            if (SlabHeader.TestBit(slab->Marks, cell))
                return false;
            SlabHeader.SetBit(slab->Marks, cell);
            return true;
        }
        ulong bit = 1UL << (int)(runHead & 63);
        if ((_largeMarks[runHead >> 6] & bit) != 0)
            return false;
        _largeMarks[runHead >> 6] |= bit;
        return true;
    }

    /// <summary>
    /// Calls <see cref="HeapCollector.TraceAndDrain"/> for every marked managed block (the mark
    /// stack's overflow fallback: a marked object whose children were not pushed gets them pushed
    /// now). Corruption from the collector ends the walk.
    /// </summary>
    internal HeapStatus RescanMarked(HeapCollector* collector)
    {
        HeldWalk walk = default;
        while (NextHeld(ref walk, out ulong index))
        {
            byte* start = AddressOf(_basePfn + index);
            if (IsRun(index))
            {
                if ((_largeMarks[index >> 6] & (1UL << (int)(index & 63))) != 0 && collector->TraceAndDrain(start + ObjectHeaderBytes) != HeapStatus.Ok)
                    return HeapStatus.Corruption;
                continue;
            }
            SlabHeader* slab = (SlabHeader*)start;
            for (int i = 0; i < SlabHeader.MaxObjects / 64; i++)
            {
                ulong marks = slab->Marks[i];
                while (marks != 0)
                {
                    int c = (i << 6) + BitOperations.TrailingZeroCount(marks);
                    marks &= marks - 1;
                    byte* block = start + slab->FirstOffset + (ulong)c * slab->ObjectSize;
                    if (collector->TraceAndDrain(block + ObjectHeaderBytes) != HeapStatus.Ok)
                        return HeapStatus.Corruption;
                }
            }
        }
        return HeapStatus.Ok;
    }

    /// <summary>A walk over the held bitmap's set bits (<see cref="NextHeld"/>): the next word to read and the current word's bits not yet given.</summary>
    private struct HeldWalk
    {
        internal ulong NextWord;
        internal ulong Bits;
    }

    /// <summary>
    /// The next held page's index (a slab or a run head) of <paramref name="walk"/>, in address order; false at the
    /// end. Each word of the bitmap is read once, when the walk reaches it, so the caller may clear bits of the
    /// current word and of the words behind it (a page it frees) without the walk seeing the change.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool NextHeld(ref HeldWalk walk, out ulong index)
    {
        while (walk.Bits == 0)
        {
            if (walk.NextWord >= _bitmapWords)
            {
                index = 0;
                return false;
            }
            walk.Bits = _held[walk.NextWord++];
        }
        index = ((walk.NextWord - 1) << 6) + (ulong)BitOperations.TrailingZeroCount(walk.Bits);
        walk.Bits &= walk.Bits - 1;
        return true;
    }

    /// <summary>A walk over a slab's in-use bits (<see cref="NextInUse"/>): the next word to read and the current word's bits not yet given.</summary>
    private struct CellWalk
    {
        internal int NextWord;
        internal ulong Bits;
    }

    /// <summary>
    /// The next in-use cell of <paramref name="slab"/> for <paramref name="walk"/>, in address order; false at the end.
    /// Each in-use word is read once, when the walk reaches it, so the caller may free cells of the current word
    /// (<see cref="FreeCell"/>) without the walk seeing the change.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool NextInUse(SlabHeader* slab, ref CellWalk walk, out ulong cell)
    {
        while (walk.Bits == 0)
        {
            if (walk.NextWord == SlabHeader.MaxObjects / 64)
            {
                cell = 0;
                return false;
            }
            walk.Bits = slab->InUse[walk.NextWord++];
        }
        cell = (ulong)(((walk.NextWord - 1) << 6) + BitOperations.TrailingZeroCount(walk.Bits));
        walk.Bits &= walk.Bits - 1;
        return true;
    }

    /// <summary>Whether cell <paramref name="cell"/> of <paramref name="slab"/> holds a managed object (<see cref="IsTagged"/>).</summary>
    private static bool IsTaggedCell(SlabHeader* slab, ulong cell)
    {
        return IsTagged((byte*)slab + slab->FirstOffset + cell * slab->ObjectSize);
    }

    /// <summary>
    /// The managed blocks the heap holds now (tagged cells and runs; raw blocks not counted): how many and
    /// their bytes (cell or run sizes, as the sweep counts them). Reads only. Right after a collection it is
    /// what the collection kept: the kernel refuses to drop a container's arena while it is not zero.
    /// </summary>
    public void ManagedInUse(out ulong objects, out ulong bytes)
    {
        objects = 0;
        bytes = 0;
        HeldWalk walk = default;
        while (NextHeld(ref walk, out ulong index))
        {
            byte* start = AddressOf(_basePfn + index);
            if (IsRun(index))
            {
                if (IsTagged(start))
                {
                    objects++;
                    bytes += RunPages(_basePfn + index) << Pfn.PageShift;
                }
                continue;
            }
            SlabHeader* slab = (SlabHeader*)start;
            CellWalk cells = default;
            while (NextInUse(slab, ref cells, out ulong cell))
                if (IsTaggedCell(slab, cell))
                {
                    objects++;
                    bytes += slab->ObjectSize;
                }
        }
    }

    /// <summary>
    /// The sweep: every managed block whose mark is clear is freed (cells to their slab, runs to
    /// their pool); every mark is cleared; raw blocks are not touched. Then the cached empty slabs
    /// go back to their pools (<see cref="Trim"/>), so a collection returns every page it emptied.
    /// Corruption when freeing fails (the pools refused a page the heap holds).
    /// </summary>
    internal HeapStatus Sweep(ref HeapSweepResult result)
    {
        ulong pagesBefore = PagesHeld;
        HeapStatus status = HeapStatus.Ok;
        for (ulong w = 0; w < _bitmapWords; w++)
        {
            ulong bits = _held[w];
            while (bits != 0)
            {
                int b = BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                ulong index = (w << 6) + (ulong)b;
                byte* start = AddressOf(_basePfn + index);
                if (IsRun(index))
                {
                    ulong bytes = RunPages(_basePfn + index) << Pfn.PageShift;
                    if ((_largeMarks[w] & (1UL << b)) != 0)
                    {
                        _largeMarks[w] &= ~(1UL << b);
                        result.LiveObjects++;
                        result.LiveBytes += bytes;
                    }
                    else if (IsTagged(start))
                    {
                        if (FreeLarge(index) != HeapStatus.Ok)
                            status = HeapStatus.Corruption;
                        result.FreedObjects++;
                        result.FreedBytes += bytes;
                    }
                    continue;
                }
                SweepSlab((SlabHeader*)start, ref result, ref status);
            }
        }
        Trim();
        ulong pagesAfter = PagesHeld;
        result.PagesBefore = pagesBefore;
        result.PagesAfter = pagesAfter;
        return status;
    }

    /// <summary>
    /// One slab of the sweep, over a copy of each in-use word. Freeing its last allocated cell may
    /// give the slab back to its pool, so the walk stops there and never touches the header again.
    /// </summary>
    private void SweepSlab(SlabHeader* slab, ref HeapSweepResult result, ref HeapStatus status)
    {
        if (slab->Check != SlabHeader.CheckWord(slab) || (uint)slab->Class >= SizeClasses.Count)
        {
            status = HeapStatus.Corruption;
            return;
        }
        int cls = slab->Class;
        ulong size = slab->ObjectSize;
        byte* cells = (byte*)slab + slab->FirstOffset;
        ulong allocated = (ulong)slab->Capacity - slab->FreeCount;
        for (int i = 0; i < SlabHeader.MaxObjects / 64; i++)
        {
            ulong inUse = slab->InUse[i];
            ulong marks = slab->Marks[i];
            slab->Marks[i] = 0;
            while (inUse != 0)
            {
                int t = BitOperations.TrailingZeroCount(inUse);
                inUse &= inUse - 1;
                if ((marks & (1UL << t)) != 0)
                {
                    result.LiveObjects++;
                    result.LiveBytes += size;
                    continue;
                }
                ulong c = (ulong)((i << 6) + t);
                if (!IsTagged(cells + c * size))
                    continue;
                FreeCell(slab, cls, c);
                result.FreedObjects++;
                result.FreedBytes += size;
                if (--allocated == 0)
                    return;
            }
        }
    }
}

/// <summary>What a sweep found: objects and bytes kept (cell or run sizes) and freed, pages held before and after.</summary>
public struct HeapSweepResult
{
    public ulong LiveObjects;
    public ulong LiveBytes;
    public ulong FreedObjects;
    public ulong FreedBytes;
    public ulong PagesBefore;
    public ulong PagesAfter;
}
