using PoolKernel.Boot.PoolPlan;
using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.PoolPlan;

/// <summary>
/// Every form the planner applies, on QEMU-like maps: pool= with each option, percentages, nodes,
/// ranges, hugepages (2M, 1G, per node), cma=, kernelcore=/movablecore=. Each scenario ends with
/// the checker clean and the present pages unchanged (Applied checks both).
/// </summary>
public sealed unsafe class PoolPlanFormTests
{
    private const ulong MiB = 1UL << 20, GiB = 1UL << 30, Pageblock = 2 * MiB;

    [Theory]
    [InlineData("pc", 128UL, 1)]
    [InlineData("q35", 1024UL, 1)]
    [InlineData("pc", 6144UL, 1)]
    [InlineData("q35", 6144UL, 2)]
    public void PlainPool_IsReservedKernelOnly_AndExactlyItsSize(string machine, ulong mib, int nodes)
    {
        using var a = new Applied("pool=x:16M", machine, mib, nodes);
        PoolOutcome o = a.Created("x");
        Assert.Equal(16 * MiB, o.GotBytes);
        Assert.Equal(OutcomeNotes.None, o.Notes);
        PoolProperties p = a.Props(o);
        Assert.Equal(PoolFlags.Reserved, p.Flags);
        Assert.Equal(1UL, p.OwnerMask);
        Assert.Equal(0, p.Owner);
        Assert.Equal(ulong.MaxValue, p.NodeMask);
        Assert.Equal(8UL, a.Stats(o).Pageblocks);
        Assert.Equal(a.Stats(o).PresentPages, a.Stats(o).FreePages);
        Assert.NotEqual(0xFF, o.Donor);
        Assert.True(o.DonorCount >= 1);
    }

    [Fact]
    public void Pool_TakesHighMemoryFirst()
    {
        using var a = new Applied("pool=x:64M", "q35", 6144);
        Assert.All(a.Blocks(a.Created("x")), b => Assert.True(b.Start >= 4 * GiB, $"{b.Start:x}"));
    }

    [Theory]
    [InlineData(32, 4UL << 30)]
    [InlineData(30, 1UL << 30)]
    [InlineData(24, 16UL << 20)]
    public void DmaBits_NarrowTheWindow_AndMarkTheDmaFlag(int bits, ulong limit)
    {
        using var a = new Applied($"pool=dev:8M,dma={bits}", "q35", 6144);
        PoolOutcome o = a.Created("dev");
        PoolProperties p = a.Props(o);
        Assert.Equal(limit, p.WindowHigh.Value);
        Assert.Equal(PoolFlags.Reserved | PoolFlags.Dma, p.Flags);
        Assert.All(a.Blocks(o), b => Assert.True(b.Start + Pageblock <= limit, $"{b.Start:x}"));
        Assert.True(o.GotBytes >= 8 * MiB);
    }

    [Fact]
    public void BoundaryAndAlign_AreRecordedForTheDmaApi()
    {
        using var a = new Applied("pool=sata_dma:32M,dma=32,boundary=64K,align=4K", "pc", 1024);
        PoolOutcome o = a.Created("sata_dma");
        Assert.Equal(64UL << 10, o.Boundary);
        Assert.Equal(4UL << 10, o.Align);
        Assert.True((o.Notes & OutcomeNotes.RulesRecorded) != 0);
        Assert.Equal(32 * MiB, o.GotBytes);
    }

    [Fact]
    public void PrioOwnerRealtimeMovable_BecomeProperties()
    {
        using var a = new Applied("pool=a:8M,prio=10,owner=7,rt pool=b:8M,movable,owner=0", "q35", 1024);
        PoolProperties pa = a.Props(a.Created("a"));
        Assert.Equal(10, pa.Priority);
        Assert.Equal(7, pa.Owner);
        Assert.Equal(1UL << 7, pa.OwnerMask);
        Assert.Equal(PoolFlags.Reserved | PoolFlags.Realtime, pa.Flags);
        PoolProperties pb = a.Props(a.Created("b"));
        Assert.Equal(PoolFlags.Reserved | PoolFlags.MovableOnly, pb.Flags);
        Assert.Equal(MobilityMask.Movable, pb.AcceptedMobility);
        Assert.Equal(1UL, pb.OwnerMask);
    }

