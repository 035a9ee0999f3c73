using PoolKernel.Boot.PoolPlan;
using PoolKernel.Memory;
using PoolKernel.Tests.PoolPlan;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Realtime pools (Kernel.Memory/Realtime, docs/realtime.md): every allocation and free counted in steps and
/// held to <see cref="RealtimeSteps.Bound"/> under adversarial seeded sequences on pools of several sizes;
/// resizing towards the minimum and maximum one page block a step, donors in give order; a realtime pool's
/// memory kept from lower priorities; the checker after the steps.
/// </summary>
public unsafe class RealtimeTests
{
    private const ulong MiB = 1UL << 20;
    /// <summary>The kernel's owner number.</summary>
    private const byte Owner = 0;
    private readonly ITestOutputHelper _output;

    public RealtimeTests(ITestOutputHelper output) => _output = output;

    private static PoolProperties Props(string name, PoolFlags flags, byte priority = 0, ulong minimumPages = 0, ulong maximumPages = 0)
    {
        PoolProperties p = PoolProperties.Open(name);
        p.Flags = flags;
        p.Priority = priority;
        p.MinimumPages = minimumPages;
        p.MaximumPages = maximumPages;
        return p;
    }

    /// <summary>
    /// A q35 machine of <paramref name="ramBytes"/> (one node; <paramref name="config"/>, e.g. two CPUs, the caller's thread
    /// entered as CPU 0) with realtime pool "rt" (reserved, priority 10) of <paramref name="pageblocks"/> page blocks
    /// carved from the DMA32 pool, <paramref name="donor"/>.
    /// </summary>
    private static HostPhysicalMemory WithRealtimePool(ulong ramBytes, ulong pageblocks, out PoolId rt, out PoolId donor, MemoryConfig? config = null)
    {
        var host = QemuMaps.Boot("q35", ramBytes, 1, config);
        HostCpus.Enter(0);
        PhysicalMemory* pm = host.Memory;
        donor = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("rt", PoolFlags.Realtime | PoolFlags.Reserved, 10), donor, pageblocks, out rt));
        return host;
    }

    private readonly struct Held
    {
        public readonly Pfn Pfn;
        public readonly int Order;
        public Held(Pfn pfn, int order) { Pfn = pfn; Order = order; }
    }

    private static ulong Present(PhysicalMemory* pm, PoolId id)
    {
        Assert.Equal(MemoryStatus.Ok, pm->GetPoolStats(id, out PoolStats s));
        return s.PresentPages;
    }

    /// <summary>The steps of CPU 0's last realtime operation, checked against the bound.</summary>
    private static ulong StepsWithinBound(PhysicalMemory* pm, string what)
    {
        RealtimeSteps s = pm->GetRealtimeSteps(0);
        Assert.True(s.Last <= pm->RealtimeStepBound, $"{what}: {s.Last} steps, bound {pm->RealtimeStepBound}");
        return s.Last;
    }

    /// <summary>
    /// One seeded adversarial run on a realtime pool of <paramref name="pageblocks"/> page blocks: the pool is
    /// filled with blocks of orders 0-3 and every other one freed (fragmented), then random allocations of every
    /// order the pool serves (mostly 0-3, sometimes up to the max order) and frees; every operation's steps are at most the bound. Returns the most steps seen.
    /// </summary>
    private ulong AdversarialRun(ulong ramBytes, ulong pageblocks, int seed, int ops)
    {
        using var host = WithRealtimePool(ramBytes, pageblocks, out PoolId rt, out _);
        PhysicalMemory* pm = host.Memory;
        var rng = new Random(seed);
        var held = new List<Held>();
        ulong most = 0;
        // Fill with orders 0-3 until the pool refuses, then free every other block: fragmented, half full.
        while (true)
        {
            int order = rng.Next(4);
            MemoryStatus status = pm->AllocateRealtime(rt, new Order(order), Owner, out Pfn pfn);
            most = Math.Max(most, StepsWithinBound(pm, "fill"));
            if (status != MemoryStatus.Ok)
            {
                Assert.Equal(MemoryStatus.OutOfMemory, status);
                if (order == 0)
                    break;
                continue;
            }
            held.Add(new Held(pfn, order));
        }
        var kept = new List<Held>();
        for (int i = 0; i < held.Count; i++)
        {
            if (i % 2 == 0)
                kept.Add(held[i]);
            else
            {
                Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(held[i].Pfn, new Order(held[i].Order), Owner));
                most = Math.Max(most, StepsWithinBound(pm, "fragment"));
            }
        }
        held = kept;
        MemoryAssert.Consistent(pm);
        for (int op = 0; op < ops; op++)
        {
            int kind = rng.Next(100);
            if (kind < 50 || held.Count == 0)
            {
                int order = kind < 5 ? rng.Next(pm->MaxOrder + 1) : rng.Next(4);
                MemoryStatus status = pm->AllocateRealtime(rt, new Order(order), Owner, out Pfn pfn);
                most = Math.Max(most, StepsWithinBound(pm, $"seed {seed} op {op} alloc order {order}"));
                if (status == MemoryStatus.Ok)
                    held.Add(new Held(pfn, order));
                else
                    Assert.Equal(MemoryStatus.OutOfMemory, status);
            }
            else
            {
                int i = rng.Next(held.Count);
                Held h = held[i];
                held[i] = held[held.Count - 1];
                held.RemoveAt(held.Count - 1);
                Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(h.Pfn, new Order(h.Order), Owner));
                most = Math.Max(most, StepsWithinBound(pm, $"seed {seed} op {op} free order {h.Order}"));
            }
            if (op % 1000 == 999)
                MemoryAssert.Consistent(pm);
        }
        MemoryAssert.Consistent(pm);
        Assert.Equal(most, pm->GetRealtimeSteps(0).Max);
        return most;
    }

    [Fact]
    public void EveryOperation_WithinTheStepBound_OnFragmentedPoolsOfEverySize()
    {
        SeededRuns.Run(_output, "realtime step bound", "RT_STEPS", 4, 4000, (seed, ops) =>
        {
            ulong small = AdversarialRun(512 * MiB, 32, seed, ops);
            ulong large = AdversarialRun(2048 * MiB, 256, seed, ops);
            _output.WriteLine($"seed {seed}: most steps {small} (32 page blocks), {large} (256); bound {RealtimeSteps.Bound(10, 9)}");
            Assert.True(small > 0 && large > 0);
        });
    }

    /// <summary>
    /// The worst case built on purpose: a pool whose lists hold one block of the max order and nothing else (every
    /// other block allocated), so an order-0 allocation is the mask, the pop, M split halves and the held count:
    /// M + 3 steps, the bound; freeing it merges all the way back up (M + 2); a block of the max order is the mask,
    /// the pop and its page blocks' counts. The same on a pool of 32 page blocks and of 256: the bound does not grow
    /// with memory.
    /// </summary>
    [Fact]
    public void WorstCase_AnOrderZeroAllocationSplittingAMaxOrderBlock_TakesTheBound_OnEverySize()
    {
        (ulong Alloc, ulong Free, ulong MaxOrder) Worst(ulong ramBytes, ulong pageblocks)
        {
            using var host = WithRealtimePool(ramBytes, pageblocks, out PoolId rt, out _);
            PhysicalMemory* pm = host.Memory;
            var held = new List<Held>();
            for (int order = pm->MaxOrder; order >= 0; order--)
                while (pm->AllocateRealtime(rt, new Order(order), Owner, out Pfn pfn) == MemoryStatus.Ok)
                    held.Add(new Held(pfn, order));
            Held last = held.FindLast(h => h.Order == pm->MaxOrder);
            Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(last.Pfn, new Order(last.Order), Owner));
            Assert.Equal(MemoryStatus.Ok, pm->AllocateRealtime(rt, new Order(0), Owner, out Pfn frame));
            ulong alloc = StepsWithinBound(pm, "order 0 from a max-order block");
            Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(frame, new Order(0), Owner));
            ulong free = StepsWithinBound(pm, "its free");
            Assert.Equal(MemoryStatus.Ok, pm->AllocateRealtime(rt, new Order(pm->MaxOrder), Owner, out Pfn block));
            ulong maxOrder = StepsWithinBound(pm, "a max-order block");
            Assert.Equal(last.Pfn, block);
            foreach (Held h in held)
                Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(h.Pfn, new Order(h.Order), Owner));
            MemoryAssert.Consistent(pm);
            Assert.Equal(RealtimeSteps.Bound(pm->MaxOrder, pm->PageblockOrder), pm->RealtimeStepBound);
            return (alloc, free, maxOrder);
        }
        var small = Worst(512 * MiB, 32);
        var large = Worst(2048 * MiB, 256);
        _output.WriteLine($"order 0 from a max-order block: {small.Alloc} steps, its free {small.Free}, a max-order block {small.MaxOrder} (32 page blocks); {large} (256); bound {RealtimeSteps.Bound(10, 9)}");
        Assert.Equal(small, large);
        Assert.Equal(RealtimeSteps.Bound(10, 9), small.Alloc);
        Assert.Equal(10UL + 3, small.Alloc);
        Assert.Equal(10UL + 2, small.Free);
        Assert.Equal(2UL + 2, small.MaxOrder);
    }

    /// <summary>
    /// A realtime pool has no per-CPU cache of any order: every order-0 frame comes from its lists and goes back to
    /// them merged (nothing parked Cached), so a pool whose frames were all allocated and freed is whole again.
    /// </summary>
    [Fact]
    public void ARealtimePool_HasNoCaches_OrderZeroFramesComeFromItsListsAndGoBackMerged()
    {
        using var host = WithRealtimePool(1024 * MiB, 32, out PoolId rt, out _, HostCpus.Config(2));
        PhysicalMemory* pm = host.Memory;
        Assert.True(FrameCache.HighFor(32UL << pm->PageblockOrder, pm->MaxOrder, 0) > 0, "a pool this size would have a cache");
        for (int cpu = 0; cpu < 2; cpu++)
            for (int order = 0; order <= pm->MaxOrder; order++)
            {
                FrameCache* cache = pm->_buddy.CacheFor(rt.Value, cpu, order);
                Assert.True(cache == null || (cache->High == 0 && cache->Count == 0), $"cpu {cpu} order {order}");
            }
        var frames = new List<Pfn>();
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->AllocateRealtime(rt, new Order(0), Owner, out Pfn pfn));
            frames.Add(pfn);
        }
        for (int i = 0; i < frames.Count; i += 2)
        {
            Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(frames[i], new Order(0), Owner));
            Assert.Equal(FrameKind.Free, pm->KindOf(frames[i], out Order o));
            Assert.Equal(0, o.Value);
        }
        for (int i = 1; i < frames.Count; i += 2)
            Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(frames[i], new Order(0), Owner));
        Assert.Equal(MemoryStatus.Ok, pm->GetPoolStats(rt, out PoolStats stats));
        Assert.Equal(stats.PresentPages, stats.FreePages);
        Assert.Equal(0UL, stats.CachedPages);
        Assert.Equal(FrameKind.Free, pm->KindOf(frames[0], out Order whole));
        Assert.True(whole.Value >= pm->PageblockOrder, $"frame {frames[0].Value} heads a free block of order {whole.Value}");
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// Two CPUs: frames one CPU frees are the next CPU's to allocate at once, however full the pool is. A realtime
    /// allocation never drains another CPU's cache (waiting for its lock is not bounded by this CPU), so frames a
    /// cache parked would be out of reach; with no caches there are none.
    /// </summary>
    [Fact]
    public void FramesFreedOnOneCpu_AreAllocatableOnTheOther_OnAFullPool()
    {
        using var host = WithRealtimePool(1024 * MiB, 32, out PoolId rt, out _, HostCpus.Config(2));
        PhysicalMemory* pm = host.Memory;
        var frames = new List<Pfn>();
        while (pm->AllocateRealtime(rt, new Order(0), Owner, out Pfn pfn) == MemoryStatus.Ok)
            frames.Add(pfn);
        Assert.Equal(32UL << pm->PageblockOrder, (ulong)frames.Count);
        HostCpus.Enter(1);
        for (int i = 0; i < 10; i++)
            Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(frames[i], new Order(0), Owner));
        HostCpus.Enter(0);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->AllocateRealtime(rt, new Order(0), Owner, out Pfn again));
            Assert.Contains(again, frames.GetRange(0, 10));
            StepsWithinBound(pm, $"allocation {i} after the other CPU's frees");
        }
        Assert.Equal(MemoryStatus.OutOfMemory, pm->AllocateRealtime(rt, new Order(0), Owner, out _));
        foreach (Pfn pfn in frames)
            Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(pfn, new Order(0), Owner));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void ABlockOfEveryOrder_AllocatedAndFreed_WithinTheBound_AndOfThePoolsClassOnly()
    {
        using var host = WithRealtimePool(1024 * MiB, 8, out PoolId rt, out _);
        PhysicalMemory* pm = host.Memory;
        for (int order = 0; order <= pm->MaxOrder; order++)
        {
            // A movable request through the general entry takes the same bounded path: the pool keeps one class.
            AllocRequest request = AllocRequest.InPool(rt);
            request.Mobility = MobilityClass.Movable;
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), request, out Pfn a));
            Assert.Equal(MemoryStatus.Ok, pm->AllocateRealtime(rt, new Order(order), Owner, out Pfn b));
            StepsWithinBound(pm, $"order {order}");
            Assert.Equal(rt, pm->PoolOf(a));
            Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(b, new Order(order), Owner));
            StepsWithinBound(pm, $"free order {order}");
            Assert.Equal(MemoryStatus.Ok, pm->Free(a, new Order(order), Owner));
            MemoryAssert.Consistent(pm);
        }
    }

    /// <summary>
    /// A realtime pool large enough for per-CPU caches has none above order 0: every allocation and free of
    /// orders 1-3 and 9 through the general entries is a counted realtime operation (none parked in, or taken
    /// from, a block cache that would bypass the count).
    /// </summary>
    [Fact]
    public void BlockOrders_OnALargeRealtimePool_AreCountedOperations_NoBlockCacheBypassesThem()
    {
        using var host = WithRealtimePool(2048 * MiB, 512, out PoolId rt, out _);
        PhysicalMemory* pm = host.Memory;
        foreach (int order in new[] { 1, 2, 3, 9 })
        {
            for (int round = 0; round < 3; round++)
            {
                ulong before = pm->GetRealtimeSteps(0).Operations;
                Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), AllocRequest.InPool(rt), out Pfn a));
                Assert.Equal(MemoryStatus.Ok, pm->Free(a, new Order(order), Owner));
                Assert.Equal(before + 2, pm->GetRealtimeSteps(0).Operations);
            }
        }
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void Refusals_LeaveStateUnchanged()
    {
        using var host = WithRealtimePool(1024 * MiB, 4, out PoolId rt, out PoolId donor);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("plain", PoolFlags.Reserved), donor, 4, out PoolId plain));
        MemoryAssert.Refused(host, MemoryStatus.PropertiesMismatch, () => pm->AllocateRealtime(plain, new Order(0), Owner, out _));
        MemoryAssert.Refused(host, MemoryStatus.InvalidOrder, () => pm->AllocateRealtime(rt, new Order(pm->MaxOrder + 1), Owner, out _));
        MemoryAssert.Refused(host, MemoryStatus.NoSuchPool, () => pm->AllocateRealtime(new PoolId(30), new Order(0), Owner, out _));
        MemoryAssert.Refused(host, MemoryStatus.PropertiesMismatch, () => pm->SetRealtimeLimits(plain, 0, 0));
        MemoryAssert.Refused(host, MemoryStatus.InvalidArgument, () => pm->SetRealtimeLimits(rt, 4096, 2048));
        MemoryAssert.Refused(host, MemoryStatus.InvalidArgument, () => pm->RebalanceRealtime(rt, PhysicalMemory.MaxRebalanceBatch + 1, out _));
        // Rules that would need a search are refused on a realtime pool; a window covering the pool is served.
        AllocRequest aligned = AllocRequest.InPool(rt);
        aligned.Alignment = 64 * 4096;
        MemoryAssert.Refused(host, MemoryStatus.PropertiesMismatch, () => pm->Allocate(new Order(0), aligned, out _));
        // The realtime pool's page blocks are kept from a pool of lower priority.
        MemoryAssert.Refused(host, MemoryStatus.RealtimeProtected, () => pm->MovePageblocks(rt, donor, 1));
    }

    [Fact]
    public void PressureFromLowerPriorities_NeverTakesARealtimePoolsMemory()
    {
        using var host = QemuMaps.Boot("q35", 1024 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId donor = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("rt", PoolFlags.Realtime, 10), donor, 4, out PoolId rt));
        ulong present = Present(pm, rt);
        // Pool choice never picks it (not even a realtime pool without the Reserved flag).
        for (int i = 0; i < 2000; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(i % 4), AllocRequest.Any, out Pfn pfn));
            Assert.NotEqual(rt, pm->PoolOf(pfn));
        }
        // Compaction passes it over; the balloon lends none of it; moves to lower priorities are refused.
        Assert.Equal(MemoryStatus.Ok, pm->Compact(rt, -1, out CompactionResult compacted));
        Assert.Equal(0UL, compacted.PagesMoved);
        while (pm->InflatePageblock(out _, out PoolId from) == MemoryStatus.Ok)
            Assert.NotEqual(rt, from);
        Assert.Equal(MemoryStatus.RealtimeProtected, pm->MovePageblocks(rt, donor, 1));
        Assert.Equal(present, Present(pm, rt));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void BelowItsMinimum_ItTakesPageblocksFromElasticPoolsFirst_ThenDefaultOnes_LowestPriorityFirst_AboveItsMaximum_ItGivesThemBack()
    {
        using var host = QemuMaps.Boot("q35", 1024 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        ulong pb = 1UL << pm->PageblockOrder;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("rt", PoolFlags.Realtime | PoolFlags.Reserved, 10), dma32, 2, out PoolId rt));
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("guest", PoolFlags.Elastic, 5), dma32, 3, out PoolId elastic));
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("low", PoolFlags.None, 1, 2 * pb), dma32, 4, out PoolId low));
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("high", PoolFlags.None, 200), dma32, 4, out PoolId high));
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("resv", PoolFlags.Reserved, 0), dma32, 4, out PoolId reserved));
        ulong dma32Before = Present(pm, dma32), highBefore = Present(pm, high), reservedBefore = Present(pm, reserved);

        // Ten more page blocks: the elastic pool's three first, then the default pools', lowest priority first
        // (the set-up pool, priority 0, before low, priority 1); never the higher-priority or reserved pools.
        Assert.Equal(MemoryStatus.Ok, pm->SetRealtimeLimits(rt, 12 * pb, 0));
        var takenFrom = new List<string>();
        int moved;
        do
        {
            PoolStatsSnapshot before = new(pm, elastic, low, dma32);
            Assert.Equal(MemoryStatus.Ok, pm->RebalanceRealtime(rt, 1, out moved));
            Assert.InRange(moved, 0, 1);
            if (moved == 1)
                takenFrom.Add(before.WhoGave(pm, elastic, low, dma32));
            MemoryAssert.Consistent(pm);
        } while (moved == 1);
        _output.WriteLine(string.Join(" ", takenFrom));
        Assert.Equal(new[] { "guest", "guest", "guest" }, takenFrom.Take(3));
        Assert.All(takenFrom.Skip(3), who => Assert.Equal("node0-dma32", who));
        Assert.Equal(12 * pb, Present(pm, rt));
        Assert.Equal(highBefore, Present(pm, high));
        Assert.Equal(reservedBefore, Present(pm, reserved));

        // A batch moves at most its size; above its maximum the pool gives page blocks back to their home.
        Assert.Equal(MemoryStatus.Ok, pm->SetRealtimeLimits(rt, 0, 3 * pb));
        Assert.Equal(MemoryStatus.Ok, pm->RebalanceRealtime(rt, 4, out moved));
        Assert.Equal(4, moved);
        Assert.Equal(8 * pb, Present(pm, rt));
        Assert.Equal(MemoryStatus.Ok, pm->RebalanceRealtime(rt, PhysicalMemory.MaxRebalanceBatch, out moved));
        Assert.Equal(5, moved);
        Assert.Equal(3 * pb, Present(pm, rt));
        Assert.Equal(MemoryStatus.Ok, pm->RebalanceRealtime(rt, PhysicalMemory.MaxRebalanceBatch, out moved));
        Assert.Equal(0, moved);
        Assert.True(Present(pm, dma32) > dma32Before - 12 * pb);
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// The housekeeping pass (<see cref="PhysicalMemory.RebalanceRealtimePools"/>) with no explicit call: a realtime
    /// pool of 2 page blocks with a minimum of 12 reaches it in ceil(10 / batch) passes, taking from the elastic pool
    /// first, then the set-up pool, never from higher priorities; seeded realtime allocations and frees between the
    /// passes stay within the step bound; above a new maximum the passes give page blocks home, a batch each.
    /// </summary>
    [Fact]
    public void HousekeepingPasses_GrowAPoolBelowItsMinimum_DonorsInGiveOrder_AndShrinkItAboveItsMaximum_OperationsWithinTheBound()
    {
        SeededRuns.Run(_output, "realtime housekeeping", "RT_HOUSEKEEPING", 4, 200, (seed, ops) =>
        {
            using var host = QemuMaps.Boot("q35", 1024 * MiB, 1);
            PhysicalMemory* pm = host.Memory;
            PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
            ulong pb = 1UL << pm->PageblockOrder;
            int batch = PhysicalMemory.HousekeepingRebalanceBatch;
            Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("rt", PoolFlags.Realtime | PoolFlags.Reserved, 10), dma32, 2, out PoolId rt));
            Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("guest", PoolFlags.Elastic, 5), dma32, 3, out PoolId elastic));
            Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("high", PoolFlags.None, 200), dma32, 4, out PoolId high));
            ulong highBefore = Present(pm, high);
            Assert.Equal(0, pm->RebalanceRealtimePools()); // within its limits: nothing moves
            Assert.Equal(MemoryStatus.Ok, pm->SetRealtimeLimits(rt, 12 * pb, 0));

            var rng = new Random(seed);
            var held = new List<Held>();
            var givers = new List<string>();
            int passes = 0;
            while (Present(pm, rt) < 12 * pb)
            {
                for (int i = 0; i < ops / 10; i++)
                {
                    if (held.Count == 0 || rng.Next(2) == 0)
                    {
                        int order = rng.Next(4);
                        if (pm->AllocateRealtime(rt, new Order(order), Owner, out Pfn pfn) == MemoryStatus.Ok)
                            held.Add(new Held(pfn, order));
                    }
                    else
                    {
                        int k = rng.Next(held.Count);
                        Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(held[k].Pfn, new Order(held[k].Order), Owner));
                        held.RemoveAt(k);
                    }
                    StepsWithinBound(pm, $"seed {seed} pass {passes} op {i}");
                }
                ulong guestBefore = Present(pm, elastic), setupBefore = Present(pm, dma32);
                int moved = pm->RebalanceRealtimePools();
                passes++;
                Assert.InRange(moved, 1, batch);
                for (ulong g = (guestBefore - Present(pm, elastic)) / pb; g > 0; g--)
                    givers.Add("guest");
                for (ulong g = (setupBefore - Present(pm, dma32)) / pb; g > 0; g--)
                    givers.Add("node0-dma32");
                Assert.True(passes <= 10, $"seed {seed}: not at its minimum after {passes} passes");
                MemoryAssert.Consistent(pm);
            }
            Assert.Equal((10 + batch - 1) / batch, passes);
            Assert.Equal(new[] { "guest", "guest", "guest", "node0-dma32", "node0-dma32", "node0-dma32", "node0-dma32", "node0-dma32", "node0-dma32", "node0-dma32" }, givers);
            Assert.Equal(highBefore, Present(pm, high));
            Assert.Equal(0, pm->RebalanceRealtimePools());

            foreach (Held h in held)
                Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(h.Pfn, new Order(h.Order), Owner));
            pm->DrainCaches();
            Assert.Equal(MemoryStatus.Ok, pm->SetRealtimeLimits(rt, 0, 4 * pb));
            passes = 0;
            while (Present(pm, rt) > 4 * pb)
            {
                Assert.Equal(batch, pm->RebalanceRealtimePools());
                passes++;
                MemoryAssert.Consistent(pm);
            }
            Assert.Equal(4, passes);
            Assert.Equal(4 * pb, Present(pm, rt));
            Assert.Equal(0, pm->RebalanceRealtimePools());
        });
    }

    /// <summary>
    /// From the command line: an rt pool whose min= is above its size is made at its size with that minimum (a
    /// note says it grows to it; any other pool's minimum is lowered to its size), and housekeeping passes grow it.
    /// </summary>
    [Fact]
    public void BootPool_RealtimeWithItsMinimumAboveItsSize_KeepsTheMinimum_AndThePassesGrowItToIt()
    {
        const OutcomeNotes minNotes = OutcomeNotes.GrowsToMinimum | OutcomeNotes.GuaranteedClamped;
        using var a = new Applied("pool=audio_rt:8M,rt,prio=10,min=16M pool=plain:8M,min=16M");
        PoolOutcome rt = a.Created("audio_rt");
        Assert.Equal(OutcomeNotes.GrowsToMinimum, rt.Notes & minNotes);
        Assert.Equal(16 * MiB / 4096, a.Props(rt).MinimumPages);
        Assert.Equal(8 * MiB / 4096, a.Stats(rt).PresentPages);
        PoolOutcome plain = a.Created("plain");
        Assert.Equal(OutcomeNotes.GuaranteedClamped, plain.Notes & minNotes);
        Assert.Equal(8 * MiB / 4096, a.Props(plain).MinimumPages);
        a.AssertConsistent();
        // 8 MiB short: 4 page blocks, 2 a pass.
        Assert.Equal(PhysicalMemory.HousekeepingRebalanceBatch, a.Pm->RebalanceRealtimePools());
        Assert.Equal(PhysicalMemory.HousekeepingRebalanceBatch, a.Pm->RebalanceRealtimePools());
        Assert.Equal(0, a.Pm->RebalanceRealtimePools());
        Assert.Equal(16 * MiB / 4096, a.Stats(rt).PresentPages);
        a.AssertConsistent();
    }

    [Fact]
    public void Checker_NamesAPageblockOfAnotherClassInARealtimePool()
    {
        using var host = WithRealtimePool(1024 * MiB, 4, out PoolId rt, out _);
        PhysicalMemory* pm = host.Memory;
        MemoryAssert.Consistent(pm);
        // A wholly free page block of the pool (on the shared lists, in no index bucket) steered to another class.
        ulong pb = 0;
        while (pm->_buddy._pageblocks[pb].Pool != rt.Value)
            pb++;
        MobilityClass cls = pm->_buddy._pageblocks[pb].Mobility;
        pm->_buddy._pageblocks[pb].Mobility = cls == MobilityClass.Movable ? MobilityClass.Unmovable : MobilityClass.Movable;
        InvariantReport report = pm->Check();
        Assert.Equal(InvariantCode.RealtimeClassMixed, report.Code);
        Assert.Equal(rt, report.Pool);
        Assert.Equal((ulong)cls, report.Expected);
        pm->_buddy._pageblocks[pb].Mobility = cls;
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// A frame of a realtime pool marked Cached (as a cache would park it) is a breach the bounded checker names:
    /// the pool has no caches, so its sections see no cache push or pop between them and can count Cached frames.
    /// </summary>
    [Fact]
    public void Checker_NamesAFrameMarkedCachedInARealtimePool()
    {
        using var host = WithRealtimePool(1024 * MiB, 4, out PoolId rt, out _);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRealtime(rt, new Order(0), Owner, out Pfn frame));
        MemoryAssert.Consistent(pm);
        ulong index = frame.Value - pm->_basePfn;
        byte state = pm->_buddy._frames[index], owner = pm->_buddy._owners[index];
        pm->_buddy._frames[index] = FrameState.Make(FrameKind.Cached, 0);
        pm->_buddy._owners[index] = FrameOwner.None;
        InvariantReport report = pm->Check();
        Assert.Equal(InvariantCode.CacheCount, report.Code);
        Assert.Equal(rt, report.Pool);
        Assert.Equal(frame, report.Pfn);
        pm->_buddy._frames[index] = state;
        pm->_buddy._owners[index] = owner;
        Assert.Equal(MemoryStatus.Ok, pm->FreeRealtime(frame, new Order(0), Owner));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>What the mover of <see cref="CompactionAndTheBalloon_NeverHoldARealtimePoolsLock"/> saw: moves asked, and whether the realtime and the compacted pool's locks were held then.</summary>
    private static PhysicalMemory* s_moverPm;
    private static int s_moverRt, s_moverWork, s_moverCalls, s_moverSawRtHeld, s_moverSawWorkHeld;

    private static bool MoverCanMove(void* context, Pfn pfn, int order)
    {
        s_moverCalls++;
        if (s_moverPm->_poolLocks[s_moverRt].IsHeld)
            s_moverSawRtHeld++;
        if (s_moverPm->_poolLocks[s_moverWork].IsHeld)
            s_moverSawWorkHeld++;
        return true;
    }

    private static bool MoverMove(void* context, Pfn from, Pfn to, int order) => true;

    /// <summary>
    /// With two CPUs (real locks): a compaction pass of another pool runs its mover with that pool's lock held
    /// and the realtime pool's free; balloon inflation and deflation leave it free too (checked after each, and
    /// a realtime allocation succeeds right after).
    /// </summary>
    [Fact]
    public void CompactionAndTheBalloon_NeverHoldARealtimePoolsLock()
    {
        using var host = WithRealtimePool(1024 * MiB, 4, out PoolId rt, out PoolId donor, HostCpus.Config(2));
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(Props("work", PoolFlags.Reserved), donor, 8, out PoolId work));
        const byte movableOwner = 5;
        FrameMover mover = default;
        mover.CanMove = &MoverCanMove;
        mover.Move = &MoverMove;
        Assert.Equal(MemoryStatus.Ok, pm->RegisterMover(movableOwner, mover));
        // Movable frames over the work pool, every other one freed: page blocks half full, worth compacting.
        AllocRequest request = AllocRequest.InPool(work);
        request.Owner = movableOwner;
        request.Mobility = MobilityClass.Movable;
        var held = new List<Pfn>();
        for (int i = 0; i < 3 * 512; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), request, out Pfn pfn));
            held.Add(pfn);
        }
        for (int i = 0; i < held.Count; i += 2)
            Assert.Equal(MemoryStatus.Ok, pm->Free(held[i], new Order(0), movableOwner));
        s_moverPm = pm;
        s_moverRt = rt.Value;
        s_moverWork = work.Value;
        s_moverCalls = s_moverSawRtHeld = s_moverSawWorkHeld = 0;
        Assert.Equal(MemoryStatus.Ok, pm->Compact(work, -1, out CompactionResult result));
        _output.WriteLine($"compaction: {s_moverCalls} blocks asked, {result.PagesMoved} moved");
        Assert.True(s_moverCalls > 0);
        Assert.Equal(s_moverCalls, s_moverSawWorkHeld);
        Assert.Equal(0, s_moverSawRtHeld);
        Assert.False(pm->_poolLocks[rt.Value].IsHeld);
        Assert.Equal(MemoryStatus.Ok, pm->InflatePageblock(out Pfn lent, out _));
        Assert.Equal(MemoryStatus.Ok, pm->NextBallooned(out Pfn next, out _));
        Assert.Equal(lent, next);
        Assert.Equal(MemoryStatus.Ok, pm->DeflatePageblock(lent));
        Assert.False(pm->_poolLocks[rt.Value].IsHeld);
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRealtime(rt, new Order(0), Owner, out _));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>Present frames of three donors before a step, to name the one that gave.</summary>
    private readonly struct PoolStatsSnapshot
    {
        private readonly ulong _a, _b, _c;
        public PoolStatsSnapshot(PhysicalMemory* pm, PoolId a, PoolId b, PoolId c)
        {
            _a = Present(pm, a);
            _b = Present(pm, b);
            _c = Present(pm, c);
        }

        public string WhoGave(PhysicalMemory* pm, PoolId a, PoolId b, PoolId c)
        {
            if (Present(pm, a) < _a) return "guest";
            if (Present(pm, b) < _b) return "low";
            if (Present(pm, c) < _c) return "node0-dma32";
            return "other";
        }
    }
}
