using PoolKernel.Tests.Support;
using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Heap;

/// <summary>
/// Seeded random allocations and frees on a small two-node map (so out of memory and node
/// fallback happen), sizes mostly small with some page runs and some alignments, plus refused
/// frees (double, interior) that must change nothing. After every operation: the heap checker and
/// the pools' checker; every live object keeps its tag (no overlap), every new object is zeroed and
/// aligned. At the end everything is freed and trimmed and the pools are back to their start. Odd seeds
/// run the heap with its portable zeroing routine, even seeds with the host's.
/// Defaults: 300 seeds x 2,000 operations (about 15 s on two cores). Longer runs: POOLKERNEL_HEAP_SEEDS, POOLKERNEL_HEAP_OPS;
/// replay one seed: POOLKERNEL_HEAP_SEED. A failure names its seed and operation.
/// </summary>
public unsafe class HeapRandomTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public HeapRandomTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void RandomAllocFreeKeepsEveryInvariant()
        => SeededRuns.Run(_output, "heap random operations", "POOLKERNEL_HEAP", 300, 2000, RunSeed);

    /// <summary>Two nodes of 4 MiB and 3 MiB with a hole: small enough that seeds run out of memory.</summary>
    private static MemoryRegion[] Map() => new[]
    {
        new MemoryRegion(0x100000, 0x400000, MemoryType.Available, 0),
        new MemoryRegion(0x500000, 0x40000, MemoryType.Reserved, 0),
        new MemoryRegion(0x800000, 0x300000, MemoryType.Available, 1),
    };

    private struct Live
    {
        public ulong Size;
        public ulong Tag;
    }

    private static void Fail(int op, string what) => throw new Xunit.Sdk.XunitException($"operation {op}: {what}");

    private static void RunSeed(int seed, int ops)
    {
        var rng = new Random(seed);
        // Odd seeds zero with the heap's portable routine, even ones with the host's (HostHeap.Zero).
        using var h = new HostHeap(new HostPhysicalMemory(Map(), QemuMaps.TwoNodeDistances), portableZeroing: seed % 2 == 1);
        KernelHeap* heap = h.Heap;
        ulong start = h.FreePages;
        var live = new Dictionary<nint, Live>();
        var keys = new List<nint>();
        for (int op = 0; op < ops; op++)
        {
            int r = rng.Next(100);
            if (r < 55 || keys.Count == 0)
            {
                ulong size = rng.Next(10) switch
                {
                    < 6 => (ulong)rng.Next(0, 129),
                    < 9 => (ulong)rng.Next(129, 2049),
                    _ => (ulong)rng.Next(2049, 64 * 1024),
                };
                ulong align = rng.Next(8) == 0 ? 1UL << rng.Next(3, 14) : 0;
                int node = rng.Next(2);
                HeapStatus status = heap->Alloc(size, align, node, out void* pv);
                byte* p = (byte*)pv;
                if (status != HeapStatus.Ok)
                {
                    if (status != HeapStatus.OutOfMemory || p != null)
                        Fail(op, $"alloc({size}, {align}) returned {status}");
                    HeapFailure f = heap->LastFailure;
                    if (f.RequestedBytes != size || f.FreePagesAtFailure != h.FreePages)
                        Fail(op, $"failure report: asked {f.RequestedBytes}, free {f.FreePagesAtFailure} vs {h.FreePages}");
                }
                else
                {
                    if (align != 0 && (ulong)(p - h.DirectMapBase) % align != 0)
                        Fail(op, $"alloc({size}, {align}) unaligned {(ulong)p:x}");
                    heap->Describe(p, out HeapObjectInfo info);
                    if (info.Start != p || info.Size < size || !info.Allocated)
                        Fail(op, $"describe after alloc({size})");
                    for (ulong i = 0; i < info.Size; i += (info.Size > 4096 ? 509UL : 1UL))
                        if (p[i] != 0)
                            Fail(op, $"alloc({size}) not zeroed at {i}");
                    ulong tag = ((ulong)seed << 32) | (uint)op;
                    if (size >= 8)
                        *(ulong*)p = tag;
                    if (size > 8)
                        p[size - 1] = (byte)op;
                    live.Add((nint)p, new Live { Size = size, Tag = tag });
                    keys.Add((nint)p);
                }
            }
            else if (r < 95)
            {
                int k = rng.Next(keys.Count);
                nint p = keys[k];
                Live l = live[p];
                if ((l.Size >= 8 && *(ulong*)p != l.Tag) || (l.Size > 8 && ((byte*)p)[l.Size - 1] != (byte)(l.Tag & 0xFF)))
                    Fail(op, $"object at {p:x} ({l.Size} B) was overwritten");
                HeapStatus status = heap->Free((void*)p);
                if (status != HeapStatus.Ok)
                    Fail(op, $"free of {p:x} returned {status}");
                keys[k] = keys[^1];
                keys.RemoveAt(keys.Count - 1);
                live.Remove(p);
                if (rng.Next(4) == 0)
                {
                    // Freed again at once: refused (its slab is cached or gone), nothing changes.
                    byte[] before = h.Snapshot();
                    status = heap->Free((void*)p);
                    if (status != HeapStatus.DoubleFree && status != HeapStatus.Foreign)
                        Fail(op, $"double free of {p:x} returned {status}");
                    if (!SameButCounter(before, h.Snapshot()))
                        Fail(op, "double free changed the heap");
                }
            }
            else
            {
                nint p = keys[rng.Next(keys.Count)];
                ulong offset = 1 + (ulong)rng.Next(15);
                byte[] before = h.Snapshot();
                HeapStatus status = heap->Free((byte*)p + offset);
                if (status != HeapStatus.InteriorPointer)
                    Fail(op, $"interior free of {p:x}+{offset} returned {status}");
                if (!SameButCounter(before, h.Snapshot()))
                    Fail(op, "interior free changed the heap");
            }
            HeapCheckReport report = heap->Check();
            if (!report.IsOk)
                Fail(op, HostHeap.Describe(report));
            InvariantReport pools = h.Memory->Check();
            if (!pools.IsOk)
                Fail(op, MemoryAssert.Describe(pools));
            HeapTotals t = heap->GetTotals();
            if (t.SmallObjects + t.LargeObjects != (ulong)live.Count || start - t.PagesHeld != h.FreePages)
                Fail(op, $"counts: {t.SmallObjects}+{t.LargeObjects} objects vs {live.Count}, held {t.PagesHeld}, free {h.FreePages} of {start}");
        }
        foreach (nint p in keys)
            if (heap->Free((void*)p) != HeapStatus.Ok)
                Fail(ops, $"final free of {p:x}");
        heap->Trim();
        if (heap->PagesHeld != 0 || h.FreePages != start)
            Fail(ops, $"after freeing everything: held {heap->PagesHeld}, free {h.FreePages} of {start}");
        if (!heap->Check().IsOk || !h.Memory->Check().IsOk)
            Fail(ops, "checkers after freeing everything");
    }

    /// <summary>Heap metadata equal except one 8-byte word (the refused-free counter) of the header.</summary>
    private static bool SameButCounter(byte[] a, byte[] b)
    {
        int first = -1, lastDiff = -1;
        for (int i = 0; i < a.Length; i++)
            if (a[i] != b[i])
            {
                if (first < 0)
                    first = i;
                lastDiff = i;
            }
        return first < 0 || (lastDiff - first < 8 && first < sizeof(KernelHeap));
    }
}
