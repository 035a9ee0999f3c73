using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>Pool life cycle, page-block moves, owners, and the pool-choice rule.</summary>
public unsafe class PoolTests
{
    private const ulong MiB = 1UL << 20, GiB = 1UL << 30;

    private static PoolProperties Props(string name, ulong low = 0, ulong high = 0)
    {
        PoolProperties p = PoolProperties.Open(name);
        p.WindowLow = new PhysAddr(low);
        p.WindowHigh = new PhysAddr(high);
        return p;
    }

    [Fact]
    public void CreateMoveAndDestroyConserveEveryFrame()
    {
        using var host = QemuMaps.Boot("pc", 1024 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        pm->GetPoolStats(dma32, out PoolStats before);

        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("net"), dma32, 8, out PoolId net));
        MemoryAssert.Consistent(pm);
        pm->GetPoolStats(net, out PoolStats s);
        Assert.Equal(8UL, s.Pageblocks);
        Assert.Equal(8UL * 512, s.FreePages);
        // Whole page blocks arrive as order-9 blocks and merge into order-10 ones inside the new pool.
        Assert.Equal(8UL * 512, pm->FreeBlocks(net, new Order(9)) * 512 + pm->FreeBlocks(net, new Order(10)) * 1024);
        Assert.True(pm->FreeBlocks(net, new Order(10)) > 0);

        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(net), out Pfn pfn));
        Assert.Equal(net, PoolOf(pm, pfn));
        Assert.Equal(MemoryStatus.Ok, pm->MovePageblocks(dma32, net, 3));
        MemoryAssert.Consistent(pm);
        pm->GetPoolStats(net, out s);
        Assert.Equal(11UL, s.Pageblocks);

        MemoryAssert.Refused(host, MemoryStatus.PoolInUse, () => pm->DestroyPool(net));
        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->DestroyPool(net));
        MemoryAssert.Consistent(pm);
        pm->GetPoolStats(dma32, out PoolStats after);
        Assert.Equal(before.PresentPages, after.PresentPages);
        Assert.Equal(before.FreePages, after.FreePages);
        Assert.Equal(MemoryStatus.NoSuchPool, pm->GetPoolStats(net, out _));
    }

    private static PoolId PoolOf(PhysicalMemory* pm, Pfn pfn)
    {
        pm->GetPageblock((pfn.Value - pm->BasePfn.Value) >> pm->PageblockOrder, out PageblockUse use);
        Assert.Equal(use.Pool, pm->PoolOf(pfn)); // the allocator's own answer agrees with the page-block report
        return use.Pool;
    }

    [Fact]
    public void PoolOfAFrameOutsideTheSpanIsNone()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.True(pm->PoolOf(new Pfn(1UL << 40)).IsNone);
        Assert.True(pm->PoolOf(new Pfn(pm->BasePfn.Value - 1)).IsNone || pm->BasePfn.Value == 0);
    }

    [Fact]
    public void PoolCreationThatWouldTakeAllocatedMemoryIsRefused()
    {
        using var host = QemuMaps.Boot("pc", 1024 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        var req = AllocRequest.Any;
        req.Lowest = new PhysAddr(64 * MiB);
        req.Highest = new PhysAddr(66 * MiB - 1);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), req, out Pfn pfn));
        Assert.InRange(pfn.Address.Value, 64 * MiB, 66 * MiB - 1);
        MemoryAssert.Refused(host, MemoryStatus.PagesInUse,
            () => pm->CreatePoolFromRange(Props("grab"), new PhysAddr(60 * MiB).FrameDown, 4, out _));
        Assert.Equal(MemoryStatus.Ok, pm->CreatePoolFromRange(Props("ok"), new PhysAddr(56 * MiB).FrameDown, 4, out PoolId ok));
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyPool(ok));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void BadPoolRequestsAreRefusedWithoutChange()
    {
        using var host = QemuMaps.Boot("q35", 6144 * MiB, 2);
        PhysicalMemory* pm = host.Memory;
        PoolId normal = MemoryAssert.FindPool(pm, "node1-normal");
        PoolId dma = MemoryAssert.FindPool(pm, "node0-dma");
        MemoryAssert.Refused(host, MemoryStatus.Unaligned, () => pm->CreatePoolFromRange(Props("x"), new Pfn(0x100001), 1, out _));
        MemoryAssert.Refused(host, MemoryStatus.OutsideEveryPool, () => pm->CreatePoolFromRange(Props("x"), new PhysAddr(3 * GiB).FrameDown, 1, out _));
        MemoryAssert.Refused(host, MemoryStatus.PropertiesMismatch, () => pm->CreatePoolFromRange(Props("low", 0, 4 * GiB), new PhysAddr(5 * GiB).FrameDown, 2, out _));
        // Asking a donor for more matching blocks than it has: nothing moved, no pool left behind.
        MemoryAssert.Refused(host, MemoryStatus.OutOfMemory, () => pm->CreatePool(Props("big", 0, 5 * GiB), normal, 1000, out _));
        MemoryAssert.Refused(host, MemoryStatus.BelowMinimum, () => pm->MovePageblocks(dma, normal, 100));
        MemoryAssert.Refused(host, MemoryStatus.PoolIsHome, () => pm->DestroyPool(normal));
        MemoryAssert.Refused(host, MemoryStatus.NoSuchPool, () => pm->DestroyPool(new PoolId(200)));
        var min = Props("min");
        min.MinimumPages = 10 * 512;
        MemoryAssert.Refused(host, MemoryStatus.BelowMinimum, () => pm->CreatePool(min, normal, 5, out _));
        var max = Props("max");
        max.MaximumPages = 512;
        MemoryAssert.Refused(host, MemoryStatus.AboveMaximum, () => pm->CreatePool(max, normal, 2, out _));

        // A pool with a guaranteed minimum refuses to shrink below it.
        var keep = Props("keep");
        keep.MinimumPages = 4 * 512;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(keep, normal, 4, out PoolId kept));
        MemoryAssert.Refused(host, MemoryStatus.BelowMinimum, () => pm->MovePageblocks(kept, normal, 1));
    }

    [Fact]
    public void PoolTableFullIsRefused()
    {
        var cfg = MemoryConfig.Default;
        cfg.PoolCapacity = 3;
        using var host = QemuMaps.Boot("pc", 1024 * MiB, 1, cfg);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("one"), dma32, 1, out _));
        MemoryAssert.Refused(host, MemoryStatus.PoolTableFull, () => pm->CreatePool(Props("two"), dma32, 1, out _));
    }

    [Fact]
    public void OwnerMaskRefusesOtherOwners()
    {
        using var host = QemuMaps.Boot("pc", 1024 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        var props = Props("gpu");
        props.OwnerMask = 1UL << 5;
        props.Priority = 10;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, dma32, 2, out PoolId gpu));

        var stranger = AllocRequest.InPool(gpu);
        stranger.Owner = 4;
        MemoryAssert.Refused(host, MemoryStatus.OwnerRefused, () => pm->Allocate(new Order(0), stranger, out _));
        MemoryAssert.Refused(host, MemoryStatus.OwnerRefused, () => pm->AllocateRun(3, stranger, out _));

        // Pool choice skips the pool for other owners even though its priority is highest...
        var any = AllocRequest.Any;
        any.Owner = 4;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), any, out Pfn other));
        Assert.NotEqual(gpu, PoolOf(pm, other));
        // ...and picks it first for its owner.
        any.Owner = 5;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), any, out Pfn mine));
        Assert.Equal(gpu, PoolOf(pm, mine));
    }

    [Fact]
    public void ReservedPoolsServeOnlyRequestsThatNameThem()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        var props = Props("crash");
        props.Flags = PoolFlags.Reserved;
        props.Priority = 255;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, dma32, 4, out PoolId crash));
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out Pfn pfn));
            Assert.NotEqual(crash, PoolOf(pm, pfn));
        }
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(crash), out Pfn r));
        Assert.Equal(crash, PoolOf(pm, r));
    }

    [Fact]
    public void ChoicePrefersTheNearNodeThenFallsBackToTheFarOne()
    {
        using var host = QemuMaps.Boot("q35", 6144 * MiB, 2);
        PhysicalMemory* pm = host.Memory;
        PoolId n0 = MemoryAssert.FindPool(pm, "node0-normal");
        PoolId n1 = MemoryAssert.FindPool(pm, "node1-normal");
        var req = AllocRequest.Any;
        req.PreferredNode = 1;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(10), req, out Pfn pfn));
        Assert.Equal(n1, PoolOf(pm, pfn));
        req.PreferredNode = 0;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(10), req, out pfn));
        // Node 0 has normal memory above 4 GiB on q35 6G (first half = 2 GiB low + 1 GiB high).
        Assert.Equal(n0, PoolOf(pm, pfn));

        // Drain node 1 strictly, then a node-1 request falls back to node 0.
        var strict = AllocRequest.Any;
        strict.PreferredNode = 1;
        strict.Flags = RequestFlags.NodeStrict;
        while (pm->Allocate(new Order(10), strict, out _) == MemoryStatus.Ok) { }
        while (pm->Allocate(new Order(0), strict, out _) == MemoryStatus.Ok) { }
        Assert.Equal(MemoryStatus.OutOfMemory, pm->Allocate(new Order(0), strict, out _));
        req.PreferredNode = 1;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), req, out pfn));
        pm->GetPageblock((pfn.Value - pm->BasePfn.Value) >> pm->PageblockOrder, out PageblockUse use);
        Assert.Equal(0, use.Node);
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void ChoiceKeepsLowMemoryForLastAndHonoursPriority()
    {
        using var host = QemuMaps.Boot("pc", 6144 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId normal = MemoryAssert.FindPool(pm, "node0-normal");
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out Pfn pfn));
        Assert.Equal(normal, PoolOf(pm, pfn));
        // A DMA32 request picks the highest window below its limit.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Dma(32), out pfn));
        Assert.Equal(dma32, PoolOf(pm, pfn));
        // A higher-priority pool wins over the normal pool.
        var props = Props("hot", 0, 4 * GiB);
        props.Priority = 1;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, dma32, 1, out PoolId hot));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out pfn));
        Assert.Equal(hot, PoolOf(pm, pfn));
    }

    [Fact]
    public void TheRememberedFirstChoiceFollowsPoolChangesAndFallsBackWhenEmpty()
    {
        using var host = QemuMaps.Boot("pc", 6144 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId normal = MemoryAssert.FindPool(pm, "node0-normal");
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out Pfn first));
        Assert.Equal(normal, PoolOf(pm, first)); // remembered for this request shape

        // A better pool appears: the remembered choice is outdated at once.
        var props = Props("hot", 0, 4 * GiB);
        props.Priority = 1;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, dma32, 1, out PoolId hot));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out Pfn pfn));
        Assert.Equal(hot, PoolOf(pm, pfn));
        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(0), MemoryAssert.DefaultOwner));
        // It goes away: back to the normal pool, never to the dead slot.
        Assert.Equal(MemoryStatus.Ok, pm->DestroyPool(hot));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out pfn));
        Assert.Equal(normal, PoolOf(pm, pfn));
        // Another shape (order 1) has its own remembered pool, and the first one is still right.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(1), AllocRequest.Any, out Pfn two));
        Assert.Equal(normal, PoolOf(pm, two));

        // The remembered pool runs dry: the walk goes on to the next pool in the order.
        AllocRequest inNormal = AllocRequest.InPool(normal);
        for (int o = pm->MaxOrder; o >= 0; o--)
            while (pm->Allocate(new Order(o), inNormal, out _) == MemoryStatus.Ok) { }
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out Pfn fallback));
        Assert.Equal(dma32, PoolOf(pm, fallback));
        // Memory comes back to it: it is first again.
        Assert.Equal(MemoryStatus.Ok, pm->Free(first, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out pfn));
        Assert.Equal(first, pfn);
        MemoryAssert.Consistent(pm);

        // The checker names a remembered choice that points at a dead slot.
        int slotOfFirst = -1;
        for (int slot = 0; slot < ChoiceMemo.Entries; slot++)
        {
            pm->_memos[0].Entry(slot, out uint generation, out int memoPool);
            if (generation == pm->_poolGeneration && memoPool == normal.Value)
                slotOfFirst = slot;
        }
        Assert.True(slotOfFirst >= 0);
        pm->_memos[0].SetPool(slotOfFirst, 200);
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.ChoiceMemoStale, r.Code);
        Assert.Equal(200, r.Pool.Value);
        pm->_memos[0].SetPool(slotOfFirst, normal.Value);
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// Issue 12: "a page request without a named pool costs 124 ns instead of 27 at 90% fill, because the
    /// remembered pool is tried first even when it is empty". Counted, not timed: once the first pool of
    /// the order (normal) is exhausted, each request by pool choice, with or without address rules,
    /// tries one pool (dma32), not the empty one first; frames given back to normal make it first
    /// again. On main each request tried two pools.
    /// </summary>
    [Theory]
    [InlineData(0, false)]
    [InlineData(3, false)]
    [InlineData(0, true)]
    public void AnEmptyRememberedPoolIsNotTried(int order, bool rules)
    {
        using var host = QemuMaps.Boot("pc", 6144 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId normal = MemoryAssert.FindPool(pm, "node0-normal");
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        AllocRequest any = AllocRequest.Any;
        if (rules)
        {
            any.Highest = new PhysAddr(ulong.MaxValue >> 12); // a window above all memory: every pool qualifies as for Any
            any.Boundary = 64 * 1024;
        }
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), any, out Pfn first));
        Assert.Equal(normal, PoolOf(pm, first));
        AllocRequest inNormal = AllocRequest.InPool(normal);
        for (int o = pm->MaxOrder; o >= 0; o--)
            while (pm->Allocate(new Order(o), inNormal, out _) == MemoryStatus.Ok) { }

        const int Requests = 100;
        var taken = new Pfn[Requests];
        ulong before = host.PoolProbes;
        for (int i = 0; i < Requests; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), any, out taken[i]));
            Assert.Equal(dma32, PoolOf(pm, taken[i]));
        }
        Assert.Equal((ulong)Requests, host.PoolProbes - before);

        Assert.Equal(MemoryStatus.Ok, pm->Free(first, new Order(order), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), any, out Pfn again));
        Assert.Equal(first, again);
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void ReportsIterateEveryPoolAndPageblock()
    {
        using var host = QemuMaps.Boot("q35", 1024 * MiB, 2);
        PhysicalMemory* pm = host.Memory;
        int pools = 0;
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            pools++;
        Assert.Equal((int)pm->GetTotals().LivePools, pools);
        ulong present = 0;
        for (ulong i = 0; i < pm->PageblockCount; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(i, out PageblockUse use));
            present += use.PresentPages;
        }
        Assert.Equal(pm->GetTotals().PresentPages, present);
        Assert.Equal(MemoryStatus.InvalidArgument, pm->GetPageblock(pm->PageblockCount, out _));
    }

    [Fact]
    public void TheChoiceOrderIsPriorityThenDistanceThenFallbackThenWindowTop()
    {
        using var host = QemuMaps.Boot("q35", 6144 * MiB, 2);
        PhysicalMemory* pm = host.Memory;
        string[] Order(AllocRequest req)
        {
            Assert.Equal(MemoryStatus.Ok, DmaRules.Resolve(req, 1, out DmaRules rules));
            byte* ids = stackalloc byte[pm->PoolCapacity];
            int n = PoolChoice.Rank(ref *pm, req, rules, 1, ids);
            var names = new string[n];
            for (int i = 0; i < n; i++)
            {
                pm->GetPoolProperties(new PoolId(ids[i]), out PoolProperties p);
                names[i] = MemoryAssert.NameOf(p);
            }
            return names;
        }

        var local = AllocRequest.Any;
        local.PreferredNode = 0;
        // Local pools first (normal, dma32, then the Dma fallback), then the remote node.
        Assert.Equal(new[] { "node0-normal", "node0-dma32", "node0-dma", "node1-normal" }, Order(local));

        var dma32 = AllocRequest.Dma(32);
        dma32.PreferredNode = 1;
        // Only pools below 4 GiB qualify; the higher window goes first.
        Assert.Equal(new[] { "node0-dma32", "node0-dma" }, Order(dma32));

        var props = Props("fast", 4 * GiB, 0);
        props.Priority = 3;
        props.NodeMask = 1UL << 1;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, MemoryAssert.FindPool(pm, "node1-normal"), 2, out _));
        // Priority beats distance.
        Assert.Equal(new[] { "fast", "node0-normal", "node0-dma32", "node0-dma", "node1-normal" }, Order(local));
    }
}
