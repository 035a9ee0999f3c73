using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Elastic memory (Kernel.Memory/Balloon): page blocks lent to the hypervisor and taken back. Which
/// pools lend first, the guarantees that stop the balloon, that a lent page block can be neither
/// allocated nor freed, and that deflation restores every frame; the checker after every step.
/// </summary>
public unsafe class BalloonTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public BalloonTests(ITestOutputHelper output) => _output = output;

    private static PoolProperties Props(string name, PoolFlags flags, ulong minimumPages = 0)
    {
        PoolProperties p = PoolProperties.Open(name);
        p.Flags = flags;
        p.MinimumPages = minimumPages;
        return p;
    }

    /// <summary>Present = free + in use + lent, for every pool and for the totals.</summary>
    private static void SumsAddUp(PhysicalMemory* pm)
    {
        ulong lent = 0;
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
        {
            pm->GetPoolStats(id, out PoolStats s);
            Assert.Equal(s.PresentPages, s.FreePages + s.InUsePages + s.BalloonedPages);
            lent += s.BalloonedPages;
        }
        MemoryTotals t = pm->GetTotals();
        Assert.Equal(lent, t.BalloonedPages);
        Assert.Equal(t.PresentPages, t.FreePages + t.InUsePages + t.BalloonedPages);
    }

    private static PoolStats Stats(PhysicalMemory* pm, PoolId id)
    {
        Assert.Equal(MemoryStatus.Ok, pm->GetPoolStats(id, out PoolStats s));
        return s;
    }

    [Fact]
    public void InflateTakesElasticPoolsFirst_ThenDefaultPoolsAboveTheirMinimums_NeverReservedRealtimeOrDma()
    {
        using var host = QemuMaps.Boot("q35", 1024 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        PoolId dma = MemoryAssert.FindPool(pm, "node0-dma");
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("guest", PoolFlags.Elastic), dma32, 16, out PoolId elastic));
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("resv", PoolFlags.Reserved), dma32, 4, out PoolId reserved));
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("rt", PoolFlags.Realtime), dma32, 4, out PoolId realtime));
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("gold", PoolFlags.None, 8 * 512), dma32, 10, out PoolId gold));
        PoolStats reservedBefore = Stats(pm, reserved), realtimeBefore = Stats(pm, realtime), dmaBefore = Stats(pm, dma);
        MemoryAssert.Consistent(pm);

        var order = new List<PoolId>();
        MemoryStatus status;
        while ((status = pm->InflatePageblock(out Pfn start, out PoolId from)) == MemoryStatus.Ok)
        {
            order.Add(from);
            Assert.Equal(FrameKind.Allocated, pm->KindOf(start, out Order o));
            Assert.Equal(pm->PageblockOrder, o.Value);
            Assert.Equal(FrameOwner.Balloon, pm->OwnerOf(start));
            Assert.Equal(from, pm->PoolOf(start));
            MemoryAssert.Consistent(pm);
            SumsAddUp(pm);
        }
        // Nothing is allocated: the balloon stops only because every pool it may take from is at its guarantee.
        Assert.Equal(MemoryStatus.BelowMinimum, status);
        Assert.True(order.Count > 16);
        Assert.All(order.Take(16), id => Assert.Equal(elastic, id));
        Assert.DoesNotContain(elastic, order.Skip(16));
        Assert.DoesNotContain(reserved, order);
        Assert.DoesNotContain(realtime, order);
        Assert.DoesNotContain(dma, order);
        Assert.Equal(2, order.Count(id => id == gold)); // 10 page blocks, 8 guaranteed
        Assert.Equal(16UL * 512, Stats(pm, elastic).BalloonedPages);
        Assert.Equal(8UL * 512, Stats(pm, gold).PresentPages - Stats(pm, gold).BalloonedPages);
        // The default pool lent every whole page block: what is left are page blocks with holes.
        for (int o = pm->PageblockOrder; o <= pm->MaxOrder; o++)
            Assert.Equal(0UL, pm->FreeBlocks(dma32, new Order(o)));
        Assert.True(Stats(pm, dma32).PresentPages - Stats(pm, dma32).BalloonedPages < 2 * 512);
        Assert.Equal(reservedBefore, Stats(pm, reserved));
        Assert.Equal(realtimeBefore, Stats(pm, realtime));
        Assert.Equal(dmaBefore, Stats(pm, dma));
        Assert.Equal(0UL, pm->BalloonablePages());
        MemoryAssert.Refused(host, MemoryStatus.BelowMinimum, () => pm->InflatePageblock(out _, out _));
    }

    [Fact]
    public void LentPageblock_CannotBeAllocatedFreedOrDeflatedTwice()
    {
        using var host = QemuMaps.Boot("pc", 256 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("guest", PoolFlags.Elastic), dma32, 1, out PoolId elastic));
        Assert.Equal(MemoryStatus.Ok, pm->InflatePageblock(out Pfn start, out PoolId from));
        Assert.Equal(elastic, from);
        MemoryAssert.Consistent(pm);
        ulong pb = (start.Value - pm->BasePfn.Value) >> pm->PageblockOrder;
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb, out PageblockUse use));
        Assert.True(use.Ballooned);
        Assert.Equal(use.PresentPages, use.InUsePages);

        // The pool's only page block is lent: nothing of it can be allocated.
        MemoryAssert.Refused(host, MemoryStatus.OutOfMemory, () => pm->Allocate(new Order(0), AllocRequest.InPool(elastic), out _));
        // No owner can free it, whatever order it names.
        for (byte owner = 0; owner < FrameOwner.Count; owner += 21)
        {
            MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(start, new Order(pm->PageblockOrder), owner));
            MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(start, new Order(0), owner));
        }
        MemoryAssert.Refused(host, MemoryStatus.PoolInUse, () => pm->DestroyPool(elastic));
        MemoryAssert.Refused(host, MemoryStatus.Unaligned, () => pm->DeflatePageblock(new Pfn(start.Value + 1)));
        MemoryAssert.Refused(host, MemoryStatus.NotBallooned, () => pm->DeflatePageblock(new Pfn(start.Value + (1UL << pm->PageblockOrder))));
        MemoryAssert.Refused(host, MemoryStatus.OutsideEveryPool, () => pm->DeflatePageblock(new Pfn(1UL << 40)));

        Assert.Equal(MemoryStatus.Ok, pm->DeflatePageblock(start));
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb, out use));
        Assert.False(use.Ballooned);
        Assert.Equal(0u, use.InUsePages);
        MemoryAssert.Refused(host, MemoryStatus.NotBallooned, () => pm->DeflatePageblock(start));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(pm->PageblockOrder), AllocRequest.InPool(elastic), out Pfn again));
        Assert.Equal(start, again);
        Assert.Equal(MemoryStatus.Ok, pm->Free(again, new Order(pm->PageblockOrder), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->DestroyPool(elastic));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void DeflateGivesBackDefaultPoolsFirst_ElasticLast_AndRestoresTheBuddyLists()
    {
        using var host = QemuMaps.Boot("q35", 512 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("guest", PoolFlags.Elastic), dma32, 8, out PoolId elastic));
        ulong[][] before = MemoryAssert.BuddyInfo(pm);
        MemoryTotals totalsBefore = pm->GetTotals();
        for (int i = 0; i < 40; i++)
            Assert.Equal(MemoryStatus.Ok, pm->InflatePageblock(out _, out _));
        Assert.Equal(32UL * 512, Stats(pm, dma32).BalloonedPages);

        var order = new List<PoolId>();
        while (pm->NextBallooned(out Pfn start, out PoolId pool) == MemoryStatus.Ok)
        {
            Assert.Equal(pool, pm->PoolOf(start));
            Assert.Equal(MemoryStatus.Ok, pm->DeflatePageblock(start));
            order.Add(pool);
            MemoryAssert.Consistent(pm);
            SumsAddUp(pm);
        }
        Assert.Equal(40, order.Count);
        Assert.All(order.Take(32), id => Assert.Equal(dma32, id));
        Assert.All(order.Skip(32), id => Assert.Equal(elastic, id));
        Assert.Equal(before, MemoryAssert.BuddyInfo(pm));
        Assert.Equal(totalsBefore, pm->GetTotals());
    }

    [Fact]
    public void MemoryInUse_StopsTheBalloonWithOutOfMemory_NotAtTheGuarantee()
    {
        using var host = QemuMaps.Boot("pc", 64 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        var held = new List<Pfn>();
        // One frame of every page block in use: free memory remains, but no whole page block.
        ulong pbPages = 1UL << pm->PageblockOrder;
        while (pm->Allocate(new Order(0), AllocRequest.Any, out Pfn pfn) == MemoryStatus.Ok)
            held.Add(pfn);
        var keep = new HashSet<ulong>();
        foreach (Pfn p in held)
        {
            if (keep.Add(p.Value / pbPages))
                continue;
            Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(0), MemoryAssert.DefaultOwner));
        }
        Assert.True(pm->BalloonablePages() > 0);
        // A refusal may drain the frame caches (same frames free, merged): drained first, it changes nothing.
        pm->DrainCaches();
        MemoryAssert.Refused(host, MemoryStatus.OutOfMemory, () => pm->InflatePageblock(out _, out _));
        foreach (Pfn p in held)
        {
            if (keep.Remove(p.Value / pbPages))
                Assert.Equal(MemoryStatus.Ok, pm->Free(p, new Order(0), MemoryAssert.DefaultOwner));
        }
        Assert.Equal(MemoryStatus.Ok, pm->InflatePageblock(out _, out _));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void LentMemoryDoesNotCountTowardsTheGuarantee_WhenPageblocksMove()
    {
        using var host = QemuMaps.Boot("q35", 512 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("gold", PoolFlags.Elastic, 4 * 512), dma32, 8, out PoolId gold));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->InflatePageblock(out _, out PoolId from));
            Assert.Equal(gold, from);
        }
        // 8 present, 3 lent, 4 guaranteed: one page block may still leave, two may not.
        MemoryAssert.Refused(host, MemoryStatus.BelowMinimum, () => pm->MovePageblocks(gold, dma32, 2));
        Assert.Equal(MemoryStatus.Ok, pm->MovePageblocks(gold, dma32, 1));
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->InflatePageblock(out _, out PoolId next));
        Assert.NotEqual(gold, next); // gold is at its guarantee: the default pool lends now
        Assert.Equal(4UL * 512, Stats(pm, gold).PresentPages - Stats(pm, gold).BalloonedPages);
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void CheckerFindsAMiscountedOrMisplacedBalloon()
    {
        using var host = QemuMaps.Boot("pc", 256 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->InflatePageblock(out Pfn start, out PoolId pool));
        pm->_buddy._pools[pool.Value].BalloonedPages += 1;
        Assert.Equal(InvariantCode.BalloonCount, pm->Check().Code);
        pm->_buddy._pools[pool.Value].BalloonedPages -= 1;
        MemoryAssert.Consistent(pm);
        pm->_buddy._pools[pool.Value].Properties.Flags |= PoolFlags.Reserved;
        InvariantReport report = pm->Check();
        Assert.Equal(InvariantCode.BalloonBlockBad, report.Code);
        Assert.Equal(start, report.Pfn);
        pm->_buddy._pools[pool.Value].Properties.Flags &= ~PoolFlags.Reserved;
        pm->_buddy._pools[pool.Value].Properties.MinimumPages = pm->_buddy._pools[pool.Value].PresentPages;
        Assert.Equal(InvariantCode.BalloonCount, pm->Check().Code);
    }

    private static readonly MemoryRegion[] SmallMap =
    {
        new MemoryRegion(0, 0x9fc00, MemoryType.Available, 0),
        new MemoryRegion(0x100000, 0x500000, MemoryType.Available, 0),
        new MemoryRegion(0x680000, 0x380000, MemoryType.Available, 0),
        new MemoryRegion(0xa00000, 0x200000, MemoryType.Available, 1),
        new MemoryRegion(0x1000000, 0x3ff000, MemoryType.Available, 1),
    };

    [Fact]
    public void RandomInflateDeflateAllocateFree_KeepEveryInvariantAndGuarantee()
        => SeededRuns.Run(_output, "balloon operations", "POOLKERNEL_BALLOON", 64, 1500, RunSeed);

    private static void RunSeed(int seed, int ops)
    {
        var rng = new Random(seed);
        MemoryConfig cfg = MemoryConfig.Default;
        if (seed % 2 == 1)
        {
            cfg.MaxOrder = 5;
            cfg.PageblockOrder = 3;
        }
        using var host = new HostPhysicalMemory(SmallMap, QemuMaps.TwoNodeDistances, cfg);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        ulong pbPages = 1UL << pm->PageblockOrder;
        var donors = new List<PoolId>();
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            donors.Add(id);
        // An elastic pool with a guarantee and a guaranteed default-like pool, from whichever donor can give.
        foreach (PoolProperties props in new[] { Props("guest", PoolFlags.Elastic, 2 * pbPages), Props("gold", PoolFlags.None, 3 * pbPages), Props("resv", PoolFlags.Reserved) })
        {
            foreach (PoolId donor in donors)
                if (pm->CreatePool(props, donor, 4, out _) == MemoryStatus.Ok)
                    break;
        }
        var lent = new List<Pfn>();
        var held = new List<(Pfn pfn, int order)>();
        for (int op = 0; op < ops; op++)
        {
            int kind = rng.Next(100);
            string what = "";
            try
            {
                if (kind < 30)
                {
                    what = "inflate";
                    MemoryStatus s = pm->InflatePageblock(out Pfn start, out PoolId from);
                    if (s == MemoryStatus.Ok)
                    {
                        pm->GetPoolProperties(from, out PoolProperties p);
                        Assert.True(PhysicalMemory.MayBalloon(p));
                        lent.Add(start);
                    }
                    else
                        Assert.True(s == MemoryStatus.OutOfMemory || s == MemoryStatus.BelowMinimum, s.ToString());
                }
                else if (kind < 50 && lent.Count > 0)
                {
                    what = "deflate";
                    int i = rng.Next(lent.Count);
                    Assert.Equal(MemoryStatus.Ok, pm->DeflatePageblock(lent[i]));
                    lent[i] = lent[^1];
                    lent.RemoveAt(lent.Count - 1);
                }
                else if (kind < 80)
                {
                    what = "allocate";
                    int order = rng.Next(Math.Min(3, pm->MaxOrder) + 1);
                    if (pm->Allocate(new Order(order), AllocRequest.Any, out Pfn pfn) == MemoryStatus.Ok)
                    {
                        foreach (Pfn l in lent)
                            Assert.False(pfn.Value + (1UL << order) > l.Value && pfn.Value < l.Value + pbPages, "allocated inside a lent page block");
                        held.Add((pfn, order));
                    }
                }
                else if (held.Count > 0)
                {
                    what = "free";
                    int i = rng.Next(held.Count);
                    Assert.Equal(MemoryStatus.Ok, pm->Free(held[i].pfn, new Order(held[i].order), MemoryAssert.DefaultOwner));
                    held[i] = held[^1];
                    held.RemoveAt(held.Count - 1);
                }
                MemoryAssert.Consistent(pm);
                SumsAddUp(pm);
                for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
                {
                    pm->GetPoolProperties(id, out PoolProperties p);
                    PoolStats s = Stats(pm, id);
                    Assert.True(s.PresentPages - s.BalloonedPages >= p.MinimumPages, $"pool {id.Value} below its guarantee");
                    if (!PhysicalMemory.MayBalloon(p))
                        Assert.Equal(0UL, s.BalloonedPages);
                }
                Assert.Equal((ulong)lent.Count * pbPages, pm->GetTotals().BalloonedPages);
            }
            catch (Exception e)
            {
                throw new Exception($"op {op} ({what}): {e.Message}", e);
            }
        }
    }
}
