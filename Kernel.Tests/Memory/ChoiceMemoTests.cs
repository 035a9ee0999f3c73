using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The remembered pool choices (ChoiceMemo): a probe
/// hits only the entry written for the same shape, address fields and pool-table generation, and an entry gives back
/// what was written into it (pools in order, implied marks, count, completeness, last key, resolved rules).
/// </summary>
public unsafe class ChoiceMemoTests
{
    private readonly ITestOutputHelper _output;

    public ChoiceMemoTests(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// Seeded: random requests (order, node, owner, mobility, flags, DMA bits, lowest, highest, alignment, boundary) are
    /// remembered with random pools, implied marks and keys; each is then found in its own generation and reads back
    /// as written, and the same request with any one field changed (or another generation) is not found in that entry.
    /// Defaults: 16 seeds x 400 requests; POOLKERNEL_MEMO_SEEDS / _SEED.
    /// </summary>
    [Fact]
    public void AProbeHitsOnlyItsOwnRequestAndGeneration_AndTheEntryReadsBackAsWritten()
        => SeededRuns.Run(_output, "choice memo", "POOLKERNEL_MEMO", 16, 400, (seed, ops) =>
        {
            var rng = new Random(seed);
            ChoiceMemo memo = default;
            for (int op = 0; op < ops; op++)
            {
                AllocRequest r = RandomRequest(rng);
                int order = rng.Next(11);
                uint generation = (uint)rng.Next(1, int.MaxValue);
                var rules = new DmaRules { LowPfn = (ulong)rng.NextInt64(), EndPfn = (ulong)rng.NextInt64(), AlignPages = 1UL << rng.Next(20), BoundaryPages = 1UL << rng.Next(30) };
                ulong shape = ChoiceMemo.Shape(order, r);
                Assert.Equal(-1, memo.Find(shape, r, generation == 1 ? 2u : generation - 1)); // a zero memo or an older entry
                int slot = memo.Begin(shape, r, rules, generation);
                int count = rng.Next(ChoiceMemo.Ranked + 2);
                var pools = new int[count];
                var implied = new bool[count];
                ulong lastKey = 0;
                for (int i = 0; i < count; i++)
                {
                    pools[i] = rng.Next(256);
                    implied[i] = rng.Next(2) == 0;
                    ulong key = (ulong)rng.NextInt64();
                    Assert.Equal(i < ChoiceMemo.Ranked, memo.Add(slot, pools[i], key, implied[i]));
                    if (i < ChoiceMemo.Ranked)
                        lastKey = key;
                }
                bool complete = rng.Next(2) == 0;
                if (complete)
                    memo.Finish(slot);

                Assert.Equal(slot, memo.Find(shape, r, generation));
                Assert.Equal(-1, memo.Find(shape, r, generation + 1));
                int kept = Math.Min(count, ChoiceMemo.Ranked);
                Assert.Equal(kept, memo.Count(slot));
                for (int i = 0; i < kept; i++)
                {
                    Assert.Equal(pools[i], memo.PoolAt(slot, i));
                    Assert.Equal(implied[i], memo.Implied(slot, i));
                }
                Assert.Equal(complete, memo.Complete(slot));
                Assert.Equal(lastKey, memo.LastKey(slot));
                Assert.Equal(order, memo.OrderOf(slot));
                DmaRules back = memo.Rules(slot);
                Assert.Equal((rules.LowPfn, rules.EndPfn, rules.AlignPages, rules.BoundaryPages), (back.LowPfn, back.EndPfn, back.AlignPages, back.BoundaryPages));
                memo.Entry(slot, out uint g, out int first);
                Assert.Equal(generation, g);
                if (kept > 0)
                    Assert.Equal(pools[0], first); // an entry with no pool has no first pool to read

                // One field changed: never this entry (another slot may be empty or hold another request: not a hit either).
                for (int field = 0; field < 10; field++)
                {
                    AllocRequest v = r;
                    int vOrder = order;
                    switch (field)
                    {
                        case 0: vOrder = order ^ (1 + rng.Next(7)); break;
                        case 1: v.PreferredNode ^= (byte)(1 + rng.Next(255)); break;
                        case 2: v.Owner ^= (byte)(1 + rng.Next(255)); break;
                        case 3: v.Mobility = (MobilityClass)((int)v.Mobility ^ (1 + rng.Next(3))); break;
                        case 4: v.Flags ^= RequestFlags.NodeStrict; break;
                        case 5: v.DmaAddressBits ^= (byte)(1 + rng.Next(63)); break;
                        case 6: v.Lowest = new PhysAddr(v.Lowest.Value ^ (1UL << rng.Next(64))); break;
                        case 7: v.Highest = new PhysAddr(v.Highest.Value ^ (1UL << rng.Next(64))); break;
                        case 8: v.Alignment ^= 1UL << rng.Next(64); break;
                        case 9: v.Boundary ^= 1UL << rng.Next(64); break;
                    }
                    Assert.NotEqual(slot, memo.Find(ChoiceMemo.Shape(vOrder, v), v, generation));
                }
            }
        });

    /// <summary>
    /// Seeded: the fast paths' lookup (<see cref="ChoiceMemo.FindRequest"/>, with its last request found in front of
    /// the entries) always answers what <see cref="ChoiceMemo.Find"/> answers, over random sequences of probes and
    /// rewrites: requests drawn from a few shapes, each probe repeated or changed in one field, entries rewritten
    /// (<see cref="ChoiceMemo.Begin"/>, colliding slots included) and generations moved on between them. A last
    /// request kept across a rewrite of its slot, a generation change or a changed field would answer a slot that
    /// Find does not. Defaults: 16 seeds x 2,000 operations; POOLKERNEL_MEMO_LAST_SEEDS / _OPS / _SEED.
    /// </summary>
    [Fact]
    public void TheLastRequestFound_AnswersWhatTheEntriesAnswer_AcrossRewritesChangedFieldsAndGenerations()
        => SeededRuns.Run(_output, "choice memo last request", "POOLKERNEL_MEMO_LAST", 16, 2000, (seed, ops) =>
        {
            var rng = new Random(seed);
            ChoiceMemo memo = default;
            var shapes = new (AllocRequest Request, int Order)[6];
            for (int k = 0; k < shapes.Length; k++)
                shapes[k] = (RandomRequest(rng), rng.Next(11));
            uint generation = 1;
            int hits = 0;
            for (int op = 0; op < ops; op++)
            {
                var (r, order) = shapes[rng.Next(shapes.Length)];
                int action = rng.Next(100);
                if (action < 5)
                    generation++;
                else if (action < 25)
                {
                    // Rewrite the entry this request maps to (or, with a changed field, likely another's).
                    if (rng.Next(2) == 0)
                        ChangeOneField(rng, ref r, ref order);
                    int slot = memo.Begin(ChoiceMemo.Shape(order, r), r, default, generation);
                    memo.Add(slot, rng.Next(256), (ulong)op, rng.Next(2) == 0);
                    continue;
                }
                else if (action < 45)
                    ChangeOneField(rng, ref r, ref order);
                int expected = memo.Find(ChoiceMemo.Shape(order, r), r, generation);
                Assert.Equal(expected, memo.FindRequest(order, r, generation));
                Assert.Equal(expected, memo.FindRequest(order, r, generation)); // again: now from the last request when found
                if (expected >= 0)
                    hits++;
            }
            Assert.True(hits > ops / 50, $"{hits} hits in {ops} operations: the sequence did not exercise the last request");
        });

    private static void ChangeOneField(Random rng, ref AllocRequest v, ref int order)
    {
        switch (rng.Next(10))
        {
            case 0: order ^= 1 + rng.Next(7); break;
            case 1: v.PreferredNode ^= (byte)(1 + rng.Next(255)); break;
            case 2: v.Owner ^= (byte)(1 + rng.Next(255)); break;
            case 3: v.Mobility = (MobilityClass)((int)v.Mobility ^ (1 + rng.Next(3))); break;
            case 4: v.Flags ^= RequestFlags.NodeStrict; break;
            case 5: v.DmaAddressBits ^= (byte)(1 + rng.Next(63)); break;
            case 6: v.Lowest = new PhysAddr(v.Lowest.Value ^ (1UL << rng.Next(64))); break;
            case 7: v.Highest = new PhysAddr(v.Highest.Value ^ (1UL << rng.Next(64))); break;
            case 8: v.Alignment ^= 1UL << rng.Next(64); break;
            default: v.Boundary ^= 1UL << rng.Next(64); break;
        }
    }

    private static AllocRequest RandomRequest(Random rng)
    {
        AllocRequest r = AllocRequest.Any;
        r.PreferredNode = rng.Next(3) == 0 ? AllocRequest.NoNode : (byte)rng.Next(4);
        r.Owner = (byte)rng.Next(64);
        r.Mobility = (MobilityClass)rng.Next(3);
        r.Flags = rng.Next(4) == 0 ? RequestFlags.NodeStrict : RequestFlags.None;
        if (rng.Next(2) == 0)
        {
            r.DmaAddressBits = (byte)(rng.Next(2) == 0 ? 0 : 24 + rng.Next(40));
            r.Lowest = new PhysAddr(rng.Next(2) == 0 ? 0 : (ulong)rng.NextInt64(1L << 40));
            r.Highest = new PhysAddr(rng.Next(2) == 0 ? 0 : (ulong)rng.NextInt64(1L << 40));
            r.Alignment = rng.Next(2) == 0 ? 0 : 1UL << rng.Next(12, 30);
            r.Boundary = rng.Next(2) == 0 ? 0 : 1UL << rng.Next(12, 40);
        }
        return r;
    }
}
