using System.Diagnostics;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>The two allocators of the bulk benchmarks.</summary>
public enum Allocator
{
    Pools,
    /// <summary><see cref="ClassicBuddy"/> with its per-CPU lists.</summary>
    Baseline,
}

/// <summary>
/// LLFree's shapes (Wrenger et al., USENIX ATC'23), on one core: on a QEMU `pc` 4 GiB one-node
/// map, half of the RAM is allocated block by block (order 0: frame by frame; order 9: 2 MiB
/// blocks), then freed, either in allocation order ("bulk") or in a seeded random order
/// ("rand"). The pool allocator allocates by pool choice (<see cref="AllocRequest.Any"/>: the
/// normal pool first, then DMA32, as a kernel caller that names no pool gets them); the baseline
/// is <see cref="ClassicBuddy"/> with per-CPU lists asked for the Normal zone with zone fallback
/// (Normal, then DMA32). Memory is touched before timing: set-up allocates every frame and frees
/// it again, so no host page fault lands in a timed half.
/// </summary>
/// <remarks>
/// Timing: each invocation is one half (all the allocations, or all the frees), so the job runs one
/// invocation an iteration (<see cref="InvocationCountAttribute"/> 1) and the other half runs
/// untimed in an iteration set-up or clean-up: <c>alloc</c> is timed after an in-order free (its
/// clean-up frees in order), <c>rand_alloc</c> after a random free, <c>free</c> and <c>rand_free</c>
/// after an allocation (their set-up). An invocation is tens of milliseconds at order 0 but only
/// tens of microseconds at order 9 (1,024 blocks), so the order-9 figures are the noisier.
/// BenchmarkDotNet reports a half; <see cref="Program"/> divides by <see cref="Blocks"/> for the
/// per-block figures of summary.json. The ilc harness (<see cref="AotPairs"/>) times the same
/// halves with a stopwatch through <see cref="TimeRounds"/>.
/// </remarks>
[InvocationCount(1, 1)]
public unsafe class BulkBenchmarks
{
    private const ulong GiB = 1UL << 30;
    /// <summary>The owner every request allocates as and every free names.</summary>
    private const byte Owner = 5;
    /// <summary>The seed of the random free order (one permutation of positions, the same for both allocators and every round).</summary>
    public const int ShuffleSeed = 20230710;
    /// <summary>The seed of the baseline's conservation check in set-up.</summary>
    private const int CheckSeed = 12;
    /// <summary>JIT warm-up (<see cref="WarmUp"/>): at least this many rounds of both halves, and at least <see cref="WarmMilliseconds"/>.</summary>
    private const int WarmRounds = 64;
    private const int WarmMilliseconds = 1000;

    [Params(Allocator.Pools, Allocator.Baseline)]
    public Allocator Side;

    [Params(0, 9)]
    public int BlockOrder;

    private HostPhysicalMemory _host;
    private ClassicBuddy _classic;
    private AllocRequest _request;
    private Pfn[] _blocks;
    private long[] _classicBlocks;

    /// <summary>The map: QEMU `pc`, 4 GiB, one node (3 GiB below the PCI hole, 1 GiB above 4 GiB).</summary>
    public static MemoryRegion[] Map() => QemuMaps.Build("pc", 4 * GiB, 1);

    /// <summary>Blocks of the given order that make half of the map's RAM (an invocation's operations).</summary>
    public static int Blocks(int order) => (int)(QemuMaps.AvailableFrames(Map()) / 2 >> order);

    [GlobalSetup]
    public void Setup()
    {
        MemoryRegion[] map = Map();
        int blocks = Blocks(BlockOrder);
        if (Side == Allocator.Pools)
        {
            _host = new HostPhysicalMemory(map, hugePages: true);
            PairBenchmarks.Check(_host.InitStatus);
            _request = AllocRequest.Any;
            _request.Owner = Owner;
            _blocks = new Pfn[blocks];
            TouchPools();
        }
        else
        {
            var ranges = map.Where(r => r.Type == MemoryType.Available)
                .Select(r => ((r.Base.Value + 4095) >> 12, (r.Base.Value + r.Length) >> 12)).ToArray();
            ulong frames = ranges.Max(r => r.Item2);
            _classic = new ClassicBuddy(frames, ranges);
            _classic.CheckConservation(CheckSeed, 200_000);
            _classicBlocks = new long[blocks];
            TouchClassic();
        }
        WarmUp();
    }

