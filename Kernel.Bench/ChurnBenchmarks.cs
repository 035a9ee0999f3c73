using System.Diagnostics;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing;

namespace PoolKernel.Bench;

/// <summary>
/// Gorman's churn (issue 15, docs/antifrag.md): a 1 GiB pool filled to 90% with a seeded mix of
/// 70% movable, 20% unmovable and 10% reclaimable allocations of orders 0-3, a random half of them
/// freed, then order-9 blocks allocated until one fails. The result is the share of the free memory
/// (at the moment the order-9 allocations start) obtained as order-9 blocks: ours without compaction
/// (<c>churn_order9_pct</c>), ours with compaction on each failing order-9 request
/// (<see cref="PhysicalMemory.AllocateCompacting"/>, <c>churn_order9_compact_pct</c>), and the classic
/// baseline (<see cref="ClassicBuddy"/> without per-CPU lists: no grouping, no compaction,
/// <c>baseline_churn_order9_pct</c>). <c>compaction_ms_per_gib</c> is one full compaction pass
/// (<see cref="PhysicalMemory.Compact"/>, order -1) over the churned pool, best of a few fresh churns.
/// Shares, not times, except the last; the same allocation sequence on both sides.
/// The mover of the movable and reclaimable owners rewrites a host-side map from block to allocation
/// and copies nothing: the frames are simulated, so the compaction time is the allocator's and the
/// mover's bookkeeping; a kernel adds a 4 KiB copy and a TLB invalidation per page moved.
/// </summary>
public static unsafe class ChurnBenchmarks
{
    private const ulong GiB = 1UL << 30;
    private const int Seed = 15;
    private const byte UnmovableOwner = 0, MovableOwner = 5, ReclaimableOwner = 6;
    private const int CompactionRounds = 3;

    /// <summary>One region of exactly 1 GiB at 1 GiB: one default pool (node0-dma32) of 512 page blocks.</summary>
    private static MemoryRegion[] Map() => new[] { new MemoryRegion(GiB, GiB, MemoryType.Available, 0) };

    /// <summary>The allocations of the fill: (order, class) in sequence, and which of them the churn frees.</summary>
    private static (int order, MobilityClass cls)[] Mix(out bool[] freed)
    {
        var rng = new Random(Seed);
        ulong target = GiB / 4096 * 9 / 10, pages = 0;
        var mix = new List<(int, MobilityClass)>();
        while (pages < target)
        {
            int r = rng.Next(100);
            MobilityClass cls = r < 70 ? MobilityClass.Movable : r < 90 ? MobilityClass.Unmovable : MobilityClass.Reclaimable;
            int order = rng.Next(4);
            mix.Add((order, cls));
            pages += 1UL << order;
        }
        freed = new bool[mix.Count];
        int[] perm = Enumerable.Range(0, mix.Count).ToArray();
        rng.Shuffle(perm);
        for (int i = 0; i < perm.Length / 2; i++)
            freed[perm[i]] = true;
        return mix.ToArray();
    }

    /// <summary>The mover's state: which allocation each block head is (the reverse map), and each allocation's block.</summary>
    private sealed class Blocks
    {
        public readonly ulong BasePfn;
        public readonly int[] SlotOfFrame;
        public readonly Pfn[] PfnOf;
        public ulong Moves;

        public Blocks(ulong basePfn, ulong frames, int allocations)
        {
            BasePfn = basePfn;
            SlotOfFrame = new int[frames];
            Array.Fill(SlotOfFrame, -1);
            PfnOf = new Pfn[allocations];
        }
    }

    private static Blocks s_blocks;

    private static bool CanMove(void* context, Pfn pfn, int order) => s_blocks.SlotOfFrame[pfn.Value - s_blocks.BasePfn] >= 0;

    private static bool Move(void* context, Pfn from, Pfn to, int order)
    {
        Blocks b = s_blocks;
        int slot = b.SlotOfFrame[from.Value - b.BasePfn];
        if (slot < 0)
            return false;
        b.SlotOfFrame[from.Value - b.BasePfn] = -1;
        b.SlotOfFrame[to.Value - b.BasePfn] = slot;
        b.PfnOf[slot] = to;
        b.Moves++;
        return true;
    }

