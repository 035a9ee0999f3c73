using System.Numerics;
using PoolKernel.Boot.PoolPlan;
using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.PoolPlan;

/// <summary>
/// Seeded random command lines, valid and garbage tokens mixed, parsed and applied to random
/// QEMU-like machines: the planner never crashes, the checker stays clean, no page is lost, and
/// every outcome agrees with the pools (created: present and at least the planned size; refused:
/// nothing created and, when too large, less available than planned). The seed and line of a
/// failure are in its message, so it can be replayed.
/// </summary>
public sealed unsafe class PoolPlanFuzzTests
{
    private readonly ITestOutputHelper _output;

    public PoolPlanFuzzTests(ITestOutputHelper output) => _output = output;

    private static readonly string[] s_sizes = { "1", "4K", "3M", "8M", "64M", "256M", "1G", "3G", "64G", "0", "10%", "50%", "100%", "101%", "12X", "", "0x800000" };
    private static readonly string[] s_options = { "dma=32", "dma=24", "dma=20", "dma=99", "boundary=64K", "align=4K", "align=3K", "prio=10", "prio=999", "owner=3", "owner=64", "rt", "movable", "min=16M", "max=32M", "min=1G", "max=1", "rt=1", "", "bogus" };
    private static readonly string[] s_places = { "", "@0", "@1", "@3", "@63", "@0-16M", "@16M-4G", "@1G-5G", "@4G-", "@5G-6G", "@x", "@2G-1G", "@0x100000-0x1a00000" };
    private static readonly string[] s_garbage = { "quiet", "=", "pool", "pool=", "pool=:", "mem=", "hugepages=-1", "cma=@", "numa=fake=99", "memmap=64M$0x10000000", "mem=512M", "\"unterminated", "kernelcore=mirror", "hugepagesz=4M", "pool=Bad:8M", "pool=x,y:8M" };

    private static string RandomToken(Random r)
    {
        switch (r.Next(9))
        {
            case 0:
            case 1:
            case 2:
            {
                string name = r.Next(10) == 0 ? "node0-dma32" : "p" + r.Next(6);
                string token = $"pool={name}:{s_sizes[r.Next(s_sizes.Length)]}{s_places[r.Next(s_places.Length)]}";
                int options = r.Next(4);
                for (int i = 0; i < options; i++)
                    token += "," + s_options[r.Next(s_options.Length)];
                return token;
            }
            case 3:
                return r.Next(2) == 0 ? $"hugepages={r.Next(600)}" : $"hugepages={r.Next(3)}:{r.Next(6)},{r.Next(3)}:{r.Next(600)}";
            case 4:
                return r.Next(2) == 0 ? "hugepagesz=1G" : "hugepagesz=2M";
            case 5:
                return "cma=" + s_sizes[r.Next(s_sizes.Length)] + (r.Next(2) == 0 ? "" : s_places[r.Next(s_places.Length)]);
            case 6:
                return (r.Next(2) == 0 ? "kernelcore=" : "movablecore=") + s_sizes[r.Next(s_sizes.Length)];
            default:
                return s_garbage[r.Next(s_garbage.Length)];
        }
    }

    /// <summary>POOLPLAN_SEEDS / _OPS (lines a seed) run longer; POOLPLAN_SEED replays one seed.</summary>
    [Fact]
    public void RandomCommandLines_NeverBreakThePools()
        => SeededRuns.Run(_output, "random pool plans", "POOLPLAN", 2, 1000, RandomCommandLinesSeed);

