using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// Mark and sweep over the managed blocks of one or more <see cref="KernelHeap"/> instances (docs/gc.md):
/// the kernel's heap and the containers' arenas (docs/containers.md "Heap arenas"), which
/// <see cref="Attach"/> adds and <see cref="Detach"/> removes. Every instance over the same pools holds
/// pages no other one holds, so an address belongs to at most one of them: a reference is resolved by
/// asking the instances whose held bounds contain it, and marks, the overflow walk and the sweep run over
/// every instance, so a reference from one into another and back keeps both objects. Objects are laid out
/// the way ilc lays them out: a header word, then the MethodTable pointer (where a reference points),
/// then the fields; the references inside an object are found from the type's GC descriptor, the
/// series ilc places just before the MethodTable (<see cref="GcLayout"/>). A collection is:
/// <code>
///   c-&gt;Begin();
///   c-&gt;MarkReference(r) / c-&gt;TraceFields(staticBase) / c-&gt;MarkConservative(from, to);   // the roots
///   c-&gt;Drain();                 // Corruption: stop, c-&gt;Corruption says where; never sweep then
///   c-&gt;Sweep(out HeapSweepResult r);
/// </code>
/// The mark stack is an explicit array (no recursion: any depth of object graph). When it is full, a
/// newly marked object is not pushed and the collector remembers that it overflowed; after the
/// stack drains it walks every marked object and pushes their unmarked children again, until a pass
/// ends without overflow. References into the image range (frozen objects, statics, objects made
/// before the heap existed) are legal and not followed: the caller scans that range as a root.
/// Pure: no locks (the caller stops the world), no allocation, no exceptions.
/// </summary>
public unsafe struct HeapCollector
{
    /// <summary>Most heap instances one collector covers: one for every owner number (<see cref="FrameOwner.Count"/>).</summary>
    public const int MaxHeaps = FrameOwner.Count;

    /// <summary>The instances, [0, _heapCount): the first is the one <see cref="Initialize"/> was given.</summary>
    private fixed ulong _heaps[MaxHeaps];
    /// <summary>Each instance's held bounds at <see cref="Begin"/> (<see cref="KernelHeap.HeldBounds"/>).</summary>
    private fixed ulong _lows[MaxHeaps];
    private fixed ulong _highs[MaxHeaps];
    private int _heapCount;
    private byte** _stack;
    private ulong _capacity;
    private ulong _count;
    private bool _overflowed;
    private byte* _imageStart;
    private byte* _imageEnd;
    /// <summary>The held memory of every instance at <see cref="Begin"/> (lowest to highest): conservative words outside it are rejected at once.</summary>
    private byte* _heldLow;
    private byte* _heldHigh;

    /// <summary>The first corrupt reference found by the last <see cref="Drain"/> (Reason None: none).</summary>
    public GcCorruption Corruption;
    /// <summary>Objects marked in this collection.</summary>
    public ulong Marked;
    /// <summary>Times the mark stack was full in this collection, and passes of the fallback walk.</summary>
    public ulong Overflows;
    public ulong Rescans;

    /// <summary>
    /// Sets up a collector over <paramref name="heap"/> with a mark stack of <paramref name="capacity"/>
    /// entries at <paramref name="stack"/> (at least 1) and the image range [imageStart, imageEnd):
    /// references there are valid and not traced.
    /// </summary>
    public static HeapStatus Initialize(HeapCollector* collector, KernelHeap* heap, void* stack, ulong capacity, byte* imageStart, byte* imageEnd)
    {
        if (collector == null || heap == null || stack == null || capacity == 0 || imageEnd < imageStart)
            return HeapStatus.InvalidArgument;
        *collector = default;
        collector->_heaps[0] = (ulong)heap;
        collector->_heapCount = 1;
        collector->_stack = (byte**)stack;
        collector->_capacity = capacity;
        collector->_imageStart = imageStart;
        collector->_imageEnd = imageEnd;
        return HeapStatus.Ok;
    }

    /// <summary>Heap instances covered (at least 1).</summary>
    public int HeapCount { get { return _heapCount; } }

