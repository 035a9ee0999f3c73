using System.Runtime.InteropServices;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Compaction (docs/antifrag.md) on synthetic fragmented pools: page blocks emptied cheapest first
/// through the owner's mover, the checker clean after every move, the host-side mapping pointing at
/// the moved contents; unmovable and pinned blocks never moved; no target, no move; a declined move
/// undone; compaction for a failing request; the proactive threshold. A pass holds the pool's locks one
/// page block at a time: allocations, frees and pins between its sections (the step hook, seeded) and from
/// another thread (a second CPU) leave it correct.
/// </summary>
public unsafe class CompactionTests
{
    private const ulong MiB = 1UL << 20;
    private const byte MovableOwner = 5;
    private readonly ITestOutputHelper _output;

    public CompactionTests(ITestOutputHelper output) { _output = output; }

    /// <summary>A pool of <paramref name="pageblocks"/> page blocks carved from dma32 (under 8: no frame cache).</summary>
    private static PoolId SmallPool(PhysicalMemory* pm, ulong pageblocks)
    {
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        PoolProperties props = PoolProperties.Open("compact");
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, dma32, pageblocks, out PoolId id));
        return id;
    }

    /// <summary>Fills the pool with movable order-0 blocks, then frees all but every <paramref name="keepEvery"/>-th: every page block part used.</summary>
    private static void Fragment(PhysicalMemory* pm, PoolId pool, HostMapping map, int keepEvery)
    {
        var pages = new List<ulong>();
        while (map.Allocate(0, AllocRequest.InPool(pool), false, out ulong page) == MemoryStatus.Ok)
            pages.Add(page);
        for (int i = 0; i < pages.Count; i++)
            if (i % keepEvery != 0)
                Assert.Equal(MemoryStatus.Ok, map.Free(pages[i]));
    }

    private static void Intact(HostMapping map)
    {
        string wrong = map.Verify();
        Assert.True(wrong == null, wrong);
    }

    [Fact]
    public void AFragmentedPool_IsCompactedUntilAPageblockIsFree_CheckedAfterEveryMove()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 6);
        using var map = new HostMapping(pm, MovableOwner);
        Fragment(pm, pool, map, 8);
        int pbo = pm->PageblockOrder;
        AllocRequest big = AllocRequest.InPool(pool);
        MemoryAssert.Refused(host, MemoryStatus.OutOfMemory, () => pm->Allocate(new Order(pbo), big, out _));
        map.AfterMove = (from, to, order) =>
        {
            // A mover runs in a section of the pass (the table lock and the pool's locks held); nothing else runs
            // in this test, so the checker that expects every lock held may read the whole instance.
            InvariantReport report = pm->CheckLocked();
            Assert.True(report.IsOk, MemoryAssert.Describe(report));
            Assert.NotEqual(from.Value >> pbo, to.Value >> pbo);
        };

        Assert.Equal(MemoryStatus.Ok, pm->Compact(pool, pbo, out CompactionResult r));
        _output.WriteLine($"moved {r.PagesMoved} pages in {r.BlocksMoved} blocks, freed {r.PageblocksFreed} page blocks, scanned {r.PageblocksScanned}");
        Assert.Equal(CompactionStop.Satisfied, r.Stop);
        Assert.Equal(1UL, r.PageblocksFreed);
        Assert.Equal(64UL, r.PagesMoved); // one page block's 512 / 8 frames
        Assert.Equal(r.PagesMoved, map.Moves);
        MemoryAssert.Consistent(pm);
        Intact(map);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(pbo), big, out Pfn block));
        Assert.Equal(MemoryStatus.Ok, pm->Free(block, new Order(pbo), MemoryAssert.DefaultOwner));

        // A full pass empties all but the page blocks the remaining frames need: 6 * 64 frames fit in one.
        Assert.Equal(MemoryStatus.Ok, pm->Compact(pool, -1, out CompactionResult all));
        MemoryAssert.Consistent(pm);
        Intact(map);
        Assert.Equal(5UL, pm->FreeBlocks(pool, new Order(pbo)) + 2 * pm->FreeBlocks(pool, new Order(pbo + 1)));
    }

    [Fact]
    public void UnmovableAndPinnedBlocksNeverMove_NorDoTheirPageblocksEmpty()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        using var map = new HostMapping(pm, MovableOwner);
        Fragment(pm, pool, map, 16);
        int pbo = pm->PageblockOrder;
        // An owner without a mover holds a movable-class block in one page block; one block of
        // every other page block is pinned.
        AllocRequest stranger = AllocRequest.InPool(pool);
        stranger.Owner = 9;
        stranger.Mobility = MobilityClass.Movable;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), stranger, out Pfn foreign));
        var pinned = new Dictionary<ulong, Pfn>();
        foreach (var (page, (pfn, _)) in map.Map)
        {
            ulong pb = pfn.Value >> pbo;
            if (pb != foreign.Value >> pbo && !pinned.ContainsKey(pb))
                pinned[pb] = pfn;
        }
        Assert.Equal(3, pinned.Count);
        foreach (Pfn pfn in pinned.Values)
            map.Pinned.Add(pfn.Value);

        Assert.Equal(MemoryStatus.Ok, pm->Compact(pool, -1, out CompactionResult r));
        Assert.Equal(0UL, r.PageblocksFreed);
        Assert.Equal(0UL, r.PagesMoved);
        foreach (Pfn pfn in pinned.Values)
            Assert.Contains(map.Map.Values, v => v.pfn == pfn);
        Assert.Equal(FrameKind.Allocated, pm->KindOf(foreign, out _));
        Assert.Equal(9, pm->OwnerOf(foreign));
        MemoryAssert.Consistent(pm);
        Intact(map);
    }

    /// <summary>
    /// One unmovable page block half used (every other frame freed) and one movable page block a quarter
    /// used: the movable frames go into the holes of the unmovable page block, which no pass can empty,
    /// and their own page block is freed (a pass that only filled page blocks of the same class had no
    /// target here). Then the unmovable frames are freed: the unmovable page block, left holding only
    /// movable frames, is itself emptied by the next pass into a fuller movable page block.
    /// </summary>
    [Fact]
    public void MovableBlocksFillTheHolesOfUnmovablePageblocks_WhichAreEmptiedOnceOnlyMovableFramesAreLeft()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        using var map = new HostMapping(pm, MovableOwner);
        int pbo = pm->PageblockOrder;
        int frames = 1 << pbo;
        var unmovable = new List<Pfn>();
        for (int i = 0; i < frames; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(pool), out Pfn pfn));
            unmovable.Add(pfn);
        }
        ulong unmovablePb = unmovable[0].Value >> pbo;
        Assert.All(unmovable, p => Assert.Equal(unmovablePb, p.Value >> pbo));
        for (int i = 1; i < frames; i += 2)
            Assert.Equal(MemoryStatus.Ok, pm->Free(unmovable[i], new Order(0), MemoryAssert.DefaultOwner));
        var pages = new List<ulong>();
        for (int i = 0; i < frames; i++)
        {
            Assert.Equal(MemoryStatus.Ok, map.Allocate(0, AllocRequest.InPool(pool), false, out ulong page));
            pages.Add(page);
        }
        ulong movablePb = map.Map[pages[0]].pfn.Value >> pbo;
        Assert.All(pages, p => Assert.Equal(movablePb, map.Map[p].pfn.Value >> pbo));
        for (int i = 0; i < frames; i++)
            if (i % 4 != 0)
                Assert.Equal(MemoryStatus.Ok, map.Free(pages[i]));
        map.AfterMove = (from, to, order) =>
        {
            InvariantReport report = pm->CheckLocked();
            Assert.True(report.IsOk, MemoryAssert.Describe(report));
        };

        Assert.Equal(MemoryStatus.Ok, pm->Compact(pool, -1, out CompactionResult r));
        _output.WriteLine($"first pass: moved {r.PagesMoved}, freed {r.PageblocksFreed}, stop {r.Stop}");
        Assert.Equal((ulong)frames / 4, r.PagesMoved);
        Assert.Equal(1UL, r.PageblocksFreed);
        Assert.All(map.Map.Values, v => Assert.Equal(unmovablePb, v.pfn.Value >> pbo));
        Assert.Equal(MemoryStatus.Ok, pm->GetPageblock(unmovablePb - (pm->BasePfn.Value >> pbo), out PageblockUse use));
        Assert.Equal(MobilityClass.Unmovable, use.Mobility);
        Assert.Equal((uint)(frames / 2 + frames / 4), use.InUsePages);
        MemoryAssert.Consistent(pm);
        Intact(map);

        // The unmovable frames go; a movable page block fuller than what is left of the unmovable one appears.
        for (int i = 0; i < frames; i += 2)
            Assert.Equal(MemoryStatus.Ok, pm->Free(unmovable[i], new Order(0), MemoryAssert.DefaultOwner));
        var fuller = new List<ulong>();
        for (int i = 0; i < frames / 2; i++)
        {
            Assert.Equal(MemoryStatus.Ok, map.Allocate(0, AllocRequest.InPool(pool), false, out ulong page));
            fuller.Add(page);
        }
        ulong fullerPb = map.Map[fuller[0]].pfn.Value >> pbo;
        Assert.NotEqual(unmovablePb, fullerPb);
        Assert.Equal(MemoryStatus.Ok, pm->Compact(pool, -1, out CompactionResult second));
        _output.WriteLine($"second pass: moved {second.PagesMoved}, freed {second.PageblocksFreed}, stop {second.Stop}");
        Assert.Equal((ulong)frames / 4, second.PagesMoved);
        Assert.Equal(1UL, second.PageblocksFreed);
        Assert.DoesNotContain(map.Map.Values, v => v.pfn.Value >> pbo == unmovablePb);
        MemoryAssert.Consistent(pm);
        Intact(map);
    }

    /// <summary>
    /// The cheapest page block holds an order-3 block no hole fits (every other free block is of order 0):
    /// the pass passes it over and goes on, emptying one of the two half-used page blocks into the other.
    /// </summary>
    [Fact]
    public void ACandidateWithoutATarget_IsPassedOver_AndThePassGoesOn()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        using var map = new HostMapping(pm, MovableOwner);
        int frames = 1 << pm->PageblockOrder;
        var halves = new List<ulong>();
        for (int i = 0; i < 2 * frames; i++)
        {
            Assert.Equal(MemoryStatus.Ok, map.Allocate(0, AllocRequest.InPool(pool), false, out ulong page));
            halves.Add(page);
        }
        var large = new List<ulong>();
        for (int i = 0; i < frames / 8; i++)
        {
            Assert.Equal(MemoryStatus.Ok, map.Allocate(3, AllocRequest.InPool(pool), false, out ulong page));
            large.Add(page);
        }
        for (int i = 1; i < halves.Count; i += 2)
            Assert.Equal(MemoryStatus.Ok, map.Free(halves[i]));
        for (int i = 1; i < large.Count; i++)
            Assert.Equal(MemoryStatus.Ok, map.Free(large[i]));
        Pfn stays = map.Map[large[0]].pfn;

        Assert.Equal(MemoryStatus.Ok, pm->Compact(pool, -1, out CompactionResult r));
        _output.WriteLine($"moved {r.PagesMoved}, freed {r.PageblocksFreed}, scanned {r.PageblocksScanned}, stop {r.Stop}");
        Assert.Equal(CompactionStop.NoTarget, r.Stop);
        Assert.Equal(1UL, r.PageblocksFreed);
        Assert.Equal((ulong)frames / 2, r.PagesMoved);
        Assert.Equal(stays, map.Map[large[0]].pfn);
        MemoryAssert.Consistent(pm);
        Intact(map);
    }

    [Fact]
    public void WithNoTarget_NothingMoves()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        using var map = new HostMapping(pm, MovableOwner);
        // One movable page block, part used; the rest wholly free (never a target: emptying one
        // page block into another whole one gains nothing).
        for (int i = 0; i < 10; i++)
            Assert.Equal(MemoryStatus.Ok, map.Allocate(0, AllocRequest.InPool(pool), false, out _));
        MemoryAssert.Refused(host, MemoryStatus.Ok, () => pm->Compact(pool, -1, out CompactionResult r) == MemoryStatus.Ok && r.Stop == CompactionStop.NoTarget && r.PagesMoved == 0
            ? MemoryStatus.Ok : MemoryStatus.Corruption);
        Intact(map);
    }

    [Fact]
    public void ADeclinedMove_GivesTheTargetBack()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        using var map = new HostMapping(pm, MovableOwner);
        Fragment(pm, pool, map, 4);
        map.DeclineMoves = true;
        ulong free = pm->GetTotals().FreePages;
        Assert.Equal(MemoryStatus.Ok, pm->Compact(pool, -1, out CompactionResult r));
        Assert.Equal(CompactionStop.MoverDeclined, r.Stop);
        Assert.Equal(0UL, r.PagesMoved);
        Assert.Equal(free, pm->GetTotals().FreePages);
        MemoryAssert.Consistent(pm);
        Intact(map);
    }

    [Fact]
    public void AllocateCompacting_GetsTheBlockAllocateCouldNot()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        using var map = new HostMapping(pm, MovableOwner);
        Fragment(pm, pool, map, 2);
        int pbo = pm->PageblockOrder;
        Assert.Equal(MemoryStatus.OutOfMemory, pm->Allocate(new Order(pbo), AllocRequest.InPool(pool), out _));
        Assert.Equal(MemoryStatus.Ok, pm->AllocateCompacting(new Order(pbo), AllocRequest.InPool(pool), out Pfn pfn));
        Assert.Equal(FrameKind.Allocated, pm->KindOf(pfn, out Order o));
        Assert.Equal(pbo, o.Value);
        // Order 0 is not helped by compaction: a full pool stays full.
        MemoryAssert.Consistent(pm);
        Intact(map);
    }

    [Fact]
    public void ProactiveCompaction_RunsOnlyAboveTheThreshold()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        using var map = new HostMapping(pm, MovableOwner);
        Assert.Equal(0, pm->FragmentationScore(pool));
        Assert.Equal(MemoryStatus.Ok, pm->CompactIfFragmented(pool, out bool ran, out _));
        Assert.False(ran);
        Fragment(pm, pool, map, 4);
        Assert.True(pm->FragmentationScore(pool) > PhysicalMemory.ProactiveThreshold);
        Assert.True(pm->FragmentationIndex(pool, pm->PageblockOrder) > 500);
        Assert.Equal(MemoryStatus.Ok, pm->CompactIfFragmented(pool, out ran, out CompactionResult r));
        Assert.True(ran);
        Assert.True(r.PageblocksFreed >= 2);
        Assert.True(pm->FragmentationScore(pool) <= PhysicalMemory.ProactiveThreshold);
        Assert.Equal(-1000, pm->FragmentationIndex(pool, pm->PageblockOrder));
        MemoryAssert.Consistent(pm);
        Intact(map);
    }

    [Fact]
    public void BadArguments_AreRefusedWithNothingChanged()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId pool = SmallPool(pm, 4);
        MemoryAssert.Refused(host, MemoryStatus.InvalidArgument, () => pm->RegisterMover(64, default));
        MemoryAssert.Refused(host, MemoryStatus.InvalidArgument, () => pm->RegisterMover(3, default));
        MemoryAssert.Refused(host, MemoryStatus.NoSuchPool, () => pm->Compact(new PoolId(200), -1, out _));
        MemoryAssert.Refused(host, MemoryStatus.InvalidOrder, () => pm->Compact(pool, pm->MaxOrder + 1, out _));
        MemoryAssert.Refused(host, MemoryStatus.InvalidOrder, () => pm->Compact(pool, -2, out _));
    }

    [Fact]
    public void SeededAllocateFreeCompact_KeepsTheMappingConsistent()
    {
        SeededRuns.Run(_output, "allocate/free/compact", "COMPACTION", 6, 400, (seed, ops) =>
        {
            using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
            PhysicalMemory* pm = host.Memory;
            PoolId pool = SmallPool(pm, 6);
            using var map = new HostMapping(pm, MovableOwner);
            var rng = new Random(seed);
            var unmovable = new List<(Pfn, int)>();
            int pbo = pm->PageblockOrder;
            for (int op = 0; op < ops; op++)
            {
                int what = rng.Next(100);
                string step;
                if (what < 45)
                {
                    step = "alloc movable";
                    MemoryStatus s = map.Allocate(rng.Next(4), AllocRequest.InPool(pool), false, out _);
                    if (s != MemoryStatus.Ok && s != MemoryStatus.OutOfMemory)
                        throw new Exception($"op {op}: {step} {s}");
                }
                else if (what < 55)
                {
                    step = "alloc unmovable";
                    int order = rng.Next(3);
                    if (pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn pfn) == MemoryStatus.Ok)
                        unmovable.Add((pfn, order));
                }
                else if (what < 85)
                {
                    step = "free";
                    if (map.Map.Count > 0 && (unmovable.Count == 0 || rng.Next(4) != 0))
                    {
                        ulong page = map.Map.Keys.ElementAt(rng.Next(map.Map.Count));
                        if (map.Free(page) != MemoryStatus.Ok)
                            throw new Exception($"op {op}: free movable");
                    }
                    else if (unmovable.Count > 0)
                    {
                        int i = rng.Next(unmovable.Count);
                        if (pm->Free(unmovable[i].Item1, new Order(unmovable[i].Item2), MemoryAssert.DefaultOwner) != MemoryStatus.Ok)
                            throw new Exception($"op {op}: free unmovable");
                        unmovable.RemoveAt(i);
                    }
                }
                else if (what < 95)
                {
                    step = "compact";
                    if (pm->Compact(pool, rng.Next(3) == 0 ? -1 : rng.Next(pbo + 2), out _) != MemoryStatus.Ok)
                        throw new Exception($"op {op}: compact refused");
                }
                else
                {
                    step = "allocate compacting";
                    MemoryStatus s = map.Allocate(pbo, AllocRequest.InPool(pool), true, out _);
                    if (s != MemoryStatus.Ok && s != MemoryStatus.OutOfMemory)
                        throw new Exception($"op {op}: {step} {s}");
                }
                InvariantReport r = pm->Check();
                if (!r.IsOk)
                    throw new Exception($"op {op} ({step}): {MemoryAssert.Describe(r)}");
                string wrong = map.Verify();
                if (wrong != null)
                    throw new Exception($"op {op} ({step}): {wrong}");
            }
        });
    }
    /// <summary>What the step hook of <see cref="APass_InterleavedWithAllocationsFreesAndPinsBetweenSections_StaysCorrect"/> does between sections.</summary>
    private sealed class Interleaving
    {
        public PhysicalMemory* Pm;
        public PoolId Pool;
        public HostMapping Map;
        public Random Rng;
        public readonly List<(Pfn pfn, int order)> Unmovable = new();
        public int Steps;
        public string Broken;

        public void Step()
        {
            Steps++;
            for (int k = Rng.Next(4); k > 0; k--)
            {
                int what = Rng.Next(100);
                if (what < 30)
                    Map.Allocate(Rng.Next(3), AllocRequest.InPool(Pool), false, out _);
                else if (what < 50)
                {
                    int order = Rng.Next(3);
                    if (Pm->Allocate(new Order(order), AllocRequest.InPool(Pool), out Pfn pfn) == MemoryStatus.Ok)
                        Unmovable.Add((pfn, order));
                }
                else if (what < 75 && Map.Map.Count > 0)
                {
                    ulong page = Map.Map.Keys.ElementAt(Rng.Next(Map.Map.Count));
                    if (Map.Free(page) != MemoryStatus.Ok)
                        Broken ??= $"step {Steps}: free of movable page {page} refused";
                }
                else if (what < 90 && Unmovable.Count > 0)
                {
                    int i = Rng.Next(Unmovable.Count);
                    if (Pm->Free(Unmovable[i].pfn, new Order(Unmovable[i].order), MemoryAssert.DefaultOwner) != MemoryStatus.Ok)
                        Broken ??= $"step {Steps}: free of unmovable 0x{Unmovable[i].pfn.Value:x} refused";
                    Unmovable.RemoveAt(i);
                }
                else if (Map.Map.Count > 0)
                    Map.Pinned.Add(Map.Map.Values.ElementAt(Rng.Next(Map.Map.Count)).pfn.Value);
            }
            // Between sections no pool lock is held and nothing else runs: the checker may read everything.
            InvariantReport r = Pm->CheckLocked();
            if (!r.IsOk)
                Broken ??= $"step {Steps}: {MemoryAssert.Describe(r)}";
            string wrong = Map.Verify();
            if (wrong != null)
                Broken ??= $"step {Steps}: {wrong}";
        }

        public static void Hook(void* context) => ((Interleaving)GCHandle.FromIntPtr((IntPtr)context).Target).Step();
    }

    [Fact]
    public void APass_InterleavedWithAllocationsFreesAndPinsBetweenSections_StaysCorrect()
    {
        SeededRuns.Run(_output, "compaction interleaved with allocate/free/pin", "COMPACTION_STEPS", 6, 3, (seed, passes) =>
        {
            using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
            PhysicalMemory* pm = host.Memory;
            PoolId pool = SmallPool(pm, 6);
            using var map = new HostMapping(pm, MovableOwner);
            var rng = new Random(seed);
            var life = new Interleaving { Pm = pm, Pool = pool, Map = map, Rng = rng };
            Fragment(pm, pool, map, 3);
            for (int i = 0; i < 40; i++)
            {
                int order = rng.Next(2);
                if (pm->Allocate(new Order(order), AllocRequest.InPool(pool), out Pfn pfn) == MemoryStatus.Ok)
                    life.Unmovable.Add((pfn, order));
            }
            GCHandle handle = GCHandle.Alloc(life);
            pm->SetCompactionStep(&Interleaving.Hook, (void*)GCHandle.ToIntPtr(handle));
            map.AfterMove = (from, to, order) =>
            {
                // A moved block is never pinned, and never an unmovable one.
                if (map.Pinned.Contains(from.Value))
                    life.Broken ??= $"pinned 0x{from.Value:x} moved";
            };
            try
            {
                ulong moved = 0;
                for (int pass = 0; pass < passes; pass++)
                {
                    var pinnedBefore = map.Map.Where(e => map.Pinned.Contains(e.Value.pfn.Value)).ToDictionary(e => e.Key, e => e.Value.pfn.Value);
                    Assert.Equal(MemoryStatus.Ok, pm->Compact(pool, pass == passes - 1 ? pm->PageblockOrder : -1, out CompactionResult r));
                    Assert.True(life.Broken == null, life.Broken);
                    moved += r.PagesMoved;
                    foreach (var (page, pfn) in pinnedBefore)
                        if (map.Map.TryGetValue(page, out var now))
                            Assert.Equal(pfn, now.pfn.Value);
                    MemoryAssert.Consistent(pm);
                    Intact(map);
                }
                map.Pinned.Clear();
                MemoryStatus got = map.Allocate(pm->PageblockOrder, AllocRequest.InPool(pool), true, out _);
                Assert.True(got == MemoryStatus.Ok || got == MemoryStatus.OutOfMemory, got.ToString());
                Assert.True(life.Broken == null, life.Broken);
                MemoryAssert.Consistent(pm);
                Intact(map);
                // The hook ran between sections, not once a pass: the pass let go of the pool again and again.
                Assert.True(life.Steps > passes * 2, $"{life.Steps} steps");
                Assert.True(moved > 0, "nothing moved");
                foreach (var (pfn, order) in life.Unmovable)
                    Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
            }
            finally
            {
                pm->SetCompactionStep(null, null);
                handle.Free();
            }
        });
    }

    [Fact]
    public void APass_WhileAnotherCpuAllocatesAndFrees_KeepsEveryBlockAndTheMapping()
    {
        SeededRuns.Run(_output, "compaction while another CPU allocates and frees", "COMPACTION_THREADS", 4, 6, (seed, passes) =>
        {
            using var host = QemuMaps.Boot("q35", 256 * MiB, 1, HostCpus.Config(2));
            Assert.Equal(MemoryStatus.Ok, host.InitStatus);
            HostCpus.Enter(0);
            PhysicalMemory* pm = host.Memory;
            PoolId pool = SmallPool(pm, 16);
            using var map = new HostMapping(pm, MovableOwner);
            Fragment(pm, pool, map, 4);
            int stop = 0;
            string broken = null;
            long otherOps = 0;
            var other = new Thread(() =>
            {
                HostCpus.Enter(1);
                var rng = new Random(seed * 7919);
                var held = new List<(Pfn pfn, int order)>();
                while (Volatile.Read(ref stop) == 0 || held.Count > 0)
                {
                    bool stopping = Volatile.Read(ref stop) != 0;
                    if (!stopping && (held.Count < 200 && rng.Next(2) == 0))
                    {
                        int order = rng.Next(4);
                        AllocRequest request = rng.Next(3) == 0 ? AllocRequest.Any : AllocRequest.InPool(pool);
                        request.Mobility = rng.Next(4) == 0 ? MobilityClass.Reclaimable : MobilityClass.Unmovable;
                        if (pm->Allocate(new Order(order), request, out Pfn pfn) == MemoryStatus.Ok)
                            held.Add((pfn, order));
                    }
                    else if (held.Count > 0)
                    {
                        int i = rng.Next(held.Count);
                        MemoryStatus s = pm->Free(held[i].pfn, new Order(held[i].order), MemoryAssert.DefaultOwner);
                        if (s != MemoryStatus.Ok)
                            broken ??= $"free of 0x{held[i].pfn.Value:x} order {held[i].order}: {s}";
                        held.RemoveAt(i);
                    }
                    otherOps++;
                    if (rng.Next(500) == 0)
                    {
                        // The checker takes every lock: it waits for a pass to end.
                        InvariantReport r = pm->Check();
                        if (!r.IsOk)
                            broken ??= MemoryAssert.Describe(r);
                    }
                }
            });
            other.Start();
            ulong moved = 0;
            try
            {
                for (int pass = 0; pass < passes; pass++)
                {
                    Assert.Equal(MemoryStatus.Ok, pm->Compact(pool, -1, out CompactionResult r));
                    moved += r.PagesMoved;
                    InvariantReport report = pm->Check();
                    Assert.True(report.IsOk, MemoryAssert.Describe(report));
                    Intact(map);
                }
            }
            finally
            {
                Volatile.Write(ref stop, 1);
                other.Join();
            }
            Assert.True(broken == null, broken);
            Assert.True(moved > 0, "nothing moved");
            MemoryAssert.Consistent(pm);
            Intact(map);
            foreach (ulong page in map.Map.Keys.ToList())
                Assert.Equal(MemoryStatus.Ok, map.Free(page));
            _output.WriteLine($"seed {seed}: {moved} pages moved, {otherOps} operations of the other CPU");
        });
    }
}
