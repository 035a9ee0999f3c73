using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing;

namespace PoolKernel.Bench;

/// <summary>
/// Allocation on several threads at once (issue 13), a plain harness shared by the JIT run
/// (<see cref="Program"/>) and the ilc one (<see cref="AotPairs"/>): BenchmarkDotNet measures one
/// thread. 1, 2 and 4 threads, each a CPU of its own (<see cref="HostCpus"/>), on one instance
/// configured for <see cref="MaxThreads"/> CPUs (its hooks in, so the 1-thread figure pays what a
/// multi-CPU kernel pays), on the QEMU `pc` 6 GiB two-node map of <see cref="PairBenchmarks"/>:
/// order-0 and order-9 allocate/free pairs and the bulk shape (<see cref="BulkBlocks"/> order-0
/// blocks allocated, then freed), on one shared pool (node 1's normal memory) and on node-local
/// pools (thread t on node t mod 2: node 0's DMA32 pool, node 1's normal pool). The baseline is the
/// classic buddy built for the same CPUs: its per-CPU lists and a lock a zone (lock for lock).
/// Each figure is the best of <see cref="Rounds"/> rounds; a round starts every thread at a barrier
/// and lasts until the slowest is done. Speedup at n threads = throughput at n / throughput at 1;
/// "pair ns" is the round's time divided by the pairs one thread made (time per pair per thread).
/// The 1-thread figures also run on the same map built for one CPU (keys <c>onecpu_threads1_SHAPE_pair_ns</c>):
/// what an instance of several CPUs costs one thread over one without locks or CPU hook.
/// The machine these run on may have fewer cores than threads (then the figures show that).
/// </summary>
public static unsafe class ThreadBenchmarks
{
    public const int MaxThreads = 4;
    private const int Rounds = 5;
    private const int DefaultOrder0Pairs = 100_000;
    /// <summary>Order-0 pairs a thread makes in a round: <see cref="DefaultOrder0Pairs"/>, or what <see cref="Interleaved"/> was given.</summary>
    private static int Order0Pairs = DefaultOrder0Pairs;
    private const int Order9Pairs = 20_000;
    private const int BulkBlocks = 64;
    private const int BulkRepeats = 1_000;
    private const byte Owner = 5;
    private const ulong GiB = 1UL << 30;

    private enum Shape { Order0, Order9, Bulk }