    [Fact]
    public void Elastic_IsOrdinaryMemoryTheBalloonLendsFirst_NotReserved()
    {
        using var a = new Applied("pool=guest:64M,elastic pool=mine:8M,elastic,owner=5,min=4M pool=bad:8M,elastic=1", "q35", 1024);
        PoolProperties guest = a.Props(a.Created("guest"));
        Assert.Equal(PoolFlags.Elastic, guest.Flags);
        Assert.Equal(ulong.MaxValue, guest.OwnerMask);
        Assert.True(PhysicalMemory.MayBalloon(guest));
        PoolProperties mine = a.Props(a.Created("mine"));
        Assert.Equal(PoolFlags.Elastic, mine.Flags);
        Assert.Equal(1UL << 5, mine.OwnerMask);
        Assert.Equal(4 * MiB / 4096, mine.MinimumPages);
        // A flag with a value is refused like rt=1: the pool is made without it (reserved).
        PoolFlags bad = a.Props(a.Created("bad")).Flags;
        Assert.Equal(PoolFlags.Reserved, bad & (PoolFlags.Reserved | PoolFlags.Elastic));
        Assert.Equal(MemoryStatus.Ok, a.Pm->InflatePageblock(out Pfn start, out PoolId from));
        Assert.Equal(MemoryStatus.Ok, a.Pm->GetPoolProperties(from, out PoolProperties lent));
        Assert.Equal(PoolFlags.Elastic, lent.Flags & PoolFlags.Elastic);
    }

    [Fact]
    public void MinAndMax_BecomeLimits_AndAreAdjustedAgainstTheSize()
    {
        using var a = new Applied("pool=a:64M,min=16M,max=128M pool=b:64M,max=32M pool=c:8M,min=8M,max=8M pool=d:3M,max=3M", "q35", 1024);
        PoolProperties pa = a.Props(a.Created("a"));
        Assert.Equal(16 * MiB / 4096, pa.MinimumPages);
        Assert.Equal(128 * MiB / 4096, pa.MaximumPages);
        PoolOutcome b = a.Created("b");
        Assert.Equal(32 * MiB, b.GotBytes);
        Assert.True((b.Notes & OutcomeNotes.LimitedByMax) != 0);
        Assert.Equal(8 * MiB / 4096, a.Props(a.Created("c")).MinimumPages);
        PoolOutcome d = a.Created("d");
        Assert.Equal(4 * MiB, d.GotBytes);
        Assert.Equal(4 * MiB / 4096, a.Props(d).MaximumPages);
    }

    [Fact]
    public void Size_IsRoundedUpToPageblocks_AndSaysSo()
    {
        using var a = new Applied("pool=x:3M pool=y:1", "q35", 1024);
        PoolOutcome x = a.Created("x");
        Assert.Equal(3 * MiB, x.RequestedBytes);
        Assert.Equal(4 * MiB, x.PlannedBytes);
        Assert.Equal(4 * MiB, x.GotBytes);
        Assert.True((x.Notes & OutcomeNotes.RoundedUp) != 0);
        Assert.Equal(2 * MiB, a.Created("y").GotBytes);
    }

    [Fact]
    public void Percent_IsOfTheNodesPoolMemory_OrTheMachines()
    {
        var host = QemuMaps.Boot("q35", 6144 * MiB, 2);
        ulong node0 = NodePages(host.Memory, 0), total = NodePages(host.Memory, 0) + NodePages(host.Memory, 1);
        using var a = new Applied("pool=cache:25%@0,movable,max=8G pool=all:10%", host);
        PoolOutcome c = a.Created("cache");
        Assert.Equal(node0 * 25 / 100 * 4096, c.RequestedBytes);
        Assert.True((c.Notes & OutcomeNotes.Percent) != 0);
        Assert.Equal((c.RequestedBytes + Pageblock - 1) / Pageblock * Pageblock, c.GotBytes);
        Assert.All(a.Blocks(c), b => Assert.Equal(0, b.Node));
        Assert.Equal(total * 10 / 100 * 4096, a.Created("all").RequestedBytes);
    }

