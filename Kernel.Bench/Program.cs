using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace PoolKernel.Bench;

/// <summary>
/// Runs the allocator benchmarks (a short job of 7 iterations, in process) and writes summary.json (medians) into the output
/// directory given as the first argument (default artifacts/bench). With <c>--aot</c> first (the
/// NativeAOT build of this project), runs <see cref="AotPairs"/> instead (<c>--only</c> SECTIONS after the directory: some of it).
/// Without <c>--aot</c>, <c>--only</c> SECTIONS (comma-separated: pairs, setup, fill, bulk, heap, policy, accounting) runs only
/// those BenchmarkDotNet classes and writes their keys alone into <c>summary-SECTIONS.json</c> (SECTIONS joined by '-'),
/// e.g. <c>summary-policy.json</c>; the plain harnesses (churn, migration, realtime, threads) are not run then.
/// With <c>--accounting</c> anywhere, runs only <see cref="AccountingBenchmarks"/> and writes no summary;
/// with <c>--accounting-ab</c>, its interleaved stopwatch comparison (<see cref="AccountingBenchmarks.Interleaved"/>); with
/// <c>--policy-ab</c>, the NUMA policy pairs' (<see cref="PolicyBenchmarks.Interleaved"/>); with <c>--mobility-ab</c>, the pairs
/// with grouping by mobility on and off (<see cref="MobilityBenchmarks.Interleaved"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        bool aot = args.Length > 0 && args[0] == "--aot";
        if (aot)
            args = args[1..];
        string[] only = null;
        int onlyAt = Array.IndexOf(args, "--only");
        if (onlyAt >= 0 && onlyAt + 1 < args.Length)
        {
            only = args[onlyAt + 1].Split(',');
            args = args[..onlyAt];
        }
        if (Array.IndexOf(args, "--migration") >= 0)
        {
            // Only the migration keys, printed (for iterating on them).
            foreach (KeyValuePair<string, double> kv in MigrationBenchmarks.Measure())
                Console.WriteLine($"{kv.Key} {kv.Value}");
            return 0;
        }
        if (Array.IndexOf(args, "--realtime") >= 0)
        {
            // Only the realtime worst-case keys, printed (for iterating on them).
            foreach (KeyValuePair<string, double> kv in RealtimeBenchmarks.Measure())
                Console.WriteLine($"{kv.Key} {kv.Value}");
            return 0;
        }
        if (Array.IndexOf(args, "--churn") >= 0)
        {
            // Only the churn keys, printed (for iterating on anti-fragmentation).
            foreach (KeyValuePair<string, double> kv in ChurnBenchmarks.Measure())
                Console.WriteLine($"{kv.Key} {kv.Value}");
            return 0;
        }
        if (Array.IndexOf(args, "--policy-ab") >= 0)
        {
            PolicyBenchmarks.Interleaved(21, 1 << 18);
            return 0;
        }
        if (Array.IndexOf(args, "--threads-ab") >= 0)
        {
            int at = Array.IndexOf(args, "--threads-ab");
            ThreadBenchmarks.Interleaved(9, at + 1 < args.Length ? int.Parse(args[at + 1]) : 100_000);
            return 0;
        }
        if (Array.IndexOf(args, "--mobility-ab") >= 0)
        {
            MobilityBenchmarks.Interleaved();
            return 0;
        }
        if (Array.IndexOf(args, "--lockfree-ab") >= 0)
        {
            int at = Array.IndexOf(args, "--lockfree-ab");
            ThreadBenchmarks.LockFreeInterleaved(9, at + 1 < args.Length ? int.Parse(args[at + 1]) : 100_000);
            return 0;
        }
        if (Array.IndexOf(args, "--accounting-ab") >= 0)
        {
            AccountingBenchmarks.Interleaved(41, 1 << 20);
            return 0;
        }
        bool accountingOnly = Array.IndexOf(args, "--accounting") >= 0;
        args = args.Where(a => a != "--accounting").ToArray();
        string outDir = Path.GetFullPath(args.Length > 0 ? args[0] : Path.Combine("artifacts", "bench"));
        Directory.CreateDirectory(outDir);
        if (aot)
            return AotPairs.Run(outDir, only);
        if (args.Length > 1 && args[1] == "--threads")
        {
            // Only the thread benchmarks (for iterating on them): their keys alone.
            File.WriteAllText(Path.Combine(outDir, "summary-threads.json"), SummaryJson(ThreadBenchmarks.Run()));
            Console.WriteLine(File.ReadAllText(Path.Combine(outDir, "summary-threads.json")));
            return 0;
        }
        IConfig config = DefaultConfig.Instance
            .AddJob(Job.ShortRun.WithIterationCount(7).WithToolchain(InProcessEmitToolchain.Instance))
            .WithArtifactsPath(Path.Combine(outDir, "BenchmarkDotNet"))
            .AddColumn(StatisticColumn.Median)
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);

        bool Runs(string section) => only == null || Array.IndexOf(only, section) >= 0;
        Summary accounting = Runs("accounting") ? BenchmarkRunner.Run<AccountingBenchmarks>(config) : null;
        if (accountingOnly)
            return 0;
        Summary pairs = Runs("pairs") ? BenchmarkRunner.Run<PairBenchmarks>(config) : null;
        Summary setup = Runs("setup") ? BenchmarkRunner.Run<SetupBenchmarks>(config) : null;
        Summary fill = Runs("fill") ? BenchmarkRunner.Run<AlignedFillBenchmarks>(config) : null;
        Summary bulk = Runs("bulk") ? BenchmarkRunner.Run<BulkBenchmarks>(config) : null;
        Summary heap = Runs("heap") ? BenchmarkRunner.Run<HeapBenchmarks>(config) : null;
        Summary policy = Runs("policy") ? BenchmarkRunner.Run<PolicyBenchmarks>(config) : null;

        var results = new Dictionary<string, double>();
        foreach (Summary s in new[] { pairs, setup, fill, heap, policy, accounting })
            foreach (BenchmarkReport r in s?.Reports ?? [])
                if (r.ResultStatistics != null)
                    results[r.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo] = r.ResultStatistics.Median; // the median: one slowed iteration on a shared machine does not move it
        // A bulk invocation is one half of one side at one order: its summary key from the parameters, per block.
        foreach (BenchmarkReport r in bulk?.Reports ?? [])
            if (r.ResultStatistics != null)
            {
                int order = (int)r.BenchmarkCase.Parameters[nameof(BulkBenchmarks.BlockOrder)];
                var side = (Allocator)r.BenchmarkCase.Parameters[nameof(BulkBenchmarks.Side)];
                results[BulkBenchmarks.Key(side, order, r.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo)] = r.ResultStatistics.Median / BulkBenchmarks.Blocks(order);
            }

        double Ns(string name) => results.TryGetValue(name, out double v) ? Math.Round(v, 2) : double.NaN;
        var summary = new Dictionary<string, double>
        {
            ["order0_pair_ns"] = Ns("order0_pair"),
            ["baseline_order0_pair_ns"] = Ns("baseline_order0_pair"),
            ["order0_pair_fragmented_ns"] = Ns("order0_pair_fragmented"),
            ["baseline_order0_pair_fragmented_ns"] = Ns("baseline_order0_pair_fragmented"),
            ["order0_pair_pool_choice_ns"] = Ns("order0_pair_pool_choice"),
            ["order9_pair_ns"] = Ns("order9_pair"),
            ["baseline_order9_pair_ns"] = Ns("baseline_order9_pair"),
            ["constrained_alloc_ns"] = Ns("constrained_dma32_64k_pair"),
            ["baseline_dma32_pair_ns"] = Ns("baseline_dma32_pair"),
            ["baseline_nopcp_order0_pair_ns"] = Ns("baseline_nopcp_order0_pair"),
            ["baseline_nopcp_order0_pair_fragmented_ns"] = Ns("baseline_nopcp_order0_pair_fragmented"),
            ["baseline_nopcp_dma32_pair_ns"] = Ns("baseline_nopcp_dma32_pair"),
            ["setup_64g_ms"] = Math.Round(Ns("setup_64g") / 1e6, 3),
            ["aligned_fill_1g_s"] = Math.Round(Ns("aligned_fill_1g") / 1e9, 4),
            ["heap_pair32_ns"] = Ns("heap_pair32"),
            ["heap_mixed_ns"] = Ns("heap_mixed"),
            ["heap_zero_gib_s"] = Math.Round(HeapBenchmarks.ZeroGiBPerSecond(Ns("heap_zero_1m")), 2),
            ["metadata_bytes_per_page"] = Math.Round(SetupBenchmarks.MetadataBytesPerPage(), 4),
            ["order0_pair_unaccounted_ns"] = Ns("order0_pair_unaccounted"),
            ["order0_pair_accounting_check_ns"] = Ns("order0_pair_accounting_check"),
            ["order0_pair_container_ns"] = Ns("order0_pair_container"),
        };
        foreach (int order in new[] { 0, 9 })
            foreach (Allocator side in new[] { Allocator.Pools, Allocator.Baseline })
                foreach (string half in new[] { "alloc", "free", "rand_alloc", "rand_free" })
                {
                    string key = BulkBenchmarks.Key(side, order, half);
                    summary[key] = Ns(key);
                }
        foreach (var kv in PolicyKeys(results))
            summary[kv.Key] = kv.Value;
        if (only != null)
        {
            // Some classes only: the keys they measured (the metadata size and the policy's weighted error are computed, not run: kept with their class).
            string name = "summary-" + string.Join("-", only) + ".json";
            string part = SummaryJson(summary.Where(kv => double.IsFinite(kv.Value) &&
                (kv.Key != "metadata_bytes_per_page" || setup != null) && (kv.Key != "policy_weighted_error_pct" || policy != null)));
            File.WriteAllText(Path.Combine(outDir, name), part);
            Console.WriteLine(part);
            return 0;
        }
        foreach (KeyValuePair<string, double> churn in ChurnBenchmarks.Measure())
            summary[churn.Key] = churn.Value;
        foreach (KeyValuePair<string, double> migration in MigrationBenchmarks.Measure())
            summary[migration.Key] = migration.Value;
        // Worst-case latency of a realtime pool over 10^7 operations (issue 17): a plain harness, every operation timed.
        foreach (KeyValuePair<string, double> r in RealtimeBenchmarks.Measure())
            summary[r.Key] = r.Value;
        // Several threads at once (issue 13): a plain harness (BenchmarkDotNet times one thread).
        foreach (KeyValuePair<string, double> r in ThreadBenchmarks.Run())
            summary[r.Key] = r.Value;
        string json = SummaryJson(summary);
        File.WriteAllText(Path.Combine(outDir, "summary.json"), json);
        Console.WriteLine(json);
        return 0;
    }

    /// <summary>The NUMA policy keys (issue 16) from the medians by benchmark name: each mode's pair and the same pair without the policy layer, interleave over local, local over that pair, the weighted error.</summary>
    private static List<KeyValuePair<string, double>> PolicyKeys(Dictionary<string, double> medians)
    {
        double Ns(string name) => medians.TryGetValue(name, out double v) ? Math.Round(v, 2) : double.NaN;
        var keys = new List<KeyValuePair<string, double>>();
        foreach (string mode in new[] { "named", "local", "interleave", "weighted_interleave", "bind", "preferred" })
            keys.Add(new($"policy_{mode}_pair_ns", Ns($"policy_{mode}_pair")));
        keys.Add(new("policy_interleave_vs_local", Math.Round(Ns("policy_interleave_pair") / Ns("policy_local_pair"), 3)));
        keys.Add(new("policy_local_vs_named", Math.Round(Ns("policy_local_pair") / Ns("policy_named_pair"), 3)));
        keys.Add(new("policy_weighted_error_pct", Math.Round(PolicyBenchmarks.WeightedErrorPercent(), 6)));
        return keys;
    }

    /// <summary>A flat JSON object of numbers, in the given order (NaN, a missing result, as a string).</summary>
    internal static string SummaryJson(IEnumerable<KeyValuePair<string, double>> values)
    {
        var lines = values.Select(kv => $"  \"{kv.Key}\": " +
            (double.IsFinite(kv.Value) ? kv.Value.ToString(CultureInfo.InvariantCulture) : $"\"{kv.Value.ToString(CultureInfo.InvariantCulture)}\""));
        return "{\n" + string.Join(",\n", lines) + "\n}\n";
    }
}
