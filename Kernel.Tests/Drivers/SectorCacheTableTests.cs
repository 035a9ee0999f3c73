using PoolKernel.Drivers.BlockCache;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Drivers;

/// <summary>The sector cache's bookkeeping (Kernel.Drivers/BlockCache/SectorCacheTable.cs): lookups, LRU, dirty pages, refusals.</summary>
public class SectorCacheTableTests
{
    private readonly ITestOutputHelper _output;

    public SectorCacheTableTests(ITestOutputHelper output) => _output = output;

    private static void AssertConsistent(SectorCacheTable t)
        => Assert.Null(t.Check(out _));

    [Fact]
    public void SecondLookup_IsAHit_AndTheCountsSaySo()
    {
        var t = new SectorCacheTable(4);
        Assert.Equal(-1, t.Lookup(0, 5));
        int slot = t.FreeSlot();
        Assert.True(t.Insert(slot, 0, 5, 0x1234));
        Assert.Equal(slot, t.Lookup(0, 5));
        Assert.Equal(-1, t.Lookup(1, 5));   // same page of another disk
        Assert.Equal(1UL, t.Hits);
        Assert.Equal(2UL, t.Misses);
        Assert.Equal(1, t.Count);
        Assert.Equal(0x1234UL, t.FrameOf(slot));
        AssertConsistent(t);
    }

    [Fact]
    public void Oldest_IsTheLeastRecentlyUsed_AndCleanOnlySkipsDirtyPages()
    {
        var t = new SectorCacheTable(3);
        Assert.True(t.Insert(0, 0, 10, 100));
        Assert.True(t.Insert(1, 0, 11, 101));
        Assert.True(t.Insert(2, 0, 12, 102));
        Assert.Equal(0, t.Lookup(0, 10));   // page 10 becomes the most recent
        Assert.Equal(1, t.Oldest(cleanOnly: false));
        Assert.True(t.MarkDirty(1));
        Assert.Equal(2, t.Oldest(cleanOnly: true));
        Assert.Equal(1, t.Oldest(cleanOnly: false));
        AssertConsistent(t);
    }

    [Fact]
    public void DirtyPage_IsRefusedRemoval_UntilWrittenBack()
    {
        var t = new SectorCacheTable(2);
        Assert.True(t.Insert(0, 1, 7, 55));
        Assert.True(t.MarkDirty(0));
        Assert.True(t.MarkDirty(0));   // twice dirty is still one dirty page
        Assert.Equal(1, t.DirtyCount);
        Assert.Equal(0UL, t.Remove(0));   // refused, unchanged
        Assert.Equal(1, t.Count);
        Assert.True(t.IsDirty(0));
        Assert.True(t.MarkClean(0));
        Assert.False(t.MarkClean(0));
        Assert.Equal(1UL, t.WrittenBack);
        Assert.Equal(55UL, t.Remove(0));
        Assert.Equal(0, t.Count);
        Assert.Equal(1UL, t.Dropped);
        Assert.Equal(-1, t.Oldest(false));
        AssertConsistent(t);
    }

    [Fact]
    public void DiscardChanges_MakesCleanWithoutCountingAWriteBack()
    {
        var t = new SectorCacheTable(1);
        Assert.True(t.Insert(0, 0, 0, 9));
        Assert.False(t.DiscardChanges(0));
        Assert.True(t.MarkDirty(0));
        Assert.True(t.DiscardChanges(0));
        Assert.Equal(0, t.DirtyCount);
        Assert.Equal(0UL, t.WrittenBack);
        Assert.Equal(9UL, t.Remove(0));
        AssertConsistent(t);
    }

    [Fact]
    public void Insert_OfACachedPageOrIntoAUsedSlot_IsRefused()
    {
        var t = new SectorCacheTable(2);
        Assert.True(t.Insert(0, 0, 3, 30));
        Assert.False(t.Insert(1, 0, 3, 31));   // page cached already
        Assert.False(t.Insert(0, 0, 4, 32));   // slot in use
        Assert.False(t.Insert(2, 0, 4, 33));   // no such slot
        Assert.Equal(1, t.Count);
        Assert.False(t.IsUsed(1));
        Assert.Equal(1, t.FreeSlot());
        Assert.True(t.Insert(1, 0, 4, 34));
        Assert.Equal(-1, t.FreeSlot());
        AssertConsistent(t);
    }