    /// <summary>
    /// Adds <paramref name="heap"/> (a heap over the same pools as the others, e.g. a container's arena) to
    /// what the collections mark and sweep, from the next <see cref="Begin"/> on. Refused, nothing changed:
    /// InvalidArgument for null or an instance already covered, OutOfMemory when <see cref="MaxHeaps"/> are.
    /// Not during a collection (the caller's lock, as for every call).
    /// </summary>
    public HeapStatus Attach(KernelHeap* heap)
    {
        if (heap == null || IndexOf(heap) >= 0)
            return HeapStatus.InvalidArgument;
        if (_heapCount == MaxHeaps)
            return HeapStatus.OutOfMemory;
        _heaps[_heapCount++] = (ulong)heap;
        return HeapStatus.Ok;
    }

    /// <summary>
    /// Removes <paramref name="heap"/>: collections no longer read or free anything of it, so its objects
    /// must no longer be referenced (the caller's rule; the kernel detaches an arena that holds no managed
    /// object). InvalidArgument when it is not covered or is the last one. Not during a collection.
    /// </summary>
    public HeapStatus Detach(KernelHeap* heap)
    {
        int i = heap == null ? -1 : IndexOf(heap);
        if (i < 0 || _heapCount == 1)
            return HeapStatus.InvalidArgument;
        _heaps[i] = _heaps[--_heapCount];
        _heaps[_heapCount] = 0;
        return HeapStatus.Ok;
    }

    private int IndexOf(KernelHeap* heap)
    {
        for (int i = 0; i < _heapCount; i++)
        {
            if (_heaps[i] == (ulong)heap)
                return i;
        }
        return -1;
    }

    /// <summary>Starts a collection: counters and the stack reset, every instance's held bounds read. Marks are clear between collections (the sweep clears them).</summary>
    public void Begin()
    {
        _count = 0;
        _overflowed = false;
        Corruption = default;
        Marked = 0;
        Overflows = 0;
        Rescans = 0;
        _heldLow = null;
        _heldHigh = null;
        for (int i = 0; i < _heapCount; i++)
        {
            ((KernelHeap*)_heaps[i])->HeldBounds(out byte* low, out byte* high);
            _lows[i] = (ulong)low;
            _highs[i] = (ulong)high;
            if (low == high)
                continue;
            if (_heldLow == null || low < _heldLow)
                _heldLow = low;
            if (high > _heldHigh)
                _heldHigh = high;
        }
    }

    /// <summary>
    /// The managed block containing <paramref name="p"/> in whichever instance holds its page
    /// (<see cref="KernelHeap.ManagedBlockContaining"/>), or null; <paramref name="heap"/> is that instance.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* BlockContaining(byte* p, out KernelHeap* heap, out SlabHeader* slab, out int cell, out ulong runHead)
    {
        for (int i = 0; i < _heapCount; i++)
        {
            if ((ulong)p < _lows[i] || (ulong)p >= _highs[i])
                continue;
            heap = (KernelHeap*)_heaps[i];
            byte* block = heap->ManagedBlockContaining(p, out slab, out cell, out runHead);
            if (block != null)
                return block;
        }
        heap = null;
        slab = null;
        cell = -1;
        runHead = ulong.MaxValue;
        return null;
    }

    /// <summary>
    /// A conservative root range: every 8-aligned word in [from, to) that points into a managed
    /// block (anywhere in it: interior pointers count) marks that object. Words that point anywhere
    /// else are ignored: the range is not known to hold references (a stack, raw memory).
    /// </summary>
    public void MarkConservative(byte* from, byte* to)
    {
        ulong* w = (ulong*)(((ulong)from + 7) & ~7UL);
        ulong* end = (ulong*)((ulong)to & ~7UL);
        for (; w < end; w++)
        {
            byte* value = (byte*)*w;
            if (value < _heldLow || value >= _heldHigh)
                continue;
            byte* block = BlockContaining(value, out KernelHeap* heap, out SlabHeader* slab, out int cell, out ulong runHead);
            if (block != null && heap->SetMark(slab, cell, runHead))
                Push(block + KernelHeap.ObjectHeaderBytes);
        }
    }

