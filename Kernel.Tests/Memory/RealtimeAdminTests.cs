using PoolKernel.Memory;
using PoolKernel.Tests.PoolPlan;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Administration beside realtime pools (docs/realtime.md, "Administration"): no non-realtime path holds a
/// realtime pool's lock for longer than a bounded section (<see cref="PhysicalMemory.AdminSectionSteps"/>).
/// Paths that do not act on a realtime pool finish while a realtime CPU holds its lock (they never take it);
/// the checker and a realtime pool's own shrink take it in sections, each recorded
/// (<see cref="PhysicalMemory.RealtimeAdminHoldMax"/>) and held to the bound on a pool of 256 page blocks;
/// the checker run beside realtime operations reports clean or busy, never broken, and the realtime step bound holds.
/// </summary>
public unsafe class RealtimeAdminTests
{
    private const ulong MiB = 1UL << 20;
    private const byte Kernel = 0;
    private const byte Web = 7;
    private const int Pageblocks = 256;
    private readonly ITestOutputHelper _output;

    public RealtimeAdminTests(ITestOutputHelper output) => _output = output;

    /// <summary>2 GiB q35, two CPUs (real locks), a container table, and a realtime pool of 256 page blocks (512 MiB).</summary>
    private sealed class Machine : ContainerMachine
    {
        public readonly PoolId Rt;
        public readonly List<(Pfn Pfn, int Order)> Held = new();

        public Machine() : base(QemuMaps.Boot("q35", 2048 * MiB, 1, HostCpus.Config(2)))
        {
            PoolProperties props = PoolProperties.Open("rt");
            props.Flags = PoolFlags.Realtime | PoolFlags.Reserved;
            props.Priority = 10;
            Assert.Equal(MemoryStatus.Ok, Pm->CreatePool(props, MemoryAssert.FindPool(Pm, "node0-dma32"), Pageblocks, out Rt));
        }

        /// <summary>Fills the realtime pool with seeded blocks of orders 0-3 and frees every other one: fragmented, half full.</summary>
        public void Fragment(int seed)
        {
            var rng = new Random(seed);
            while (true)
            {
                MemoryStatus status = Pm->AllocateRealtime(Rt, new Order(rng.Next(4)), Kernel, out Pfn pfn);
                if (status == MemoryStatus.OutOfMemory)
                    break;
                Assert.Equal(MemoryStatus.Ok, status);
                KindCheck(pfn);
            }
            var kept = new List<(Pfn, int)>();
            for (int i = 0; i < Held.Count; i++)
            {
                if (i % 2 == 0)
                    Assert.Equal(MemoryStatus.Ok, Pm->FreeRealtime(Held[i].Pfn, new Order(Held[i].Order), Kernel));
                else
                    kept.Add(Held[i]);
            }
            Held.Clear();
            Held.AddRange(kept);
        }

        private void KindCheck(Pfn pfn)
        {
            Assert.Equal(FrameKind.Allocated, Pm->KindOf(pfn, out Order order));
            Held.Add((pfn, order.Value));
        }

        public void FreeAll()
        {
            foreach ((Pfn pfn, int order) in Held)
                Assert.Equal(MemoryStatus.Ok, Pm->FreeRealtime(pfn, new Order(order), Kernel));
            Held.Clear();
        }
    }

    /// <summary>Runs <paramref name="action"/> as CPU 1 on another thread; true when it finished within a minute.</summary>
    private static bool FinishesOnCpu1(Action action)
    {
        Exception failure = null;
        var thread = new Thread(() =>
        {
            HostCpus.Enter(1);
            try { action(); }
            catch (Exception e) { failure = e; }
        });
        thread.Start();
        bool done = thread.Join(TimeSpan.FromSeconds(60));
        if (failure != null)
            throw new Xunit.Sdk.XunitException("the path failed: " + failure);
        return done;
    }

