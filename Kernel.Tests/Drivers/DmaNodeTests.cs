using PoolKernel.Drivers.Dma;
using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using PoolKernel.Tests.Policy;
using Xunit;

namespace PoolKernel.Tests.Drivers;

/// <summary>
/// DMA pools on the device's node (issue 16): made from that node's memory, else from the nearest
/// node by SLIT distance (a node without memory), and a device without a node takes any.
/// </summary>
public unsafe class DmaNodeTests
{
    private const ulong MiB = 1UL << 20;

    [Theory]
    [InlineData(2, 2)]
    [InlineData(0, 0)]
    [InlineData(3, 3)]
    [InlineData(1, 3)] // node 1 has no memory: 3 (15) before 2 (17) and 0 (21)
    public void PoolOnTheDevicesNode_ElseTheNearest(int deviceNode, int poolNode)
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        var dma = new DmaPoolManager(host.Memory, host.FrameMemory(new Pfn(0)), 2);
        var device = new DmaDevice("dev", 32, node: deviceNode);
        Assert.Equal(DmaStatus.Ok, dma.Attach(device, 2 * MiB, out DmaPool pool));
        Assert.Equal(poolNode, pool.Node);
        Assert.Equal(deviceNode, pool.DeviceNode);
        Assert.Equal(DmaStatus.Ok, pool.Allocate(device, 8192, out DmaBuffer buffer));
        Assert.Equal(poolNode, host.Memory->NodeOf(new Pfn(buffer.Physical >> 12)));
        Assert.Equal(DmaStatus.Ok, buffer.Release());
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void DeviceWithoutANode_TakesAnyNode()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        var dma = new DmaPoolManager(host.Memory, host.FrameMemory(new Pfn(0)), 2);
        Assert.Equal(DmaStatus.Ok, dma.Attach(new DmaDevice("dev", 32), 2 * MiB, out DmaPool pool));
        Assert.Equal(-1, pool.DeviceNode);
        Assert.True(pool.Node is 0 or 2 or 3);
    }

    /// <summary>
    /// A pool that runs out on its node grows from the others nearest first by SLIT distance from the
    /// device's node: from node 2, node 3 (13) before node 0 (16) (by number it would be 0 first). Its
    /// node mask widens to each node it takes from (before, a page block of another node was refused by
    /// the pool's mask, so the pool could not grow at all), and <see cref="DmaPool.GrownFromNodes"/> says so.
    /// Everything goes back on detach, the checker clean after each step.
    /// </summary>
    [Fact]
    public void PoolFullOnItsNode_GrowsFromTheNearestNodesByDistance()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        ulong freeBefore = host.Memory->GetTotals().FreePages;
        var dma = new DmaPoolManager(host.Memory, host.FrameMemory(new Pfn(0)), 2);
        var device = new DmaDevice("dev", 32, node: 2);
        Assert.Equal(DmaStatus.Ok, dma.Attach(device, 2 * MiB, out DmaPool pool));
        Assert.Equal(2, pool.Node);
        var buffers = new List<DmaBuffer>();
        var nodes = new List<int>();
        // 1 MiB buffers until the pool has taken from two other nodes (node 2 has 16 MiB, node 3 24 MiB).
        while (buffers.Count < 64 && (pool.GrownFromNodes & 1) == 0)
        {
            Assert.Equal(DmaStatus.Ok, pool.Allocate(device, 1 * MiB, out DmaBuffer b));
            buffers.Add(b);
            int node = host.Memory->NodeOf(new Pfn(b.Physical >> 12));
            if (nodes.Count == 0 || nodes[^1] != node)
                nodes.Add(node);
            MemoryAssert.Consistent(host.Memory);
        }
        Assert.Equal(new[] { 2, 3, 0 }, nodes.ToArray());
        Assert.Equal((1UL << 3) | 1UL, pool.GrownFromNodes);
        host.Memory->GetPoolProperties(pool.Id, out PoolProperties props);
        Assert.Equal((1UL << 0) | (1UL << 2) | (1UL << 3), props.NodeMask);
        foreach (DmaBuffer b in buffers)
            Assert.Equal(DmaStatus.Ok, b.Release());
        Assert.Equal(DmaStatus.Ok, dma.Detach(pool, "dev"));
        Assert.Equal(freeBefore, host.Memory->GetTotals().FreePages);
        MemoryAssert.Consistent(host.Memory);
    }

    /// <summary>Moving page blocks across nodes is all or nothing: refused, the destination's node mask is as it was.</summary>
    [Fact]
    public void MoveAcrossNodesRefused_LeavesTheNodeMaskAsItWas()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        var dma = new DmaPoolManager(host.Memory, host.FrameMemory(new Pfn(0)), 2);
        Assert.Equal(DmaStatus.Ok, dma.Attach(new DmaDevice("dev", 32, node: 2), 2 * MiB, out DmaPool pool));
        PoolId node3 = PoolId.None;
        for (PoolId id = host.Memory->FirstPool(); !id.IsNone; id = host.Memory->NextPool(id))
        {
            host.Memory->GetPoolProperties(id, out PoolProperties p);
            if (p.NodeMask == 1UL << 3 && (p.Flags & PoolFlags.Reserved) == 0)
                node3 = id;
        }
        Assert.False(node3.IsNone);
        MemoryAssert.Refused(host, MemoryStatus.OutOfMemory, () => host.Memory->MovePageblocksAcrossNodes(node3, pool.Id, 1000));
        host.Memory->GetPoolProperties(pool.Id, out PoolProperties props);
        Assert.Equal(1UL << 2, props.NodeMask);
    }
}
