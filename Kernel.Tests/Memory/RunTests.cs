using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>Contiguous runs of any page count.</summary>
public unsafe class RunTests
{
    private const ulong MiB = 1UL << 20;

    [Theory]
    [InlineData(1UL)]
    [InlineData(3UL)]
    [InlineData(513UL)]
    [InlineData(1024UL)]
    [InlineData(1025UL)]
    [InlineData(5000UL)]
    [InlineData(100000UL)]
    public void RunsOfAnyLengthAreContiguousAndGiveBackTheirTail(ulong pages)
    {
        using var host = QemuMaps.Boot("q35", 1024 * MiB, 2);
        PhysicalMemory* pm = host.Memory;
        ulong freeBefore = pm->GetTotals().FreePages;
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(pages, AllocRequest.Any, out Pfn first));
        MemoryAssert.Consistent(pm);
        Assert.Equal(freeBefore - pages, pm->GetTotals().FreePages);
        for (ulong p = 0; p < pages; p++)
            Assert.NotEqual(FrameKind.Free, pm->KindOf(first.Plus(p), out _));
        Assert.Equal(MemoryStatus.Ok, pm->FreeRun(first, pages, MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
        Assert.Equal(freeBefore, pm->GetTotals().FreePages);
    }

    [Fact]
    public void RunLargerThanAnyFreeStretchIsOutOfMemory()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        MemoryAssert.Refused(host, MemoryStatus.OutOfMemory, () => pm->AllocateRun(128 * MiB >> 12, AllocRequest.Any, out _));
    }

    [Fact]
    public void RunsFillTheGapsBetweenAllocatedFrames()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma = MemoryAssert.FindPool(pm, "node0-dma");
        // Allocate all of the dma pool a frame at a time, free every 8th group of 7 frames.
        var frames = new List<Pfn>();
        while (pm->Allocate(new Order(0), AllocRequest.InPool(dma), out Pfn pfn) == MemoryStatus.Ok)
            frames.Add(pfn);
        frames.Sort((a, b) => a.Value.CompareTo(b.Value));
        var freed = new List<Pfn>();
        for (int i = 0; i + 8 < frames.Count; i += 64)
            for (int j = 1; j < 8; j++)
            {
                Assert.Equal(MemoryStatus.Ok, pm->Free(frames[i + j], new Order(0), MemoryAssert.DefaultOwner));
                freed.Add(frames[i + j]);
            }
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(7, AllocRequest.InPool(dma), out Pfn run));
        Assert.Contains(run, freed);
        MemoryAssert.Refused(host, MemoryStatus.OutOfMemory, () => pm->AllocateRun(8, AllocRequest.InPool(dma), out _));
        Assert.Equal(MemoryStatus.Ok, pm->FreeRun(run, 7, MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }
}
