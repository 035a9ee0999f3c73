using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Blocks of at least the page-block order (whole page blocks) take the trimmed paths of issue 12's bulk order 9:
/// <see cref="BuddyAllocator.TakeFirst"/> from the shared lists only and <see cref="BuddyAllocator.FreeMerging"/>
/// against the shared lists only; and the pool walk asks whether any CPU's cache of a pool holds a block without
/// summing the caches (<see cref="BuddyAllocator.AnyCached"/>). These tests hold them to the general paths' contract:
/// the first block of the smallest listed order, split into the shared lists; a free merged as far as its free
/// buddies allow; every invariant after every operation of seeded runs of whole-block and mixed orders.
/// </summary>
public unsafe class WholeBlockTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public WholeBlockTests(ITestOutputHelper output) => _output = output;

    /// <summary>The shared list of <paramref name="order"/> (from the page-block order up every class's list of that order).</summary>
    private static FreeList* Shared(PhysicalMemory* pm, PoolId pool, int order) => pm->_buddy.ListOf(pool.Value, order, 0);

    /// <summary>
    /// A movable request (no per-CPU cache serves it) of order 9 and one of order 10 (an order without caches) from the
    /// named dma32 pool take the head of the smallest listed shared list of at least their order, split down: the
    /// upper half of a split order-10 block becomes the head of the order-9 list. Freed, each merges with its free
    /// buddy back into the order-10 list's head, and the pool's listed mask says which shared lists hold blocks.
    /// </summary>
    [Fact]
    public void AWholeBlockComesFromTheSmallestListedOrderAndMergesBackIntoTheSharedLists()
    {
        using var host = QemuMaps.Boot("q35", 512 * MiB, 1);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        ref BuddyAllocator b = ref pm->_buddy;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        AllocRequest request = AllocRequest.InPool(dma32);
        request.Mobility = MobilityClass.Movable;
        int pbo = b._pageblockOrder;
        Assert.Equal(9, pbo);
        Assert.Equal(10, b._maxOrder);

        // Whatever order-9 blocks the pool lists first go, so the next one splits an order-10 block.
        var taken = new List<Pfn>();
        while (Shared(pm, dma32, 9)->Head != FreeList.End)
        {
            ulong head = Shared(pm, dma32, 9)->Head;
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(9), request, out Pfn pfn));
            Assert.Equal(pm->_basePfn + head, pfn.Value);
            taken.Add(pfn);
        }
        ulong big = Shared(pm, dma32, 10)->Head;
        Assert.NotEqual(FreeList.End, big);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(9), request, out Pfn low));
        Assert.Equal(pm->_basePfn + big, low.Value);
        Assert.Equal(big + 512, Shared(pm, dma32, 9)->Head);
        Assert.Equal(FrameState.Make(FrameKind.Free, 9), b._frames[big + 512]);
        Assert.Equal(1UL, (b._pools[dma32.Value].ListedSlots >> (2 * pbo + 9)) & 1);
        MemoryAssert.Consistent(pm);

        // An order-10 request skips the order-9 list and takes the order-10 list's head whole.
        ulong next = Shared(pm, dma32, 10)->Head;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(10), request, out Pfn whole));
        Assert.Equal(pm->_basePfn + next, whole.Value);
        Assert.Equal(big + 512, Shared(pm, dma32, 9)->Head);
        MemoryAssert.Consistent(pm);

        // Freed, the order-9 block merges with its free upper half into the head of the order-10 list, and the
        // order-9 list it emptied leaves the mask.
        Assert.Equal(MemoryStatus.Ok, pm->Free(low, new Order(9), MemoryAssert.DefaultOwner));
        Assert.Equal(big, Shared(pm, dma32, 10)->Head);
        Assert.Equal(FrameState.Make(FrameKind.Free, 10), b._frames[big]);
        Assert.Equal(FrameState.Tail, b._frames[big + 512]);
        Assert.Equal(0UL, (b._pools[dma32.Value].ListedSlots >> (2 * pbo + 9)) & 1);
        Assert.Equal(FreeList.End, Shared(pm, dma32, 9)->Head);
        MemoryAssert.Consistent(pm);

        Assert.Equal(MemoryStatus.Ok, pm->Free(whole, new Order(10), MemoryAssert.DefaultOwner));
        Assert.Equal(next, Shared(pm, dma32, 10)->Head);
        foreach (Pfn pfn in taken)
            Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(9), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
        Assert.Equal(pm->GetTotals().PresentPages, pm->GetTotals().FreePages);
    }

    /// <summary>
    /// Seeded runs on two CPUs (one thread playing both, <see cref="HostCpus.Enter"/>) of allocations of orders at or
    /// above the page-block order (three in four) and below it, by pool choice and from named pools, unmovable
    /// (through the per-CPU caches of order 9) and movable (straight to the lists), freed in random order from either
    /// CPU, with a free by the wrong owner and a second free refused with nothing changed now and then. After every
    /// operation: the invariant checker (lists, listed masks, counts, held counts, merged buddies, and every CPU's cached
    /// blocks in page blocks of their caches' class: a park on CPU 1 that skipped the class test fails every seed), every live block
    /// still reads allocated with its order, and for every pool the cached test says what the sum of its caches says.
    /// Four shapes: page blocks of order 9 under a largest block of 10 (the default), 3 under 5, 4 under 4 (no merge
    /// above the page block) and 2 under 6 (four orders of whole blocks).
    /// </summary>
    [Fact]
    public void WholeAndSmallerBlocksComeAndGoOnTwoCpus_EveryInvariantHolds()
        => SeededRuns.Run(_output, "whole and smaller blocks", "WHOLE_BLOCKS", 16, 400, (seed, ops) => RunSeed(seed, ops, 2));

    /// <summary>
    /// The same runs on an instance of one CPU, where blocks of at least the page-block order take the one-CPU copies
    /// of the block paths (<see cref="PhysicalMemory"/>'s AllocateWholeOneCpu and FreeWholeOneCpu): every invariant after
    /// every operation, and every refusal (wrong owner, second free, wrong order, a frame inside the block, a frame
    /// past the last one) with nothing changed.
    /// </summary>
    [Fact]
    public void WholeAndSmallerBlocksComeAndGoOnOneCpu_EveryInvariantHolds()
        => SeededRuns.Run(_output, "whole and smaller blocks, one CPU", "WHOLE_BLOCKS_ONE_CPU", 16, 400, (seed, ops) => RunSeed(seed, ops, 1));

    /// <summary>
    /// The one-CPU whole-block paths hand out what the general paths hand out: one seeded sequence of allocations
    /// (orders at or above the page-block order; by pool choice and named; unmovable and movable)
    /// and frees, run on an instance of one CPU and on one of two CPUs whose calls all come from CPU 0 (the general
    /// paths), returns the same status and block for every call and leaves the same free blocks per order in every
    /// pool after every operation.
    /// </summary>
    [Fact]
    public void TheOneCpuWholeBlockPathsHandOutWhatTheGeneralPathsHandOut()
        => SeededRuns.Run(_output, "one CPU against two", "WHOLE_BLOCKS_SAME", 8, 600, SameSeed);

    private static void SameSeed(int seed, int ops)
    {
        HostCpus.Enter(0);
        using var one = QemuMaps.Boot("q35", 128 * MiB, 1);
        using var two = QemuMaps.Boot("q35", 128 * MiB, 1, HostCpus.Config(2));
        Assert.Equal(MemoryStatus.Ok, one.InitStatus);
        Assert.Equal(MemoryStatus.Ok, two.InitStatus);
        Assert.Equal(1, one.Memory->_maxCpus);
        PhysicalMemory*[] pms = { one.Memory, two.Memory };
        int pbo = one.Memory->_buddy._pageblockOrder;
        int max = one.Memory->_buddy._maxOrder;
        PoolId dma32 = MemoryAssert.FindPool(one.Memory, "node0-dma32");
        Assert.Equal(dma32, MemoryAssert.FindPool(two.Memory, "node0-dma32"));
        var live = new List<(Pfn Pfn, int Order)>();
        var rng = new Random(seed);
        for (int op = 0; op < ops; op++)
        {
            string at = $"seed {seed} op {op}";
            if (live.Count == 0 || rng.Next(100) < 55)
            {
                int order = pbo + rng.Next(max - pbo + 1);
                AllocRequest request = rng.Next(3) == 0 ? AllocRequest.InPool(dma32) : AllocRequest.Any;
                request.Mobility = rng.Next(4) == 0 ? MobilityClass.Movable : MobilityClass.Unmovable;
                MemoryStatus s1 = pms[0]->Allocate(new Order(order), request, out Pfn p1);
                MemoryStatus s2 = pms[1]->Allocate(new Order(order), request, out Pfn p2);
                Assert.Equal(s2, s1);
                Assert.True(p1 == p2, $"{at}: order {order}: {p1.Value} on one CPU, {p2.Value} on two");
                if (s1 == MemoryStatus.Ok)
                    live.Add((p1, order));
            }
            else
            {
                int i = rng.Next(live.Count);
                var (pfn, order) = live[i];
                live.RemoveAt(i);
                Assert.Equal(MemoryStatus.Ok, pms[0]->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
                Assert.Equal(MemoryStatus.Ok, pms[1]->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
            }
            MemoryAssert.Consistent(pms[0]);
            MemoryAssert.Consistent(pms[1]);
            ulong[][] info1 = MemoryAssert.BuddyInfo(pms[0]), info2 = MemoryAssert.BuddyInfo(pms[1]);
            Assert.Equal(info2.Length, info1.Length);
            for (int p = 0; p < info1.Length; p++)
                Assert.True(info1[p].AsSpan().SequenceEqual(info2[p]), $"{at}: pool row {p} differs");
        }
    }

    private static void RunSeed(int seed, int ops, int cpus)
    {
        var rng = new Random(seed);
        MemoryConfig cfg = cpus == 1 ? MemoryConfig.Default : HostCpus.Config(cpus);
        switch (seed % 4)
        {
            case 1:
                cfg.MaxOrder = 5;
                cfg.PageblockOrder = 3;
                break;
            case 2:
                cfg.MaxOrder = 4;
                cfg.PageblockOrder = 4;
                break;
            case 3:
                cfg.MaxOrder = 6;
                cfg.PageblockOrder = 2;
                break;
        }
        HostCpus.Enter(0);
        using var host = QemuMaps.Boot("q35", 128 * MiB, 1, cfg);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        ref BuddyAllocator b = ref pm->_buddy;
        int pbo = b._pageblockOrder;
        PoolId[] named = { MemoryAssert.FindPool(pm, "node0-dma"), MemoryAssert.FindPool(pm, "node0-dma32") };
        var live = new List<(Pfn Pfn, int Order)>();
        for (int op = 0; op < ops; op++)
        {
            string at = $"seed {seed} op {op}";
            HostCpus.Enter(rng.Next(cpus));
            int r = rng.Next(100);
            if (live.Count == 0 || r < 55)
            {
                int order = rng.Next(4) != 0 ? pbo + rng.Next(b._maxOrder - pbo + 1) : rng.Next(pbo);
                AllocRequest request = rng.Next(3) == 0 ? AllocRequest.InPool(named[rng.Next(2)]) : AllocRequest.Any;
                request.Mobility = rng.Next(3) == 0 ? MobilityClass.Movable : MobilityClass.Unmovable;
                MemoryStatus status = pm->Allocate(new Order(order), request, out Pfn pfn);
                Assert.True(status == MemoryStatus.Ok || status == MemoryStatus.OutOfMemory, $"{at}: order {order}: {status}");
                if (status == MemoryStatus.Ok)
                {
                    Assert.Equal(0UL, (pfn.Value - pm->_basePfn) & ((1UL << order) - 1));
                    live.Add((pfn, order));
                }
            }
            else if (r < 94)
            {
                int i = rng.Next(live.Count);
                Assert.Equal(MemoryStatus.Ok, pm->Free(live[i].Pfn, new Order(live[i].Order), MemoryAssert.DefaultOwner));
                FrameKind kind = pm->KindOf(live[i].Pfn, out _);
                Assert.True(kind != FrameKind.Allocated, $"{at}: freed block at {live[i].Pfn.Value} still reads allocated");
                live.RemoveAt(i);
            }
            else if (r < 97)
            {
                var (pfn, order) = live[rng.Next(live.Count)];
                MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(pfn, new Order(order), 7));
                int other = order == b._maxOrder ? order - 1 : order + 1;
                MemoryAssert.Refused(host, MemoryStatus.WrongOrder, () => pm->Free(pfn, new Order(other), MemoryAssert.DefaultOwner));
                if (order > 0)
                    MemoryAssert.Refused(host, MemoryStatus.NotAllocated, () => pm->Free(new Pfn(pfn.Value + 1), new Order(order), MemoryAssert.DefaultOwner));
                ulong past = pm->_basePfn + b._spanPages + ((ulong)rng.Next(4) << order);
                MemoryAssert.Refused(host, MemoryStatus.OutsideEveryPool, () => pm->Free(new Pfn(past), new Order(order), MemoryAssert.DefaultOwner));
            }
            else
            {
                int i = rng.Next(live.Count);
                var (pfn, order) = live[i];
                Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
                live.RemoveAt(i);
                MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
            }
            MemoryAssert.Consistent(pm);
            foreach (var (pfn, order) in live)
            {
                Assert.Equal(FrameKind.Allocated, pm->KindOf(pfn, out Order recorded));
                Assert.Equal(order, recorded.Value);
            }
            for (int pool = 0; pool < pm->_poolCapacity; pool++)
                Assert.True((b.CachedCount(pool) != 0) == b.AnyCached(pool), $"{at}: pool {pool}: {b.CachedCount(pool)} cached");
        }
        foreach (var (pfn, order) in live)
            Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(order), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
        HostCpus.Enter(0);
    }
}
