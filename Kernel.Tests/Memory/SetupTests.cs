using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>Set-up on real QEMU memory maps: every usable frame ends up free in the right default pool.</summary>
public unsafe class SetupTests
{
    private const ulong MiB = 1UL << 20;

    [Theory]
    [MemberData(nameof(QemuMaps.Table), MemberType = typeof(QemuMaps))]
    public void EveryUsableFrameIsFreeInADefaultPool(string machine, ulong mib, int nodes)
    {
        var map = QemuMaps.Build(machine, mib * MiB, nodes);
        using var host = new HostPhysicalMemory(map, nodes == 2 ? QemuMaps.TwoNodeDistances : null);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        MemoryAssert.Consistent(pm);

        MemoryTotals totals = pm->GetTotals();
        Assert.Equal(QemuMaps.AvailableFrames(map), totals.PresentPages);
        Assert.Equal(totals.PresentPages, totals.FreePages);
        Assert.Equal(0UL, totals.InUsePages);

        ulong sum = 0;
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
        {
            pm->GetPoolProperties(id, out PoolProperties props);
            pm->GetPoolStats(id, out PoolStats stats);
            sum += stats.PresentPages;
            string name = MemoryAssert.NameOf(props);
            Assert.StartsWith("node", name);
            Assert.Equal((props.Flags & PoolFlags.Dma) != 0, name.EndsWith("-dma"));
            Assert.True(stats.PresentPages > 0, name);
        }
        Assert.Equal(totals.PresentPages, sum);
        Assert.False(MemoryAssert.FindPool(pm, "node0-dma").IsNone);
        Assert.Equal(mib > 16, !MemoryAssert.FindPool(pm, "node0-dma32").IsNone);
        bool high = mib * MiB > (machine == "pc" ? 3584 * MiB : 2816 * MiB - 1);
        Assert.Equal(high, !MemoryAssert.FindPool(pm, nodes == 2 ? "node1-normal" : "node0-normal").IsNone);
        if (nodes == 2)
            Assert.False(MemoryAssert.FindPool(pm, "node1-dma32").IsNone && MemoryAssert.FindPool(pm, "node1-normal").IsNone);

        // The metadata budget: at most 8 bytes a present 4 KiB page (about 6 here: a state byte, an owner byte and half a
        // free-list node a frame, NodeTable; chunks with no memory have no nodes, so holes cost 2 bytes a frame).
        Assert.True(totals.MetadataBytes <= 8 * totals.PresentPages, $"{totals.MetadataBytes} bytes for {totals.PresentPages} pages");
    }

    [Theory]
    [MemberData(nameof(QemuMaps.Table), MemberType = typeof(QemuMaps))]
    public void DrainingEveryPoolAndFreeingRestoresTheStartingState(string machine, ulong mib, int nodes)
    {
        using var host = QemuMaps.Boot(machine, mib * MiB, nodes);
        PhysicalMemory* pm = host.Memory;
        ulong[][] before = MemoryAssert.BuddyInfo(pm);

        // Big blocks first (they touch one frame's memory each), then what is left, frame by frame.
        var taken = new List<(Pfn pfn, int order)>();
        foreach (int order in new[] { 9, 0 })
        {
            while (pm->Allocate(new Order(order), AllocRequest.Any, out Pfn pfn) == MemoryStatus.Ok)
                taken.Add((pfn, order));
            if (mib > 1024 && order == 9)
                break; // above 1 GiB the order-0 tail would touch GiBs of host memory; counted below
        }
        MemoryAssert.Consistent(pm);
        MemoryTotals t = pm->GetTotals();
        Assert.Equal(t.PresentPages - t.FreePages, taken.Aggregate(0UL, (s, x) => s + (1UL << x.order)));
        if (mib <= 1024)
        {
            Assert.Equal(0UL, t.FreePages);
            Assert.Equal(MemoryStatus.OutOfMemory, pm->Allocate(new Order(0), AllocRequest.Any, out _));
        }

        foreach (var (pfn, order) in taken)
            Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
        // Freed order-0 frames wait un-merged in the pools' frame caches (free, not in buddyinfo).
        Assert.Equal(t.PresentPages, pm->GetTotals().FreePages);
        pm->DrainCaches();
        MemoryAssert.Consistent(pm);
        Assert.Equal(before, MemoryAssert.BuddyInfo(pm));
    }