    /// <summary>Two consecutive page blocks of one non-realtime pool with nothing held: a range to create a pool from.</summary>
    private static Pfn FreeRangeOfTwo(PhysicalMemory* pm)
    {
        for (ulong pb = 0; pb + 1 < pm->PageblockCount; pb++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb, out PageblockUse a));
            Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb + 1, out PageblockUse b));
            ulong full = 1UL << pm->PageblockOrder;
            if (a.Pool.IsNone || a.Pool != b.Pool || a.PresentPages != full || b.PresentPages != full ||
                a.InUsePages + a.CachedPages != 0 || b.InUsePages + b.CachedPages != 0)
                continue;
            Assert.Equal(MemoryStatus.Ok, pm->GetPoolProperties(a.Pool, out PoolProperties props));
            if ((props.Flags & (PoolFlags.Realtime | PoolFlags.Reserved | PoolFlags.Dma)) == 0 && props.MinimumPages == 0)
                return a.Start;
        }
        throw new Xunit.Sdk.XunitException("no free range of two page blocks");
    }

    /// <summary>
    /// While a realtime CPU holds the realtime pool's locks (its cache's and the pool's, as its bounded path does),
    /// every administrative path that does not act on the pool runs to its end on another CPU: the pool reports' lock set,
    /// the other reports' reads of the realtime pool under it (its properties, fragmentation, page blocks, owner bytes),
    /// a pool created from a range and destroyed, a container with a guarantee created and destroyed, a mover registered
    /// and forgotten, the balloon's count. On main each of them took every pool's lock and would wait for the realtime
    /// CPU for as long as it held it. Afterwards the checker is clean.
    /// </summary>
    [Fact]
    public void AdminPaths_ThatDoNotActOnARealtimePool_FinishWhileARealtimeCpuHoldsItsLock()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        m.Fragment(1);
        PoolId rt = m.Rt;
        Pfn range = FreeRangeOfTwo(pm);
        var done = new List<string>();
        ulong held = pm->LockCpuPool(rt.Value, 0);
        try
        {
            void Path(string what, Action action)
            {
                Assert.True(FinishesOnCpu1(action), $"{what} waited for the realtime pool's lock");
                done.Add(what);
            }
            Path("pool reports", () =>
            {
                ulong state = pm->LockAllButRealtime();
                MemoryTotals totals = pm->GetTotals();
                Assert.Equal(MemoryStatus.Ok, pm->GetPoolStats(rt, out PoolStats s));
                pm->UnlockAllButRealtime(state);
                Assert.True(s.FreePages <= s.PresentPages && totals.FreePages <= totals.PresentPages);
            });
            Path("the other reports' reads (fragindex, churn's pool choice, dmapools and heaptest pool names, bcache and area checks)", () =>
            {
                ulong state = pm->LockAllButRealtime();
                Assert.Equal(MemoryStatus.Ok, pm->GetPoolProperties(rt, out PoolProperties props));
                Assert.NotEqual(PoolFlags.None, props.Flags & PoolFlags.Realtime);
                int index = pm->FragmentationIndex(rt, 3);
                int score = pm->FragmentationScore(rt);
                ulong rtPageblocks = 0, owned = 0;
                for (ulong pb = 0; pb < pm->PageblockCount; pb++)
                {
                    Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(pb, out PageblockUse use));
                    if (use.Pool == rt)
                        rtPageblocks++;
                }
                foreach ((Pfn pfn, int _) in m.Held)
                    if (pm->OwnerOf(pfn) == Kernel && pm->PoolOf(pfn) == rt)
                        owned++;
                pm->UnlockAllButRealtime(state);
                Assert.InRange(index, -1000, 1000);
                Assert.InRange(score, 0, 1000);
                Assert.Equal((ulong)Pageblocks, rtPageblocks);
                Assert.Equal((ulong)m.Held.Count, owned);
            });
            Path("pool from a range, destroyed", () =>
            {
                Assert.Equal(MemoryStatus.Ok, pm->CreatePoolFromRange(PoolProperties.Open("carved"), range, 2, out PoolId made));
                Assert.Equal(MemoryStatus.Ok, pm->DestroyPool(made));
            });
            Path("container created and destroyed", () =>
            {
                ContainerSpec spec = ContainerSpec.Of(PoolName.From("web"), Web, 4096);
                spec.GuaranteePages = 512;
                Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(spec));
                Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
            });
            Path("mover registered and forgotten", () =>
            {
                FrameMover mover = default;
                mover.CanMove = &CanMove;
                mover.Move = &Move;
                Assert.Equal(MemoryStatus.Ok, pm->RegisterMover(Web, mover));
                Assert.Equal(MemoryStatus.Ok, pm->UnregisterMover(Web));
            });
            Path("balloonable pages", () => Assert.True(pm->BalloonablePages() > 0));
        }
        finally
        {
            pm->UnlockCpuPool(rt.Value, 0, held);
        }
        _output.WriteLine("finished beside a held realtime pool: " + string.Join(", ", done));
        MemoryAssert.Consistent(pm);
    }

    private static bool CanMove(void* context, Pfn pfn, int order) => false;
    private static bool Move(void* context, Pfn from, Pfn to, int order) => false;

    /// <summary>
    /// The checker on a fragmented realtime pool of 256 page blocks (131072 frames) holds the pool's lock in sections of
    /// at most <see cref="PhysicalMemory.AdminSectionSteps"/> steps (1027 at the default configuration), and still finds
    /// a breach inside the pool (a page block's held count off by one, named with its pool). The realtime pool's shrink
    /// (above its maximum, one page block a move) holds it within the same bound. On main the checker held it for the
    /// whole walk of every frame.
    /// </summary>
    [Fact]
    public void Checker_AndShrink_OnALargeRealtimePool_HoldItsLockInSectionsWithinTheBound_AndTheCheckerStillFindsBreaches()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        m.Fragment(2);
        ulong bound = pm->AdminSectionSteps;
        Assert.Equal(PhysicalMemory.AdminSectionBound(10, 9), bound);
        Assert.Equal(1027UL, bound);

        pm->ResetRealtimeAdminHold();
        InvariantReport report = pm->Check();
        Assert.True(report.IsOk, MemoryAssert.Describe(report));
        Assert.True(report.NotChecked.IsEmpty);
        ulong checkHold = pm->RealtimeAdminHoldMax;
        _output.WriteLine($"checker: longest section over the realtime pool {checkHold} steps, bound {bound}");
        Assert.InRange(checkHold, 1UL, bound);

        // A breach in the realtime pool is still found, and named with its pool.
        ulong pb = 0;
        while (pm->_buddy._pageblocks[pb].Pool != m.Rt.Value)
            pb++;
        pm->_buddy._pageblocks[pb].Held++;
        InvariantReport broken = pm->Check();
        pm->_buddy._pageblocks[pb].Held--;
        Assert.Equal(InvariantCode.PageblockHeldCount, broken.Code);
        Assert.Equal(m.Rt, broken.Pool);
        MemoryAssert.Consistent(pm);

        // Shrink: everything freed, then a maximum 8 page blocks below the size: 8 moves home, each a bounded section.
        m.FreeAll();
        pm->ResetRealtimeAdminHold();
        ulong pbPages = 1UL << pm->PageblockOrder;
        Assert.Equal(MemoryStatus.Ok, pm->SetRealtimeLimits(m.Rt, 0, (Pageblocks - 8) * pbPages));
        Assert.Equal(MemoryStatus.Ok, pm->RebalanceRealtime(m.Rt, 8, out int moved));
        Assert.Equal(8, moved);
        ulong shrinkHold = pm->RealtimeAdminHoldMax;
        _output.WriteLine($"shrink: 8 page blocks home, longest section {shrinkHold} steps, bound {bound}");
        Assert.InRange(shrinkHold, pbPages, bound);
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// One CPU runs seeded realtime allocations and frees (orders 0-3) on the fragmented pool while the other runs the
    /// checker again and again: every report is clean or names the realtime pool busy, never a breach; the realtime
    /// CPU's steps stay within <see cref="PhysicalMemory.RealtimeStepBound"/> and the checker's sections within
    /// <see cref="PhysicalMemory.AdminSectionSteps"/>; once the realtime CPU stops, the checker is clean.
    /// </summary>
    [Fact]
    public void Checker_BesideRealtimeOperations_ReportsCleanOrBusy_AndBothBoundsHold()
    {
        SeededRuns.Run(_output, "checker beside realtime operations", "RT_ADMIN", 2, 200000, (seed, ops) =>
        {
            using var m = new Machine();
            PhysicalMemory* pm = m.Pm;
            m.Fragment(seed);
            pm->ResetRealtimeAdminHold();
            pm->ResetRealtimeSteps(1);
            int stop = 0;
            Exception failure = null;
            var rtThread = new Thread(() =>
            {
                HostCpus.Enter(1);
                try
                {
                    var rng = new Random(seed);
                    var mine = new List<(Pfn, int)>();
                    for (int i = 0; i < ops; i++)
                    {
                        if (mine.Count > 0 && (rng.Next(2) == 0 || mine.Count >= 256))
                        {
                            int at = rng.Next(mine.Count);
                            (Pfn pfn, int order) = mine[at];
                            mine[at] = mine[^1];
                            mine.RemoveAt(mine.Count - 1);
                            if (pm->FreeRealtime(pfn, new Order(order), Kernel) != MemoryStatus.Ok)
                                throw new InvalidOperationException("a realtime free was refused");
                        }
                        else
                        {
                            int order = rng.Next(4);
                            MemoryStatus status = pm->AllocateRealtime(m.Rt, new Order(order), Kernel, out Pfn pfn);
                            if (status == MemoryStatus.Ok)
                                mine.Add((pfn, order));
                            else if (status != MemoryStatus.OutOfMemory)
                                throw new InvalidOperationException("realtime allocation: " + status);
                        }
                    }
                    foreach ((Pfn pfn, int order) in mine)
                        pm->FreeRealtime(pfn, new Order(order), Kernel);
                }
                catch (Exception e) { failure = e; }
                finally { Volatile.Write(ref stop, 1); }
            });
            rtThread.Start();
            int clean = 0, busy = 0;
            while (Volatile.Read(ref stop) == 0)
            {
                InvariantReport report = pm->Check();
                Assert.True(report.IsOk, MemoryAssert.Describe(report));
                if (report.NotChecked.IsEmpty)
                    clean++;
                else
                {
                    Assert.True(report.NotChecked.Contains(m.Rt.Value));
                    busy++;
                }
            }
            rtThread.Join();
            Assert.Null(failure);
            RealtimeSteps steps = pm->GetRealtimeSteps(1);
            _output.WriteLine($"seed {seed}: {steps.Operations} realtime operations, steps max {steps.Max} (bound {pm->RealtimeStepBound}); " +
                $"checker {clean} clean, {busy} busy; longest section {pm->RealtimeAdminHoldMax} (bound {pm->AdminSectionSteps})");
            Assert.True(clean + busy > 0);
            Assert.InRange(steps.Max, 1UL, pm->RealtimeStepBound);
            Assert.InRange(pm->RealtimeAdminHoldMax, 1UL, pm->AdminSectionSteps);
            MemoryAssert.Consistent(pm);
        });
    }

    /// <summary>
    /// The shell's `check` line for a report that left realtime pools busy says so and names them: neither the clean
    /// line nor a breach.
    /// </summary>
    [Fact]
    public void ACheckWithABusyRealtimePool_SaysBusyNotChecked_NotCleanAndNotBroken()
    {
        InvariantReport report = default;
        report.NotChecked.Add(new PoolId(3));
        report.NotChecked.Add(new PoolId(70));
        using var text = new PoolKernel.Sim.StringOut();
        PoolKernel.Boot.Reports.MemoryText.Report(text.Out, report);
        Assert.Equal("check: busy, not checked: realtime pool 3 70; every other invariant ok\n", text.ToString());
        using var clean = new PoolKernel.Sim.StringOut();
        PoolKernel.Boot.Reports.MemoryText.Report(clean.Out, default);
        Assert.StartsWith("check: ok (", clean.ToString());
    }
}
