using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using MemorySpinLock = PoolKernel.Memory.SpinLock;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Kernel.Memory under real threads, with nothing around its calls: the instance takes its own locks
/// (a lock a pool, the pool table's; docs/smp.md), and each thread is a CPU of its own
/// (<see cref="HostCpus"/>). N threads (2, 4, 8) of seeded random page operations over one
/// <see cref="PhysicalMemory"/> (q35, 256 MiB, two nodes), on the shared pools and on pools of
/// their own created for the run, frees of blocks other threads allocated (through a shared exchange
/// array of atomically swapped slots) included, while other threads create, grow, shrink and destroy
/// pools. While a block is held, a shared page map (atomic flags) proves no page is handed out twice;
/// the checker runs meanwhile (it takes every lock); afterwards it is clean and every page is free
/// again. And: two threads freeing the same block at once, exactly one is refused. Longer runs:
/// POOLKERNEL_THREADS_SEEDS, POOLKERNEL_THREADS_OPS; replay one seed: POOLKERNEL_THREADS_SEED.
/// </summary>
public unsafe class ConcurrentOperationsTests
{
    private readonly ITestOutputHelper _output;

    public ConcurrentOperationsTests(ITestOutputHelper output) => _output = output;

    /// <summary>The pools for <paramref name="cpus"/> CPUs (threads), and a page map.</summary>
    private sealed class SharedMemory : IDisposable
    {
        private readonly HostPhysicalMemory _host;

        public PhysicalMemory* Memory => _host.Memory;
        /// <summary>One flag a page of the span: 1 while some thread holds it, set and cleared atomically.</summary>
        public readonly int[] Taken;

        public SharedMemory(int cpus, ulong bytes = 256UL << 20, int nodes = 2)
        {
            _host = QemuMaps.Boot("q35", bytes, nodes, HostCpus.Config(cpus));
            Assert.Equal(MemoryStatus.Ok, _host.InitStatus);
            Taken = new int[Memory->GetTotals().SpanPages];
        }

        public void Dispose() => _host.Dispose();
    }

    /// <summary>Packs a held block for the exchange: 0 is an empty slot.</summary>
    private static long Pack(ulong pfn, int order, byte owner) => (long)((pfn + 1) << 12 | (ulong)owner << 4 | (uint)order);

