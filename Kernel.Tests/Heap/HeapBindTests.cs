using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using Xunit;

namespace PoolKernel.Tests.Heap;

/// <summary>
/// A heap bound to nodes (NUMA <c>bind</c> for the heap, docs/numa.md "The heap"): every page refill
/// from the bound nodes only, a clean failure with nothing changed when they are full, and the refill
/// record the kernel counts in numastat.
/// </summary>
public unsafe class HeapBindTests
{
    private const ulong KiB = 1UL << 10, MiB = 1UL << 20;

    /// <summary>
    /// The heap's lists and bitmaps (everything after its header) and the pools' metadata, byte for byte;
    /// the header holds the failure record, which a failure writes.
    /// </summary>
    private static (byte[] Heap, byte[] Pools) State(HostHeap h)
    {
        byte[] heap = h.Snapshot();
        return (heap[sizeof(KernelHeap)..], h.Host.Snapshot());
    }

    [Fact]
    public void BoundToNode1_RunsAndSlabsComeFromNode1Only_ThenFailCleanly_UnbindingFallsBackAgain()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 2);
        KernelHeap* heap = h.Heap;
        heap->BindNodes(1UL << 1);
        Assert.Equal(1UL << 1, heap->BoundNodes);
        ulong node0Free = h.FreePagesOnNode(0);
        var live = new List<nint>();
        // Large runs asked for node 0 (not bound): node 1's pages, until node 1 cannot give one.
        HeapStatus status;
        while (true)
        {
            status = heap->Alloc(256 * KiB, 0, 0, out void* p);
            if (status != HeapStatus.Ok)
                break;
            Assert.Equal(1, h.NodeOf(p));
            live.Add((nint)p);
        }
        Assert.Equal(HeapStatus.OutOfMemory, status);
        Assert.Equal(MemoryStatus.OutOfMemory, heap->LastFailure.MemoryStatus);
        Assert.True(live.Count > 100, $"{live.Count} runs");
        // Small objects for either node: cells of node-1 slabs while node 1 has a page, then a clean failure.
        int small = 0;
        for (int i = 0; ; i++)
        {
            status = heap->Alloc(64, 0, i & 1, out void* p);
            if (status != HeapStatus.Ok)
                break;
            Assert.Equal(1, h.NodeOf(p));
            live.Add((nint)p);
            small++;
        }
        Assert.Equal(HeapStatus.OutOfMemory, status);
        Assert.True(small > 0);
        Assert.Equal(node0Free, h.FreePagesOnNode(0));
        h.Consistent();

        // Failing again, small and large, for node 0 and node 1: nothing but the failure record changes.
        foreach ((ulong size, int node) in new[] { (64UL, 0), (64UL, 1), (3000UL, 0), (256 * KiB, 1) })
        {
            var before = State(h);
            ulong failures = heap->LastFailure.Count;
            Assert.Equal(HeapStatus.OutOfMemory, heap->Alloc(size, 0, node, out void* none));
            Assert.True(none == null);
            Assert.Equal(failures + 1, heap->LastFailure.Count);
            var after = State(h);
            Assert.True(before.Heap.AsSpan().SequenceEqual(after.Heap), $"size {size} node {node}: the heap's lists or bitmaps changed");
            Assert.True(before.Pools.AsSpan().SequenceEqual(after.Pools), $"size {size} node {node}: the pools changed");
        }
        Assert.Equal(node0Free, h.FreePagesOnNode(0));

        // Unbound, the heap falls back to node 0 as before.
        heap->BindNodes(0);
        Assert.Equal(HeapStatus.Ok, heap->Alloc(256 * KiB, 0, 1, out void* fallback));
        Assert.Equal(0, h.NodeOf(fallback));
        live.Add((nint)fallback);
        h.Consistent();
        foreach (nint p in live)
            Assert.Equal(HeapStatus.Ok, heap->Free((void*)p));
        heap->Trim();
        Assert.Equal(0UL, heap->PagesHeld);
        h.Consistent();
    }

    [Fact]
    public void BoundToTwoOfThreeNodes_NeverTouchesTheThird_NearestBoundNodeFirst()
    {
        // Nodes 48/16/32 MiB; node 2 is nearer to node 0 (12) than node 1 is (20).
        using var h = new HostHeap(Policy.NumaMaps.ThreeNodes());
        KernelHeap* heap = h.Heap;
        heap->BindNodes((1UL << 1) | (1UL << 2));
        ulong node0Free = h.FreePagesOnNode(0);
        var live = new List<nint>();
        var order = new List<int>();
        while (heap->Alloc(128 * KiB, 0, 0, out void* p) == HeapStatus.Ok)
        {
            int node = h.NodeOf(p);
            Assert.NotEqual(0, node);
            if (order.Count == 0 || order[^1] != node)
                order.Add(node);
            live.Add((nint)p);
        }
        // Asked for node 0 (not bound): node 2 (nearest) until it is full, then node 1, then failure.
        Assert.Equal(new[] { 2, 1 }, order);
        Assert.Equal(node0Free, h.FreePagesOnNode(0));
        h.Consistent();
        foreach (nint p in live)
            Assert.Equal(HeapStatus.Ok, heap->Free((void*)p));
        h.Consistent();
    }

    [Fact]
    public void RefillsCountNewSlabsAndRunsOnly_WithTheirNode()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 2);
        KernelHeap* heap = h.Heap;
        Assert.Equal(0UL, heap->Refills);
        void* first = heap->Alloc(64, 0, 1);
        Assert.Equal(1UL, heap->Refills);
        Assert.Equal(1, heap->LastRefillNode);
        // The next cells of the same slab are no refills.
        for (int i = 0; i < 10; i++)
            Assert.True(heap->Alloc(64, 0, 1) != null);
        Assert.Equal(1UL, heap->Refills);
        void* run = heap->Alloc(64 * KiB, 0, 0);
        Assert.Equal(2UL, heap->Refills);
        Assert.Equal(0, heap->LastRefillNode);
        // A failed request refills nothing.
        Assert.Equal(HeapStatus.BadNode, heap->Alloc(64, 0, 5, out _));
        Assert.Equal(2UL, heap->Refills);
        Assert.Equal(HeapStatus.Ok, heap->Free(run));
        Assert.Equal(HeapStatus.Ok, heap->Free(first));
        h.Consistent();
    }
}
