using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The <see cref="FrameCache"/> stack on its own (newest entry kept apart from the older ones):
/// every operation against a list, in seeded random sequences that pass through empty and full.
/// </summary>
public unsafe class FrameCacheStackTests
{
    [Fact]
    public void IsExactlyHalfAKilobyte()
    {
        Assert.Equal(512, sizeof(FrameCache));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void EveryOperationMatchesAList(int seed)
    {
        var rng = new Random(seed);
        FrameCache cache = default;
        var model = new List<ulong>(); // oldest first
        ulong next = 1000;
        for (int step = 0; step < 20_000; step++)
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