    [Fact]
    public void PageblockReportShowsPartialBlocksAtHoles()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(0, out PageblockUse first));
        // Frames 0-0x9e are whole (0x9f ends at 0x9fc00), 0x9f-0xff are the EBDA/VGA/BIOS hole, then RAM.
        Assert.Equal(0x9fU + 0x100U, first.PresentPages);
        Assert.Equal(0U, first.InUsePages);
        Assert.Equal(MemoryAssert.FindPool(pm, "node0-dma"), first.Pool);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(3), AllocRequest.InPool(first.Pool), out Pfn pfn));
        pm->GetPageblock((pfn.Value - pm->BasePfn.Value) >> pm->PageblockOrder, out PageblockUse used);
        Assert.Equal(8U, used.InUsePages);
    }

    /// <summary>
    /// Issue 12: RAM at or above 2^52 (beyond any x86-64 physical address) was set up as free memory;
    /// the checker then reported PageblockOutsideWindow and allocations returned frames beyond 52 bits.
    /// Set-up now trims it: the part below the limit is used, the rest is counted in BeyondLimitPages,
    /// and no block ever reaches frame 2^40. One case straddles the limit, one ends exactly at it; both
    /// add a region wholly beyond it.
    /// </summary>
    [Theory]
    [InlineData(64UL, 128UL)]
    [InlineData(64UL, 64UL)]
    [InlineData(8UL, 1024UL)]
    public void RamAbove2Pow52IsTrimmedAtSetUp(ulong mibBelow, ulong mib)
    {
        const ulong limit = Pfn.Limit << Pfn.PageShift;
        var map = new[]
        {
            new MemoryRegion(limit - mibBelow * MiB, mib * MiB, MemoryType.Available, 0),
            new MemoryRegion(limit + 2048 * MiB, 16 * MiB, MemoryType.Available, 0),
            new MemoryRegion(limit - 128 * MiB, 32 * MiB, MemoryType.Reserved, 0),
        };
        using var host = new HostPhysicalMemory(map);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        MemoryAssert.Consistent(pm);
        MemoryTotals totals = pm->GetTotals();
        ulong below = Math.Min(mibBelow, mib) * MiB / Pfn.PageSize;
        Assert.Equal(below, totals.PresentPages);
        Assert.Equal((mib * MiB + 16 * MiB) / Pfn.PageSize - below, totals.BeyondLimitPages);
        Assert.True(pm->BasePfn.Value + totals.SpanPages <= Pfn.Limit, $"span ends at frame 0x{pm->BasePfn.Value + totals.SpanPages:x}");

        // Everything there is, in big blocks, then frame by frame: never a frame at or above 2^40.
        ulong taken = 0;
        foreach (int order in new[] { 0, 10, 3, 0 })
        {
            int count = order == 0 && taken == 0 ? 100 : int.MaxValue;
            for (int i = 0; i < count; i++)
            {
                MemoryStatus s = pm->Allocate(new Order(order), AllocRequest.Any, out Pfn pfn);
                if (s == MemoryStatus.OutOfMemory)
                    break;
                Assert.Equal(MemoryStatus.Ok, s);
                Assert.True(pfn.Value + (1UL << order) <= Pfn.Limit, $"order {order} block at frame 0x{pfn.Value:x}");
                taken += 1UL << order;
            }
        }
        Assert.Equal(totals.PresentPages, taken);
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// Issue 12: RAM more than 16 TiB above the lowest usable frame, beyond what a 32-bit free-list link
    /// indexes (NodeTable.MaxSpanPages), refused the whole map. Set-up now trims it as
    /// it trims RAM above 2^52: the map sets up, the far RAM is counted beyond the limit, the checker is
    /// clean, and no block is ever handed out there.
    /// </summary>
    [Fact]
    public void RamBeyondWhatALinkIndexesIsTrimmedAtSetUp()
    {
        const ulong TiB = 1UL << 40;
        var map = new[]
        {
            new MemoryRegion(0x100000, 64 * MiB, MemoryType.Available, 0),
            new MemoryRegion(16 * TiB, 32 * MiB, MemoryType.Available, 0),
            new MemoryRegion(20 * TiB, 16 * MiB, MemoryType.Available, 0),
        };
        using var host = new HostPhysicalMemory(map);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        MemoryAssert.Consistent(pm);
        MemoryTotals totals = pm->GetTotals();
        Assert.Equal(64 * MiB / Pfn.PageSize, totals.PresentPages);
        Assert.Equal(48 * MiB / Pfn.PageSize, totals.BeyondLimitPages);
        Assert.True(totals.SpanPages <= NodeTable.MaxSpanPages, $"span of {totals.SpanPages} frames");

        ulong taken = 0;
        foreach (int order in new[] { 10, 0 })
        {
            while (pm->Allocate(new Order(order), AllocRequest.Any, out Pfn pfn) == MemoryStatus.Ok)
            {
                Assert.True(pfn.Value + (1UL << order) <= (0x100000 + 64 * MiB) / Pfn.PageSize, $"order {order} block at frame 0x{pfn.Value:x}");
                taken += 1UL << order;
            }
        }
        Assert.Equal(totals.PresentPages, taken);
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void RamOnlyAbove2Pow52IsRefusedAsNoMemory()
    {
        const ulong limit = Pfn.Limit << Pfn.PageShift;
        using var host = new HostPhysicalMemory(new[]
        {
            new MemoryRegion(limit, 64 * MiB, MemoryType.Available, 0),
            new MemoryRegion(limit - 64 * MiB, 64 * MiB, MemoryType.Reserved, 0),
        });
        Assert.Equal(MemoryStatus.MapNoMemory, host.InitStatus);
    }
}
