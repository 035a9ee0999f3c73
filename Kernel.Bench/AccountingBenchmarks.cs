using BenchmarkDotNet.Attributes;
using System.Runtime.InteropServices;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>
/// What container accounting (Kernel.Memory/Owners) costs the named order-0 pair, the headline
/// <c>order0_pair</c> of <see cref="PairBenchmarks"/> (fresh `pc` 6 GiB two-node map, node 1's normal
/// pool), in one process: <c>order0_pair_unaccounted</c> calls the fast paths by their own names
/// (AllocateUnaccounted/FreeUnaccounted); <c>order0_pair_accounting_check</c> the public entries for an
/// owner that is not a container, with a container live (what every kernel allocation pays). Since
/// issue 17's fold (docs/containers.md, "What accounting costs") the public entries are those fast paths
/// and test no owner, so the two arms run the same instructions: their ratio is the A/B's own noise, and
/// what accounting cost before is read against main's harness. <c>order0_pair_container</c> is the same
/// pair as a container (every call misses the fast paths: reserve, slow allocation, commit; slow free,
/// uncommit under the pool's lock). Per pair.
/// </summary>
[MemoryDiagnoser(false)]
public unsafe class AccountingBenchmarks
{
    private const int Pairs = PairBenchmarks.Pairs;
    private const byte Plain = 5, ContainerOwner = 20;
    private const ulong GiB = 1UL << 30;

    private HostPhysicalMemory _host;
    private void* _table;
    private PhysicalMemory* _pm;
    private AllocRequest _plain;
    private AllocRequest _container;

    [GlobalSetup]
    public void Setup()
    {
        _host = PairBenchmarks.Host(QemuMaps.Build("pc", 6 * GiB, 2), hugePages: true);
        _pm = _host.Memory;
        _table = NativeMemory.AlignedAlloc((nuint)PhysicalMemory.ContainerTableBytes, 64);
        PairBenchmarks.Check(_pm->AttachContainers(_table, PhysicalMemory.ContainerTableBytes, 0));
        PairBenchmarks.Check(_pm->CreateContainer(ContainerSpec.Of(PoolName.From("bench"), ContainerOwner, 1UL << 20)));
        PoolId normal = PoolId.None;
        for (PoolId id = _pm->FirstPool(); !id.IsNone; id = _pm->NextPool(id))
        {
            _pm->GetPoolProperties(id, out PoolProperties p);
            if (new string(Enumerable.Range(0, p.Name.Length).Select(i => (char)p.Name[i]).ToArray()) == "node1-normal")
                normal = id;
        }
        _plain = AllocRequest.InPool(normal);
        _plain.Owner = Plain;
        _container = _plain;
        _container.Owner = ContainerOwner;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _host.Dispose();
        NativeMemory.AlignedFree(_table);
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "order0_pair_unaccounted")]
    public void Unaccounted()
    {
        PhysicalMemory* pm = _pm;
        for (int i = 0; i < Pairs; i++)
        {
            pm->AllocateUnaccounted(new Order(0), _plain, out Pfn pfn);
            pm->FreeUnaccounted(pfn, new Order(0), Plain);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "order0_pair_accounting_check")]
    public void AccountingCheck()
    {
        PhysicalMemory* pm = _pm;
        for (int i = 0; i < Pairs; i++)
        {
            pm->Allocate(new Order(0), _plain, out Pfn pfn);
            pm->Free(pfn, new Order(0), Plain);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "order0_pair_container")]
    public void Container()
    {
        PhysicalMemory* pm = _pm;
        for (int i = 0; i < Pairs; i++)
        {
            pm->Allocate(new Order(0), _container, out Pfn pfn);
            pm->Free(pfn, new Order(0), ContainerOwner);
        }
    }

    /// <summary>
    /// The same three pairs timed in interleaved rounds (A, B, C, A, B, C...) with a stopwatch, so a
    /// slow stretch of a shared machine hits all three alike; prints min and median ns per pair of
    /// each and the ratios of the minima and medians to the unaccounted pair (<c>--accounting-ab</c>).
    /// </summary>
    public static void Interleaved(int rounds, int pairsPerRound)
    {
        List<double>[] times = Rounds(rounds, pairsPerRound);
        string[] names = { "order0_pair_unaccounted", "order0_pair_accounting_check", "order0_pair_container" };
        double min0 = times[0].Min(), med0 = Median(times[0]);
        for (int k = 0; k < 3; k++)
            Console.WriteLine($"{names[k]}: min {times[k].Min():F2} ns, median {Median(times[k]):F2} ns, min ratio {times[k].Min() / min0:F3}, median ratio {Median(times[k]) / med0:F3}");
    }

    /// <summary>
    /// The ilc harness's section <c>accounting</c> (<see cref="AotPairs"/>): the interleaved A/B/C of
    /// <see cref="Interleaved"/> in the compiler that builds the kernel. Keys: each pair's least ns
    /// (<c>accounting_unaccounted_pair_ns</c>, <c>accounting_check_pair_ns</c>, <c>accounting_container_pair_ns</c>) and
    /// the ratios to the unaccounted pair, of the minima (<c>accounting_pair_ratio</c>: what the 5% is about,
    /// the public entries for an owner that is not a container; <c>accounting_container_ratio</c>) and of the medians
    /// (<c>accounting_pair_median_ratio</c>).
    /// </summary>
    public static IEnumerable<KeyValuePair<string, double>> TimeAot(int rounds, int pairsPerRound)
    {
        List<double>[] times = Rounds(rounds, pairsPerRound);
        double min0 = times[0].Min();
        return new[]
        {
            new KeyValuePair<string, double>("accounting_unaccounted_pair_ns", Math.Round(min0, 2)),
            new KeyValuePair<string, double>("accounting_check_pair_ns", Math.Round(times[1].Min(), 2)),
            new KeyValuePair<string, double>("accounting_container_pair_ns", Math.Round(times[2].Min(), 2)),
            new KeyValuePair<string, double>("accounting_pair_ratio", Math.Round(times[1].Min() / min0, 3)),
            new KeyValuePair<string, double>("accounting_pair_median_ratio", Math.Round(Median(times[1]) / Median(times[0]), 3)),
            new KeyValuePair<string, double>("accounting_container_ratio", Math.Round(times[2].Min() / min0, 3)),
        };
    }

    /// <summary><paramref name="rounds"/> interleaved rounds of the three pairs, ns per pair of each round (unaccounted, check, container).</summary>
    private static List<double>[] Rounds(int rounds, int pairsPerRound)
    {
        var b = new AccountingBenchmarks();
        b.Setup();
        var times = new List<double>[] { new(), new(), new() };
        Action[] runs = { b.Unaccounted, b.AccountingCheck, b.Container };
        for (int k = 0; k < runs.Length; k++)
            runs[k](); // untimed: caches and branch predictors warm for each
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < runs.Length; k++)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                for (int i = 0; i < pairsPerRound / Pairs; i++)
                    runs[k]();
                times[k].Add(sw.Elapsed.TotalNanoseconds / pairsPerRound);
            }
        b.Cleanup();
        return times;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[sorted.Count / 2];
    }
}