    /// <summary>Sets up the pool and churns it: filled with the mix, then the chosen half freed. Returns the pool.</summary>
    private static PoolId Churn(HostPhysicalMemory host, (int order, MobilityClass cls)[] mix, bool[] freed)
    {
        PhysicalMemory* pm = host.Memory;
        PoolId pool = pm->FirstPool();
        s_blocks = new Blocks(pm->BasePfn.Value, 2 * GiB / 4096, mix.Length);
        FrameMover mover = default;
        mover.CanMove = &CanMove;
        mover.Move = &Move;
        PairBenchmarks.Check(pm->RegisterMover(MovableOwner, mover));
        PairBenchmarks.Check(pm->RegisterMover(ReclaimableOwner, mover));
        var owners = new byte[mix.Length];
        for (int i = 0; i < mix.Length; i++)
        {
            AllocRequest r = AllocRequest.InPool(pool);
            r.Mobility = mix[i].cls;
            r.Owner = mix[i].cls == MobilityClass.Movable ? MovableOwner : mix[i].cls == MobilityClass.Reclaimable ? ReclaimableOwner : UnmovableOwner;
            owners[i] = r.Owner;
            PairBenchmarks.Check(pm->Allocate(new Order(mix[i].order), r, out Pfn pfn));
            s_blocks.PfnOf[i] = pfn;
            if (r.Owner != UnmovableOwner)
                s_blocks.SlotOfFrame[pfn.Value - s_blocks.BasePfn] = i;
        }
        for (int i = 0; i < mix.Length; i++)
        {
            if (!freed[i])
                continue;
            Pfn pfn = s_blocks.PfnOf[i];
            PairBenchmarks.Check(pm->Free(pfn, new Order(mix[i].order), owners[i]));
            s_blocks.SlotOfFrame[pfn.Value - s_blocks.BasePfn] = -1;
        }
        return pool;
    }

    /// <summary>Per cent of the pool's free frames obtained as order-9 blocks, allocated (compacting or not) until one fails.</summary>
    private static double Order9Share(PhysicalMemory* pm, PoolId pool, bool compacting)
    {
        PairBenchmarks.Check(pm->GetPoolStats(pool, out PoolStats stats));
        ulong free = stats.FreePages, got = 0;
        AllocRequest r = AllocRequest.InPool(pool);
        while ((compacting ? pm->AllocateCompacting(new Order(9), r, out _) : pm->Allocate(new Order(9), r, out _)) == MemoryStatus.Ok)
            got += 512;
        if (!pm->Check().IsOk)
            throw new InvalidOperationException("churn: checker " + pm->Check().Code);
        return 100.0 * got / free;
    }

    private static double BaselineShare((int order, MobilityClass cls)[] mix, bool[] freed)
    {
        ulong first = GiB / 4096, end = 2 * GiB / 4096;
        using var classic = new ClassicBuddy(end, new[] { (first, end) }, perCpuLists: false);
        var pfns = new long[mix.Length];
        ulong held = 0;
        for (int i = 0; i < mix.Length; i++)
        {
            pfns[i] = classic.Allocate(mix[i].order, 1);
            if (pfns[i] < 0)
                throw new InvalidOperationException("churn: the baseline ran out during the fill");
            held += 1UL << mix[i].order;
        }
        for (int i = 0; i < mix.Length; i++)
            if (freed[i])
            {
                classic.Free((ulong)pfns[i], mix[i].order);
                held -= 1UL << mix[i].order;
            }
        ulong free = end - first - held, got = 0;
        while (classic.Allocate(9, 1) >= 0)
            got += 512;
        return 100.0 * got / free;
    }

    /// <summary>The four churn keys.</summary>
    public static List<KeyValuePair<string, double>> Measure()
    {
        var mix = Mix(out bool[] freed);
        double plain, compacted, ms = double.MaxValue;
        using (var host = new HostPhysicalMemory(Map(), hugePages: true))
        {
            PairBenchmarks.Check(host.InitStatus);
            PoolId pool = Churn(host, mix, freed);
            plain = Order9Share(host.Memory, pool, compacting: false);
        }
        using (var host = new HostPhysicalMemory(Map(), hugePages: true))
        {
            PoolId pool = Churn(host, mix, freed);
            compacted = Order9Share(host.Memory, pool, compacting: true);
        }
        for (int round = 0; round < CompactionRounds; round++)
        {
            using var host = new HostPhysicalMemory(Map(), hugePages: true);
            PoolId pool = Churn(host, mix, freed);
            long start = Stopwatch.GetTimestamp();
            PairBenchmarks.Check(host.Memory->Compact(pool, -1, out _));
            ms = Math.Min(ms, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            if (!host.Memory->Check().IsOk)
                throw new InvalidOperationException("churn: checker after compaction " + host.Memory->Check().Code);
        }
        double baseline = BaselineShare(mix, freed);
        return new List<KeyValuePair<string, double>>
        {
            new("churn_order9_pct", Math.Round(plain, 1)),
            new("churn_order9_compact_pct", Math.Round(compacted, 1)),
            new("baseline_churn_order9_pct", Math.Round(baseline, 1)),
            new("compaction_ms_per_gib", Math.Round(ms, 2)),
        };
    }
}
