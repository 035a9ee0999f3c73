using System.Runtime.InteropServices;
using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using static PoolKernel.Tests.Memory.ContainerHelpers;
using Xunit.Abstractions;
using MemorySpinLock = PoolKernel.Memory.SpinLock;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Containers (Kernel.Memory/Owners): an owner number with a quota, a guarantee pool and permitted
/// pools, accounted on every allocation path. Scenarios: creation carves the guarantee and writes the
/// permissions into the owner masks, destruction gives everything back; a refusal over the quota
/// says so and changes nothing; every cross-owner misuse is refused with nothing changed; seeded
/// random operations from several owners keep every container's counts equal to its blocks (the
/// checker's step 9, after every operation) and destroy leak-free; the quota under threads; pressure
/// takes memory above guarantees back, biggest holder first, never a guarantee.
/// Longer random runs: POOLKERNEL_CONTAINERS_SEEDS / _OPS; replay: POOLKERNEL_CONTAINERS_SEED.
/// </summary>
public unsafe class ContainerTests
{
    private const ulong MiB = 1UL << 20;
    private const byte Kernel = 0, Web = 10, Db = 11, Batch = 12, Plain = 5;
    private readonly ITestOutputHelper _output;

    public ContainerTests(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// Destroying a container while another CPU allocates and frees as it: the destruction closes the quota,
    /// waits for the reservations in flight and frees what is left, every round Ok (before, a block that
    /// landed after the frees left its count behind: Corruption, or a block of the owner after destroy).
    /// The allocating CPU's frees may be refused where the destruction freed its block first. Also caught the
    /// slow free's order-0 branch without a claim (two CPUs freeing one frame: on the lists and in a cache).
    /// </summary>
    [Fact]
    public void DestroyWithAllocationsInFlightOnAnotherCpu_FreesEverythingEveryRound()
    {
        HostCpus.Enter(0);
        using HostPhysicalMemory host = QemuMaps.Boot("q35", 256 * MiB, 2, HostCpus.Config(2));
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        void* table = NativeMemory.AlignedAlloc((nuint)PhysicalMemory.ContainerTableBytes, 64);
        try
        {
            Assert.Equal(MemoryStatus.Ok, pm->AttachContainers(table, PhysicalMemory.ContainerTableBytes, Kernel));
            for (int round = 0; round < 40; round++)
            {
                Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 64, 0)));
                int stop = 0, started = 0;
                string failure = null;
                var cpu1 = new Thread(() =>
                {
                    HostCpus.Enter(1);
                    var mine = new Queue<(Pfn pfn, int order)>();
                    var rng = new Random(round);
                    Volatile.Write(ref started, 1);
                    while (Volatile.Read(ref stop) == 0 || mine.Count > 0)
                    {
                        if (Volatile.Read(ref stop) == 0 && mine.Count < 16)
                        {
                            int order = rng.Next(3);
                            MemoryStatus s = pm->Allocate(new Order(order), As(AllocRequest.Any, Web), out Pfn pfn);
                            if (s == MemoryStatus.Ok)
                                mine.Enqueue((pfn, order));
                            else if (s != MemoryStatus.QuotaExceeded)
                                failure ??= $"round {round}: allocate {s}";
                        }
                        else
                        {
                            (Pfn pfn, int order) = mine.Dequeue();
                            MemoryStatus s = pm->Free(pfn, new Order(order), Web);
                            // Refusals where the destruction freed the block first (and maybe this CPU got its
                            // frames again since, as another block: WrongOrder); never anything else.
                            if (s != MemoryStatus.Ok && s != MemoryStatus.AlreadyFree && s != MemoryStatus.NotAllocated && s != MemoryStatus.WrongOrder)
                                failure ??= $"round {round}: free {s}";
                        }
                    }
                });
                cpu1.Start();
                while (Volatile.Read(ref started) == 0)
                    Thread.Yield();
                Thread.SpinWait(20000 * (round % 8 + 1));
                MemoryStatus destroyed = pm->DestroyContainer(Web);
                Volatile.Write(ref stop, 1);
                cpu1.Join();
                Assert.Equal(MemoryStatus.Ok, destroyed);
                Assert.True(failure == null, failure);
                Assert.False(pm->IsContainer(Web));
                Assert.Equal(0UL, OwnedPages(pm, Web));
                MemoryAssert.Consistent(pm);
            }
        }
        finally
        {
            NativeMemory.AlignedFree(table);
        }
    }

    private static ulong OwnedPages(PhysicalMemory* pm, byte owner)
    {
        ulong* pages = stackalloc ulong[FrameOwner.Count];
        pm->GetOwnerPages(pages);
        return pages[owner];
    }

    private static AllocRequest As(AllocRequest request, byte owner)
    {
        request.Owner = owner;
        return request;
    }

    private static ulong[] OwnerMasks(PhysicalMemory* pm)
    {
        var masks = new List<ulong>();
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
        {
            pm->GetPoolProperties(id, out PoolProperties p);
            masks.Add(id.Value | (ulong)p.OwnerMask);
            masks.Add(p.OwnerMask);
        }
        return masks.ToArray();
    }

    [Fact]
    public void CreationCarvesTheGuaranteeAndWritesPermissionsAndDestroyGivesItAllBack()
    {
        using var m = new ContainerMachine();
        PhysicalMemory* pm = m.Pm;
        PoolId node0 = MemoryAssert.FindPool(pm, "node0-dma32"), node1 = MemoryAssert.FindPool(pm, "node1-dma32");
        ulong[] masksBefore = OwnerMasks(pm);
        MemoryTotals before = pm->GetTotals();

        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 2055, 300, node1)));
        MemoryAssert.Consistent(pm);
        ContainerUsage u = Usage(pm, Web);
        Assert.Equal(512UL, u.GuaranteePages); // 300 pages rounded up to one 2 MiB page block
        PoolId guarantee = MemoryAssert.FindPool(pm, "web");
        Assert.Equal(guarantee, u.GuaranteePool);
        pm->GetPoolProperties(guarantee, out PoolProperties gp);
        Assert.Equal(1UL << Web, gp.OwnerMask);
        Assert.Equal(512UL, gp.MinimumPages);
        Assert.True(pm->FindContainer(PoolName.From("web"), out byte found) && found == Web);

        // Not permitted: node0's pool (named) refuses; by choice it is never used.
        Assert.Equal(MemoryStatus.OwnerRefused, pm->Allocate(new Order(0), As(AllocRequest.InPool(node0), Web), out _));
        // By choice the guarantee pool comes first, then the permitted node-1 pool.
        for (int i = 0; i < 1024; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(1), As(AllocRequest.Any, Web), out Pfn p));
            PoolId where = pm->PoolOf(p);
            Assert.True(where == (i < 256 ? guarantee : node1), $"block {i} in pool {where.Value}");
        }
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(7, As(AllocRequest.Any, Web), out Pfn run));
        MemoryAssert.Consistent(pm);
        u = Usage(pm, Web);
        Assert.Equal(2055UL, u.HeldPages);
        Assert.Equal(2055UL, u.PeakPages);
        Assert.Equal(2055UL - 512, u.AboveGuaranteePages);
        Assert.Equal(MemoryStatus.QuotaExceeded, pm->Allocate(new Order(0), As(AllocRequest.Any, Web), out _));
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerHeld(Kernel, Web, guarantee.Value, false, out ulong inGuarantee));
        Assert.Equal(512UL, inGuarantee);
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerHeld(Kernel, Web, 1, true, out ulong onNode1));
        Assert.True(onNode1 >= 2055 - 512, $"node 1: {onNode1}"); // the node-1 pool's pages...
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerHeld(Kernel, Web, 0, true, out ulong onNode0));
        Assert.Equal(2055UL, onNode0 + onNode1); // ...and the guarantee's page block is on whichever node its donor was

        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        MemoryAssert.Consistent(pm);
        Assert.False(pm->IsContainer(Web));
        Assert.True(MemoryAssert.FindPool(pm, "web").IsNone);
        Assert.Equal(masksBefore, OwnerMasks(pm));
        MemoryTotals after = pm->GetTotals();
        Assert.Equal(before.InUsePages, after.InUsePages);
        Assert.Equal(before.LivePools, after.LivePools);
        Assert.Equal(MemoryStatus.InvalidArgument, pm->GetContainerUsage(Kernel, Web, out _));
        // The owner number is an ordinary owner again: nothing limits or counts it.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.InPool(node0), Web), out Pfn plain));
        Assert.Equal(MemoryStatus.Ok, pm->Free(plain, new Order(0), Web));
        _ = run;
    }

    [Fact]
    public void BadSpecificationsAreRefusedWithNothingChanged()
    {
        using var m = new ContainerMachine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Plain), out Pfn held));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 100, 0)));
        (ContainerSpec spec, MemoryStatus why)[] bad =
        {
            (Spec("x", Kernel, 100, 0), MemoryStatus.InvalidArgument),      // the supervisor
            (Spec("x", 64, 100, 0), MemoryStatus.InvalidArgument),          // no such owner number
            (Spec("x", Db, 100, 0), MemoryStatus.InvalidArgument),          // already a container
            (Spec("db", Web, 100, 0), MemoryStatus.InvalidArgument),        // name in use
            (Spec("", Web, 100, 0), MemoryStatus.InvalidArgument),          // no name
            (Spec("x", Web, 0, 0), MemoryStatus.InvalidArgument),           // no quota
            (Spec("x", Web, 1UL << 31, 0), MemoryStatus.InvalidArgument),   // above 2^31 - 1
            (Spec("x", Web, 100, 101), MemoryStatus.InvalidArgument),       // guarantee above quota
            (Spec("x", Web, 500, 300), MemoryStatus.InvalidArgument),       // rounded guarantee (512) above quota
            (Spec("x", Plain, 100, 0), MemoryStatus.PagesInUse),            // the owner holds a block
            (Spec("x", Web, 1UL << 30, 1UL << 30), MemoryStatus.OutOfMemory), // too few free page blocks
        };
        foreach ((ContainerSpec spec, MemoryStatus why) in bad)
        {
            ContainerSpec s = spec;
            MemoryAssert.Refused(m.Host, why, () => pm->CreateContainer(s));
        }
        MemoryAssert.Refused(m.Host, MemoryStatus.InvalidArgument, () => pm->DestroyContainer(Web));
        Assert.Equal(MemoryStatus.Ok, pm->Free(held, new Order(0), Plain));
    }

    [Fact]
    public void AnAllocationOverTheQuotaIsRefusedAsQuotaAndChangesNothingButTheCount()
    {
        using var m = new ContainerMachine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 10, 0)));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(3), As(AllocRequest.Any, Web), out Pfn eight));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Web), out Pfn one));
        MemoryAssert.Refused(m.Host, MemoryStatus.QuotaExceeded, () => pm->Allocate(new Order(1), As(AllocRequest.Any, Web), out _));
        MemoryAssert.Refused(m.Host, MemoryStatus.QuotaExceeded, () => pm->AllocateRun(2, As(AllocRequest.Any, Web), out _));
        MemoryAssert.Refused(m.Host, MemoryStatus.QuotaExceeded, () => pm->Allocate(new Order(1), As(AllocRequest.Dma(32), Web), out _));
        ContainerUsage u = Usage(pm, Web);
        Assert.Equal(9UL, u.HeldPages);
        Assert.Equal(3UL, u.Failures[(int)ContainerFailure.Quota]);
        // The last page fits; then the quota is full.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Web), out Pfn last));
        MemoryAssert.Refused(m.Host, MemoryStatus.QuotaExceeded, () => pm->Allocate(new Order(0), As(AllocRequest.Any, Web), out _));
        Assert.Equal(MemoryStatus.Ok, pm->Free(eight, new Order(3), Web));
        Assert.Equal(2UL, Usage(pm, Web).HeldPages);
        Assert.Equal(10UL, Usage(pm, Web).PeakPages);
        Assert.Equal(MemoryStatus.Ok, pm->Free(one, new Order(0), Web));
        Assert.Equal(MemoryStatus.Ok, pm->Free(last, new Order(0), Web));
        MemoryAssert.Consistent(pm);
        Assert.Equal(FailureKind.QuotaExceeded, MemoryStatusKinds.KindOf(MemoryStatus.QuotaExceeded));
    }

    [Fact]
    public void EveryCrossOwnerMisuseIsRefusedWithNothingChanged()
    {
        using var m = new ContainerMachine();
        PhysicalMemory* pm = m.Pm;
        PoolId node0 = MemoryAssert.FindPool(pm, "node0-dma32");
        PoolId node1 = MemoryAssert.FindPool(pm, "node1-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 4096, 512, node1)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 4096, 0, node0)));
        PoolId webPool = Usage(pm, Web).GuaranteePool;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Web), out Pfn frame));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), As(AllocRequest.Any, Web), out Pfn block));
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(5, As(AllocRequest.Any, Web), out Pfn run));
        ContainerUsage web = Usage(pm, Web), db = Usage(pm, Db);

        // Another container, a plain owner, the supervisor: none frees the container's blocks.
        foreach (byte other in new[] { Db, Plain, Kernel })
        {
            MemoryAssert.Refused(m.Host, MemoryStatus.NotOwner, () => pm->Free(frame, new Order(0), other));
            MemoryAssert.Refused(m.Host, MemoryStatus.NotOwner, () => pm->Free(block, new Order(2), other));
            MemoryAssert.Refused(m.Host, MemoryStatus.NotOwner, () => pm->FreeRun(run, 5, other));
        }
        // Nor allocates from its guarantee pool, nor from a pool it is not permitted.
        MemoryAssert.Refused(m.Host, MemoryStatus.OwnerRefused, () => pm->Allocate(new Order(0), As(AllocRequest.InPool(webPool), Db), out _));
        MemoryAssert.Refused(m.Host, MemoryStatus.OwnerRefused, () => pm->Allocate(new Order(0), As(AllocRequest.InPool(webPool), Plain), out _));
        MemoryAssert.Refused(m.Host, MemoryStatus.OwnerRefused, () => pm->Allocate(new Order(0), As(AllocRequest.InPool(node1), Db), out _));
        MemoryAssert.Refused(m.Host, MemoryStatus.OwnerRefused, () => pm->AllocateRun(3, As(AllocRequest.InPool(node0), Web), out _));
        // Nor reads another's accounting (the supervisor and the container itself may).
        Assert.Equal(MemoryStatus.NotOwner, pm->GetContainerUsage(Db, Web, out _));
        Assert.Equal(MemoryStatus.NotOwner, pm->GetContainerUsage(Plain, Web, out _));
        Assert.Equal(MemoryStatus.NotOwner, pm->GetContainerHeld(Db, Web, webPool.Value, false, out _));
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerUsage(Web, Web, out _));

        ContainerUsage webAfter = Usage(pm, Web), dbAfter = Usage(pm, Db);
        Assert.Equal(web.HeldPages, webAfter.HeldPages);
        Assert.Equal(db.HeldPages, dbAfter.HeldPages);
        Assert.Equal(2UL, dbAfter.Failures[(int)ContainerFailure.NotPermitted]);
        Assert.Equal(1UL, webAfter.Failures[(int)ContainerFailure.NotPermitted]);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Db));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void TheCheckerFindsACountThatDisagreesWithTheBlocks()
    {
        using var m = new ContainerMachine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 64, 0)));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), As(AllocRequest.Any, Web), out Pfn block));
        MemoryAssert.Consistent(pm);
        pm->_containers[Web]._held++;
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.ContainerHeld, r.Code);
        Assert.Equal(4UL, r.Expected);
        Assert.Equal(5UL, r.Actual);
        pm->_containers[Web]._held--;
        pm->_containers[Web]._heldInPool[pm->PoolOf(block).Value]--;
        pm->_containers[Web]._heldInPool[PoolId.MaxIds - 1]++;
        Assert.Equal(InvariantCode.ContainerPoolHeld, pm->Check().Code);
        pm->_containers[Web]._heldInPool[pm->PoolOf(block).Value]++;
        pm->_containers[Web]._heldInPool[PoolId.MaxIds - 1]--;
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// Seeded random operations from three containers (one with a guarantee, two limited to some
    /// pools) and a plain owner: blocks of orders 0-3 and runs, named or by choice, with DMA rules
    /// sometimes, frees of own and of others' blocks (refused with NotOwner), occasional destroy and
    /// re-create. After every operation the checker (whose step 9 compares each container's counts
    /// with its blocks, per pool and per node) is clean, and each container holds exactly what the
    /// test gave it, never above its quota. At the end every container is destroyed and the machine
    /// holds what it held before (leak-free).
    /// </summary>
    [Fact]
    public void SeededOperationsFromSeveralOwnersKeepTheCountsEqualToTheBlocks()
    {
        SeededRuns.Run(_output, "container operations", "POOLKERNEL_CONTAINERS", 8, 1500, RunSeed);
    }

    private static void RunSeed(int seed, int ops)
    {
        var rng = new Random(seed);
        using var m = new ContainerMachine();
        PhysicalMemory* pm = m.Pm;
        PoolId node0 = MemoryAssert.FindPool(pm, "node0-dma32"), node1 = MemoryAssert.FindPool(pm, "node1-dma32");
        MemoryTotals before = pm->GetTotals();
        ulong[] masksBefore = OwnerMasks(pm);
        byte[] owners = { Web, Db, Batch, Plain };
        ContainerSpec[] specs = { Spec("web", Web, 1200, 512), Spec("db", Db, 300, 0, node0), Spec("batch", Batch, 700, 0, node1) };
        var held = new List<(Pfn pfn, ulong pages, bool run, byte owner)>();
        var live = new bool[64];
        foreach (ContainerSpec s in specs)
        {
            Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(s));
            live[s.Owner] = true;
        }
        for (int op = 0; op < ops; op++)
        {
            int what = rng.Next(100);
            byte owner = owners[rng.Next(owners.Length)];
            if (what < 50)
            {
                AllocRequest r = rng.Next(4) switch
                {
                    0 => AllocRequest.InPool(rng.Next(2) == 0 ? node0 : node1),
                    1 => AllocRequest.Dma(32),
                    _ => AllocRequest.Any,
                };
                r.Owner = owner;
                bool run = rng.Next(5) == 0;
                ulong pages = run ? (ulong)rng.Next(1, 20) : 1UL << rng.Next(4);
                MemoryStatus st = run ? pm->AllocateRun(pages, r, out Pfn p)
                    : pm->Allocate(new Order(System.Numerics.BitOperations.Log2(pages)), r, out p);
                if (st == MemoryStatus.Ok)
                    held.Add((p, pages, run, owner));
                else
                    Assert.True(st == MemoryStatus.QuotaExceeded || st == MemoryStatus.OwnerRefused || st == MemoryStatus.OutOfMemory,
                        $"op {op}: {st}");
            }
            else if (what < 90 && held.Count > 0)
            {
                int i = rng.Next(held.Count);
                var h = held[i];
                // Sometimes another owner tries first: refused.
                byte other = owners[rng.Next(owners.Length)];
                if (other != h.owner)
                    Assert.Equal(MemoryStatus.NotOwner, h.run ? pm->FreeRun(h.pfn, h.pages, other)
                        : pm->Free(h.pfn, new Order(System.Numerics.BitOperations.Log2(h.pages)), other));
                Assert.Equal(MemoryStatus.Ok, h.run ? pm->FreeRun(h.pfn, h.pages, h.owner)
                    : pm->Free(h.pfn, new Order(System.Numerics.BitOperations.Log2(h.pages)), h.owner));
                held[i] = held[^1];
                held.RemoveAt(held.Count - 1);
            }
            else if (what >= 97)
            {
                ContainerSpec s = specs[rng.Next(specs.Length)];
                if (live[s.Owner])
                {
                    Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(s.Owner));
                    held.RemoveAll(h => h.owner == s.Owner);
                    live[s.Owner] = false;
                }
                else if (!held.Exists(h => h.owner == s.Owner))
                {
                    Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(s));
                    live[s.Owner] = true;
                }
            }
            InvariantReport report = pm->Check();
            Assert.True(report.IsOk, $"op {op}: {MemoryAssert.Describe(report)}");
            foreach (ContainerSpec s in specs)
            {
                if (!live[s.Owner])
                    continue;
                ulong mine = 0;
                foreach (var h in held)
                    if (h.owner == s.Owner)
                        mine += h.pages;
                ContainerUsage u = Usage(pm, s.Owner);
                Assert.Equal(mine, u.HeldPages);
                Assert.True(u.HeldPages <= u.QuotaPages);
            }
        }
        // Blocks of owners that are not containers now (the plain owner, a destroyed container's number) are freed by hand.
        foreach (var h in held.Where(h => !live[h.owner]))
            Assert.Equal(MemoryStatus.Ok, h.run ? pm->FreeRun(h.pfn, h.pages, h.owner)
                : pm->Free(h.pfn, new Order(System.Numerics.BitOperations.Log2(h.pages)), h.owner));
        foreach (ContainerSpec s in specs)
            if (live[s.Owner])
                Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(s.Owner));
        MemoryAssert.Consistent(pm);
        Assert.True(before.InUsePages == pm->GetTotals().InUsePages, $"in use {before.InUsePages} before, {pm->GetTotals().InUsePages} after");
        Assert.Equal(before.LivePools, pm->GetTotals().LivePools);
        Assert.Equal(masksBefore, OwnerMasks(pm));
    }

    /// <summary>
    /// The kernel's shape: threads allocate for one container behind one lock around each call (main's
    /// Kernel.Memory is serialised by its caller). Each thread allocates until refused with
    /// QuotaExceeded: together they hold exactly the quota, never more, and the checker agrees.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void ThreadsAllocatingForOneContainerStopExactlyAtTheQuota(int threads)
    {
        using var m = new ContainerMachine();
        PhysicalMemory* pm = m.Pm;
        const ulong Quota = 3000;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, Quota, 512)));
        MemorySpinLock* lockWord = (MemorySpinLock*)NativeMemory.AllocZeroed((nuint)sizeof(MemorySpinLock));
        var got = new ulong[threads];
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int me = t;
            workers[t] = new Thread(() =>
            {
                var rng = new Random(me + 1);
                while (true)
                {
                    int order = rng.Next(3);
                    ulong state = lockWord->Acquire();
                    MemoryStatus st = pm->Allocate(new Order(order), As(AllocRequest.Any, Web), out _);
                    lockWord->Release(state);
                    if (st == MemoryStatus.QuotaExceeded && order == 0)
                        return;
                    if (st == MemoryStatus.Ok)
                        got[me] += 1UL << order;
                    else
                        Assert.Equal(MemoryStatus.QuotaExceeded, st);
                }
            });
            workers[t].Start();
        }
        foreach (Thread w in workers)
            w.Join();
        NativeMemory.Free(lockWord);
        Assert.Equal(Quota, got.Aggregate(0UL, (a, b) => a + b));
        Assert.Equal(Quota, Usage(pm, Web).HeldPages);
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// The counter logic alone under threads, with no lock at all (what a per-pool lock leaves it
    /// to): threads reserve pages on one count with a limit, sometimes give them back, and sample it;
    /// no sample is ever above the limit and the count ends at what the threads kept.
    /// </summary>
    [Fact]
    public void TheQuotaCounterNeverPassesItsLimitUnderThreadsWithoutALock()
    {
        const int Limit = 1000, Threads = 4, Steps = 200_000;
        int* count = (int*)NativeMemory.AllocZeroed(64);
        var kept = new long[Threads];
        int over = 0;
        var workers = new Thread[Threads];
        for (int t = 0; t < Threads; t++)
        {
            int me = t;
            workers[t] = new Thread(() =>
            {
                var rng = new Random(me + 7);
                long mine = 0;
                for (int i = 0; i < Steps; i++)
                {
                    int pages = 1 << rng.Next(4);
                    if (AtomicCount.TryReserve(count, pages, Limit))
                    {
                        mine += pages;
                        if (rng.Next(2) == 0)
                        {
                            AtomicCount.Add(count, -pages);
                            mine -= pages;
                        }
                    }
                    else if (mine > 0 && rng.Next(3) == 0)
                    {
                        int back = (int)Math.Min(mine, 8);
                        AtomicCount.Add(count, -back);
                        mine -= back;
                    }
                    if (Volatile.Read(ref *count) > Limit)
                        Interlocked.Increment(ref over);
                }
                kept[me] = mine;
            });
            workers[t].Start();
        }
        foreach (Thread w in workers)
            w.Join();
        Assert.Equal(0, over);
        Assert.Equal(kept.Sum(), *count);
        NativeMemory.Free(count);
    }

    /// <summary>What each hook call asked for, and the blocks each container holds, for <see cref="PressureTakesMemoryAboveGuaranteesBackBiggestHolderFirst"/>.</summary>
    private static readonly List<(byte owner, byte pool, ulong pages)> s_asked = new();
    private static Dictionary<byte, List<Pfn>> s_blocks;
    private static PhysicalMemory* s_pm;

    private static ulong FreeSome(void* context, byte owner, PoolId pool, ulong pages)
    {
        s_asked.Add((owner, pool.Value, pages));
        ulong freed = 0;
        List<Pfn> mine = s_blocks[owner];
        for (int i = mine.Count - 1; i >= 0 && freed < pages; i--)
        {
            // Asked for a pool: only what is there. Asked with None (the kernel's out-of-memory path): anything but the guarantee pool.
            PoolId at = s_pm->PoolOf(mine[i]);
            if (pool.IsNone ? at == Usage(s_pm, owner).GuaranteePool : at != pool)
                continue;
            Assert.Equal(MemoryStatus.Ok, s_pm->Free(mine[i], new Order(0), owner));
            mine.RemoveAt(i);
            freed++;
        }
        return freed;
    }

    /// <summary>
    /// The kernel's out-of-memory path asks with no pool (<see cref="PoolId.None"/>): the victims are ranked by
    /// what they hold above their guarantee over all pools, not by what they hold (web holds most, but
    /// only 100 above its guarantee; db's 150 are all above its zero guarantee, so db is asked first),
    /// each asked for at most that, and web's guarantee pool keeps every page.
    /// </summary>
    [Fact]
    public void PressureFromAnyPool_RanksByPagesAboveTheGuarantee_AndNeverBreaksIt()
    {
        using var m = new ContainerMachine();
        PhysicalMemory* pm = m.Pm;
        PoolId node1 = MemoryAssert.FindPool(pm, "node1-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 4096, 512, node1)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 4096, 0)));
        PoolId webPool = Usage(pm, Web).GuaranteePool;
        s_pm = pm;
        s_asked.Clear();
        s_blocks = new() { [Web] = new(), [Db] = new() };
        for (int i = 0; i < 612; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Web), out Pfn p));
            s_blocks[Web].Add(p);
        }
        for (int i = 0; i < 150; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Db), out Pfn p));
            s_blocks[Db].Add(p);
        }
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerHeld(Kernel, Web, webPool.Value, false, out ulong inGuarantee));
        Assert.Equal(512UL, inGuarantee);
        ReclaimHook hook;
        hook.Function = &FreeSome;
        hook.Context = null;
        Assert.Equal(MemoryStatus.Ok, pm->SetReclaimHook(Web, hook));
        Assert.Equal(MemoryStatus.Ok, pm->SetReclaimHook(Db, hook));

        Assert.Equal(250UL, pm->ReclaimAboveGuarantees(PoolId.None, 1000));
        Assert.Equal(new[] { (Db, PoolId.None.Value, 150UL), (Web, PoolId.None.Value, 100UL) }, s_asked.ToArray());
        Assert.Equal(512UL, Usage(pm, Web).HeldPages);
        Assert.Equal(0UL, Usage(pm, Web).AboveGuaranteePages);
        Assert.Equal(0UL, Usage(pm, Db).HeldPages);
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerHeld(Kernel, Web, webPool.Value, false, out inGuarantee));
        Assert.Equal(512UL, inGuarantee);
        MemoryAssert.Consistent(pm);
        // Nothing above any guarantee is left: a second call asks no one.
        s_asked.Clear();
        Assert.Equal(0UL, pm->ReclaimAboveGuarantees(PoolId.None, 10));
        Assert.Empty(s_asked);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Db));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void PressureTakesMemoryAboveGuaranteesBackBiggestHolderFirst()
    {
        using var m = new ContainerMachine();
        PhysicalMemory* pm = m.Pm;
        PoolId node1 = MemoryAssert.FindPool(pm, "node1-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 4096, 512, node1)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 4096, 0, node1)));
        PoolId webPool = Usage(pm, Web).GuaranteePool;
        s_pm = pm;
        s_asked.Clear();
        s_blocks = new() { [Web] = new(), [Db] = new() };
        // web: its whole guarantee plus 100 pages above it in node1; db: 60 pages in node1.
        for (int i = 0; i < 612; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Web), out Pfn p));
            s_blocks[Web].Add(p);
        }
        for (int i = 0; i < 60; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Db), out Pfn p));
            s_blocks[Db].Add(p);
        }
        Assert.Equal(100UL, Usage(pm, Web).AboveGuaranteePages);
        ReclaimHook hook;
        hook.Function = &FreeSome;
        hook.Context = null;
        Assert.Equal(MemoryStatus.Ok, pm->SetReclaimHook(Web, hook));
        Assert.Equal(MemoryStatus.Ok, pm->SetReclaimHook(Db, hook));

        // 130 pages wanted in node1: web (100 there) is asked first for all it holds there, then db for the rest.
        Assert.Equal(130UL, pm->ReclaimAboveGuarantees(node1, 130));
        Assert.Equal(new[] { (Web, node1.Value, 100UL), (Db, node1.Value, 30UL) }, s_asked.ToArray());
        Assert.Equal(512UL, Usage(pm, Web).HeldPages);
        Assert.Equal(0UL, Usage(pm, Web).AboveGuaranteePages);
        Assert.Equal(30UL, Usage(pm, Db).HeldPages);
        MemoryAssert.Consistent(pm);
        // The guarantee is never a victim: pressure on web's own pool asks no one.
        s_asked.Clear();
        Assert.Equal(0UL, pm->ReclaimAboveGuarantees(webPool, 512));
        Assert.Empty(s_asked);
        Assert.Equal(512UL, Usage(pm, Web).HeldPages);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Db));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// The heap's pages are one of the allocation paths a quota covers: a heap that allocates as a
    /// container (its owner) fails with OutOfMemory when the quota is reached, LastFailure keeping the
    /// pools' own answer (QuotaExceeded); the heap holds at most the quota, both checkers agree, and
    /// after its objects are freed and its empty slabs trimmed the container holds nothing.
    /// </summary>
    [Fact]
    public void AHeapAllocatingAsAContainerStopsAtItsQuota()
    {
        const byte HeapOwner = 13;
        const ulong Quota = 64;
        void* table = NativeMemory.AlignedAlloc((nuint)PhysicalMemory.ContainerTableBytes, 64);
        using (var heap = new HostHeap(QemuMaps.Boot("q35", 256 * MiB, 2), HeapOwner))
        {
            PhysicalMemory* pm = heap.Memory;
            Assert.Equal(MemoryStatus.Ok, pm->AttachContainers(table, PhysicalMemory.ContainerTableBytes, Kernel));
            Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("heap", HeapOwner, Quota, 0)));
            var objects = new List<IntPtr>();
            while (true)
            {
                void* p = heap.Heap->Alloc(3 * 4096, 8, 0);
                if (p == null)
                    break;
                objects.Add((IntPtr)p);
                Assert.True(objects.Count <= (int)Quota, "the heap outgrew the quota");
            }
            Assert.Equal(HeapStatus.OutOfMemory, heap.Heap->LastFailure.Status);
            Assert.Equal(MemoryStatus.QuotaExceeded, heap.Heap->LastFailure.MemoryStatus);
            Assert.Equal(Quota / 3 * 3, Usage(pm, HeapOwner).HeldPages);
            MemoryAssert.Consistent(pm);
            Assert.True(heap.Heap->Check().IsOk, HostHeap.Describe(heap.Heap->Check()));
            // Small objects take slabs under the same quota: they fill what is left, then stop the same way.
            while (true)
            {
                void* p = heap.Heap->Alloc(64, 8, 0);
                if (p == null)
                    break;
                objects.Add((IntPtr)p);
                Assert.True(objects.Count < 100_000, "small objects without end");
            }
            Assert.Equal(MemoryStatus.QuotaExceeded, heap.Heap->LastFailure.MemoryStatus);
            Assert.True(Usage(pm, HeapOwner).HeldPages <= Quota);
            MemoryAssert.Consistent(pm);
            foreach (IntPtr p in objects)
                Assert.Equal(HeapStatus.Ok, heap.Heap->Free((void*)p));
            heap.Heap->Trim();
            Assert.Equal(0UL, Usage(pm, HeapOwner).HeldPages);
            Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(HeapOwner));
            MemoryAssert.Consistent(pm);
        }
        NativeMemory.AlignedFree(table);
    }
}
