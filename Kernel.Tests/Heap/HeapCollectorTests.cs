using System.Runtime.InteropServices;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Heap;

/// <summary>
/// Synthetic types laid out as ilc lays them out (flags and base size, the GC descriptor below the
/// MethodTable), and objects of them in a host heap: what the collector reads in the kernel.
/// </summary>
internal sealed unsafe class SyntheticTypes : IDisposable
{
    private readonly List<nint> _blocks = new();

    /// <summary>A descriptor: <paramref name="words"/> words below the MethodTable, then the 24-byte fixed MethodTable part.</summary>
    private byte* Make(ulong[] below, uint flags, uint baseSize)
    {
        int bytes = below.Length * 8 + 24;
        byte* block = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
        _blocks.Add((nint)block);
        for (int i = 0; i < below.Length; i++)
            ((ulong*)block)[i] = below[i];
        byte* type = block + below.Length * 8;
        *(uint*)type = flags;
        *(uint*)(type + 4) = baseSize;
        return type;
    }

    /// <summary>A class with reference fields at <paramref name="refOffsets"/> (from the reference, ascending); <paramref name="fields"/> field words in all.</summary>
    public byte* Class(int fields, params int[] refOffsets)
    {
        uint baseSize = (uint)(16 + fields * 8);
        if (refOffsets.Length == 0)
            return Make(Array.Empty<ulong>(), 0, baseSize);
        // Consecutive offsets make one series, as the compiler emits them.
        var series = new List<(ulong start, ulong bytes)>();
        foreach (int o in refOffsets)
        {
            if (series.Count > 0 && series[^1].start + series[^1].bytes == (ulong)o)
                series[^1] = (series[^1].start, series[^1].bytes + 8);
            else
                series.Add(((ulong)o, 8));
        }
        var words = new List<ulong>();
        for (int i = series.Count - 1; i >= 0; i--)
        {
            words.Add(series[i].bytes - baseSize);
            words.Add(series[i].start);
        }
        words.Add((ulong)series.Count);
        return Make(words.ToArray(), GcLayout.HasPointersFlag, baseSize);
    }

    /// <summary>object[]: base size 24 (header, MethodTable, length + pad), one series from offset 16 over the elements.</summary>
    public byte* ReferenceArray() => Make(new ulong[] { unchecked((ulong)-24L), 16, 1 }, GcLayout.HasPointersFlag | GcLayout.HasComponentSizeFlag | 8, 24);

    /// <summary>An array of values (ulong[] when 8, string-like when 2): no pointers.</summary>
    public byte* ValueArray(ushort componentSize) => Make(Array.Empty<ulong>(), GcLayout.HasComponentSizeFlag | componentSize, 24);

    /// <summary>An array of struct { object A; long B; object C; } (24 bytes): a repeating series of two items.</summary>
    public byte* StructArray() => Make(new ulong[] { (0UL << 32) | 1, (8UL << 32) | 1, 16, unchecked((ulong)-2L) },
        GcLayout.HasPointersFlag | GcLayout.HasComponentSizeFlag | 24, 24);

    /// <summary>Bounds of every type made so far (the "image" a frozen-object walk checks types against).</summary>
    public byte* Lowest => (byte*)_blocks.Min();
    public byte* Highest => (byte*)_blocks.Max() + 4096;

    public void Dispose()
    {
        foreach (nint b in _blocks)
            NativeMemory.Free((void*)b);
    }
}

