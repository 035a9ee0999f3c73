using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

public class UnitsTests
{
    [Theory]
    [InlineData(1UL, 0)]
    [InlineData(2UL, 1)]
    [InlineData(3UL, 2)]
    [InlineData(512UL, 9)]
    [InlineData(513UL, 10)]
    public void OrderCoveringIsTheSmallestBlockThatHoldsThePages(ulong pages, int order) =>
        Assert.Equal(order, Order.Covering(pages).Value);

    [Fact]
    public void AddressesRoundToFramesInTheRightDirection()
    {
        var a = new PhysAddr(0x9fc00);
        Assert.Equal(0x9fUL, a.FrameDown.Value);
        Assert.Equal(0xa0UL, a.FrameUp.Value);
        Assert.Equal(0x1000UL, new Pfn(1).Address.Value);
        Assert.Equal(4UL << 20, new Order(10).Bytes);
        Assert.True(new Pfn(512).IsAlignedTo(new Order(9)));
        Assert.False(new Pfn(513).IsAlignedTo(new Order(1)));
    }

    [Fact]
    public void FrameStateKeepsKindAndOrderApart()
    {
        byte s = FrameState.Make(FrameKind.RunNext, 20);
        Assert.Equal(FrameKind.RunNext, FrameState.KindOf(s));
        Assert.Equal(20, FrameState.OrderOf(s));
        Assert.Equal(FrameKind.Absent, FrameState.KindOf(FrameState.Absent));
    }

    [Fact]
    public void PoolNamesAreBuiltWithoutFormatting()
    {
        PoolName n = PoolName.FromParts("node", 12, "-dma32");
        Assert.Equal("node12-dma32", new string(Enumerable.Range(0, n.Length).Select(i => (char)n[i]).ToArray()));
        Assert.Equal(16, PoolName.From("a-name-longer-than-sixteen").Length);
    }
}