    [Fact]
    public void NodePool_TakesOnlyThatNodesMemory()
    {
        using var a = new Applied("pool=audio_rt:256M@1,rt,prio=10,min=64M", "q35", 2048, 2);
        PoolOutcome o = a.Created("audio_rt");
        Assert.Equal(256 * MiB, o.GotBytes);
        PoolProperties p = a.Props(o);
        Assert.Equal(2UL, p.NodeMask);
        Assert.Equal(64 * MiB / 4096, p.MinimumPages);
        Assert.All(a.Blocks(o), b => Assert.Equal(1, b.Node));
    }

    [Fact]
    public void RangePool_LiesInsideItsRange()
    {
        using var a = new Applied("pool=isa:8M@0-16M pool=odd:4M@0x1100000-0x1a00000", "pc", 1024);
        PoolOutcome o = a.Created("isa");
        Assert.All(a.Blocks(o), b => Assert.True(b.Start + Pageblock <= 16 * MiB));
        Assert.True(o.GotBytes >= 8 * MiB);
        PoolOutcome odd = a.Created("odd");
        Assert.True((odd.Notes & OutcomeNotes.RangeTrimmed) != 0);
        Assert.All(a.Blocks(odd), b => Assert.True(b.Start >= 0x1200000 && b.Start + Pageblock <= 0x1a00000, $"{b.Start:x}"));
    }

    [Fact]
    public void RangeAcrossAHole_IsGatheredInPieces_WithItsMinimum()
    {
        // q35 6G: RAM to 2 GiB, then from 4 GiB; 1.5 GiB in [1G, 5G) needs both sides of the hole.
        using var a = new Applied("pool=wide:1536M@1G-5G,min=1G", "q35", 6144);
        PoolOutcome o = a.Created("wide");
        Assert.Equal(1536 * MiB, o.GotBytes);
        Assert.True((o.Notes & OutcomeNotes.Pieces) != 0);
        Assert.Equal(GiB / 4096, a.Props(o).MinimumPages);
        Assert.All(a.Blocks(o), b => Assert.True(b.Start >= GiB && b.Start < 5 * GiB));
        Assert.Equal("wide", Name(a, o));
    }

    [Fact]
    public void HugePages2M_ArePageblocks()
    {
        using var a = new Applied("hugepages=512", "q35", 2048);
        PoolOutcome o = a.Created("huge2m");
        Assert.Equal(GiB, o.GotBytes);
        Assert.All(a.Blocks(o), b => Assert.Equal(512u, b.Present));
        Assert.Equal(PoolFlags.Reserved, a.Props(o).Flags);
    }

    [Fact]
    public void HugePages1G_AreAlignedWholeGigabytes()
    {
        using var a = new Applied("hugepagesz=1G hugepages=3", "q35", 6144);
        PoolOutcome o = a.Created("huge1g");
        Assert.Equal(3 * GiB, o.GotBytes);
        var blocks = a.Blocks(o);
        Assert.Equal(3 * 512, blocks.Count);
        foreach (var group in blocks.GroupBy(b => b.Start / GiB))
            Assert.Equal(512, group.Count());
    }

    [Fact]
    public void HugePages1G_WhenTheGigabytesAreApart_AreGatheredInPieces()
    {
        // pc 6G: 3 GiB low (the first and last gigabytes are not whole: firmware), 3 GiB from 4 GiB: four whole gigabytes.
        using var a = new Applied("hugepagesz=1G hugepages=4", "pc", 6144);
        PoolOutcome o = a.Created("huge1g");
        Assert.Equal(4 * GiB, o.GotBytes);
        Assert.True((o.Notes & OutcomeNotes.Pieces) != 0);
        foreach (var group in a.Blocks(o).GroupBy(b => b.Start / GiB))
            Assert.Equal(512, group.Count());
    }