    private static void Unpack(long packed, out ulong pfn, out int order, out byte owner)
    {
        pfn = ((ulong)packed >> 12) - 1;
        owner = (byte)((packed >> 4) & 0xFF);
        order = (int)(packed & 0xF);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void ThreadsAllocatingAndFreeingAtOnceKeepEveryPageAccounted(int threads)
        => SeededRuns.Run(_output, $"{threads} threads of page operations", "POOLKERNEL_THREADS", 6, 3000, (seed, ops) => RunSeed(seed, ops, threads, huge: false));

    /// <summary>
    /// The same on a 2 GiB machine of two nodes, whose shared pools have per-CPU caches of every order, the
    /// huge order 9 included (<see cref="FrameCache.HighFor(ulong, int, int)"/>), and a sixth of the requests
    /// of order 9: blocks of orders 1-3 and 9 are freed to one CPU's cache while others allocate, drain and free
    /// them (cross-thread frees through the exchange), and pools are created and destroyed meanwhile.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void ThreadsWithCachesOfEveryOrderKeepEveryPageAccounted(int threads)
        => SeededRuns.Run(_output, $"{threads} threads of page operations, order-9 caches", "POOLKERNEL_THREADS", 4, 5000, (seed, ops) => RunSeed(seed, ops, threads, huge: true));

    private static void RunSeed(int seed, int ops, int threads, bool huge)
    {
        using var memory = huge ? new SharedMemory(threads + 1, 2UL << 30) : new SharedMemory(threads + 1);
        HostCpus.Enter(0);
        PhysicalMemory* pm = memory.Memory;
        ulong freeBefore = pm->GetTotals().FreePages;
        ulong basePfn = pm->BasePfn.Value;
        int maxOrder = pm->MaxOrder;
        int nodes = pm->NodeCount;
        var exchange = new long[16];
        var failures = new List<string>();
        long crossFrees = 0;
        long created = 0, moved = 0, destroyed = 0;

        void Fail(string what)
        {
            lock (failures)
                failures.Add(what);
        }

        // Takes the pages of a block the pools just gave: none may be held already.
        void Take(ulong pfn, int order)
        {
            for (ulong p = 0; p < 1UL << order; p++)
                if (Interlocked.Exchange(ref memory.Taken[pfn - basePfn + p], 1) != 0)
                    Fail($"page {pfn + p:x} handed out twice");
        }

        // Before the free: once freed, another thread may get the pages at once.
        void Untake(ulong pfn, int order)
        {
            for (ulong p = 0; p < 1UL << order; p++)
                Volatile.Write(ref memory.Taken[pfn - basePfn + p], 0);
        }

        void Free(ulong pfn, int order, byte owner)
        {
            Untake(pfn, order);
            MemoryStatus s = pm->Free(new Pfn(pfn), new Order(order), owner);
            if (s != MemoryStatus.Ok)
                Fail($"free of {pfn:x} order {order} answered {s}");
        }

        PoolId PoolOf(ulong pfn) => pm->PoolOf(new Pfn(pfn));

        // Each thread's own pool (created from a shared one, grown and shrunk by moves, destroyed at the
        // end): page operations on it meet the moves and the creations and destructions of the others.
        PoolId OwnPool(int thread, Random rng)
        {
            PoolProperties props = PoolProperties.Open("t" + thread);
            props.Flags = PoolFlags.Reserved; // only requests naming it: its thread's, so it can empty and go
            PoolId donor = new PoolId((byte)rng.Next(pm->PoolCapacity));
            MemoryStatus s = pm->CreatePool(props, donor, (ulong)rng.Next(1, 4), out PoolId id);
            if (s == MemoryStatus.Ok)
            {
                Interlocked.Increment(ref created);
                return id;
            }
            if (s != MemoryStatus.OutOfMemory && s != MemoryStatus.NoSuchPool && s != MemoryStatus.BelowMinimum && s != MemoryStatus.PoolTableFull)
                Fail($"create pool answered {s}");
            return PoolId.None;
        }

        void Worker(int thread)
        {
            HostCpus.Enter(thread + 1);
            var rng = new Random(seed * 7919 + thread);
            var held = new List<(ulong Pfn, int Order, byte Owner)>();
            PoolId own = PoolId.None;
            for (int op = 0; op < ops && failures.Count == 0; op++)
            {
                int kind = rng.Next(100);
                if (kind < 50 || held.Count == 0)
                {
                    int order = huge && rng.Next(6) == 0 ? FrameCache.HugeOrder
                        : rng.Next(8) == 0 ? rng.Next(maxOrder + 1) : rng.Next(Math.Min(3, maxOrder) + 1);
                    AllocRequest req = AllocRequest.Any;
                    req.Owner = (byte)(1 + thread % 3);
                    if (rng.Next(2) == 0)
                        req.PreferredNode = (byte)rng.Next(nodes);
                    if (!own.IsNone && rng.Next(3) == 0)
                        req.Pool = own;
                    MemoryStatus s = pm->Allocate(new Order(order), req, out Pfn pfn);
                    if (s == MemoryStatus.Ok)
                    {
                        Take(pfn.Value, order);
                        held.Add((pfn.Value, order, req.Owner));
                    }
                    else if (s != MemoryStatus.OutOfMemory && !(req.Pool == own && s == MemoryStatus.NoSuchPool))
                        Fail($"allocate order {order} answered {s}");
                }
                else if (kind < 52)
                {
                    // The pool's life: create one, move page blocks in and out, destroy it when nothing of it is held.
                    if (own.IsNone)
                        own = OwnPool(thread, rng);
                    else if (rng.Next(3) == 0 && !held.Exists(h => PoolOf(h.Pfn) == own))
                    {
                        MemoryStatus s = pm->DestroyPool(own);
                        if (s == MemoryStatus.Ok)
                        {
                            own = PoolId.None;
                            Interlocked.Increment(ref destroyed);
                        }
                        else if (s != MemoryStatus.PoolInUse)
                            Fail($"destroy pool {own.Value} answered {s}");
                    }
                    else
                    {
                        PoolId other = new PoolId((byte)rng.Next(pm->PoolCapacity));
                        bool give = rng.Next(2) == 0;
                        MemoryStatus s = pm->MovePageblocks(give ? own : other, give ? other : own, 1);
                        if (s == MemoryStatus.Ok)
                            Interlocked.Increment(ref moved);
                        if (s != MemoryStatus.Ok && s != MemoryStatus.OutOfMemory && s != MemoryStatus.NoSuchPool &&
                            s != MemoryStatus.BelowMinimum && s != MemoryStatus.InvalidArgument && s != MemoryStatus.AboveMaximum)
                            Fail($"move answered {s}");
                    }
                }
                else if (kind < 85)
                {
                    int i = rng.Next(held.Count);
                    var (pfn, order, owner) = held[i];
                    held[i] = held[^1];
                    held.RemoveAt(held.Count - 1);
                    Free(pfn, order, owner);
                }
                else
                {
                    // Swap one of ours into a shared slot; free what another thread left there.
                    int i = rng.Next(held.Count);
                    var (pfn, order, owner) = held[i];
                    held[i] = held[^1];
                    held.RemoveAt(held.Count - 1);
                    if (!own.IsNone && PoolOf(pfn) == own)
                    {
                        Free(pfn, order, owner); // its own pool's blocks stay with the thread, so the pool can go
                        continue;
                    }
                    long theirs = Interlocked.Exchange(ref exchange[rng.Next(exchange.Length)], Pack(pfn, order, owner) ^ (long)thread << 56);
                    if (theirs != 0)
                    {
                        int from = (int)((ulong)theirs >> 56);
                        Unpack(theirs & 0x00FFFFFFFFFFFFFF, out ulong tp, out int to, out byte towner);
                        if (from != thread)
                            Interlocked.Increment(ref crossFrees);
                        Free(tp, to, towner);
                    }
                }
                if (thread == 0 && op % 500 == 499)
                {
                    InvariantReport r = pm->Check();
                    if (!r.IsOk)
                        Fail($"checker after op {op}: {r.Code} at {r.Pfn.Value:x}");
                }
            }
            foreach (var (pfn, order, owner) in held)
                Free(pfn, order, owner);
            // Its pool goes once everything is back (others' blocks from it may still be in the exchange: then it stays).
            if (!own.IsNone)
            {
                MemoryStatus s = pm->DestroyPool(own);
                if (s == MemoryStatus.Ok)
                    Interlocked.Increment(ref destroyed);
                else if (s != MemoryStatus.PoolInUse)
                    Fail($"final destroy of pool {own.Value} answered {s}");
            }
        }

        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int thread = t;
            workers[t] = new Thread(() =>
            {
                try
                {
                    Worker(thread);
                }
                catch (Exception e)
                {
                    Fail($"thread {thread}: {e}");
                }
            });
        }
        foreach (Thread w in workers)
            w.Start();
        foreach (Thread w in workers)
            w.Join();
        for (int i = 0; i < exchange.Length; i++)
        {
            if (exchange[i] == 0)
                continue;
            Unpack(exchange[i] & 0x00FFFFFFFFFFFFFF, out ulong pfn, out int order, out byte owner);
            Free(pfn, order, owner);
        }
        Assert.True(failures.Count == 0, string.Join("; ", failures));
        Assert.True(crossFrees > 0 || ops < 100, "no thread freed another thread's block");
        Assert.True((created > 0 && moved > 0 && destroyed > 0) || ops < 1000, $"pool life cycle not exercised: {created} created, {moved} moved, {destroyed} destroyed");
        InvariantReport final = pm->Check();
        Assert.True(final.IsOk, $"checker: {final.Code} at {final.Pfn.Value:x}");
        Assert.Equal(freeBefore, pm->GetTotals().FreePages);
        Assert.DoesNotContain(1, memory.Taken);
    }

