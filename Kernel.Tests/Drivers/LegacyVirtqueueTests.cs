using System.Runtime.InteropServices;
using PoolKernel.Drivers.VirtioBlock;
using Xunit;

namespace PoolKernel.Tests.Drivers;

/// <summary>
/// The legacy split virtqueue the virtio-blk driver uses: the region layout the device derives from
/// the queue size alone (virtio 0.9.5, "vring_size"), and the ring index arithmetic of the
/// available and used rings, including the 16-bit index wrapping past 65535.
/// </summary>
public unsafe class LegacyVirtqueueTests
{
    [Theory]
    [InlineData(1u, 16u, 4096u, 8192u)]
    [InlineData(128u, 2048u, 4096u, 8192u)]
    [InlineData(256u, 4096u, 8192u, 12288u)]
    [InlineData(1024u, 16384u, 20480u, 32768u)]
    public void Layout_MatchesTheLegacyVringSize(uint size, uint availableOffset, uint usedOffset, uint totalBytes)
    {
        var layout = new LegacyVirtqueueLayout(size);
        Assert.True(layout.IsValid);
        Assert.Equal(0u, layout.DescriptorsOffset);
        Assert.Equal(availableOffset, layout.AvailableOffset);
        Assert.Equal(usedOffset, layout.UsedOffset);
        Assert.Equal(totalBytes, layout.TotalBytes);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(96u)]
    [InlineData(65536u)]
    public void Layout_RefusesSizesThatAreNotPowersOfTwoUpTo32768(uint size)
        => Assert.False(new LegacyVirtqueueLayout(size).IsValid);

    /// <summary>
    /// Publishing writes ring[idx % size] before the index; the device's used entries are taken in
    /// order; both indexes run on through 65535 to 0 with the ring slots continuing in sequence.
    /// </summary>
    [Fact]
    public void PublishAndTakeUsed_FollowTheIndexesAcrossTheirWrap()
    {
        var layout = new LegacyVirtqueueLayout(4);
        byte* region = (byte*)NativeMemory.AllocZeroed(layout.TotalBytes);
        try
        {
            var queue = new LegacyVirtqueue();
            queue.Initialize(region, layout);
            ushort* available = (ushort*)(region + layout.AvailableOffset);
            ushort* used = (ushort*)(region + layout.UsedOffset);
            uint* usedRing = (uint*)(used + 2);
            Assert.Equal((ushort)1, available[0]);   // no interrupts: the driver polls
            Assert.False(queue.HasUsed);

            for (int n = 1; n <= 65536 + 3; n++)
            {
                ushort head = (ushort)(n % 3);
                queue.Publish(head);
                Assert.Equal((ushort)n, available[1]);
                Assert.Equal(head, available[2 + (n - 1) % 4]);

                // The device returns the chain: element at used idx % size, then the index.
                usedRing[((n - 1) % 4) * 2] = head;
                usedRing[((n - 1) % 4) * 2 + 1] = (uint)n;
                used[1] = (ushort)n;
                Assert.True(queue.HasUsed);
                Assert.Equal((ushort)n, queue.DeviceUsedIndex);
                VirtqUsedElement e = queue.TakeUsed();
                Assert.Equal((uint)head, e.Id);
                Assert.Equal((uint)n, e.Length);
                Assert.False(queue.HasUsed);
            }
            Assert.Equal((ushort)3, available[1]);
        }
        finally
        {
            NativeMemory.Free(region);
        }
    }
}