    [Fact]
    public void HugePagesPerNode_OnePoolPerNode()
    {
        using var a = new Applied("hugepagesz=1G hugepages=0:1,1:2 hugepagesz=2M hugepages=0:8,1:4", "q35", 6144, 2);
        Assert.All(a.Blocks(a.Created("huge1g-n0")), b => Assert.Equal(0, b.Node));
        Assert.All(a.Blocks(a.Created("huge1g-n1")), b => Assert.Equal(1, b.Node));
        Assert.Equal(2 * GiB, a.Created("huge1g-n1").GotBytes);
        Assert.Equal(16 * MiB, a.Created("huge2m-n0").GotBytes);
        Assert.Equal(8 * MiB, a.Created("huge2m-n1").GotBytes);
        Assert.Equal(2UL, a.Props(a.Created("huge2m-n1")).NodeMask);
    }

    [Fact]
    public void Cma_IsAMovablePool_InItsRange()
    {
        using var a = new Applied("cma=256M@0-4G", "q35", 6144);
        PoolOutcome o = a.Created("cma");
        PoolProperties p = a.Props(o);
        Assert.Equal(PoolFlags.MovableOnly, p.Flags);
        Assert.Equal(ulong.MaxValue, p.OwnerMask);
        Assert.All(a.Blocks(o), b => Assert.True(b.Start < 4 * GiB));

        using var open = new Applied("cma=64M@5G", "q35", 6144);
        Assert.All(open.Blocks(open.Created("cma")), b => Assert.True(b.Start >= 5 * GiB));
    }

    [Fact]
    public void KernelCore_LeavesThatMuchToTheKernel_TheRestIsMovable()
    {
        using var a = new Applied("kernelcore=512M", "q35", 2048);
        PoolOutcome o = a.Created("kernelcore");
        Assert.Equal("movable", Name(a, o));
        Assert.Equal(PoolFlags.MovableOnly, a.Props(o).Flags);
        ulong total = a.PresentBefore * 4096;
        Assert.True(total - o.GotBytes >= 512 * MiB && total - o.GotBytes < 512 * MiB + Pageblock, $"kernel keeps {total - o.GotBytes}");
    }

    [Fact]
    public void MovableCore_IsAMovablePoolOfThatSize_AndKernelCoreWinsOverIt()
    {
        using (var a = new Applied("mem=8G movablecore=30%", "q35", 2048))
        {
            PoolOutcome o = a.Created("movablecore");
            Assert.Equal(a.PresentBefore * 30 / 100 * 4096, o.RequestedBytes);
            Assert.Equal(PoolFlags.MovableOnly, a.Props(o).Flags);
        }
        using (var b = new Applied("movablecore=1G kernelcore=1G", "q35", 4096))
        {
            b.Refused("movablecore", OutcomeCode.CoreConflict);
            b.Created("kernelcore");
        }
    }

    [Fact]
    public void PoolsApply_InCommandLineOrder_AndEachSeesWhatTheEarlierLeft()
    {
        using var a = new Applied("pool=a:60% pool=b:60%", "q35", 1024);
        a.Created("a");
        PoolOutcome b = a.Refused("b", OutcomeCode.TooLarge);
        Assert.True(b.AvailableBytes < b.PlannedBytes);
        Assert.True(b.AvailableBytes > 0);
    }

    internal static ulong NodePages(PhysicalMemory* pm, int node)
    {
        ulong pages = 0;
        for (ulong pb = 0; pb < pm->PageblockCount; pb++)
        {
            pm->GetPageblock(pb, out PageblockUse u);
            if (u.PresentPages != 0 && u.Node == node)
                pages += u.PresentPages;
        }
        return pages;
    }

    internal static string Name(Applied a, PoolOutcome o) => Memory.MemoryAssert.NameOf(a.Props(o));
}

/// <summary>The result block's layout: outcomes fit their stride and stay 8-byte aligned.</summary>
public sealed unsafe class PoolPlanResultLayoutTests
{
    [Fact]
    public void OutcomesFitTheirStride()
    {
        Assert.True(sizeof(PoolOutcome) <= PoolOutcome.StorageSize, $"sizeof(PoolOutcome) = {sizeof(PoolOutcome)}");
        Assert.Equal(0, PoolOutcome.StorageSize % 8);
        var result = stackalloc PoolPlanResult[1];
        Assert.Equal(0UL, ((ulong)result->Outcome(1) - (ulong)result) % 8);
        Assert.True(result->Outcome(PoolPlanResult.MaxOutcomes) == result->Outcome(0));
    }
}
