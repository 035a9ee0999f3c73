using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>Set-up refuses maps it cannot trust and trims byte-granular edges to whole frames.</summary>
public unsafe class MemoryMapTests
{
    private static MemoryStatus Size(MemoryRegion[] regions, int nodes = 1)
    {
        byte* dist = stackalloc byte[4] { 10, 21, 21, 10 };
        fixed (MemoryRegion* r = regions)
            return PhysicalMemory.ComputeMetadataSize(new MemoryMap(r, regions.Length), new NodeDistances(nodes == 1 ? null : dist, nodes), MemoryConfig.Default, out _);
    }

    [Fact]
    public void OverlappingRangesAreRefused() =>
        Assert.Equal(MemoryStatus.MapOverlap, Size(new[]
        {
            new MemoryRegion(0x100000, 0x1000000, MemoryType.Available, 0),
            new MemoryRegion(0x800000, 0x1000, MemoryType.Reserved, 0),
        }));

    [Fact]
    public void ZeroLengthRangeIsRefused() =>
        Assert.Equal(MemoryStatus.MapZeroLength, Size(new[]
        {
            new MemoryRegion(0x100000, 0x1000000, MemoryType.Available, 0),
            new MemoryRegion(0x2000000, 0, MemoryType.Available, 0),
        }));

    [Fact]
    public void WrappingRangeIsRefused() =>
        Assert.Equal(MemoryStatus.MapWrapsAround, Size(new[] { new MemoryRegion(ulong.MaxValue - 0xfff, 0x2000, MemoryType.Available, 0) }));

    [Fact]
    public void NodeOutsideTheDistanceTableIsRefused() =>
        Assert.Equal(MemoryStatus.MapBadNode, Size(new[] { new MemoryRegion(0x100000, 0x100000, MemoryType.Available, 2) }, nodes: 2));

    [Fact]
    public void MapWithoutAWholeUsableFrameIsRefused() =>
        Assert.Equal(MemoryStatus.MapNoMemory, Size(new[]
        {
            new MemoryRegion(0x100800, 0x1000, MemoryType.Available, 0),
            new MemoryRegion(0x200000, 0x100000, MemoryType.Reserved, 0),
        }));

    /// <summary>
    /// Free-list links are 32-bit frame indices (NodeTable, issue 12). RAM more than 16 TiB above the
    /// lowest usable frame was refused; it is now trimmed as RAM above 2^52 is, so a
    /// map with RAM there is sized, whether the far RAM straddles the limit or lies wholly beyond it,
    /// and its size is that of the trimmed span (the same as without the far RAM, when it lies wholly beyond).
    /// </summary>
    [Fact]
    public void RamBeyondWhatALinkIndexesIsTrimmedNotRefused()
    {
        const ulong TiB = 1UL << 40;
        var low = new MemoryRegion(0x100000, 0x1000000, MemoryType.Available, 0);
        Assert.Equal(MemoryStatus.Ok, Bytes(new[] { low }, out ulong alone));
        Assert.Equal(MemoryStatus.Ok, Bytes(new[] { low, new MemoryRegion(16 * TiB, 0x1000000, MemoryType.Available, 0) }, out ulong beyond));
        Assert.Equal(alone, beyond);
        Assert.Equal(MemoryStatus.Ok, Bytes(new[] { low, new MemoryRegion(16 * TiB - (4UL << 30) - 0x800000, 0x1000000, MemoryType.Available, 0) }, out ulong straddling));
        Assert.True(straddling > alone, $"{straddling} bytes for a span of 16 TiB, {alone} for 17 MiB");
        Assert.Equal(MemoryStatus.Ok, Bytes(new[]
        {
            low,
            new MemoryRegion(16 * TiB - (8UL << 30), 0x1000000, MemoryType.Available, 0),
        }, out _));
    }

    private static unsafe MemoryStatus Bytes(MemoryRegion[] regions, out ulong bytes)
    {
        fixed (MemoryRegion* r = regions)
            return PhysicalMemory.ComputeMetadataSize(new MemoryMap(r, regions.Length), NodeDistances.SingleNode, MemoryConfig.Default, out bytes);
    }

    [Fact]
    public void UnalignedEdgesAreTrimmedInward()
    {
        var map = new[]
        {
            new MemoryRegion(0, 0x9fc00, MemoryType.Available, 0),          // 159 whole frames, the 160th is partial
            new MemoryRegion(0x100800, 0x3000, MemoryType.Available, 0),    // frames 0x101, 0x102 only
        };
        using var host = new HostPhysicalMemory(map);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        Assert.Equal(159UL + 2UL, host.Memory->GetTotals().PresentPages);
        Assert.Equal(FrameKind.Absent, host.Memory->KindOf(new Pfn(0x9f), out _));
        Assert.Equal(FrameKind.Absent, host.Memory->KindOf(new Pfn(0x100), out _));
        Assert.NotEqual(FrameKind.Absent, host.Memory->KindOf(new Pfn(0x101), out _));
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void TooLittleMetadataIsRefused()
    {
        var map = QemuMaps.Build("pc", 128UL << 20, 1);
        fixed (MemoryRegion* r = map)
        {
            var mm = new MemoryMap(r, map.Length);
            Assert.Equal(MemoryStatus.Ok, PhysicalMemory.ComputeMetadataSize(mm, NodeDistances.SingleNode, MemoryConfig.Default, out ulong bytes));
            void* block = System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)bytes, 64);
            try
            {
                Assert.Equal(MemoryStatus.MetadataTooSmall,
                    PhysicalMemory.Initialize(block, bytes - 1, mm, NodeDistances.SingleNode, MemoryConfig.Default, out PhysicalMemory* pm));
                Assert.True(pm == null);
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.AlignedFree(block);
            }
        }
    }

    [Fact]
    public void BadConfigIsRefused()
    {
        var map = QemuMaps.Build("pc", 128UL << 20, 1);
        var tooLarge = MemoryConfig.Default;
        tooLarge.MaxOrder = 21;
        var blockAboveMaxOrder = MemoryConfig.Default;
        blockAboveMaxOrder.MaxOrder = 8;
        var noPools = MemoryConfig.Default;
        noPools.PoolCapacity = 0;
        var framePageblocks = MemoryConfig.Default; // order-0 buddies in two pools could not share a free-list node
        framePageblocks.PageblockOrder = 0;
        fixed (MemoryRegion* r = map)
            foreach (var cfg in new[] { tooLarge, blockAboveMaxOrder, noPools, framePageblocks })
                Assert.Equal(MemoryStatus.BadConfig, PhysicalMemory.ComputeMetadataSize(new MemoryMap(r, map.Length), NodeDistances.SingleNode, cfg, out _));
    }
}