    private static void RandomCommandLinesSeed(int seed, int lines)
    {
        var r = new Random(seed);
        (string machine, ulong mib, int nodes)[] machines =
        {
            ("pc", 128, 1), ("q35", 1024, 1), ("q35", 1024, 2), ("pc", 6144, 1), ("q35", 6144, 2),
        };
        int created = 0, refused = 0;
        for (int line = 0; line < lines; line++)
        {
            var tokens = new string[r.Next(1, 9)];
            for (int t = 0; t < tokens.Length; t++)
                tokens[t] = RandomToken(r);
            string text = string.Join(' ', tokens);
            var (machine, mib, nodes) = machines[r.Next(machines.Length)];
            string context = $"seed {seed} line {line} on {machine} {mib}M {nodes} node(s): '{text}'";
            Applied a = null;
            try
            {
                a = new Applied(text, machine, mib, nodes);
                for (int i = 0; i < a.Result->Count; i++)
                {
                    PoolOutcome o = *a.Result->Outcome(i);
                    if (o.IsCreated)
                    {
                        created++;
                        Assert.Equal(MemoryStatus.Ok, a.Pm->GetPoolStats(new PoolId(o.Pool), out PoolStats stats));
                        Assert.Equal(stats.PresentPages * 4096, o.GotBytes);
                        Assert.True(o.GotBytes >= o.PlannedBytes, $"got {o.GotBytes} < planned {o.PlannedBytes}");
                        Assert.Equal(stats.PresentPages, stats.FreePages);
                    }
                    else
                    {
                        refused++;
                        Assert.Equal(0xFF, o.Pool);
                        Assert.NotEqual(OutcomeCode.Failed, o.Code);
                        if (o.Code == OutcomeCode.TooLarge)
                            Assert.True(o.AvailableBytes < o.PlannedBytes, $"available {o.AvailableBytes} >= planned {o.PlannedBytes}");
                    }
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new Xunit.Sdk.XunitException($"{context}\n{e.Message}\n{a?.Dump()}");
            }
            finally
            {
                a?.Dispose();
            }
        }
        Assert.True(created > lines / 4 && refused > lines / 4, $"seed {seed}: created {created}, refused {refused} in {lines} lines: the mix does not exercise both");
    }

    private static readonly BigInteger s_two64 = BigInteger.One << 64;

    private static readonly ulong[] s_edgeSizes =
    {
        1, 4095, 4096, 4097, (2UL << 20) - 1, 2UL << 20, (2UL << 20) + 1, 8UL << 20, uint.MaxValue, 1UL << 32, (1UL << 32) + 1,
        1UL << 52, 1UL << 63, ulong.MaxValue - (2UL << 20) + 1, ulong.MaxValue - 4095, ulong.MaxValue - 1, ulong.MaxValue,
    };

    private static readonly (string Suffix, int Shift)[] s_edgeSuffixes = { ("", 0), ("K", 10), ("M", 20), ("G", 30), ("T", 40) };

    /// <summary>A size near an edge that the parser accepts (it fits in 64 bits with its suffix), as text and value.</summary>
    private static (string Text, ulong Value) EdgeSize(Random r)
    {
        while (true)
        {
            ulong n = s_edgeSizes[r.Next(s_edgeSizes.Length)];
            var (suffix, shift) = s_edgeSuffixes[r.Next(s_edgeSuffixes.Length)];
            if (r.Next(3) == 0)
                n >>= shift;
            if (n != 0 && n <= ulong.MaxValue >> shift)
                return (n + suffix, n << shift);
        }
    }

    /// <summary>
    /// Sizes, max= and min= at the edges of 64 bits (page-1, 2^32±1, 2^63, 2^64-1, with every suffix) for
    /// pool=, cma=, movablecore=, kernelcore= and hugepages=: every outcome is either a refusal (with a
    /// code the kernel prints as a line) or planned exactly: planned = the size rounded up to whole units
    /// (or max= rounded up, when that is smaller), MaximumPages = max rounded up to page blocks,
    /// MinimumPages = min(min rounded up to a page, planned). SizeOverflow (the pool) or MaxOverflow /
    /// GuaranteedOverflow (the option, with a note) exactly when the exact rounded value exceeds 2^64 - 1. POOLPLAN_EDGES_SEEDS / _OPS run longer; POOLPLAN_EDGES_SEED replays one seed.
    /// </summary>
    [Fact]
    public void EdgeSizes_ArePlannedExactlyOrRefused_NeverWrapped()
        => SeededRuns.Run(_output, "pool plan size edges", "POOLPLAN_EDGES", 4, 60, EdgeSizesSeed);

    private static void EdgeSizesSeed(int seed, int ops)
    {
        var r = new Random(seed);
        const ulong PageBlock = 2UL << 20;
        for (int op = 0; op < ops; op++)
        {
            var (sizeText, size) = EdgeSize(r);
            var (maxText, max) = EdgeSize(r);
            var (minText, min) = EdgeSize(r);
            bool withMax = r.Next(2) == 0, withMin = r.Next(2) == 0;
            ulong hugeCount = (ulong)r.Next(1, 3) << r.Next(0, 50);
            string line = r.Next(6) switch
            {
                0 or 1 => $"pool=a:{sizeText}" + (withMax ? $",max={maxText}" : "") + (withMin ? $",min={minText}" : ""),
                2 => $"cma={sizeText}",
                3 => $"movablecore={sizeText}",
                4 => $"kernelcore={sizeText}",
                _ => (r.Next(2) == 0 ? "hugepagesz=1G " : "") + $"hugepages={hugeCount}",
            };
            using var a = new Applied(line, "q35", 1024, 1);
            string context = $"seed {seed} op {op}: '{line}'\n{a.Dump()}";
            Assert.True(a.Result->Count <= 1, context);
            if (a.Result->Count == 0)
            {
                // Only hugepages= can be refused by the parser here (count * block beyond 2^64).
                Assert.True(line.Contains("hugepages=") && (BigInteger)hugeCount * PageBlock >= s_two64 / 512, context);
                continue;
            }
            PoolOutcome o = *a.Result->Outcome(0);
            var spec = *a.Parsed.Options->Pool(0);
            Assert.True(o.Code != OutcomeCode.Failed && o.Code != OutcomeCode.None, context);
            if (spec.Origin == PoolKernel.Boot.CommandLine.PoolOrigin.KernelCore)
            {
                // The movable rest: never more than memory minus kernelcore, in whole page blocks.
                if (o.IsCreated)
                    Assert.True(o.PlannedBytes % PageBlock == 0 && (BigInteger)o.PlannedBytes + spec.SizeBytes <= a.PresentBefore * 4096, context);
                continue;
            }
            BigInteger unit = Math.Max(spec.BlockSize, PageBlock);
            BigInteger exact = ((BigInteger)spec.SizeBytes + unit - 1) / unit * unit;
            if (exact >= s_two64)
            {
                Assert.True(o.Code == OutcomeCode.SizeOverflow && o.RequestedBytes == spec.SizeBytes, context);
                continue;
            }
            Assert.True(o.Code != OutcomeCode.SizeOverflow, context);
            BigInteger maxBytes = spec.Max == 0 ? exact : ((BigInteger)spec.Max + PageBlock - 1) / PageBlock * PageBlock;
            BigInteger minBytes = ((BigInteger)spec.Guaranteed + 4095) / 4096 * 4096;
            // A max= or min= that cannot be rounded within 64 bits is ignored with a note.
            Assert.True(((o.Notes & OutcomeNotes.MaxOverflow) != 0) == (spec.Max != 0 && maxBytes >= s_two64), context);
            Assert.True(((o.Notes & OutcomeNotes.GuaranteedOverflow) != 0) == (spec.Guaranteed != 0 && minBytes >= s_two64), context);
            if (maxBytes >= s_two64)
                maxBytes = exact;
            BigInteger planned = BigInteger.Min(exact, maxBytes);
            Assert.True(o.PlannedBytes == planned, $"planned {o.PlannedBytes}, exact {planned}\n{context}");
            Assert.True(((o.Notes & OutcomeNotes.LimitedByMax) != 0) == (maxBytes < exact), context);
            if (!o.IsCreated)
            {
                Assert.True(o.Code == OutcomeCode.TooLarge && o.AvailableBytes < o.PlannedBytes, context);
                continue;
            }
            PoolProperties props = a.Props(o);
            Assert.Equal(spec.Max == 0 || (o.Notes & OutcomeNotes.MaxOverflow) != 0 ? 0UL : (ulong)(maxBytes / 4096), props.MaximumPages);
            Assert.Equal(spec.Guaranteed == 0 || (o.Notes & OutcomeNotes.GuaranteedOverflow) != 0 ? 0UL : (ulong)(BigInteger.Min(minBytes, planned) / 4096), props.MinimumPages);
        }
    }
}