/// <summary>Mark and sweep over synthetic layouts: roots, cycles, depth, interior pointers, skipped values, slabs back to the pools, corruption.</summary>
public unsafe class HeapCollectorTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public HeapCollectorTests(ITestOutputHelper output) => _output = output;

    private sealed class Fixture : IDisposable
    {
        public readonly HostHeap H = HostHeap.Boot("q35", 128 * MiB, 1);
        public readonly SyntheticTypes Types = new();
        public readonly HeapCollector* C;
        private readonly void* _stack;
        public readonly byte* Image;

        public Fixture(ulong stackEntries = 1024)
        {
            _stack = NativeMemory.Alloc((nuint)(stackEntries * 8));
            C = (HeapCollector*)NativeMemory.AllocZeroed((nuint)sizeof(HeapCollector));
            Image = (byte*)NativeMemory.AllocZeroed(4096);
            Assert.Equal(HeapStatus.Ok, HeapCollector.Initialize(C, H.Heap, _stack, stackEntries, Image, Image + 4096));
        }

        public byte* New(byte* type, uint length = 0)
        {
            ulong size = *(uint*)(type + 4);
            if ((*(uint*)type & GcLayout.HasComponentSizeFlag) != 0)
                size += (ulong)(ushort)*(uint*)type * length;
            byte* block = (byte*)H.Heap->AllocObject(size, 0);
            Assert.True(block != null);
            byte* obj = block + 8;
            *(byte**)obj = type;
            *(uint*)(obj + 8) = length;
            return obj;
        }

        public bool Alive(byte* obj)
        {
            // A freed object's slab may be back in its pool: then Describe says Foreign.
            return H.Heap->Describe(obj, out HeapObjectInfo info) == HeapStatus.Ok && info.Allocated && info.Start == obj - 8 && KernelHeap.IsTagged(obj - 8);
        }

        public HeapSweepResult Collect(params nint[] roots)
        {
            C->Begin();
            foreach (nint r in roots)
                Assert.Equal(HeapStatus.Ok, C->MarkReference((byte*)r, null, 0));
            Assert.Equal(HeapStatus.Ok, C->Drain());
            Assert.Equal(HeapStatus.Ok, C->Sweep(out HeapSweepResult result));
            H.Consistent();
            return result;
        }

        public void Dispose()
        {
            NativeMemory.Free(_stack);
            NativeMemory.Free(C);
            NativeMemory.Free(Image);
            Types.Dispose();
            H.Dispose();
        }
    }

    private static void Set(byte* obj, int offset, byte* value) => *(byte**)(obj + offset) = value;

    [Fact]
    public void ReachableObjectsAndCyclesSurviveUnreachableAreFreed()
    {
        using var f = new Fixture();
        byte* node = f.Types.Class(3, 8, 24);          // next at 8, a long at 16, other at 24
        byte* a = f.New(node), b = f.New(node), c = f.New(node);
        byte* lost1 = f.New(node), lost2 = f.New(node);
        Set(a, 8, b); Set(b, 8, c); Set(c, 8, a);        // a cycle from the root
        Set(b, 24, b);                                   // a self-reference
        Set(lost1, 8, lost2); Set(lost2, 8, lost1);      // an unreachable cycle
        Set(lost1, 24, a);                               // pointing into the live set keeps nothing
        *(long*)(a + 16) = 1234;
        HeapSweepResult r = f.Collect((nint)a);
        Assert.True(f.Alive(a) && f.Alive(b) && f.Alive(c));
        Assert.False(f.Alive(lost1));
        Assert.False(f.Alive(lost2));
        Assert.Equal(2UL, r.FreedObjects);
        Assert.Equal(3UL, r.LiveObjects);
        Assert.Equal(1234L, *(long*)(a + 16));
        Assert.True(*(byte**)(c + 8) == a);
        // Marks are clear after the sweep: a second collection with no root frees the rest.
        r = f.Collect();
        Assert.Equal(3UL, r.FreedObjects);
        Assert.Equal(0UL, f.H.Heap->GetTotals().SmallObjects);
    }

    [Fact]
    public void DeepChainsAndWideArraysWithATinyMarkStackUseTheOverflowWalk()
    {
        using var f = new Fixture(stackEntries: 4);
        byte* node = f.Types.Class(2, 8);
        byte* head = f.New(node);
        byte* at = head;
        for (int i = 0; i < 20000; i++)
        {
            byte* next = f.New(node);
            Set(at, 8, next);
            at = next;
        }
        byte* array = f.New(f.Types.ReferenceArray(), 3000);   // a large run: 3000 x 8 + 24 bytes
        for (int i = 0; i < 3000; i++)
            Set(array, 16 + i * 8, f.New(node));
        HeapSweepResult r = f.Collect((nint)head, (nint)array);
        Assert.Equal(20001UL + 3001, r.LiveObjects);
        Assert.Equal(0UL, r.FreedObjects);
        Assert.True(f.C->Overflows > 0 && f.C->Rescans > 0, $"overflows {f.C->Overflows} rescans {f.C->Rescans}");
        for (at = head; at != null; at = *(byte**)(at + 8))
            Assert.True(f.Alive(at));
        _output.WriteLine($"overflows {f.C->Overflows}, fallback passes {f.C->Rescans}");
    }

    [Fact]
    public void AnObjectWhoseTypeIsNotWrittenYetIsKeptFromAStackWordAndNotTraced()
    {
        // Another CPU was stopped between the heap's tagged block and the runtime's MethodTable
        // store: the block holds the tag, a null type word and zeroes; a word in that CPU's
        // registers or stack keeps it, tracing finds no fields, and the next collection frees it.
        using var f = new Fixture();
        byte* block = (byte*)f.H.Heap->AllocObject(48, 0);
        Assert.True(block != null && KernelHeap.IsTagged(block));
        byte* obj = block + 8;
        Assert.True(*(byte**)obj == null);
        byte* other = f.New(f.Types.Class(2, 8));
        ulong* stack = stackalloc ulong[2] { (ulong)block + 16, 0 };
        f.C->Begin();
        f.C->MarkConservative((byte*)stack, (byte*)(stack + 2));
        Assert.Equal(HeapStatus.Ok, f.C->Drain());
        Assert.Equal(HeapStatus.Ok, f.C->Sweep(out HeapSweepResult r));
        f.H.Consistent();
        Assert.True(f.Alive(obj));
        Assert.False(f.Alive(other));
        Assert.Equal(1UL, r.LiveObjects);
        Assert.Equal(1UL, r.FreedObjects);
        Assert.Equal(0UL, f.Collect().LiveObjects);
        Assert.False(f.Alive(obj));
    }

    [Fact]
    public void InteriorPointersFromAConservativeRangeKeepTheirObject()
    {
        using var f = new Fixture();
        byte* plain = f.Types.Class(4);
        byte* small = f.New(plain), header = f.New(plain), run = f.New(f.Types.ValueArray(8), 2000), lost = f.New(plain);
        byte* raw = (byte*)f.H.Heap->Alloc(64, 0, 0);
        ulong* range = stackalloc ulong[8];
        range[0] = (ulong)(small + 21);                  // inside a field
        range[1] = (ulong)(header - 8);                  // the header word
        range[2] = (ulong)(run + 9000);                  // inside a large run
        range[3] = (ulong)raw;                            // a raw block: not an object
        range[4] = 12345;                                 // not heap memory
        range[5] = (ulong)f.H.DirectMapBase + 17;         // below the span
        range[6] = 0;
        range[7] = (ulong)(lost + 4096 * 64);             // past it, somewhere else
        f.C->Begin();
        f.C->MarkConservative((byte*)range, (byte*)(range + 8));
        Assert.Equal(HeapStatus.Ok, f.C->Drain());
        Assert.Equal(HeapStatus.Ok, f.C->Sweep(out HeapSweepResult r));
        f.H.Consistent();
        Assert.True(f.Alive(small) && f.Alive(header) && f.Alive(run));
        Assert.False(f.Alive(lost));
        Assert.Equal(HeapStatus.Ok, f.H.Heap->Describe(raw, out HeapObjectInfo info));
        Assert.True(info.Allocated, "raw blocks are never swept");
        Assert.Equal(1UL, r.FreedObjects);
    }

    [Fact]
    public void StringsAndValueArraysAreNotTracedStructArraysAre()
    {
        using var f = new Fixture();
        byte* plain = f.Types.Class(2);
        byte* values = f.New(f.Types.ValueArray(8), 4);
        byte* chars = f.New(f.Types.ValueArray(2), 16);
        byte* structs = f.New(f.Types.StructArray(), 3);
        byte* hidden1 = f.New(plain), hidden2 = f.New(plain);
        byte* k0 = f.New(plain), k1 = f.New(plain), k2 = f.New(plain), notRef = f.New(plain);
        Set(values, 16, hidden1);                         // looks like a reference, is a value
        Set(chars, 16, hidden2);
        // struct { object A; long B; object C; }[3] from offset 16: A at +0, B at +8, C at +16.
        Set(structs, 16, k0);
        *(byte**)(structs + 16 + 8) = notRef;             // B: a long that looks like a reference
        Set(structs, 16 + 16, k1);
        Set(structs, 16 + 24 + 16, k2);
        HeapSweepResult r = f.Collect((nint)values, (nint)chars, (nint)structs);
        Assert.True(f.Alive(k0) && f.Alive(k1) && f.Alive(k2));
        Assert.False(f.Alive(hidden1));
        Assert.False(f.Alive(hidden2));
        Assert.False(f.Alive(notRef));
        Assert.Equal(3UL, r.FreedObjects);
    }

    [Fact]
    public void EmptiedSlabsAndRunsGoBackToThePool()
    {
        using var f = new Fixture();
        ulong start = f.H.FreePages;
        byte* node = f.Types.Class(2, 8);
        byte* keep = f.New(node);
        ulong afterKeep = f.H.FreePages;
        for (int i = 0; i < 50000; i++)
            f.New(node);
        for (int i = 0; i < 20; i++)
            f.New(f.Types.ReferenceArray(), 5000);
        Assert.True(f.H.FreePages < afterKeep - 100);
        HeapSweepResult r = f.Collect((nint)keep);
        Assert.Equal(50020UL, r.FreedObjects);
        Assert.Equal(afterKeep, f.H.FreePages);
        Assert.Equal(start - afterKeep, r.PagesAfter);
        Assert.True(f.Alive(keep));
        r = f.Collect();
        Assert.Equal(start, f.H.FreePages);
        Assert.Equal(0UL, f.H.Heap->PagesHeld);
    }

    [Fact]
    public void TaggedObjectsOutsideTheHeapAreTracedAndOtherWordsThereAreSkipped()
    {
        using var f = new Fixture();
        byte* node = f.Types.Class(2, 8);
        byte* kept = f.New(node), onlyFromATableEntry = f.New(node);
        ulong* arena = (ulong*)NativeMemory.AllocZeroed(4096);
        try
        {
            arena[0] = (ulong)onlyFromATableEntry | 0x83;          // a page-table entry: looks like a pointer, is not an object
            arena[5] = KernelHeap.ManagedTag ^ (ulong)(arena + 5);  // a boot object: header, type, field
            arena[6] = (ulong)node;
            arena[7] = (ulong)kept;
            arena[9] = (ulong)onlyFromATableEntry;                 // past the object: raw data, skipped
            f.C->Begin();
            Assert.Equal(HeapStatus.Ok, f.C->TraceTaggedObjects((byte*)arena, (byte*)(arena + 512)));
            Assert.Equal(HeapStatus.Ok, f.C->Drain());
            Assert.Equal(HeapStatus.Ok, f.C->Sweep(out HeapSweepResult r));
            f.H.Consistent();
            Assert.True(f.Alive(kept));
            Assert.False(f.Alive(onlyFromATableEntry));
            Assert.Equal(1UL, r.FreedObjects);
            // A tagged object there with a dangling field is corruption like any other.
            arena[7] = 0x10;
            f.C->Begin();
            Assert.Equal(HeapStatus.Corruption, f.C->TraceTaggedObjects((byte*)arena, (byte*)(arena + 512)));
            Assert.True(f.C->Corruption.Object == (byte*)(arena + 6) && f.C->Corruption.FieldOffset == 8);
            f.H.Heap->ClearMarks();
        }
        finally
        {
            NativeMemory.Free(arena);
        }
    }

    [Fact]
    public void FrozenObjectsWithReferencesAreScannedStringsAreSkippedAndTheWalkStopsAtTheEnd()
    {
        using var f = new Fixture();
        byte* node = f.Types.Class(2, 8);
        byte* chars = f.Types.ValueArray(2);
        byte* kept = f.New(node), lookalike = f.New(node), afterTheWalk = f.New(node);
        ulong* segment = (ulong*)NativeMemory.AllocZeroed(4096);
        try
        {
            // A "string" of 8 characters whose bytes hold an address: [header][type][length 8][16 bytes].
            segment[1] = (ulong)chars;
            segment[2] = 8;
            segment[3] = (ulong)lookalike;
            // An object with a reference field: [header][type][field].
            segment[6] = (ulong)node;
            segment[7] = (ulong)kept;
            // Then (at word 9, after the 32-byte object) something that is not an object: the walk stops there.
            segment[9] = 12345;
            segment[12] = (ulong)afterTheWalk;
            f.C->Begin();
            byte* end = f.C->MarkFrozenObjects((byte*)segment, (byte*)(segment + 512), f.Types.Lowest, f.Types.Highest);
            Assert.True(end == (byte*)(segment + 9), $"walk ended {(ulong)end - (ulong)segment} bytes in");
            Assert.Equal(HeapStatus.Ok, f.C->Drain());
            Assert.Equal(HeapStatus.Ok, f.C->Sweep(out HeapSweepResult r));
            f.H.Consistent();
            Assert.True(f.Alive(kept));
            Assert.False(f.Alive(lookalike));
            Assert.False(f.Alive(afterTheWalk));
        }
        finally
        {
            NativeMemory.Free(segment);
        }
    }

    [Fact]
    public void ImageReferencesAreValidAndNotFollowed()
    {
        using var f = new Fixture();
        byte* holder = f.New(f.Types.Class(2, 8, 16));
        Set(holder, 8, f.Image + 64);
        HeapSweepResult r = f.Collect((nint)holder, (nint)(f.Image + 8));
        Assert.True(f.Alive(holder));
        Assert.Equal(0UL, r.FreedObjects);
    }

    [Fact]
    public void CorruptReferencesAreReportedWithObjectTypeAndFieldAndNothingIsFreed()
    {
        using var f = new Fixture();
        byte* type = f.Types.Class(3, 8, 16, 24);
        byte* holder = f.New(type), target = f.New(type), freed = f.New(type);
        Assert.Equal(HeapStatus.Ok, f.H.Heap->Free(freed - 8));
        byte* raw = (byte*)f.H.Heap->Alloc(40, 0, 0);
        var cases = new (nint value, GcCorruptionReason reason)[]
        {
            ((nint)freed, GcCorruptionReason.OutsideEveryObject),           // a dangling reference to a free cell
            ((nint)(target + 8), GcCorruptionReason.InsideAnObject),       // inside an object
            ((nint)(raw + 8), GcCorruptionReason.OutsideEveryObject),      // a raw block
            (0x1234, GcCorruptionReason.OutsideEveryObject),               // nowhere
        };
        foreach (var (value, reason) in cases)
        {
            Set(holder, 8, target);
            Set(holder, 24, (byte*)value);
            byte[] before = f.H.Snapshot();
            f.C->Begin();
            Assert.Equal(HeapStatus.Ok, f.C->MarkReference(holder, null, 0));
            Assert.Equal(HeapStatus.Corruption, f.C->Drain());
            GcCorruption bad = f.C->Corruption;
            Assert.Equal(reason, bad.Reason);
            Assert.True(bad.Object == holder && bad.Type == type && bad.Value == (byte*)value);
            Assert.Equal(24UL, bad.FieldOffset);
            // Nothing was freed: only mark bits changed, and the objects are all allocated.
            Assert.True(f.Alive(holder) && f.Alive(target));
            Assert.Equal(before.Length, f.H.Snapshot().Length);
            f.H.Heap->ClearMarks();
        }
        Set(holder, 24, null);
        HeapSweepResult r = f.Collect((nint)holder);
        Assert.Equal(2UL, r.LiveObjects);
    }

    /// <summary>Random graphs (2 seeds x 3,000 objects by default; POOLKERNEL_GC_SEEDS, _OPS; replay POOLKERNEL_GC_SEED): exactly the objects a reference walk reaches survive.</summary>
    [Fact]
    public void RandomGraphsKeepExactlyWhatIsReachable()
        => SeededRuns.Run(_output, "gc random graphs", "POOLKERNEL_GC", 2, 3000, RandomGraph);

    private static void RandomGraph(int seed, int objects)
    {
        using var f = new Fixture(stackEntries: 16);
        var rng = new Random(seed);
        byte* node = f.Types.Class(4, 8, 16, 32);
        byte* array = f.Types.ReferenceArray();
        var all = new List<nint>();
        for (int i = 0; i < objects; i++)
            all.Add((nint)(rng.Next(20) == 0 ? f.New(array, (uint)rng.Next(1, 600)) : f.New(node)));
        var edges = new Dictionary<nint, List<(int offset, nint to)>>();
        foreach (nint o in all)
        {
            byte* obj = (byte*)o;
            var list = new List<(int, nint)>();
            int[] offsets = *(byte**)obj == array
                ? Enumerable.Range(0, (int)*(uint*)(obj + 8)).Select(k => 16 + k * 8).ToArray()
                : new[] { 8, 16, 32 };
            foreach (int off in offsets)
            {
                nint to = rng.Next(3) == 0 ? all[rng.Next(all.Count)] : 0;
                Set(obj, off, (byte*)to);
                list.Add((off, to));
            }
            edges[o] = list;
        }
        var roots = Enumerable.Range(0, 5).Select(_ => all[rng.Next(all.Count)]).ToArray();
        var reach = new HashSet<nint>();
        var work = new Stack<nint>(roots);
        while (work.Count > 0)
        {
            nint o = work.Pop();
            if (o == 0 || !reach.Add(o))
                continue;
            foreach (var (_, to) in edges[o])
                work.Push(to);
        }
        HeapSweepResult r = f.Collect(roots);
        Assert.Equal((ulong)reach.Count, r.LiveObjects);
        Assert.Equal((ulong)(all.Count - reach.Count), r.FreedObjects);
        foreach (nint o in reach)
            Assert.True(f.Alive((byte*)o), $"seed {seed}: reachable {o:x} freed");
    }
}
