using PoolKernel.Tests.Support;
using PoolKernel.Memory;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Seeded random operations against a simple reference model (which frames are handed out), with
/// the invariant checker after every operation. Defaults: 200 seeds x 5,000 operations on a small
/// two-node map with holes, rotating the default configuration and two tiny ones (max order 5 with
/// 8-frame page blocks; max order 4 with 16-frame page blocks) that make page-block moves frequent.
/// Requests come from several owners; every allocation must record its owner, every free names it,
/// and frees naming another owner (right or wrong order or length, cached frames included) must be
/// refused with nothing changed. Longer runs:
/// POOLKERNEL_RANDOM_SEEDS, POOLKERNEL_RANDOM_OPS; replay one seed: POOLKERNEL_RANDOM_SEED.
/// A failure names its seed and operation.
/// </summary>
public unsafe class RandomOperationsTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public RandomOperationsTests(ITestOutputHelper output) => _output = output;

    private static readonly MemoryRegion[] SmallMap =
    {
        new MemoryRegion(0, 0x9fc00, MemoryType.Available, 0),
        new MemoryRegion(0x9fc00, 0x400, MemoryType.Reserved, 0),
        new MemoryRegion(0x100000, 0x500000, MemoryType.Available, 0),
        new MemoryRegion(0x600000, 0x80000, MemoryType.Reserved, 0),
        new MemoryRegion(0x680000, 0x380000, MemoryType.Available, 0),
        new MemoryRegion(0xa00000, 0x200000, MemoryType.Available, 1),
        new MemoryRegion(0x1000000, 0x3ff000, MemoryType.Available, 1),
    };

    [Fact]
    public void RandomOperationsKeepEveryInvariant()
        => SeededRuns.Run(_output, "random operations", "POOLKERNEL_RANDOM", 200, 5000, RunSeed);

    private sealed class Allocation
    {
        public Pfn Pfn;
        public ulong Pages;
        public int Order; // -1 for a run
        public byte Owner;
    }

    /// <summary>Owners the random requests use: more than the pools' owner masks name, so some requests only fit open pools.</summary>
    private const int Owners = 4;

    private static void RunSeed(int seed, int ops)
    {
        var rng = new Random(seed);
        MemoryConfig cfg = MemoryConfig.Default;
        if (seed % 3 == 1)
        {
            cfg.MaxOrder = 5;
            cfg.PageblockOrder = 3;
        }
        else if (seed % 3 == 2)
        {
            cfg.MaxOrder = 4; // page block = largest block
            cfg.PageblockOrder = 4;
        }
        using var host = new HostPhysicalMemory(SmallMap, QemuMaps.TwoNodeDistances, cfg);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        ulong basePfn = pm->BasePfn.Value;
        ulong span = pm->GetTotals().SpanPages;
        var taken = new bool[span];
        var live = new List<Allocation>();
        var created = new List<(PoolId id, PoolId donor)>();
        ulong inUse = 0;
        int maxOrder = pm->MaxOrder;

        for (int op = 0; op < ops; op++)
        {
            int kind = rng.Next(100);
            string what = "";
            try
            {
                if (kind < 35)
                {
                    what = "allocate";
                    int order = rng.Next(4) == 0 ? rng.Next(maxOrder + 1) : rng.Next(Math.Min(3, maxOrder) + 1);
                    AllocRequest req = RandomRequest(rng, pm, out ulong lo, out ulong hi, out ulong align, out ulong boundary);
                    MemoryStatus s = pm->Allocate(new Order(order), req, out Pfn pfn);
                    if (s == MemoryStatus.OutOfMemory && !req.Pool.IsNone && !req.HasAddressRules && order == 0)
                    {
                        pm->GetPoolStats(req.Pool, out PoolStats stats);
                        Assert.True(stats.FreePages == 0, $"OutOfMemory with {stats.FreePages} free pages in pool {req.Pool.Value}");
                    }
                    if (s == MemoryStatus.Ok)
                    {
                        ulong pages = 1UL << order;
                        CheckPool(pm, pfn, req);
                        CheckRules(pfn, pages, lo, hi, align == 0 ? pages * 4096 : align, boundary);
                        Take(taken, basePfn, pfn, pages);
                        Assert.Equal(req.Owner, pm->OwnerOf(pfn));
                        live.Add(new Allocation { Pfn = pfn, Pages = pages, Order = order, Owner = req.Owner });
                        inUse += pages;
                    }
                    else
                        Assert.True(MemoryStatusKinds.KindOf(s) != FailureKind.Corruption, s.ToString());
                }
                else if (kind < 45)
                {
                    what = "allocate run";
                    ulong pages = (ulong)(rng.Next(3) == 0 ? rng.Next(1, 2000) : rng.Next(1, 40));
                    AllocRequest req = RandomRequest(rng, pm, out ulong lo, out ulong hi, out ulong align, out ulong boundary);
                    MemoryStatus s = pm->AllocateRun(pages, req, out Pfn pfn);
                    if (s == MemoryStatus.Ok)
                    {
                        CheckPool(pm, pfn, req);
                        CheckRules(pfn, pages, lo, hi, align, boundary);
                        Take(taken, basePfn, pfn, pages);
                        Assert.Equal(req.Owner, pm->OwnerOf(pfn));
                        live.Add(new Allocation { Pfn = pfn, Pages = pages, Order = -1, Owner = req.Owner });
                        inUse += pages;
                    }
                    else
                        Assert.True(MemoryStatusKinds.KindOf(s) != FailureKind.Corruption, s.ToString());
                }
                else if (kind < 80 && live.Count > 0)
                {
                    what = "free";
                    int i = rng.Next(live.Count);
                    Allocation a = live[i];
                    MemoryStatus s = a.Order >= 0 ? pm->Free(a.Pfn, new Order(a.Order), a.Owner) : pm->FreeRun(a.Pfn, a.Pages, a.Owner);
                    Assert.Equal(MemoryStatus.Ok, s);
                    Assert.Equal(FrameOwner.None, pm->OwnerOf(a.Pfn));
                    for (ulong p = 0; p < a.Pages; p++)
                        taken[a.Pfn.Value - basePfn + p] = false;
                    live[i] = live[^1];
                    live.RemoveAt(live.Count - 1);
                    inUse -= a.Pages;
                }
                else if (kind < 86)
                {
                    what = "bad free";
                    BadFree(rng, host, pm, live, taken, basePfn, span);
                }
                else if (kind < 88 && live.Count > 0)
                {
                    // Free an order-0 frame of a pool with a cache (it goes to the cache), then free it again.
                    what = "double free of a cached frame";
                    int i = live.FindIndex(a => a.Order == 0 && pm->_buddy.CacheOf(pm->PoolOf(a.Pfn).Value)->High != 0);
                    if (i >= 0)
                    {
                        Allocation a = live[i];
                        Assert.Equal(MemoryStatus.Ok, pm->Free(a.Pfn, new Order(0), a.Owner));
                        taken[a.Pfn.Value - basePfn] = false;
                        live[i] = live[^1];
                        live.RemoveAt(live.Count - 1);
                        inUse -= 1;
                        Assert.Equal(FrameKind.Cached, pm->KindOf(a.Pfn, out _));
                        byte[] before = host.Snapshot();
                        // Free, whoever asks: a cached frame has no owner to compare with.
                        Assert.Equal(MemoryStatus.AlreadyFree, pm->Free(a.Pfn, new Order(0), a.Owner));
                        Assert.Equal(MemoryStatus.AlreadyFree, pm->Free(a.Pfn, new Order(1), a.Owner));
                        Assert.Equal(MemoryStatus.AlreadyFree, pm->Free(a.Pfn, new Order(0), OtherOwner(rng, a.Owner)));
                        Assert.True(before.AsSpan().SequenceEqual(host.Snapshot()), "refused free of a cached frame changed metadata");
                    }
                    else
                    {
                        what = "drain caches";
                        ulong free = pm->GetTotals().FreePages;
                        pm->DrainCaches();
                        Assert.Equal(free, pm->GetTotals().FreePages);
                    }
                }
                else if (kind < 93)
                {
                    what = "create pool";
                    PoolId donor = RandomPool(rng, pm);
                    PoolProperties props = PoolProperties.Open("rnd");
                    props.Priority = (byte)rng.Next(3);
                    if (rng.Next(3) == 0)
                        props.OwnerMask = 1UL << rng.Next(3);
                    if (rng.Next(4) == 0)
                        props.Flags = PoolFlags.Reserved;
                    byte[] before = host.Snapshot();
                    MemoryStatus s = rng.Next(2) == 0
                        ? pm->CreatePool(props, donor, (ulong)rng.Next(1, 4), out PoolId id)
                        : pm->CreatePoolFromRange(props, new Pfn(basePfn + ((ulong)rng.Next((int)pm->PageblockCount) << pm->PageblockOrder)), (ulong)rng.Next(1, 3), out id);
                    if (s == MemoryStatus.Ok)
                        created.Add((id, donor));
                    else
                        UnchangedOrDrained(host, pm, before, s, donor, "refused pool creation");
                }
                else if (kind < 96 && created.Count > 0)
                {
                    what = "destroy pool";
                    int i = rng.Next(created.Count);
                    byte[] before = host.Snapshot();
                    MemoryStatus s = pm->DestroyPool(created[i].id);
                    if (s == MemoryStatus.Ok)
                        created.RemoveAt(i);
                    else
                    {
                        Assert.Equal(MemoryStatus.PoolInUse, s);
                        Assert.True(before.AsSpan().SequenceEqual(host.Snapshot()), "refused destroy changed metadata");
                    }
                }
                else
                {
                    what = "move page blocks";
                    PoolId from = RandomPool(rng, pm), to = RandomPool(rng, pm);
                    byte[] before = host.Snapshot();
                    MemoryStatus s = pm->MovePageblocks(from, to, (ulong)rng.Next(1, 3));
                    if (s != MemoryStatus.Ok)
                        UnchangedOrDrained(host, pm, before, s, from, "refused move");
                }

                InvariantReport report = pm->Check();
                Assert.True(report.IsOk, MemoryAssert.Describe(report));
                Assert.Equal(inUse, pm->GetTotals().InUsePages);
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException || !e.Message.StartsWith("op "))
            {
                throw new Xunit.Sdk.XunitException($"op {op} ({what}): {e.Message}");
            }
        }
    }

    /// <summary>
    /// A refused call changed nothing, except that a move refused for OutOfMemory may first have drained
    /// the source pool's frame cache (same free frames, merged); the checker after the operation covers the rest.
    /// </summary>
    private static void UnchangedOrDrained(HostPhysicalMemory host, PhysicalMemory* pm, byte[] before, MemoryStatus s, PoolId source, string what)
    {
        if (before.AsSpan().SequenceEqual(host.Snapshot()))
            return;
        Assert.True(s == MemoryStatus.OutOfMemory, $"{what} ({s}) changed metadata");
        pm->GetPoolStats(source, out PoolStats stats);
        Assert.True(stats.CachedPages == 0, $"{what} (OutOfMemory) changed metadata but left {stats.CachedPages} cached frames in pool {source.Value}");
    }

    private static PoolId RandomPool(Random rng, PhysicalMemory* pm)
    {
        var ids = new List<PoolId>();
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            ids.Add(id);
        return ids[rng.Next(ids.Count)];
    }

    private static AllocRequest RandomRequest(Random rng, PhysicalMemory* pm, out ulong lo, out ulong hi, out ulong align, out ulong boundary)
    {
        AllocRequest req = rng.Next(3) == 0 ? AllocRequest.InPool(RandomPool(rng, pm)) : AllocRequest.Any;
        lo = 0;
        hi = ulong.MaxValue;
        align = 0;
        boundary = 0;
        req.Owner = (byte)rng.Next(Owners);
        switch (rng.Next(7))
        {
            case 0:
                req.DmaAddressBits = 24;
                hi = (1UL << 24) - 1;
                break;
            case 1:
                boundary = 64 * 1024;
                req.Boundary = boundary;
                break;
            case 2:
                align = 1UL << rng.Next(12, 23);
                req.Alignment = align;
                break;
            case 3:
                lo = (ulong)rng.Next(0, 20) * MiB + (ulong)rng.Next(4096);
                hi = lo + (ulong)rng.Next(1, 6) * MiB - 1;
                req.Lowest = new PhysAddr(lo);
                req.Highest = new PhysAddr(hi);
                lo = (lo + 4095) & ~4095UL;
                break;
            case 4:
                req.PreferredNode = (byte)rng.Next(2);
                if (rng.Next(2) == 0)
                    req.Flags = RequestFlags.NodeStrict;
                break;
        }
        return req;
    }

    /// <summary>The result came from the named pool, or from a pool the choice rule may use, and the owner is allowed.</summary>
    private static void CheckPool(PhysicalMemory* pm, Pfn pfn, in AllocRequest req)
    {
        pm->GetPageblock((pfn.Value - pm->BasePfn.Value) >> pm->PageblockOrder, out PageblockUse use);
        pm->GetPoolProperties(use.Pool, out PoolProperties props);
        Assert.True(props.AllowsOwner(req.Owner), $"pool {use.Pool.Value} refuses owner {req.Owner}");
        if (!req.Pool.IsNone)
            Assert.Equal(req.Pool, use.Pool);
        else
        {
            Assert.True((props.Flags & PoolFlags.Reserved) == 0, "a reserved pool served an unnamed request");
            if ((req.Flags & RequestFlags.NodeStrict) != 0)
                Assert.True(((props.NodeMask >> req.PreferredNode) & 1) != 0, "NodeStrict request served off its node");
        }
    }

    private static void CheckRules(Pfn pfn, ulong pages, ulong lo, ulong hi, ulong align, ulong boundary)
    {
        ulong a = pfn.Address.Value, last = a + pages * 4096 - 1;
        Assert.True(a >= lo && last <= hi, $"[0x{a:x}, 0x{last:x}] outside [0x{lo:x}, 0x{hi:x}]");
        if (align != 0)
            Assert.True(a % align == 0, $"0x{a:x} not aligned to 0x{align:x}");
        if (boundary != 0)
            Assert.True(a / boundary == last / boundary, $"[0x{a:x}, 0x{last:x}] crosses 0x{boundary:x}");
    }

    private static void Take(bool[] taken, ulong basePfn, Pfn pfn, ulong pages)
    {
        for (ulong p = 0; p < pages; p++)
        {
            ulong i = pfn.Value - basePfn + p;
            Assert.False(taken[i], $"frame 0x{pfn.Value + p:x} handed out twice");
            taken[i] = true;
        }
    }

    private static void BadFree(Random rng, HostPhysicalMemory host, PhysicalMemory* pm, List<Allocation> live, bool[] taken, ulong basePfn, ulong span)
    {
        byte[] before = host.Snapshot();
        MemoryStatus s;
        int pick = rng.Next(5);
        if (pick == 0 && live.Count > 0)
        {
            Allocation a = live[rng.Next(live.Count)];
            s = a.Order >= 0 ? pm->Free(a.Pfn, new Order(a.Order == 0 ? 1 : a.Order - 1), a.Owner) : pm->FreeRun(a.Pfn, a.Pages + 1, a.Owner);
        }
        else if (pick == 4 && live.Count > 0)
        {
            // Another owner frees a live block or run, with its right order or length or not: NotOwner.
            Allocation a = live[rng.Next(live.Count)];
            byte other = OtherOwner(rng, a.Owner);
            bool exact = rng.Next(2) == 0;
            s = a.Order >= 0 ? pm->Free(a.Pfn, new Order(exact ? a.Order : (a.Order + 1) % (pm->MaxOrder + 1)), other)
                             : pm->FreeRun(a.Pfn, exact ? a.Pages : a.Pages + 1, other);
            Assert.Equal(MemoryStatus.NotOwner, s);
            Assert.Equal(a.Owner, pm->OwnerOf(a.Pfn));
        }
        else if (pick == 1 && live.Count > 0)
        {
            // A frame inside an allocation that is not its head.
            Allocation a = live[rng.Next(live.Count)];
            if (a.Pages == 1)
                return;
            s = pm->Free(a.Pfn.Plus(1), new Order(0), a.Owner);
        }
        else if (pick == 2)
        {
            // A frame the model says is not handed out.
            ulong i = (ulong)rng.NextInt64((long)span);
            if (taken[i])
                return;
            s = pm->Free(new Pfn(basePfn + i), new Order(0), (byte)rng.Next(Owners));
        }
        else
            s = pm->Free(new Pfn(basePfn + span + (ulong)rng.Next(1000)), new Order(0), (byte)rng.Next(Owners));
        Assert.Equal(FailureKind.CallerError, MemoryStatusKinds.KindOf(s));
        Assert.True(before.AsSpan().SequenceEqual(host.Snapshot()), $"refused free ({s}) changed metadata");
    }

    /// <summary>An owner other than <paramref name="owner"/>: one of the others in use, or any id up to 255 (above 63 no block can record).</summary>
    private static byte OtherOwner(Random rng, byte owner)
    {
        byte other = (byte)(rng.Next(3) == 0 ? rng.Next(256) : rng.Next(Owners));
        return other == owner ? (byte)((owner + 1) % Owners) : other;
    }
}