    /// <summary>
    /// A precise root: <paramref name="reference"/> is null, a managed object's reference, or in the
    /// image range. Anything else is corruption (recorded with <paramref name="holder"/> as the
    /// object and <paramref name="offset"/> as the field; null holder: a root table).
    /// </summary>
    public HeapStatus MarkReference(byte* reference, byte* holder, ulong offset)
    {
        if (reference == null || (reference >= _imageStart && reference < _imageEnd))
            return HeapStatus.Ok;
        byte* block = BlockContaining(reference - KernelHeap.ObjectHeaderBytes, out KernelHeap* heap, out SlabHeader* slab, out int cell, out ulong runHead);
        if (block == null || block + KernelHeap.ObjectHeaderBytes != reference)
        {
            if (Corruption.Reason == GcCorruptionReason.None)
            {
                Corruption.Reason = block == null ? GcCorruptionReason.OutsideEveryObject : GcCorruptionReason.InsideAnObject;
                Corruption.Object = holder;
                Corruption.Type = holder == null ? null : *(byte**)holder;
                Corruption.FieldOffset = offset;
                Corruption.Value = reference;
            }
            return HeapStatus.Corruption;
        }
        if (heap->SetMark(slab, cell, runHead))
            Push(reference);
        return HeapStatus.Ok;
    }

    /// <summary>
    /// The compiler's frozen objects (literals, preinitialised data), laid one after the other from
    /// <paramref name="from"/>, each [header word][type][data] rounded to 8 bytes: those whose type has
    /// references are scanned conservatively (kernel code may store into them; scanning them
    /// conservatively is safe even if the walk misreads one), the others (strings, value arrays,
    /// whose characters look like small addresses) are skipped. The walk stops at
    /// <paramref name="limit"/> or at the first word pair that is not an object (its type not in
    /// [typesLow, typesHigh) or 8-aligned, or a size below 16 or past the limit); returns where it
    /// stopped, so the caller can scan the rest conservatively.
    /// </summary>
    public byte* MarkFrozenObjects(byte* from, byte* limit, byte* typesLow, byte* typesHigh)
    {
        byte* at = (byte*)(((ulong)from + 7) & ~7UL);
        while (at + 16 <= limit)
        {
            byte* type = *(byte**)(at + 8);
            if (type < typesLow || type + 8 > typesHigh || ((ulong)type & 7) != 0)
                break;
            ulong bytes = (GcLayout.ObjectBytes(at + 8) + 7) & ~7UL;
            if (bytes < 16 || bytes > (ulong)(limit - at))
                break;
            if (GcLayout.HasPointers(type))
                MarkConservative(at + 16, at + bytes);
            at += bytes;
        }
        return at;
    }

    /// <summary>
    /// A range holding managed objects that are not the heap's (the boot allocator's arena) mixed
    /// with other data (page tables, raw blocks): every 8-aligned word that equals the managed tag
    /// keyed by its own address is an object's header, whose fields are traced precisely
    /// (<see cref="TraceFields"/>); everything else is skipped, so page-table entries keep nothing.
    /// </summary>
    public HeapStatus TraceTaggedObjects(byte* from, byte* to)
    {
        ulong* w = (ulong*)(((ulong)from + 7) & ~7UL);
        ulong* end = (ulong*)((ulong)to & ~7UL);
        while (w + 1 < end)
        {
            if (!KernelHeap.IsTagged((byte*)w))
            {
                w++;
                continue;
            }
            byte* obj = (byte*)(w + 1);
            if (TraceObject(obj) != HeapStatus.Ok)
                return HeapStatus.Corruption;
            w += (GcLayout.ObjectBytes(obj) + 7) >> 3;
        }
        return HeapStatus.Ok;
    }

    /// <summary>
    /// Traces the fields of an object that is not in the heap (a GC static base, an object in the
    /// image) as precise references, without marking it; its references are checked like any other.
    /// </summary>
    public HeapStatus TraceFields(byte* obj) => TraceObject(obj);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Push(byte* obj)
    {
        Marked++;
        if (_count < _capacity)
        {
            _stack[_count++] = obj;
            return;
        }
        _overflowed = true;
        Overflows++;
    }

    /// <summary>
    /// Traces everything reachable from what was marked: pops and traces until the stack is empty,
    /// then, while it overflowed, walks the marked objects again. Corruption: the first bad reference
    /// is in <see cref="Corruption"/>; marking stopped, nothing was freed, the caller must not sweep.
    /// </summary>
    public HeapStatus Drain()
    {
        fixed (HeapCollector* self = &this)
        {
            if (DrainStack() != HeapStatus.Ok)
                return HeapStatus.Corruption;
            while (_overflowed)
            {
                _overflowed = false;
                Rescans++;
                for (int i = 0; i < _heapCount; i++)
                {
                    if (((KernelHeap*)_heaps[i])->RescanMarked(self) != HeapStatus.Ok)
                        return HeapStatus.Corruption;
                }
            }
        }
        return HeapStatus.Ok;
    }

