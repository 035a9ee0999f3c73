using System.Diagnostics;
using System.Globalization;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>
/// What carrying the mobility class costs the pair benchmarks (issue 15's rule: not more than 5%): the same pairs
/// of <see cref="PairBenchmarks"/> on two instances in one process, one as configured everywhere (grouping by
/// mobility on) and one with <see cref="MemoryConfig.OneMobilityClass"/> (every request served as its pool's one
/// class: no steering, no stealing), and a third instance with grouping on as a control, timed in interleaved rounds
/// (the order of the arms rotates; warm-up rounds first, so all run the optimised code). Keys:
/// <c>mobility_&lt;pair&gt;_ratio</c>, the median over the rounds of on / off within the round (above 1: grouping
/// costs), and <c>mobility_&lt;pair&gt;_control_ratio</c>, on / on again: the same code on another instance, what
/// placement and the machine make of a ratio. A round's arms run back to back, so a ratio within the round stands up
/// to the other load of a shared machine better than the arms' bests do, which are printed too. Under the JIT: <c>Kernel.Bench --mobility-ab</c>; compiled by ilc: the <c>mobility</c> section of the
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
        // Three instances: grouping on, grouping off, and on again as a control: the same code on another instance
        // (other addresses), whose ratio to the first shows what placement and the machine alone make of a ratio.
        var on = new PairBenchmarks();
        var flat = new PairBenchmarks { Config = off };
        var again = new PairBenchmarks();
        on.Setup();
        flat.Setup();
        again.Setup();
        var cases = new (string Name, Action[] Arms)[]
        {
            ("order0_pair", new Action[] { on.Order0Pair, flat.Order0Pair, again.Order0Pair }),
            ("order0_pair_fragmented", new Action[] { on.Order0PairFragmented, flat.Order0PairFragmented, again.Order0PairFragmented }),
            ("order9_pair", new Action[] { on.Order9Pair, flat.Order9Pair, again.Order9Pair }),
        };
        var results = new List<KeyValuePair<string, double>>();
        foreach (var (name, arms) in cases)
        {
            var times = new List<double>[] { new(), new(), new() };
            var offRatios = new List<double>();
            var controlRatios = new List<double>();
            for (int w = 0; w < WarmupRounds; w++)
                foreach (Action arm in arms)
                    Time(arm, invocations);
            for (int r = 0; r < rounds; r++)
            {
                // The arms in a rotating order, so none is always first or last.
                for (int k = 0; k < arms.Length; k++)
                {
                    int a = (r + k) % arms.Length;
                    times[a].Add(Time(arms[a], invocations));
                }
                offRatios.Add(times[0][r] / times[1][r]);
                controlRatios.Add(times[0][r] / times[2][r]);
            }
            double ratio = Median(offRatios), control = Median(controlRatios);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-24} on: best {times[0].Min():F2} ns, median {Median(times[0]):F2}; off: best {times[1].Min():F2}, median {Median(times[1]):F2}; on again: best {times[2].Min():F2}, median {Median(times[2]):F2}; on/off {ratio:F3} (bests {times[0].Min() / times[1].Min():F3}), control on/on-again {control:F3}"));
            results.Add(new KeyValuePair<string, double>($"mobility_{name}_ratio", Math.Round(ratio, 3)));
            results.Add(new KeyValuePair<string, double>($"mobility_{name}_control_ratio", Math.Round(control, 3)));
        }
        on.Cleanup();
        flat.Cleanup();
        again.Cleanup();
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
