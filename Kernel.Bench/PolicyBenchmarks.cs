using BenchmarkDotNet.Attributes;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>
/// NUMA policies (issue 16) on the QEMU `pc` 6 GiB two-node map: one order-0 allocation and its free
/// under each policy, through the policy layer (plan, strict walk, numastat counting:
/// <see cref="PolicyContext.Allocate"/>), from a CPU on node 0. <c>policy_interleave_vs_local</c> is
/// interleave's pair over local's, same run. <see cref="WeightedErrorPercent"/> is not timed: the
/// distribution of 10^6 pages under weighted interleave against the weights.
/// </summary>
public unsafe class PolicyBenchmarks
{
    public const int Pairs = 1024;
    private const byte Owner = 5;
    private const ulong GiB = 1UL << 30;

    private HostPhysicalMemory _host;
    private PhysicalMemory* _pm;
    private NumaTopology _topology;
    private PolicyContext _local;
    private PolicyContext _interleave;
    private PolicyContext _weighted;
    private PolicyContext _bind;
    private PolicyContext _preferred;
    private NumaCounters _counters;
    private AllocRequest _request;

    [GlobalSetup]
    public void Setup()
    {
        _host = PairBenchmarks.Host(QemuMaps.Build("pc", 6 * GiB, 2), hugePages: true);
        _pm = _host.Memory;
        _topology = NumaTopology.Of(ref *_pm);
        _local = Context("local");
        _interleave = Context("interleave:0-1");
        _weighted = Context("weighted-interleave:0-1:5,2");
        _bind = Context("bind:1");
        _preferred = Context("preferred:1");
        _request = AllocRequest.Any;
        _request.Owner = Owner;
    }

    private PolicyContext Context(string text)
    {
        PolicyContext c = default;
        if (Parse(text, out NumaPolicy p) != PolicyStatus.Ok || c.Set(p, _topology) != PolicyStatus.Ok)
            throw new InvalidOperationException(text);
        return c;
    }

    private static PolicyStatus Parse(string text, out NumaPolicy policy)
    {
        byte[] b = System.Text.Encoding.ASCII.GetBytes(text);
        fixed (byte* p = b)
            return PolicyParser.Parse(p, b.Length, out policy);
    }

    [GlobalCleanup]
    public void Cleanup() => _host.Dispose();

    private void Pairs_(ref PolicyContext context)
    {
        PhysicalMemory* pm = _pm;
        for (int i = 0; i < Pairs; i++)
        {
            context.Allocate(ref *pm, _topology, 0, new Order(0), _request, ref _counters, out Pfn pfn, out _);
            pm->Free(pfn, new Order(0), Owner);
        }
    }

    /// <summary>The same order-0 pair without the policy layer (pool choice, no node named): the baseline of <c>policy_local_vs_named</c>.</summary>
    [Benchmark(OperationsPerInvoke = Pairs, Description = "policy_named_pair")]
    public void Named()
    {
        PhysicalMemory* pm = _pm;
        for (int i = 0; i < Pairs; i++)
        {
            pm->Allocate(new Order(0), _request, out Pfn pfn);
            pm->Free(pfn, new Order(0), Owner);
        }
    }

    /// <summary>The pair as a request strict on node 0 without the policy layer (what local's first try asks the pools): <c>--policy-ab</c> only.</summary>
    public void Strict()
    {
        PhysicalMemory* pm = _pm;
        AllocRequest strict = _request;
        strict.PreferredNode = 0;
        strict.Flags |= RequestFlags.NodeStrict;
        for (int i = 0; i < Pairs; i++)
        {
            pm->Allocate(new Order(0), strict, out Pfn pfn);
            pm->Free(pfn, new Order(0), Owner);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "policy_local_pair")]
    public void Local() => Pairs_(ref _local);

    [Benchmark(OperationsPerInvoke = Pairs, Description = "policy_interleave_pair")]
    public void Interleave() => Pairs_(ref _interleave);

    [Benchmark(OperationsPerInvoke = Pairs, Description = "policy_weighted_interleave_pair")]
    public void Weighted() => Pairs_(ref _weighted);

    [Benchmark(OperationsPerInvoke = Pairs, Description = "policy_bind_pair")]
    public void Bind() => Pairs_(ref _bind);