    /// <summary>On 256 MiB (caches of orders 0-3) and on 2 GiB of one node (order 9 too, a third of the rounds).</summary>
    [Theory]
    [InlineData(256)]
    [InlineData(2048)]
    public void TwoThreadsFreeingTheSameBlockAtOnceOneIsRefused(int mib)
        => SeededRuns.Run(_output, $"double free from two threads, {mib} MiB", "POOLKERNEL_DOUBLEFREE", 20, 50, (seed, rounds) => RunDoubleFree(seed, rounds, mib));

    /// <summary>
    /// The lock-free own caches against every kind of remote access at once: worker threads hammer their own
    /// caches (pairs of orders 0-3 and 9 on the shared pool, frees of other threads' blocks through the exchange),
    /// while one more thread, CPU 0, drains every CPU's caches, runs the checker, shrinks and regrows the workers'
    /// pool (page blocks moved to a pool of its own and back) and destroys and recreates that pool, each of which
    /// freezes the workers' caches and waits them out. Afterwards the checker is clean and every page is free.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void RemoteDrainsWhileOwnersHammerTheirCachesKeepEveryPageAccounted(int threads)
        => SeededRuns.Run(_output, $"{threads} threads on their caches, drains from another", "POOLKERNEL_DRAINS", 4, 4000, (seed, ops) => RunRemoteDrains(seed, ops, threads, false));

