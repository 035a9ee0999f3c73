using System.Diagnostics;
using System.Globalization;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>
/// What carrying the mobility class costs the pair benchmarks (issue 15's rule: not more than 5%): the same pairs
/// of <see cref="PairBenchmarks"/> on two instances in one process, one as configured everywhere (grouping by
/// mobility on) and one with <see cref="MemoryConfig.OneMobilityClass"/> (every request served as its pool's one
/// class: no steering, no stealing), timed in interleaved rounds (the arm that goes first alternates; warm-up rounds
/// first, so both run the optimised code). Keys: <c>mobility_&lt;pair&gt;_ratio</c>, the median over the rounds of
/// on / off within the round (above 1: grouping costs): a round's two arms run back to back, so the ratio of the
/// pair stands up to the other load of a shared machine better than the arms' bests do, which are printed too. Under the JIT: <c>Kernel.Bench --mobility-ab</c>; compiled by ilc: the <c>mobility</c> section of the
/// harness (<see cref="AotPairs"/>). docs/antifrag.md, "What grouping costs the pairs".
/// </summary>
public static class MobilityBenchmarks
{
    /// <summary>Rounds a pair is timed in, on each arm.</summary>
    public const int Rounds = 41;
    /// <summary>Untimed rounds on each arm first (tiered compilation promotes the pair loops meanwhile).</summary>
    public const int WarmupRounds = 10;
    /// <summary>Invocations of a pair benchmark (each <see cref="PairBenchmarks.Pairs"/> pairs) a round.</summary>
    public const int Invocations = 400;

    public static List<KeyValuePair<string, double>> Interleaved(int rounds = Rounds, int invocations = Invocations)
    {
        MemoryConfig off = MemoryConfig.Default;
        off.OneMobilityClass = true;
        var on = new PairBenchmarks();
        var flat = new PairBenchmarks { Config = off };
        on.Setup();
        flat.Setup();
        var cases = new (string Name, Action On, Action Off)[]
        {
            ("order0_pair", on.Order0Pair, flat.Order0Pair),
            ("order0_pair_fragmented", on.Order0PairFragmented, flat.Order0PairFragmented),
            ("order9_pair", on.Order9Pair, flat.Order9Pair),
        };
        var results = new List<KeyValuePair<string, double>>();
        foreach (var (name, runOn, runOff) in cases)
        {
            var onTimes = new List<double>();
            var offTimes = new List<double>();
            var ratios = new List<double>();
            for (int w = 0; w < WarmupRounds; w++)
            {
                Time(runOn, invocations);
                Time(runOff, invocations);
            }
            for (int r = 0; r < rounds; r++)
            {
                if ((r & 1) == 0)
                {
                    onTimes.Add(Time(runOn, invocations));
                    offTimes.Add(Time(runOff, invocations));
                }
                else
                {
                    offTimes.Add(Time(runOff, invocations));
                    onTimes.Add(Time(runOn, invocations));
                }
                ratios.Add(onTimes[r] / offTimes[r]);
            }
            double ratio = Median(ratios);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-24} grouping on: best {onTimes.Min():F2} ns, median {Median(onTimes):F2} ns; off: best {offTimes.Min():F2} ns, median {Median(offTimes):F2} ns; on/off of the bests {onTimes.Min() / offTimes.Min():F3}, median of the rounds' {ratio:F3}"));
            results.Add(new KeyValuePair<string, double>($"mobility_{name}_ratio", Math.Round(ratio, 3)));
        }
        on.Cleanup();
        flat.Cleanup();
        return results;
    }

    /// <summary>Nanoseconds a pair of one round of <paramref name="invocations"/> invocations.</summary>
    private static double Time(Action run, int invocations)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < invocations; i++)
            run();
        return Stopwatch.GetElapsedTime(start).TotalNanoseconds / ((double)invocations * PairBenchmarks.Pairs);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[sorted.Count / 2];
    }
}
