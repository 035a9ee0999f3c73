using System.Diagnostics;
using System.Globalization;

namespace PoolKernel.Bench;

/// <summary>
/// The pair benchmarks compiled ahead of time by ilc, the compiler that builds the kernel: no
/// tiered JIT, no dynamic PGO, so the allocator's code is shaped as it is in the kernel image.
/// BenchmarkDotNet cannot drive a NativeAOT binary in process, so this is a plain harness: for
/// each <see cref="PairBenchmarks"/> method (pool allocator and baseline in the same process and
/// the same states), the best of <see cref="Rounds"/> timed rounds of <see cref="Invocations"/>
/// invocations, after one untimed round; then the aligned fill and the bulk shapes (<see cref="BulkBenchmarks"/>).
/// Writes summary-aot.json with the keys of summary.json. <c>--only</c> and a comma-separated list of
/// sections (pairs, heap, fill, bulk0, bulk9, churn, realtime: <see cref="RealtimeBenchmarks"/>, policy: <see cref="PolicyBenchmarks.TimeAot"/>, mobility: <see cref="MobilityBenchmarks"/>, accounting: <see cref="AccountingBenchmarks.TimeAot"/>, threads: <see cref="ThreadBenchmarks"/>) runs only those: for iterating on one shape (the
/// summary then holds only their keys; the full run is what the docs quote).
/// </summary>
public static class AotPairs
{
    private const int Rounds = 7;
    private const int Invocations = 2000;
    /// <summary>The aligned fill (<see cref="AlignedFillBenchmarks"/>) is one long operation: the best of a few fills, each from a fresh set-up.</summary>
    private const int FillRounds = 3;
    /// <summary>The bulk shapes (<see cref="BulkBenchmarks.TimeRounds"/>): the best of this many rounds at order 0 (tens of ms a half) and at order 9 (tens of µs).</summary>
    private const int BulkRounds0 = 7, BulkRounds9 = 200;
    /// <summary>Interleaved rounds of the accounting A/B/C (<see cref="AccountingBenchmarks.TimeAot"/>), 2^20 pairs each: as <c>--accounting-ab</c> does under the JIT.</summary>
    private const int AccountingRounds = 41;

    public static int Run(string outDir, string[] only = null)
    {
        bool Runs(string section) => only == null || Array.IndexOf(only, section) >= 0;
        var b = new PairBenchmarks();
        b.Setup();
        var cases = new (string Key, Action Run)[]
        {
            ("order0_pair_ns", b.Order0Pair),
            ("baseline_order0_pair_ns", b.BaselineOrder0Pair),
            ("order0_pair_fragmented_ns", b.Order0PairFragmented),
            ("baseline_order0_pair_fragmented_ns", b.BaselineOrder0PairFragmented),
            ("order0_pair_pool_choice_ns", b.Order0PairChoice),
            ("order9_pair_ns", b.Order9Pair),
            ("baseline_order9_pair_ns", b.BaselineOrder9Pair),
            ("constrained_alloc_ns", b.ConstrainedPair),
            ("baseline_dma32_pair_ns", b.BaselineDma32Pair),
            ("baseline_nopcp_order0_pair_ns", b.BaselineNoPcpOrder0Pair),
            ("baseline_nopcp_order0_pair_fragmented_ns", b.BaselineNoPcpOrder0PairFragmented),
            ("baseline_nopcp_dma32_pair_ns", b.BaselineNoPcpDma32Pair),
        };
        var results = new List<KeyValuePair<string, double>>();
        for (int c = 0; c < cases.Length && Runs("pairs"); c++)
        {
            double best = double.MaxValue;
            for (int round = 0; round <= Rounds; round++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < Invocations; i++)
                    cases[c].Run();
                double ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / ((double)Invocations * PairBenchmarks.Pairs);
                if (round > 0 && ns < best)
                    best = ns;
            }
            results.Add(new KeyValuePair<string, double>(cases[c].Key, Math.Round(best, 2)));
            Console.WriteLine($"{cases[c].Key,-42} {best.ToString("F2", CultureInfo.InvariantCulture)} ns");
        }
        b.Cleanup();
        foreach (KeyValuePair<string, double> heap in Runs("heap") ? HeapBenchmarks.RunAot(Best) : [])
        {
            results.Add(heap);
            Console.WriteLine($"{heap.Key,-36} {heap.Value.ToString("F2", CultureInfo.InvariantCulture)}");
        }
        if (Runs("fill"))
        {
            double fill = double.MaxValue;
            for (int round = 0; round < FillRounds; round++)
                fill = Math.Min(fill, AlignedFillBenchmarks.TimeOnce());
            results.Add(new KeyValuePair<string, double>("aligned_fill_1g_s", Math.Round(fill, 4)));
            Console.WriteLine($"{"aligned_fill_1g_s",-42} {fill.ToString("F4", CultureInfo.InvariantCulture)} s");
        }
        foreach (KeyValuePair<string, double> r in BulkBenchmarks.TimeRounds(Runs("bulk0") ? BulkRounds0 : 0, Runs("bulk9") ? BulkRounds9 : 0))
        {
            results.Add(r);
            Console.WriteLine($"{r.Key,-42} {r.Value.ToString("F2", CultureInfo.InvariantCulture)} ns");
        }
        foreach (KeyValuePair<string, double> r in Runs("churn") ? ChurnBenchmarks.Measure() : [])
        {
            results.Add(r);
            Console.WriteLine($"{r.Key,-42} {r.Value.ToString("F2", CultureInfo.InvariantCulture)}");
        }
        foreach (KeyValuePair<string, double> r in Runs("realtime") ? RealtimeBenchmarks.Measure() : [])
        {
            results.Add(r);
            Console.WriteLine($"{r.Key,-42} {r.Value.ToString("F2", CultureInfo.InvariantCulture)}");
        }
        foreach (KeyValuePair<string, double> r in Runs("policy") ? PolicyBenchmarks.TimeAot(Best) : [])
        {
            results.Add(r);
            Console.WriteLine($"{r.Key,-42} {r.Value.ToString("F2", CultureInfo.InvariantCulture)}");
        }
        foreach (KeyValuePair<string, double> r in Runs("mobility") ? MobilityBenchmarks.Interleaved() : [])
            results.Add(r);
        foreach (KeyValuePair<string, double> r in Runs("accounting") ? AccountingBenchmarks.TimeAot(AccountingRounds, 1 << 20) : [])
        {
            results.Add(r);
            Console.WriteLine($"{r.Key,-42} {r.Value.ToString("F3", CultureInfo.InvariantCulture)}");
        }
        foreach (KeyValuePair<string, double> r in Runs("threads") ? ThreadBenchmarks.Run() : [])
        {
            results.Add(r);
            Console.WriteLine($"{r.Key,-42} {r.Value.ToString("F2", CultureInfo.InvariantCulture)}");
        }
        File.WriteAllText(Path.Combine(outDir, "summary-aot.json"), Program.SummaryJson(results));
        return 0;
    }

    /// <summary>Nanoseconds per operation of the best of <see cref="Rounds"/> timed rounds, after one untimed round.</summary>
    private static double Best(Action run, int invocations, int operationsPerInvoke)
    {
        double best = double.MaxValue;
        for (int round = 0; round <= Rounds; round++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < invocations; i++)
                run();
            double ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / ((double)invocations * operationsPerInvoke);
            if (round > 0 && ns < best)
                best = ns;
        }
        return best;
    }
}
