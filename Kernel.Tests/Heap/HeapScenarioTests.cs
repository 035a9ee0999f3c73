using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Heap;

/// <summary>Large objects, page return, node locality, refused frees, out of memory.</summary>
public unsafe class HeapScenarioTests
{
    private const ulong KiB = 1UL << 10, MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public HeapScenarioTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void LargeObjectsAreExactRunsWithRecoverableSize()
    {
        using var h = HostHeap.Boot("q35", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        ulong start = h.FreePages;
        var live = new List<(nint p, ulong pages)>();
        foreach (ulong size in new ulong[] { 2049, 4096, 4097, 5000, 3 * 4096 + 1, 100 * 4096, 1 * MiB + 7, 4 * MiB, 9 * MiB })
        {
            ulong before = h.FreePages;
            byte* p = (byte*)heap->Alloc(size, 0, 0);
            Assert.True(p != null, $"size {size}");
            ulong pages = (size + 4095) / 4096;
            Assert.Equal(before - pages, h.FreePages);
            Assert.Equal(0UL, (ulong)(p - h.DirectMapBase) % Pfn.PageSize);
            Assert.Equal(FrameKind.RunFirst, h.Memory->KindOf(h.PfnOf(p), out _));
            Assert.Equal(0, p[0]);
            Assert.Equal(0, p[size - 1]);
            p[0] = 1;
            p[size - 1] = 1;
            Assert.Equal(HeapStatus.Ok, heap->Describe(p + size / 2, out HeapObjectInfo info));
            Assert.True(info.Start == p && info.Size == pages * Pfn.PageSize && info.Class == KernelHeap.LargeClass);
            live.Add(((nint)p, pages));
            h.Consistent();
        }
        HeapTotals t = heap->GetTotals();
        Assert.Equal((ulong)live.Count, t.LargeObjects);
        Assert.Equal(live.Sum(l => (long)l.pages), (long)t.LargePages);
        foreach (var (p, _) in live)
        {
            Assert.Equal(HeapStatus.Ok, heap->Free((void*)p));
            h.Consistent();
        }
        Assert.Equal(start, h.FreePages);
        Assert.Equal(0UL, heap->PagesHeld);
    }

    /// <summary>Random sizes, 1 seed x 20,000 objects by default (POOLKERNEL_HEAP_DRAIN_SEEDS, _OPS; replay: POOLKERNEL_HEAP_DRAIN_SEED).</summary>
    [Fact]
    public void FreeingEverythingGivesEveryPageBack()
        => SeededRuns.Run(_output, "heap alloc all, free all", "POOLKERNEL_HEAP_DRAIN", 1, 20000, FreeEverything);

    private static void FreeEverything(int seed, int objects)
    {
        using var h = HostHeap.Boot("pc", 256 * MiB, 2);
        KernelHeap* heap = h.Heap;
        ulong start = h.FreePages;
        var rng = new Random(seed);
        var live = new List<nint>();
        for (int i = 0; i < objects; i++)
        {
            ulong size = rng.Next(10) == 0 ? (ulong)rng.Next(2049, 40000) : (ulong)rng.Next(1, 2049);
            live.Add((nint)heap->Alloc(size, 0, rng.Next(2)));
        }
        h.Consistent();
        Assert.True(heap->PagesHeld > 0);
        Assert.Equal(start - heap->PagesHeld, h.FreePages);
        foreach (nint p in live)
            Assert.Equal(HeapStatus.Ok, heap->Free((void*)p));
        h.Consistent();
        // Only the cached empty slabs remain: at most EmptySlabsCached per node and class.
        HeapTotals t = heap->GetTotals();
        Assert.Equal(0UL, t.SmallObjects + t.LargeObjects);
        Assert.Equal(t.Slabs, t.EmptySlabs);
        Assert.True(t.EmptySlabs <= (ulong)(KernelHeap.EmptySlabsCached * 2 * SizeClasses.Count));
        Assert.Equal(start - t.PagesHeld, h.FreePages);
        ulong trimmed = heap->Trim();
        Assert.Equal(t.PagesHeld, trimmed);
        Assert.Equal(0UL, heap->PagesHeld);
        Assert.Equal(start, h.FreePages);
        h.Consistent();
    }

    [Fact]
    public void AlternatingAllocAndFreeAtASlabBoundaryKeepsItsSlab()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        void* first = heap->Alloc(256, 0, 0);
        heap->Free(first);
        ulong free = h.FreePages;
        for (int i = 0; i < 1000; i++)
        {
            void* p = heap->Alloc(256, 0, 0);
            Assert.True(p == first);
            heap->Free(p);
            Assert.Equal(free, h.FreePages);
        }
        h.Consistent();
    }