    /// <summary>
    /// As <see cref="RemoteDrainsWhileOwnersHammerTheirCachesKeepEveryPageAccounted"/>, with CPU 1 switched to locked
    /// caches (<see cref="PhysicalMemory.UseLockedCaches"/>, the kernel's realtime CPU) by CPU 0 at a seeded round of its work, while the workers run (unless a loaded host let them finish first: then right after): from
    /// then on the freezes skip its barrier, and nothing may be lost or handed out twice across the switch.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void OneCpuSwitchedToLockedCachesWhileItAndTheOthersWork_KeepsEveryPageAccounted(int threads)
        => SeededRuns.Run(_output, $"{threads} threads, CPU 1 switched to locked caches", "POOLKERNEL_DRAINS", 4, 4000, (seed, ops) => RunRemoteDrains(seed, ops, threads, true));

    private static void RunRemoteDrains(int seed, int ops, int threads, bool lockCpu1)
    {
        using var memory = new SharedMemory(threads + 1, 2UL << 30, 1);
        HostCpus.Enter(0);
        PhysicalMemory* pm = memory.Memory;
        ulong freeBefore = pm->GetTotals().FreePages;
        ulong basePfn = pm->BasePfn.Value;
        PoolId shared = MemoryAssert.FindPool(pm, "node0-dma32");
        var exchange = new long[8];
        var failures = new List<string>();
        long crossFrees = 0, adminRounds = 0;
        int running = threads;

        void Fail(string what)
        {
            lock (failures)
                failures.Add(what);
        }

        void Free(ulong pfn, int order, byte owner)
        {
            for (ulong p = 0; p < 1UL << order; p++)
                Volatile.Write(ref memory.Taken[pfn - basePfn + p], 0);
            MemoryStatus s = pm->Free(new Pfn(pfn), new Order(order), owner);
            if (s != MemoryStatus.Ok)
                Fail($"free of {pfn:x} order {order} answered {s}");
        }

        void Worker(int thread)
        {
            HostCpus.Enter(thread + 1);
            var rng = new Random(seed * 7919 + thread);
            var held = new List<(ulong Pfn, int Order, byte Owner)>();
            int[] orders = { 0, 0, 0, 0, 1, 2, 3, FrameCache.HugeOrder };
            for (int op = 0; op < ops && failures.Count == 0; op++)
            {
                int kind = rng.Next(100);
                if (kind < 50 || held.Count == 0)
                {
                    int order = orders[rng.Next(orders.Length)];
                    AllocRequest req = AllocRequest.InPool(shared);
                    req.Owner = (byte)(1 + thread % 3);
                    MemoryStatus s = pm->Allocate(new Order(order), req, out Pfn pfn);
                    if (s == MemoryStatus.Ok)
                    {
                        for (ulong p = 0; p < 1UL << order; p++)
                            if (Interlocked.Exchange(ref memory.Taken[pfn.Value - basePfn + p], 1) != 0)
                                Fail($"page {pfn.Value + p:x} handed out twice");
                        held.Add((pfn.Value, order, req.Owner));
                    }
                    else if (s != MemoryStatus.OutOfMemory)
                        Fail($"allocate order {order} answered {s}");
                }
                else
                {
                    int i = rng.Next(held.Count);
                    var (pfn, order, owner) = held[i];
                    held[i] = held[^1];
                    held.RemoveAt(held.Count - 1);
                    if (kind < 85)
                    {
                        Free(pfn, order, owner);
                        continue;
                    }
                    long theirs = Interlocked.Exchange(ref exchange[rng.Next(exchange.Length)], Pack(pfn, order, owner) ^ (long)thread << 56);
                    if (theirs != 0)
                    {
                        if ((int)((ulong)theirs >> 56) != thread)
                            Interlocked.Increment(ref crossFrees);
                        Unpack(theirs & 0x00FFFFFFFFFFFFFF, out ulong tp, out int to, out byte towner);
                        Free(tp, to, towner);
                    }
                }
            }
            foreach (var (pfn, order, owner) in held)
                Free(pfn, order, owner);
        }

        void Admin()
        {
            var rng = new Random(seed);
            PoolId side = PoolId.None;
            int switchAt = lockCpu1 ? rng.Next(3) : -1;
            bool switched = !lockCpu1;
            void Switch()
            {
                switched = true;
                if (pm->UseLockedCaches(1) != MemoryStatus.Ok)
                    Fail("switching CPU 1 to locked caches refused");
            }
            while (Volatile.Read(ref running) > 0 && failures.Count == 0)
            {
                if (!switched && Interlocked.Read(ref adminRounds) >= switchAt)
                    Switch();
                switch (rng.Next(4))
                {
                    case 0:
                        pm->DrainCaches();
                        break;
                    case 1:
                        InvariantReport r = pm->Check();
                        if (!r.IsOk)
                            Fail($"checker: {r.Code} at {r.Pfn.Value:x}");
                        break;
                    case 2:
                        if (side.IsNone)
                        {
                            PoolProperties props = PoolProperties.Open("side");
                            props.Flags = PoolFlags.Reserved;
                            MemoryStatus c = pm->CreatePool(props, shared, 1, out side);
                            if (c != MemoryStatus.Ok && c != MemoryStatus.OutOfMemory)
                                Fail($"create answered {c}");
                        }
                        else
                        {
                            MemoryStatus d = pm->DestroyPool(side);
                            if (d == MemoryStatus.Ok)
                                side = PoolId.None;
                            else
                                Fail($"destroy answered {d}");
                        }
                        break;
                    default:
                        if (side.IsNone)
                            break;
                        bool shrink = rng.Next(2) == 0;
                        MemoryStatus m = pm->MovePageblocks(shrink ? shared : side, shrink ? side : shared, 1);
                        if (m != MemoryStatus.Ok && m != MemoryStatus.OutOfMemory && m != MemoryStatus.BelowMinimum)
                            Fail($"move answered {m}");
                        break;
                }
                Interlocked.Increment(ref adminRounds);
            }
            if (!switched)
                Switch(); // the workers finished before the seeded round came (a loaded host)
            if (!side.IsNone && pm->DestroyPool(side) != MemoryStatus.Ok)
                Fail("final destroy of the side pool refused");
        }

        var admin = new Thread(() =>
        {
            HostCpus.Enter(0);
            try
            {
                Admin();
            }
            catch (Exception e)
            {
                Fail($"admin: {e}");
            }
        });
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int thread = t;
            workers[t] = new Thread(() =>
            {
                try
                {
                    Worker(thread);
                }
                catch (Exception e)
                {
                    Fail($"thread {thread}: {e}");
                }
                Interlocked.Decrement(ref running);
            });
        }
        admin.Start();
        foreach (Thread w in workers)
            w.Start();
        foreach (Thread w in workers)
            w.Join();
        admin.Join();
        for (int i = 0; i < exchange.Length; i++)
        {
            if (exchange[i] == 0)
                continue;
            Unpack(exchange[i] & 0x00FFFFFFFFFFFFFF, out ulong pfn, out int order, out byte owner);
            Free(pfn, order, owner);
        }
        Assert.True(failures.Count == 0, string.Join("; ", failures));
        Assert.True(adminRounds > 0, "no remote access ran while the owners worked");
        if (lockCpu1)
            Assert.Equal(2UL, pm->LockedCacheCpus & 2);
        Assert.True(crossFrees > 0 || ops < 100, "no thread freed another thread's block");
        InvariantReport final = pm->Check();
        Assert.True(final.IsOk, $"checker: {final.Code} at {final.Pfn.Value:x}");
        Assert.Equal(freeBefore, pm->GetTotals().FreePages);
        Assert.DoesNotContain(1, memory.Taken);
    }

    private static void RunDoubleFree(int seed, int rounds, int mib)
    {
        bool huge = mib > 256;
        using var memory = huge ? new SharedMemory(3, (ulong)mib << 20, 1) : new SharedMemory(3);
        HostCpus.Enter(0);
        PhysicalMemory* pm = memory.Memory;
        ulong freeBefore = pm->GetTotals().FreePages;
        var rng = new Random(seed);
        for (int round = 0; round < rounds; round++)
        {
            int order = huge && rng.Next(3) == 0 ? FrameCache.HugeOrder : rng.Next(pm->MaxOrder + 1);
            AllocRequest req = AllocRequest.Any;
            req.Owner = 2;
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(order), req, out Pfn pfn));
            var answers = new MemoryStatus[2];
            using var start = new Barrier(2);
            var threads = new Thread[2];
            for (int t = 0; t < 2; t++)
            {
                int me = t;
                threads[t] = new Thread(() =>
                {
                    HostCpus.Enter(me + 1);
                    start.SignalAndWait();
                    try
                    {
                        answers[me] = pm->Free(pfn, new Order(order), 2);
                    }
                    catch (Exception)
                    {
                        answers[me] = MemoryStatus.Corruption;
                    }
                });
                threads[t].Start();
            }
            foreach (Thread t in threads)
                t.Join();
            int ok = answers.Count(a => a == MemoryStatus.Ok);
            Assert.True(ok == 1, $"round {round}, order {order}: answers {answers[0]} and {answers[1]}");
            MemoryStatus refused = answers[0] == MemoryStatus.Ok ? answers[1] : answers[0];
            Assert.NotEqual(FailureKind.Corruption, MemoryStatusKinds.KindOf(refused));
            InvariantReport r = pm->Check();
            Assert.True(r.IsOk, $"checker: {r.Code} at {r.Pfn.Value:x}");
        }
        Assert.Equal(freeBefore, pm->GetTotals().FreePages);
    }

    private static int s_saves;
    private static int s_restores;

    private static ulong CountingSave()
    {
        Interlocked.Increment(ref s_saves);
        return 0x200;
    }

    private static void CountingRestore(ulong state)
    {
        if (state == 0x200)
            Interlocked.Increment(ref s_restores);
    }

    [Fact]
    public void SpinLockExcludesAndCallsItsInterruptHooksOncePerHold()
    {
        const int Threads = 4, Rounds = 20000;
        var box = new MemorySpinLock[1];
        box[0].SetInterruptHooks(&CountingSave, &CountingRestore);
        long counter = 0;
        int notHeld = 0;
        var threads = new Thread[Threads];
        for (int t = 0; t < Threads; t++)
        {
            threads[t] = new Thread(() =>
            {
                for (int i = 0; i < Rounds; i++)
                {
                    ulong state = box[0].Acquire();
                    if (!box[0].IsHeld)
                        Interlocked.Increment(ref notHeld);
                    // A read-modify-write that loses updates unless the lock excludes.
                    long seen = Volatile.Read(ref counter);
                    Volatile.Write(ref counter, seen + 1);
                    box[0].Release(state);
                }
            });
            threads[t].Start();
        }
        foreach (Thread t in threads)
            t.Join();
        Assert.Equal(0, notHeld);
        Assert.Equal((long)Threads * Rounds, counter);
        Assert.Equal(Threads * Rounds, s_saves);
        Assert.Equal(Threads * Rounds, s_restores);
        Assert.False(box[0].IsHeld);
    }
}
