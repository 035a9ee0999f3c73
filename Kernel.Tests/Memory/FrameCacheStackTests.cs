using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The <see cref="FrameCache"/> stack on its own (newest entry kept apart from the older ones):
/// every operation against a list, in seeded random sequences that pass through empty and full.
/// Defaults: 4 seeds x 20,000 operations. Longer runs: POOLKERNEL_CACHESTACK_SEEDS, POOLKERNEL_CACHESTACK_OPS;
/// replay one seed: POOLKERNEL_CACHESTACK_SEED.
/// </summary>
public unsafe class FrameCacheStackTests
{
    private readonly ITestOutputHelper _output;

    public FrameCacheStackTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void IsExactlyHalfAKilobyte()
    {
        Assert.Equal(512, sizeof(FrameCache));
    }

    [Fact]
    public void EveryOperationMatchesAList()
        => SeededRuns.Run(_output, "frame cache stack", "POOLKERNEL_CACHESTACK", 4, 20_000, RunSeed);

    private static void RunSeed(int seed, int ops)
    {
        var rng = new Random(seed);
        FrameCache cache = default;
        var model = new List<ulong>(); // oldest first
        ulong next = 1000;
        for (int step = 0; step < ops; step++)
        {
            int op = rng.Next(8);
            if (op <= 2 && model.Count < FrameCache.Capacity)
            {
                cache.Push(next);
                model.Add(next++);
            }
            else if (op <= 4 && model.Count > 0)
            {
                Assert.Equal(model[^1], cache.Pop());
                model.RemoveAt(model.Count - 1);
            }
            else if (op == 5 && model.Count > 0)
            {
                int i = rng.Next(model.Count);
                cache.RemoveAt(i);
                ulong newest = model[^1];
                model.RemoveAt(model.Count - 1);
                if (i < model.Count)
                    model[i] = newest;
            }
            else if (op == 6)
            {
                int n = rng.Next(model.Count + 1);
                cache.DropOldest(n);
                model.RemoveRange(0, n);
            }
            else if (model.Count > 0)
            {
                int from = rng.Next(model.Count), to = from + rng.Next(model.Count - from + 1);
                cache.Reverse(from, to);
                model.Reverse(from, to - from);
            }
            Assert.Equal(model.Count, cache.Count);
            for (int i = 0; i < model.Count; i++)
                Assert.Equal(model[i], cache.At(i));
        }
    }
}