    [Benchmark(OperationsPerInvoke = Pairs, Description = "policy_preferred_pair")]
    public void Preferred() => Pairs_(ref _preferred);

    /// <summary>
    /// Every pair above timed in interleaved rounds (named, local, interleave, weighted, bind, preferred,
    /// strict on node 0, named, ...) with a stopwatch, so a slow stretch of a shared machine hits all alike; prints min and
    /// median ns per pair of each and the ratios of the medians to the named pair and to local
    /// (<c>--policy-ab</c>).
    /// </summary>
    public static void Interleaved(int rounds, int pairsPerRound)
    {
        var b = new PolicyBenchmarks();
        b.Setup();
        Action[] runs = { b.Named, b.Local, b.Interleave, b.Weighted, b.Bind, b.Preferred, b.Strict };
        string[] names = { "named", "local", "interleave", "weighted_interleave", "bind", "preferred", "strict_node0" };
        var times = runs.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < runs.Length; k++)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                for (int i = 0; i < pairsPerRound / Pairs; i++)
                    runs[k]();
                times[k].Add(sw.Elapsed.TotalNanoseconds / pairsPerRound);
            }
        double named = Median(times[0]), local = Median(times[1]);
        for (int k = 0; k < runs.Length; k++)
            Console.WriteLine($"policy_{names[k]}_pair: min {times[k].Min():F2} ns, median {Median(times[k]):F2} ns, vs named {Median(times[k]) / named:F3}, vs local {Median(times[k]) / local:F3}");
        b.Cleanup();
    }

    /// <summary>
    /// The ilc harness's policy pairs (<see cref="AotPairs"/>, section <c>policy</c>): the named pair, local's
    /// pair through the policy layer and the strict node-0 pair without it, each the best of
    /// <paramref name="best"/>'s rounds, in the same process; then local over named.
    /// </summary>
    public static List<KeyValuePair<string, double>> TimeAot(Func<Action, int, int, double> best)
    {
        const int Invocations = 2000;
        var b = new PolicyBenchmarks();
        b.Setup();
        double named = best(b.Named, Invocations, Pairs);
        double local = best(b.Local, Invocations, Pairs);
        double strict = best(b.Strict, Invocations, Pairs);
        b.Cleanup();
        return new List<KeyValuePair<string, double>>
        {
            new("policy_named_pair_ns", Math.Round(named, 2)),
            new("policy_local_pair_ns", Math.Round(local, 2)),
            new("policy_strict_node0_pair_ns", Math.Round(strict, 2)),
            new("policy_local_vs_named", Math.Round(local / named, 3)),
        };
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>
    /// Weighted interleave 5,2 over nodes 0-1 for 10^6 order-0 pages (each allocated, its node counted,
    /// freed): the largest difference between a node's share and its weight's share of the pages, in
    /// percent of that share.
    /// </summary>
    public static double WeightedErrorPercent()
    {
        using HostPhysicalMemory host = PairBenchmarks.Host(QemuMaps.Build("pc", 6 * GiB, 2), hugePages: true);
        PhysicalMemory* pm = host.Memory;
        NumaTopology topology = NumaTopology.Of(ref *pm);
        PolicyContext context = default;
        if (Parse("weighted-interleave:0-1:5,2", out NumaPolicy policy) != PolicyStatus.Ok || context.Set(policy, topology) != PolicyStatus.Ok)
            throw new InvalidOperationException("policy");
        AllocRequest request = AllocRequest.Any;
        request.Owner = Owner;
        NumaCounters counters = default;
        const int Pages = 1_000_000;
        var perNode = new long[2];
        for (int i = 0; i < Pages; i++)
        {
            PairBenchmarks.Check(context.Allocate(ref *pm, topology, 0, new Order(0), request, ref counters, out Pfn pfn, out int node));
            perNode[node]++;
            PairBenchmarks.Check(pm->Free(pfn, new Order(0), Owner));
        }
        double worst = 0;
        int[] weights = { 5, 2 };
        for (int n = 0; n < 2; n++)
        {
            double expected = (double)Pages * weights[n] / 7;
            worst = Math.Max(worst, Math.Abs(perNode[n] - expected) / expected * 100);
        }
        return worst;
    }
}
