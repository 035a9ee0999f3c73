using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using Xunit;

namespace PoolKernel.Tests.Policy;

/// <summary>Replicated buffers: one copy per node, all or nothing, readers on their node's copy, writers to every copy.</summary>
public unsafe class ReplicationTests
{
    private const byte Owner = 5;

    [Fact]
    public void EveryCopyOnItsNode_ReadersNearest_WritesReachEveryCopy()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        byte* direct = host.FrameMemory(new Pfn(0));
        Assert.Equal(MemoryStatus.Ok, Replication.Allocate(ref *host.Memory, 3, 0b1101, Owner, t, out ReplicaSet set, out int failed));
        Assert.Equal(-1, failed);
        MemoryAssert.Consistent(host.Memory);
        foreach (int node in new[] { 0, 2, 3 })
        {
            Pfn first = set.CopyOn(node);
            Assert.Equal(node, host.Memory->NodeOf(first));
            Assert.Equal(node, host.Memory->NodeOf(new Pfn(first.Value + 2)));
        }
        Assert.True(set.CopyOn(1).IsNone);

        byte[] data = new byte[3 * 4096 - 100];
        new Random(16).NextBytes(data);
        fixed (byte* d = data)
        {
            Assert.True(Replication.Write(set, 100, d, (ulong)data.Length, direct));
            Assert.False(Replication.Write(set, 101, d, (ulong)data.Length, direct));
        }
        for (int cpu = 0; cpu < 4; cpu++)
        {
            byte* copy = Replication.Read(set, cpu, t, direct);
            // The CPU-only node 1 reads node 3's copy (15, its nearest).
            int expected = cpu == 1 ? 3 : cpu;
            Assert.True(copy == direct + (set.CopyOn(expected).Value << 12));
            Assert.Equal(data, new ReadOnlySpan<byte>(copy + 100, data.Length).ToArray());
        }
        Assert.Equal(MemoryStatus.Ok, Replication.Free(ref *host.Memory, ref set, Owner));
        Assert.Equal(0UL, set.Nodes);
        MemoryAssert.Consistent(host.Memory);
        Assert.Equal(host.Memory->GetTotals().PresentPages, host.Memory->GetTotals().FreePages);
    }

    [Fact]
    public void FailureOnTheLastNode_GivesBackEveryCopy()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        // Inject the failure: node 2 (the last of the set) has no run of 64 pages left.
        PolicyContext bind = default;
        bind.Set(NumaMaps.Policy("bind:2"), t);
        NumaCounters scratch = default;
        var held = new List<Pfn>();
        while (bind.Allocate(ref *host.Memory, t, 2, new Order(0), AllocRequest.Any, ref scratch, out Pfn pfn, out _) == MemoryStatus.Ok)
            held.Add(pfn);
        ulong freeBefore = host.Memory->GetTotals().FreePages;
        Assert.Equal(MemoryStatus.OutOfMemory, Replication.Allocate(ref *host.Memory, 64, 0b111, Owner, t, out ReplicaSet set, out int failed));
        Assert.Equal(2, failed);
        Assert.Equal(0UL, set.Nodes);
        Assert.Equal(freeBefore, host.Memory->GetTotals().FreePages);
        MemoryAssert.Consistent(host.Memory);
        foreach (Pfn pfn in held)
            Assert.Equal(MemoryStatus.Ok, host.Memory->Free(pfn, new Order(0), 0));
        MemoryAssert.Consistent(host.Memory);
    }

    [Theory]
    [InlineData(0UL, 0b1UL)]
    [InlineData(1UL, 0UL)]
    [InlineData(1UL, 0b10UL)]
    [InlineData(1UL, 0b10000UL)]
    public void Refused_NothingChanged(ulong pages, ulong nodes)
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        byte[] before = host.Snapshot();
        Assert.Equal(MemoryStatus.InvalidArgument, Replication.Allocate(ref *host.Memory, pages, nodes, Owner, t, out ReplicaSet set, out _));
        Assert.Equal(0UL, set.Nodes);
        Assert.Equal(before, host.Snapshot());
    }
}