    /// <summary>
    /// Under the JIT, brings the code of the timed halves to tier 1 before they are timed, for both allocators alike.
    /// A job of this class runs one invocation an iteration, a few dozen in all: too few calls of the harness methods
    /// for the tiering JIT (about 30 calls, then a compile in the background), and at order 9 (about 0.2 ms an
    /// invocation) too short a run for its call counting to start at all (it waits for 100 ms without new tier-0
    /// code). Without this, what was timed was tier-0 code, in which nothing is inlined: both allocators' methods
    /// were still "QuickJitted" in a perf profile after 400 order-9 halves. Runs <see cref="WarmRounds"/> rounds of
    /// both halves (freed in order, then shuffled, alternately), for at least <see cref="WarmMilliseconds"/>, then
    /// gives the background compiler time to install its code. Leaves every block free, as the touch does.
    /// Nothing under ilc, which compiled everything ahead of time.
    /// </summary>
    private void WarmUp()
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled)
            return;
        var clock = Stopwatch.StartNew();
        for (int round = 0; round < WarmRounds || clock.ElapsedMilliseconds < WarmMilliseconds; round++)
        {
            AllocateHalf();
            if ((round & 1) != 0)
                Shuffle();
            FreeAll();
        }
        Thread.Sleep(WarmMilliseconds / 2);
    }

    /// <summary>Every frame allocated (by choice, order 0) and freed, so the host has backed all of the simulated memory; then checks nothing is lost.</summary>
    private void TouchPools()
    {
        PhysicalMemory* pm = _host.Memory;
        var all = new List<Pfn>();
        while (pm->Allocate(new Order(0), _request, out Pfn pfn) == MemoryStatus.Ok)
            all.Add(pfn);
        foreach (Pfn pfn in all)
            PairBenchmarks.Check(pm->Free(pfn, new Order(0), Owner));
        MemoryTotals totals = pm->GetTotals();
        if ((ulong)all.Count != totals.PresentPages || totals.FreePages != totals.PresentPages)
            throw new InvalidOperationException($"pools: {all.Count} frames allocated, {totals.FreePages} free of {totals.PresentPages} after the touch");
    }

    /// <summary>Every frame allocated and freed once (the descriptors were touched at construction; this warms the lists the same way), then the conservation check.</summary>
    private void TouchClassic()
    {
        var all = new List<long>();
        for (long p; (p = _classic.Allocate(0, 2)) >= 0;)
            all.Add(p);
        foreach (long p in all)
            _classic.Free((ulong)p, 0);
        if ((ulong)all.Count != _classic.PresentFrames)
            throw new InvalidOperationException($"baseline: {all.Count} frames allocated of {_classic.PresentFrames}");
        _classic.CheckFree(_classic.PresentFrames);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _host?.Dispose();
        _classic?.Dispose();
        _host = null;
        _classic = null;
    }

    /// <summary>Allocates half of the RAM in blocks of <see cref="BlockOrder"/>, recording them in allocation order.</summary>
    public void AllocateHalf()
    {
        int order = BlockOrder;
        if (Side == Allocator.Pools)
        {
            PhysicalMemory* pm = _host.Memory;
            Pfn[] blocks = _blocks;
            AllocRequest request = _request;
            for (int i = 0; i < blocks.Length; i++)
                if (pm->Allocate(new Order(order), request, out blocks[i]) != MemoryStatus.Ok)
                    throw new InvalidOperationException($"pools: order-{order} allocation {i} failed");
        }
        else
        {
            ClassicBuddy c = _classic;
            long[] blocks = _classicBlocks;
            for (int i = 0; i < blocks.Length; i++)
                if ((blocks[i] = c.Allocate(order, 2)) < 0)
                    throw new InvalidOperationException($"baseline: order-{order} allocation {i} failed");
        }
    }

    /// <summary>Frees every block held, in the order of the record (allocation order, or shuffled by <see cref="Shuffle"/>).</summary>
    public void FreeAll()
    {
        int order = BlockOrder;
        if (Side == Allocator.Pools)
        {
            PhysicalMemory* pm = _host.Memory;
            Pfn[] blocks = _blocks;
            for (int i = 0; i < blocks.Length; i++)
                if (pm->Free(blocks[i], new Order(order), Owner) != MemoryStatus.Ok)
                    throw new InvalidOperationException($"pools: order-{order} free {i} refused");
        }
        else
        {
            ClassicBuddy c = _classic;
            long[] blocks = _classicBlocks;
            for (int i = 0; i < blocks.Length; i++)
                c.Free((ulong)blocks[i], order);
        }
    }

    /// <summary>Puts the record into the seeded random order (Fisher-Yates from <see cref="ShuffleSeed"/>; untimed).</summary>
    public void Shuffle()
    {
        var random = new Random(ShuffleSeed);
        if (Side == Allocator.Pools)
            random.Shuffle(_blocks);
        else
            random.Shuffle(_classicBlocks);
    }

    [IterationSetup(Target = nameof(Free))]
    public void AllocateForFree() => AllocateHalf();

    [IterationSetup(Target = nameof(RandFree))]
    public void AllocateForRandFree()
    {
        AllocateHalf();
        Shuffle();
    }

    [IterationCleanup(Target = nameof(Alloc))]
    public void FreeAfterAlloc() => FreeAll();

    [IterationCleanup(Target = nameof(RandAlloc))]
    public void RandFreeAfterAlloc()
    {
        Shuffle();
        FreeAll();
    }

    /// <summary>Half of the RAM after an in-order free (<c>bulk_alloc</c>, <c>bulk9_alloc</c>).</summary>
    [Benchmark(Description = "alloc")]
    public void Alloc() => AllocateHalf();

    /// <summary>All of it, in allocation order (<c>bulk_free</c>, <c>bulk9_free</c>).</summary>
    [Benchmark(Description = "free")]
    public void Free() => FreeAll();

    /// <summary>Half of the RAM after a random free (<c>rand_alloc</c>, <c>rand9_alloc</c>).</summary>
    [Benchmark(Description = "rand_alloc")]
    public void RandAlloc() => AllocateHalf();

    /// <summary>All of it, in the seeded random order (<c>rand_free</c>, <c>rand9_free</c>).</summary>
    [Benchmark(Description = "rand_free")]
    public void RandFree() => FreeAll();

    /// <summary>The summary key of a result: <c>bulk_alloc_ns</c>, <c>rand9_free_ns</c>, with <c>baseline_</c> for the baseline.</summary>
    public static string Key(Allocator side, int order, string method)
    {
        string shape = method.StartsWith("rand_") ? "rand" : "bulk";
        string half = method.StartsWith("rand_") ? method["rand_".Length..] : method;
        return (side == Allocator.Baseline ? "baseline_" : "") + shape + (order == 0 ? "" : order.ToString()) + "_" + half + "_ns";
    }

    /// <summary>
    /// The ilc harness's measurement: for each side and order (fresh set-up each), <paramref name="rounds"/>
    /// rounds of: allocate (after an in-order free: <c>alloc</c>), shuffle, free (<c>rand_free</c>),
    /// allocate (after a random free: <c>rand_alloc</c>), free in order (<c>free</c>); the best
    /// round of each half, in ns per block, keyed as <see cref="Key"/> says. An order with no rounds is skipped.
    /// </summary>
    public static List<KeyValuePair<string, double>> TimeRounds(int rounds0, int rounds9)
    {
        var results = new List<KeyValuePair<string, double>>();
        foreach (int order in new[] { 0, 9 })
            foreach (Allocator side in new[] { Allocator.Pools, Allocator.Baseline })
            {
                if ((order == 0 ? rounds0 : rounds9) == 0)
                    continue;
                var b = new BulkBenchmarks { Side = side, BlockOrder = order };
                b.Setup();
                double alloc = double.MaxValue, free = double.MaxValue, randAlloc = double.MaxValue, randFree = double.MaxValue;
                int rounds = order == 0 ? rounds0 : rounds9;
                for (int round = 0; round < rounds; round++)
                {
                    alloc = Math.Min(alloc, Time(b.AllocateHalf));
                    b.Shuffle();
                    randFree = Math.Min(randFree, Time(b.FreeAll));
                    randAlloc = Math.Min(randAlloc, Time(b.AllocateHalf));
                    free = Math.Min(free, Time(b.FreeAll));
                }
                b.Cleanup();
                double perBlock = Blocks(order);
                results.Add(new(Key(side, order, "alloc"), Math.Round(alloc / perBlock, 2)));
                results.Add(new(Key(side, order, "free"), Math.Round(free / perBlock, 2)));
                results.Add(new(Key(side, order, "rand_alloc"), Math.Round(randAlloc / perBlock, 2)));
                results.Add(new(Key(side, order, "rand_free"), Math.Round(randFree / perBlock, 2)));
            }
        return results;
    }

    private static double Time(Action half)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        half();
        return System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalNanoseconds;
    }
}