    /// <summary>Every figure, keyed as summary.json names them.</summary>
    public static List<KeyValuePair<string, double>> Run()
    {
        var results = new List<KeyValuePair<string, double>>();
        HostCpus.Enter(0);
        using var host = new HostPhysicalMemory(QemuMaps.Build("pc", 6 * GiB, 2), QemuMaps.TwoNodeDistances, HostCpus.Config(MaxThreads), hugePages: true);
        PairBenchmarks.Check(host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        PoolId shared = FindPool(pm, "node1-normal");
        PoolId node0 = FindPool(pm, "node0-dma32");
        var ranges = host.Regions.Where(r => r.Type == MemoryType.Available)
            .Select(r => ((r.Base.Value + 4095) >> 12, (r.Base.Value + r.Length) >> 12)).ToArray();
        using var classic = new ClassicBuddy((ulong)host.BackingBytes / 4096, ranges, cpus: MaxThreads);
        // The same map built for one CPU (no lock, no CPU hook): the 1-thread figures' yardstick (issue 13: within 10%).
        using var oneCpu = new HostPhysicalMemory(QemuMaps.Build("pc", 6 * GiB, 2), QemuMaps.TwoNodeDistances, HostCpus.Config(1), hugePages: true);
        PairBenchmarks.Check(oneCpu.InitStatus);
        PhysicalMemory* one = oneCpu.Memory;
        PoolId sharedOne = FindPool(one, "node1-normal");

        foreach (Shape shape in new[] { Shape.Order0, Shape.Order9, Shape.Bulk })
        {
            string name = shape == Shape.Order0 ? "order0" : shape == Shape.Order9 ? "order9" : "bulk";
            double pools1 = 0, nodeLocal1 = 0, baseline1 = 0;
            foreach (int threads in new[] { 1, 2, 4 })
            {
                double pools = Best(threads, t => PoolsLoop(pm, shape, shared));
                double poolsCpu = LastCpuNs;
                double local = Best(threads, t => PoolsLoop(pm, shape, t % 2 == 0 ? node0 : shared));
                double baseline = Best(threads, t => BaselineLoop(classic, shape));
                double baselineCpu = LastCpuNs;
                if (threads == 1)
                {
                    Add(results, $"onecpu_threads1_{name}_{(shape == Shape.Bulk ? "block" : "pair")}_ns", Best(1, t => PoolsLoop(one, shape, sharedOne)) / PerThread(shape));
                    pools1 = pools;
                    nodeLocal1 = local;
                    baseline1 = baseline;
                }
                // Per pair (per block for bulk) per thread, and throughput relative to 1 thread.
                double per = PerThread(shape);
                Add(results, $"threads{threads}_{name}_{(shape == Shape.Bulk ? "block" : "pair")}_ns", pools / per);
                Add(results, $"baseline_threads{threads}_{name}_{(shape == Shape.Bulk ? "block" : "pair")}_ns", baseline / per);
                Add(results, $"nodelocal_threads{threads}_{name}_{(shape == Shape.Bulk ? "block" : "pair")}_ns", local / per);
                // The same per thread in CPU time: flat from 1 to more threads when the threads do not slow each other.
                Add(results, $"threads{threads}_{name}_cpu_ns", poolsCpu / per);
                Add(results, $"baseline_threads{threads}_{name}_cpu_ns", baselineCpu / per);
                if (threads > 1)
                {
                    Add(results, $"threads{threads}_{name}_speedup", threads * pools1 / pools);
                    Add(results, $"baseline_threads{threads}_{name}_speedup", threads * baseline1 / baseline);
                    Add(results, $"nodelocal_threads{threads}_{name}_speedup", threads * nodeLocal1 / local);
                }
            }
        }
        if (!pm->Check().IsOk || !one->Check().IsOk)
            throw new InvalidOperationException("thread benchmarks: the pools' checker failed afterwards");
        classic.CheckFree(classic.PresentFrames); // frames on per-CPU lists count as free
        return results;
    }

    /// <summary>
    /// <c>--threads-ab</c>: the order-0 pair at 1 and 2 threads, shared pool, node-local pools and the locked
    /// baseline, interleaved for <paramref name="rounds"/> rounds (each figure the best of <see cref="Rounds"/>), so a
    /// slow stretch of a shared machine hits all of them alike; prints each round's speedups and their medians.
    /// <paramref name="pairs"/> pairs a thread a round: a round shorter than the scheduler's time slice is less
    /// likely to see one of the two threads descheduled on a loaded machine.
    /// </summary>
    public static void Interleaved(int rounds, int pairs)
    {
        Order0Pairs = pairs;
        HostCpus.Enter(0);
        using var host = new HostPhysicalMemory(QemuMaps.Build("pc", 6 * GiB, 2), QemuMaps.TwoNodeDistances, HostCpus.Config(MaxThreads), hugePages: true);
        PairBenchmarks.Check(host.InitStatus);
        PhysicalMemory* pm = host.Memory;
        PoolId shared = FindPool(pm, "node1-normal");
        PoolId node0 = FindPool(pm, "node0-dma32");
        var ranges = host.Regions.Where(r => r.Type == MemoryType.Available)
            .Select(r => ((r.Base.Value + 4095) >> 12, (r.Base.Value + r.Length) >> 12)).ToArray();
        using var classic = new ClassicBuddy((ulong)host.BackingBytes / 4096, ranges, cpus: MaxThreads);
        var speedups = new List<double>[3] { new(), new(), new() };
        var bests = new double[6] { double.MaxValue, double.MaxValue, double.MaxValue, double.MaxValue, double.MaxValue, double.MaxValue };
        Console.WriteLine("round  pools1_ns pools2_ns speedup  local1_ns local2_ns speedup  base1_ns base2_ns speedup");
        for (int r = 0; r < rounds; r++)
        {
            double p1 = Best(1, t => PoolsLoop(pm, Shape.Order0, shared)) / Order0Pairs, c1 = LastCpuNs / Order0Pairs;
            double p2 = Best(2, t => PoolsLoop(pm, Shape.Order0, shared)) / Order0Pairs, c2 = LastCpuNs / Order0Pairs;
            double l1 = Best(1, t => PoolsLoop(pm, Shape.Order0, node0)) / Order0Pairs;
            double l2 = Best(2, t => PoolsLoop(pm, Shape.Order0, t % 2 == 0 ? node0 : shared)) / Order0Pairs, cl2 = LastCpuNs / Order0Pairs;
            double b1 = Best(1, t => BaselineLoop(classic, Shape.Order0)) / Order0Pairs, cb1 = LastCpuNs / Order0Pairs;
            double b2 = Best(2, t => BaselineLoop(classic, Shape.Order0)) / Order0Pairs, cb2 = LastCpuNs / Order0Pairs;
            Console.WriteLine($"       cpu ns a pair a thread: pools {c1:F2} -> {c2:F2}, node-local 2 threads {cl2:F2}, baseline {cb1:F2} -> {cb2:F2}");
            double[] now = { p1, p2, l1, l2, b1, b2 };
            for (int i = 0; i < 6; i++)
                bests[i] = Math.Min(bests[i], now[i]);
            speedups[0].Add(2 * p1 / p2);
            speedups[1].Add(2 * l1 / l2);
            speedups[2].Add(2 * b1 / b2);
            Console.WriteLine($"{r,5}  {p1,9:F2} {p2,9:F2} {2 * p1 / p2,7:F2}  {l1,9:F2} {l2,9:F2} {2 * l1 / l2,7:F2}  {b1,8:F2} {b2,8:F2} {2 * b1 / b2,7:F2}");
        }
        double Median(List<double> v) { v.Sort(); return v[v.Count / 2]; }
        Console.WriteLine($"median speedup at 2 threads: pools {Median(speedups[0]):F2}, node-local {Median(speedups[1]):F2}, baseline {Median(speedups[2]):F2}");
        Console.WriteLine($"best ns (1 / 2 threads): pools {bests[0]:F2} / {bests[1]:F2} ({2 * bests[0] / bests[1]:F2}x), node-local {bests[2]:F2} / {bests[3]:F2} ({2 * bests[2] / bests[3]:F2}x), baseline {bests[4]:F2} / {bests[5]:F2} ({2 * bests[4] / bests[5]:F2}x)");
        if (!pm->Check().IsOk)
            throw new InvalidOperationException("thread benchmarks: the pools' checker failed afterwards");
    }

    /// <summary>
    /// <c>--lockfree-ab</c>: the lock-free own cache against the locked one and against an instance of one CPU, in one
    /// process, interleaved for <paramref name="rounds"/> rounds (each figure the best of <see cref="Rounds"/>): three
    /// instances over the same map, one built for <see cref="MaxThreads"/> CPUs with the host's process-wide barrier
    /// (the lock-free own cache, what <see cref="HostCpus.Config"/> gives), one for as many CPUs without it (each
    /// own-cache call takes the cache's lock: main's shape before the lock-free round), and one for one CPU (no lock at
    /// all). Order-0 pairs (<paramref name="pairs"/> a thread) at 1 thread on all three and at 2 threads on the two
    /// multi-CPU ones, order-9 pairs likewise, on the shared pool (node 1's normal memory); per round the ns a pair a
    /// thread, then the medians and the ratios of the medians.
    /// </summary>
    public static void LockFreeInterleaved(int rounds, int pairs)
    {
        Order0Pairs = pairs;
        HostCpus.Enter(0);
        MemoryConfig locked = HostCpus.Config(MaxThreads);
        locked.ProcessWideBarrier = null;
        using var free = new HostPhysicalMemory(QemuMaps.Build("pc", 6 * GiB, 2), QemuMaps.TwoNodeDistances, HostCpus.Config(MaxThreads), hugePages: true);
        using var lck = new HostPhysicalMemory(QemuMaps.Build("pc", 6 * GiB, 2), QemuMaps.TwoNodeDistances, locked, hugePages: true);
        using var one = new HostPhysicalMemory(QemuMaps.Build("pc", 6 * GiB, 2), QemuMaps.TwoNodeDistances, HostCpus.Config(1), hugePages: true);
        PairBenchmarks.Check(free.InitStatus);
        PairBenchmarks.Check(lck.InitStatus);
        PairBenchmarks.Check(one.InitStatus);
        PhysicalMemory* pf = free.Memory, pl = lck.Memory, p1 = one.Memory;
        PoolId sf = FindPool(pf, "node1-normal"), sl = FindPool(pl, "node1-normal"), s1 = FindPool(p1, "node1-normal");
        string[] names = { "o0 free1", "o0 locked1", "o0 onecpu1", "o0 free2", "o0 locked2", "o9 free1", "o9 locked1", "o9 onecpu1", "o9 free2", "o9 locked2" };
        var figures = new List<double>[names.Length];
        for (int i = 0; i < names.Length; i++)
            figures[i] = new List<double>();
        Console.WriteLine("ns a pair a thread: " + string.Join(" | ", names));
        for (int r = 0; r < rounds; r++)
        {
            double[] now =
            {
                Best(1, t => PoolsLoop(pf, Shape.Order0, sf)) / Order0Pairs,
                Best(1, t => PoolsLoop(pl, Shape.Order0, sl)) / Order0Pairs,
                Best(1, t => PoolsLoop(p1, Shape.Order0, s1)) / Order0Pairs,
                Best(2, t => PoolsLoop(pf, Shape.Order0, sf)) / Order0Pairs,
                Best(2, t => PoolsLoop(pl, Shape.Order0, sl)) / Order0Pairs,
                Best(1, t => PoolsLoop(pf, Shape.Order9, sf)) / Order9Pairs,
                Best(1, t => PoolsLoop(pl, Shape.Order9, sl)) / Order9Pairs,
                Best(1, t => PoolsLoop(p1, Shape.Order9, s1)) / Order9Pairs,
                Best(2, t => PoolsLoop(pf, Shape.Order9, sf)) / Order9Pairs,
                Best(2, t => PoolsLoop(pl, Shape.Order9, sl)) / Order9Pairs,
            };
            for (int i = 0; i < names.Length; i++)
                figures[i].Add(now[i]);
            Console.WriteLine($"{r,3}: " + string.Join(" | ", now.Select(v => v.ToString("F2"))));
        }
        double[] median = figures.Select(v => { v.Sort(); return v[v.Count / 2]; }).ToArray();
        Console.WriteLine("median: " + string.Join(" | ", names.Zip(median, (n, v) => $"{n} {v:F2}")));
        Console.WriteLine($"order 0, 1 thread: lock-free / one CPU {median[0] / median[2]:F2}, locked / one CPU {median[1] / median[2]:F2}, lock-free / locked {median[0] / median[1]:F2}");
        Console.WriteLine($"order 0, 2 threads: speedup lock-free {2 * median[0] / median[3]:F2}, locked {2 * median[1] / median[4]:F2}");
        Console.WriteLine($"order 9, 1 thread: lock-free / one CPU {median[5] / median[7]:F2}, locked / one CPU {median[6] / median[7]:F2}; 2 threads: speedup lock-free {2 * median[5] / median[8]:F2}, locked {2 * median[6] / median[9]:F2}");
        if (!pf->Check().IsOk || !pl->Check().IsOk || !p1->Check().IsOk)
            throw new InvalidOperationException("lock-free A/B: a checker failed afterwards");
    }

    /// <summary>
    /// The least, over the rounds of the last <see cref="Best"/>, of the threads' mean CPU time in a round (ns): what the
    /// loop cost on the CPU, without the time a thread waited for one. When it stays flat from 1 to 2 threads while the
    /// round's time doubles, the threads were time-sliced, not slowed by each other.
    /// </summary>
    private static double LastCpuNs;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds; public long Nanoseconds; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>The calling thread's CPU time in ns (Linux CLOCK_THREAD_CPUTIME_ID).</summary>
    private static long ThreadCpuNs()
    {
        const int ThreadCpuTime = 3;
        return ClockGetTime(ThreadCpuTime, out TimeSpec t) == 0 ? t.Seconds * 1_000_000_000 + t.Nanoseconds : 0;
    }

    private static void Add(List<KeyValuePair<string, double>> results, string key, double value)
        => results.Add(new KeyValuePair<string, double>(key, Math.Round(value, 2)));

    private static double PerThread(Shape shape) => shape == Shape.Order0 ? Order0Pairs : shape == Shape.Order9 ? Order9Pairs : (double)BulkBlocks * BulkRepeats;

    /// <summary>Nanoseconds of the best of <see cref="Rounds"/> rounds (after one untimed) of <paramref name="threads"/> threads running <paramref name="loop"/>, thread t as CPU t.</summary>
    private static double Best(int threads, Action<int> loop)
    {
        double best = double.MaxValue;
        for (int round = 0; round <= Rounds; round++)
        {
            using var start = new Barrier(threads + 1);
            var ends = new long[threads];
            var cpuNs = new long[threads];
            var failures = new Exception[threads];
            var workers = new Thread[threads];
            for (int t = 0; t < threads; t++)
            {
                int me = t;
                workers[t] = new Thread(() =>
                {
                    HostCpus.Enter(me);
                    start.SignalAndWait();
                    long cpu0 = ThreadCpuNs();
                    try
                    {
                        loop(me);
                    }
                    catch (Exception e)
                    {
                        failures[me] = e;
                    }
                    ends[me] = Stopwatch.GetTimestamp();
                    cpuNs[me] = ThreadCpuNs() - cpu0;
                });
                workers[t].Start();
            }
            start.SignalAndWait();
            long begin = Stopwatch.GetTimestamp();
            foreach (Thread w in workers)
                w.Join();
            foreach (Exception e in failures)
                if (e != null)
                    throw new InvalidOperationException("thread benchmark failed", e);
            double ns = (ends.Max() - begin) * 1e9 / Stopwatch.Frequency;
            if (round > 0 && ns < best)
                best = ns;
            if (round > 0)
                LastCpuNs = Math.Min(round == 1 ? double.MaxValue : LastCpuNs, cpuNs.Average());
        }
        HostCpus.Enter(0);
        return best;
    }

    // Fully optimised at once: each loop is called once a round, too few calls for tiered compilation.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PoolsLoop(PhysicalMemory* pm, Shape shape, PoolId pool)
    {
        AllocRequest request = AllocRequest.InPool(pool);
        request.Owner = Owner;
        if (shape == Shape.Bulk)
        {
            Pfn* held = stackalloc Pfn[BulkBlocks];
            for (int r = 0; r < BulkRepeats; r++)
            {
                for (int i = 0; i < BulkBlocks; i++)
                    Expect(pm->Allocate(new Order(0), request, out held[i]));
                for (int i = 0; i < BulkBlocks; i++)
                    Expect(pm->Free(held[i], new Order(0), Owner));
            }
            return;
        }
        Order order = new Order(shape == Shape.Order0 ? 0 : 9);
        int pairs = shape == Shape.Order0 ? Order0Pairs : Order9Pairs;
        for (int i = 0; i < pairs; i++)
        {
            Expect(pm->Allocate(order, request, out Pfn pfn));
            Expect(pm->Free(pfn, order, Owner));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BaselineLoop(ClassicBuddy classic, Shape shape)
    {
        const int Normal = 2;
        if (shape == Shape.Bulk)
        {
            long* held = stackalloc long[BulkBlocks];
            for (int r = 0; r < BulkRepeats; r++)
            {
                for (int i = 0; i < BulkBlocks; i++)
                    held[i] = ExpectFrame(classic.Allocate(0, Normal));
                for (int i = 0; i < BulkBlocks; i++)
                    classic.Free((ulong)held[i], 0);
            }
            return;
        }
        int order = shape == Shape.Order0 ? 0 : 9;
        int pairs = shape == Shape.Order0 ? Order0Pairs : Order9Pairs;
        for (int i = 0; i < pairs; i++)
            classic.Free((ulong)ExpectFrame(classic.Allocate(order, Normal)), order);
    }

    private static void Expect(MemoryStatus status)
    {
        if (status != MemoryStatus.Ok)
            throw new InvalidOperationException($"thread benchmark: the pools answered {status}");
    }

    private static long ExpectFrame(long pfn) => pfn >= 0 ? pfn : throw new InvalidOperationException("thread benchmark: the baseline ran out");

    private static PoolId FindPool(PhysicalMemory* pm, string name)
    {
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
        {
            pm->GetPoolProperties(id, out PoolProperties p);
            string n = new string(Enumerable.Range(0, p.Name.Length).Select(i => (char)p.Name[i]).ToArray());
            if (n == name)
                return id;
        }
        throw new InvalidOperationException("no pool " + name);
    }
}