    [Fact]
    public void NextDirty_WalksTheDirtySlotsInOrder()
    {
        var t = new SectorCacheTable(4);
        for (int s = 0; s < 4; s++)
            Assert.True(t.Insert(s, 0, (ulong)s, (ulong)(s + 1)));
        Assert.True(t.MarkDirty(1));
        Assert.True(t.MarkDirty(3));
        Assert.Equal(1, t.NextDirty(0));
        Assert.Equal(3, t.NextDirty(2));
        Assert.Equal(-1, t.NextDirty(4));
    }

    /// <summary>
    /// Seeded lookups, inserts (with LRU eviction when full, writing back first as the kernel layer does),
    /// writes and drops against a model dictionary: the table finds exactly what the model holds, the
    /// evicted page is always the model's least recently used, and the checker stays clean after every step.
    /// </summary>
    [Fact]
    public void RandomOperations_AgreeWithAModel()
        => SeededRuns.Run(_output, "sector cache table", "SECTORCACHE", 8, 2000, RandomSeed);

    private static void RandomSeed(int seed, int operations)
    {
        var random = new Random(seed);
        const int capacity = 16;
        var t = new SectorCacheTable(capacity);
        var model = new Dictionary<(int, ulong), (ulong Frame, bool Dirty, long Use)>();
        long clock = 0;
        ulong nextFrame = 1;
        for (int op = 0; op < operations; op++)
        {
            int disk = random.Next(2);
            ulong page = (ulong)random.Next(40);
            int kind = random.Next(10);
            if (kind < 7)
            {
                int slot = t.Lookup(disk, page);
                Assert.Equal(model.ContainsKey((disk, page)), slot >= 0);
                if (slot < 0)
                {
                    slot = t.FreeSlot();
                    if (slot < 0)
                    {
                        var lru = model.OrderBy(kv => kv.Value.Use).First();
                        int victim = t.Oldest(false);
                        Assert.Equal(lru.Key, (t.DiskOf(victim), t.PageOf(victim)));
                        if (t.IsDirty(victim))
                            Assert.True(t.MarkClean(victim));
                        Assert.Equal(lru.Value.Frame, t.Remove(victim));
                        model.Remove(lru.Key);
                        slot = victim;
                    }
                    Assert.True(t.Insert(slot, disk, page, nextFrame));
                    model[(disk, page)] = (nextFrame++, false, ++clock);
                }
                else
                {
                    var e = model[(disk, page)];
                    Assert.Equal(e.Frame, t.FrameOf(slot));
                    model[(disk, page)] = (e.Frame, e.Dirty, ++clock);
                }
                if (kind >= 4)
                {
                    Assert.True(t.MarkDirty(slot));
                    var e = model[(disk, page)];
                    model[(disk, page)] = (e.Frame, true, e.Use);
                }
            }
            else if (kind < 9)
            {
                int oldest = t.Oldest(cleanOnly: true);
                var clean = model.Where(kv => !kv.Value.Dirty).OrderBy(kv => kv.Value.Use).ToList();
                Assert.Equal(clean.Count == 0, oldest < 0);
                if (oldest >= 0)
                {
                    Assert.Equal(clean[0].Key, (t.DiskOf(oldest), t.PageOf(oldest)));
                    Assert.Equal(clean[0].Value.Frame, t.Remove(oldest));
                    model.Remove(clean[0].Key);
                }
            }
            else
            {
                for (int s = t.NextDirty(0); s >= 0; s = t.NextDirty(s + 1))
                {
                    Assert.True(t.MarkClean(s));
                    var key = (t.DiskOf(s), t.PageOf(s));
                    var e = model[key];
                    model[key] = (e.Frame, false, e.Use);
                }
            }
            Assert.Equal(model.Count, t.Count);
            Assert.Equal(model.Count(kv => kv.Value.Dirty), t.DirtyCount);
            Assert.Null(t.Check(out int broken));
        }
    }
}
