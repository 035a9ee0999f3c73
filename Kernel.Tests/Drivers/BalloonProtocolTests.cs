using PoolKernel.Drivers.VirtioBalloon;
using Xunit;

namespace PoolKernel.Tests.Drivers;

/// <summary>The virtio-balloon wire format (Kernel.Drivers/VirtioBalloon/BalloonProtocol.cs).</summary>
public unsafe class BalloonProtocolTests
{
    [Fact]
    public void StatsBuffer_IsTenPackedTagValuePairs_LittleEndian()
    {
        BalloonStatsValues v = default;
        v.FreeBytes = 0x0102030405060708;
        v.TotalBytes = 0x40000000;
        v.AvailableBytes = 7;
        byte[] buffer = new byte[BalloonProtocol.StatsBytes];
        int length;
        fixed (byte* b = buffer)
            length = BalloonProtocol.WriteStats(b, v);
        Assert.Equal(100, length);
        for (int i = 0; i < 10; i++)
            Assert.Equal(i, BitConverter.ToUInt16(buffer, i * 10)); // tags 0..9 in order
        Assert.Equal(0x0102030405060708UL, BitConverter.ToUInt64(buffer, 4 * 10 + 2));
        Assert.Equal(0x40000000UL, BitConverter.ToUInt64(buffer, 5 * 10 + 2));
        Assert.Equal(7UL, BitConverter.ToUInt64(buffer, 6 * 10 + 2));
        Assert.Equal(0UL, BitConverter.ToUInt64(buffer, 0 * 10 + 2));
    }

    [Theory]
    [InlineData(0u, 0UL)]
    [InlineData(511u, 0UL)]
    [InlineData(512u, 1UL)]
    [InlineData(163840u, 320UL)]   // QEMU `balloon 384` on 1 GiB: 640 MiB lent
    [InlineData(163841u, 320UL)]   // never more than asked
    public void Target_BecomesWholePageblocks_RoundedDown(uint target, ulong pageblocks)
        => Assert.Equal(pageblocks, BalloonProtocol.PageblocksFor(target, 512));

    [Fact]
    public void ReportingQueue_FollowsTheHintingQueueWhenTheDeviceHasOne()
    {
        Assert.Equal(3, BalloonProtocol.ReportingQueue(1u << BalloonProtocol.FeatureReporting));
        Assert.Equal(4, BalloonProtocol.ReportingQueue((1u << BalloonProtocol.FeatureReporting) | (1u << BalloonProtocol.FeatureFreePageHint)));
    }

    [Fact]
    public void Pfns_AreConsecutiveU32s_AndRefusedBeyond32Bits()
    {
        uint[] pfns = new uint[4];
        fixed (uint* p = pfns)
        {
            Assert.True(BalloonProtocol.WritePfns(p, 0x12345, 4));
            Assert.Equal(new uint[] { 0x12345, 0x12346, 0x12347, 0x12348 }, pfns);
            Assert.False(BalloonProtocol.WritePfns(p, (1UL << 32) - 2, 4));
        }
    }
}