    /// <summary>The fallback walk's step: trace one marked object, then empty the stack.</summary>
    internal HeapStatus TraceAndDrain(byte* obj)
    {
        if (TraceObject(obj) != HeapStatus.Ok)
            return HeapStatus.Corruption;
        return DrainStack();
    }

    private HeapStatus DrainStack()
    {
        while (_count != 0)
        {
            byte* obj = _stack[--_count];
            if (TraceObject(obj) != HeapStatus.Ok)
                return HeapStatus.Corruption;
        }
        return HeapStatus.Ok;
    }

    /// <summary>
    /// Every reference field of <paramref name="obj"/> (a reference: its MethodTable pointer's
    /// address), from its type's GC descriptor: ordinary series (fields; arrays of references, whose
    /// series covers the elements) or, for arrays of structs holding references, the repeating
    /// series. Types without the HasPointers flag (strings, arrays of values) have none. Nor has an
    /// object whose type word is still null: a block the heap tagged for a CPU that was stopped
    /// before it wrote the MethodTable (the runtime writes it after the heap lock is released); its
    /// fields are still the heap's zeroes.
    /// </summary>
    private HeapStatus TraceObject(byte* obj)
    {
        byte* type = *(byte**)obj;
        if (type == null || !GcLayout.HasPointers(type))
            return HeapStatus.Ok;
        ulong size = GcLayout.ObjectBytes(obj);
        long series = GcLayout.SeriesCount(type);
        if (series > 0)
        {
            for (long i = 0; i < series; i++)
            {
                GcLayout.Series(type, i, out ulong start, out ulong bytes, size);
                for (ulong at = start; at < start + bytes; at += 8)
                {
                    if (MarkReference(*(byte**)(obj + at), obj, at) != HeapStatus.Ok)
                        return HeapStatus.Corruption;
                }
            }
            return HeapStatus.Ok;
        }
        // Repeating series: from the first element's offset to the object's end, each element is
        // (nptrs references, then skip bytes) for each of the -series items.
        ulong offset = GcLayout.RepeatStart(type);
        ulong end = size - KernelHeap.ObjectHeaderBytes;
        while (offset < end)
        {
            ulong elementStart = offset;
            for (long i = 0; i > series; i--)
            {
                GcLayout.RepeatItem(type, i, out uint pointers, out uint skip);
                for (uint k = 0; k < pointers; k++, offset += 8)
                {
                    if (MarkReference(*(byte**)(obj + offset), obj, offset) != HeapStatus.Ok)
                        return HeapStatus.Corruption;
                }
                offset += skip;
            }
            if (offset == elementStart)
                return HeapStatus.Ok;   // an element of no bytes: a malformed descriptor, nothing to trace
        }
        return HeapStatus.Ok;
    }

    /// <summary>
    /// The sweep of every instance (<see cref="KernelHeap.Sweep"/>), its counts summed (pages before and after:
    /// all instances together): only after a <see cref="Drain"/> that returned Ok. Corruption when any
    /// instance's sweep found it; the others are swept all the same (their marks must be cleared).
    /// </summary>
    public HeapStatus Sweep(out HeapSweepResult result)
    {
        result = default;
        HeapStatus status = HeapStatus.Ok;
        for (int i = 0; i < _heapCount; i++)
        {
            HeapSweepResult one = default;
            if (((KernelHeap*)_heaps[i])->Sweep(ref one) != HeapStatus.Ok)
                status = HeapStatus.Corruption;
            result.LiveObjects += one.LiveObjects;
            result.LiveBytes += one.LiveBytes;
            result.FreedObjects += one.FreedObjects;
            result.FreedBytes += one.FreedBytes;
            result.PagesBefore += one.PagesBefore;
            result.PagesAfter += one.PagesAfter;
        }
        return status;
    }
}

/// <summary>Why a traced reference is corrupt.</summary>
public enum GcCorruptionReason : byte
{
    None = 0,
    /// <summary>Outside every managed object of the heap and outside the image (a freed cell, a raw block, foreign memory).</summary>
    OutsideEveryObject = 1,
    /// <summary>Inside a managed object, not at its MethodTable pointer.</summary>
    InsideAnObject = 2,
}

/// <summary>A corrupt reference: the object holding it (null for a root table), its type, the field's offset from the reference, the value.</summary>
public unsafe struct GcCorruption
{
    public GcCorruptionReason Reason;
    public byte* Object;
    public byte* Type;
    public ulong FieldOffset;
    public byte* Value;
}
