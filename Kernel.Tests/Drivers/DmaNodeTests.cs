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
}
