using Xunit.Abstractions;

namespace PoolKernel.Tests.Support;

/// <summary>
/// Runs a seeded random test over many seeds in parallel. PREFIX_SEEDS and PREFIX_OPS (environment)
/// make runs longer; PREFIX_SEED replays one seed. A failure names the lowest failing seed and how to
/// replay it; the seed range is logged.
/// </summary>
public static class SeededRuns
{
    public static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int v) && v > 0 ? v : fallback;

    public static void Run(ITestOutputHelper output, string what, string prefix, int defaultSeeds, int defaultOps, Action<int, int> runSeed)
    {
        int seeds = Env(prefix + "_SEEDS", defaultSeeds);
        int ops = Env(prefix + "_OPS", defaultOps);
        string one = Environment.GetEnvironmentVariable(prefix + "_SEED");
        int first = one != null ? int.Parse(one) : 1;
        int last = one != null ? first : seeds;
        output.WriteLine($"{what}: seeds {first}..{last}, {ops} operations each");
        // Seeds are independent instances: run them on every core, report the lowest failing seed.
        var failures = new System.Collections.Concurrent.ConcurrentDictionary<int, string>();
        Parallel.For(first, last + 1, seed =>
        {
            try
            {
                runSeed(seed, ops);
            }
            catch (Exception e)
            {
                failures[seed] = e.Message;
            }
        });
        if (failures.IsEmpty)
            return;
        int failed = failures.Keys.Min();
        output.WriteLine($"FAILED seeds: {string.Join(", ", failures.Keys.OrderBy(k => k))}");
        throw new Xunit.Sdk.XunitException($"seed {failed} (replay: {prefix}_SEED={failed}): {failures[failed]}");
    }
}