    [Fact]
    public void PagesComeFromTheRequestedNodeUntilItRunsOutThenFallBack()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 2);
        KernelHeap* heap = h.Heap;
        // Node 1 asks: node 1 pages.
        var node1 = new List<nint>();
        for (int i = 0; i < 2000; i++)
        {
            void* p = heap->Alloc(64, 0, 1);
            Assert.Equal(1, h.NodeOf(p));
            node1.Add((nint)p);
        }
        // Use up node 0 with 256 KiB runs until one comes from node 1.
        var runs = new List<nint>();
        while (true)
        {
            void* p = heap->Alloc(256 * KiB, 0, 0);
            Assert.True(p != null);
            runs.Add((nint)p);
            if (h.NodeOf(p) == 1)
                break;
        }
        Assert.True(h.FreePagesOnNode(0) < 64);
        // Small objects for node 0: node-0 slabs while node 0 has pages, then node 1.
        var small = new List<nint>();
        bool fellBack = false;
        for (int i = 0; i < 100000 && !fellBack; i++)
        {
            ulong freeOnNode0 = h.FreePagesOnNode(0);
            void* p = heap->Alloc(64, 0, 0);
            Assert.True(p != null);
            small.Add((nint)p);
            if (h.NodeOf(p) == 1)
            {
                Assert.Equal(0UL, freeOnNode0);
                fellBack = true;
            }
        }
        Assert.True(fellBack);
        h.Consistent();
        // Freeing gives node 0's pages back to node 0's pools.
        foreach (nint p in small)
            Assert.Equal(HeapStatus.Ok, heap->Free((void*)p));
        heap->Trim();
        Assert.True(h.FreePagesOnNode(0) > 0);
        foreach (nint p in runs.Concat(node1))
            Assert.Equal(HeapStatus.Ok, heap->Free((void*)p));
        heap->Trim();
        Assert.Equal(0UL, heap->PagesHeld);
        h.Consistent();
    }

    /// <summary>A free is refused with <paramref name="expected"/>, and neither the heap, the pools, nor the page changed.</summary>
    private static void Refused(HostHeap h, HeapStatus expected, void* pointer, void* page)
    {
        byte[] heapBefore = h.Snapshot();
        byte[] poolsBefore = h.Host.Snapshot();
        byte[] pageBefore = new byte[Pfn.PageSize];
        byte* pageStart = (byte*)((ulong)page & ~(Pfn.PageSize - 1));
        System.Runtime.InteropServices.Marshal.Copy((nint)pageStart, pageBefore, 0, pageBefore.Length);
        ulong refused = h.Heap->GetTotals().RefusedFrees;
        Assert.Equal(expected, h.Heap->Free(pointer));
        Assert.Equal(refused + 1, h.Heap->GetTotals().RefusedFrees);
        byte[] heapAfter = h.Snapshot();
        // Only the refused-free counter (one 8-byte word of the header) may differ.
        var changed = Enumerable.Range(0, heapBefore.Length).Where(i => heapBefore[i] != heapAfter[i]).ToList();
        Assert.True(changed.Count == 0 || (changed[^1] - changed[0] < 8 && changed[0] < sizeof(KernelHeap)),
            $"refused free ({expected}) changed the heap at {string.Join(",", changed.Take(10))}");
        Assert.True(poolsBefore.AsSpan().SequenceEqual(h.Host.Snapshot()), $"refused free ({expected}) changed the pools");
        byte[] pageAfter = new byte[Pfn.PageSize];
        System.Runtime.InteropServices.Marshal.Copy((nint)pageStart, pageAfter, 0, pageAfter.Length);
        Assert.True(pageBefore.AsSpan().SequenceEqual(pageAfter), $"refused free ({expected}) changed the page");
        h.Consistent();
    }

    [Fact]
    public void ForeignDoubleAndInteriorFreesAreRefusedWithNothingChanged()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        byte* a = (byte*)heap->Alloc(64, 0, 0);
        byte* b = (byte*)heap->Alloc(64, 0, 0);
        byte* c = (byte*)heap->Alloc(64, 0, 0);
        byte* big = (byte*)heap->Alloc(5 * Pfn.PageSize, 0, 0);

        // Foreign: a page the pools handed to someone else, memory below the direct map, past the span, on the stack.
        Assert.Equal(MemoryStatus.Ok, h.Memory->Allocate(new Order(0), AllocRequest.Any, out Pfn other));
        byte* otherPage = h.Host.FrameMemory(other);
        Refused(h, HeapStatus.Foreign, otherPage, otherPage);
        Refused(h, HeapStatus.Foreign, otherPage + 64, otherPage);
        Refused(h, HeapStatus.Foreign, h.DirectMapBase - 64, a);
        Refused(h, HeapStatus.Foreign, h.DirectMapBase + (1UL << 40), a);
        long local = 0;
        Refused(h, HeapStatus.Foreign, &local, a);

        // Interior: inside an object, in a slab header, inside a large run.
        Refused(h, HeapStatus.InteriorPointer, a + 8, a);
        Refused(h, HeapStatus.InteriorPointer, (byte*)((ulong)a & ~(Pfn.PageSize - 1)), a);
        Refused(h, HeapStatus.InteriorPointer, big + 16, big);
        Refused(h, HeapStatus.InteriorPointer, big + 4 * Pfn.PageSize, big);

        // Double free: the slab stays (b and c are live), so the cell is recognised as free.
        Assert.Equal(HeapStatus.Ok, heap->Free(a));
        Refused(h, HeapStatus.DoubleFree, a, a);
        Assert.Equal(HeapStatus.Ok, heap->Free(big));
        Refused(h, HeapStatus.Foreign, big, b);

        Assert.Equal(HeapStatus.Ok, heap->Free(null));
        Assert.Equal(HeapStatus.Ok, heap->Free(b));
        Assert.Equal(HeapStatus.Ok, heap->Free(c));
        Assert.Equal(MemoryStatus.Ok, h.Memory->Free(other, new Order(0), MemoryAssert.DefaultOwner));
        h.Consistent();
    }

    [Fact]
    public void OutOfMemoryReturnsNullWithAReportAndTheHeapStaysUsable()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        // More than the span: the pools call it impossible, and the heap passes that on as a
        // refusal (freeing would not help), not as out of memory.
        Assert.True(heap->Alloc(1UL << 30, 0, 0) == null);
        HeapFailure f = heap->LastFailure;
        Assert.Equal(HeapStatus.PoolsRefused, f.Status);
        Assert.Equal(MemoryStatus.ImpossibleRules, f.MemoryStatus);
        Assert.Equal(1UL << 30, f.RequestedBytes);
        Assert.Equal((1UL << 30) / Pfn.PageSize, f.PagesAsked);
        Assert.Equal(KernelHeap.LargeClass, f.Class);
        Assert.Equal(1UL, f.Count);
        // Less than is free, more than is contiguous (the longest run is 1 MiB .. 128 MiB - 128 KiB).
        ulong free = h.FreePages;
        Assert.True(127 * MiB / Pfn.PageSize < free);
        Assert.True(heap->Alloc(127 * MiB, 0, 0) == null);
        f = heap->LastFailure;
        Assert.Equal(HeapStatus.OutOfMemory, f.Status);
        Assert.Equal(MemoryStatus.OutOfMemory, f.MemoryStatus);
        Assert.True(f.Pool.IsNone);
        Assert.Equal(free, f.FreePagesAtFailure);
        Assert.Equal(free, f.FreePagesOnNode);
        Assert.Equal(2UL, f.Count);
        Assert.Equal(free, h.FreePages);
        h.Consistent();

        // Use up everything: runs of 1 MiB, then single pages, then small objects.
        var live = new List<nint>();
        foreach (ulong size in new ulong[] { MiB, Pfn.PageSize, 2048, 16 })
            while (true)
            {
                void* p = heap->Alloc(size, 0, 0);
                if (p == null)
                    break;
                live.Add((nint)p);
            }
        f = heap->LastFailure;
        Assert.Equal(HeapStatus.OutOfMemory, f.Status);
        Assert.Equal(16UL, f.RequestedBytes);
        Assert.Equal(0, f.Class);
        Assert.Equal(0UL, f.FreePagesAtFailure);
        Assert.Equal(0UL, f.FreePagesOnNode);
        Assert.Equal(heap->PagesHeld, f.HeapPagesHeld);
        h.Consistent();

        // Give some back: allocation works again.
        for (int i = 0; i < 64; i++)
            Assert.Equal(HeapStatus.Ok, heap->Free((void*)live[i]));
        Assert.True(heap->Alloc(MiB, 0, 0) != null);
        Assert.True(heap->Alloc(100, 0, 0) != null);
        h.Consistent();
    }

    [Fact]
    public void OutOfMemoryReleasesCachedEmptySlabsBeforeFailing()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        // Cache one empty slab of the 16-byte class.
        void* a = heap->Alloc(16, 0, 0);
        heap->Free(a);
        Assert.Equal(1UL, heap->GetTotals().EmptySlabs);
        var live = new List<nint>();
        while (true)
        {
            void* p = heap->Alloc(Pfn.PageSize, 0, 0);
            if (p == null)
                break;
            live.Add((nint)p);
        }
        // The last page came from the cached slab.
        Assert.Equal(0UL, heap->GetTotals().EmptySlabs);
        Assert.Equal(0UL, h.FreePages);
        h.Consistent();
    }

    [Fact]
    public void BadNodeIsRefused()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 2);
        Assert.Equal(HeapStatus.BadNode, h.Heap->Alloc(64, 0, 2, out void* p));
        Assert.True(p == null);
        Assert.Equal(HeapStatus.Ok, h.Heap->Alloc(64, 0, AllocRequest.NoNode, out p));
        h.Heap->Free(p);
        h.Consistent();
    }
}
