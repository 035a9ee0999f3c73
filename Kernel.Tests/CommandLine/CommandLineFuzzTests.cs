using System.Numerics;
using System.Text;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.CommandLine;

/// <summary>
/// Seeded random command lines mixing valid tokens, near-misses and garbage. Every line is
/// parsed from a buffer that ends (or starts) at a PROT_NONE page, then checked structurally.
/// Replay a failure with CMDLINE_FUZZ_SEED=&lt;seed&gt; (the seed is in the failure message).
/// </summary>
public sealed unsafe class CommandLineFuzzTests
{
    private const int DefaultLines = 25_000;

    private readonly ITestOutputHelper _output;

    public CommandLineFuzzTests(ITestOutputHelper output) => _output = output;

    private static readonly string[] s_keys =
    {
        "pool", "run", "test", "hugepages", "hugepagesz", "default_hugepagesz", "default-hugepagesz",
        "cma", "mem", "memmap", "kernelcore", "movablecore", "numa", "quiet", "console", "pool", "pool", "kernelcore=mirror", "memmap=exactmap",
    };

    private static readonly string[] s_sizes =
    {
        "4K", "64M", "2M", "1G", "1g", "2T", "0", "0x1000", "0x100000000", "25%", "100%", "0%", "101%",
        "18446744073709551615", "18446744073709551616", "16777216T", "4X", "4KB", "", "0x", "x", "-1", "12", "1M",
    };

    private static readonly string[] s_options =
    {
        "dma=32", "dma=24", "dma=0", "dma=65", "dma=", "boundary=64K", "boundary=3K", "align=2M", "align=0",
        "prio=10", "prio=999", "prio=x", "owner=7", "owner=4294967296", "rt", "rt=1", "movable", "min=1M",
        "max=2M", "max=0", "min=8M", "bogus", "", "dma", "align=4K", "owner=0",
    };

    private static readonly string[] s_garbage = { "=", "==", "\"", "pool=\"a:1M\"", "\"run=a b\"", "=x", "@", ",", ":", "\x01", "\xff", "\0", "\t", "a=\"b" };

    /// <summary>CMDLINE_FUZZ_SEEDS / _OPS (lines a seed) run longer; CMDLINE_FUZZ_SEED replays one seed.</summary>
    [Fact]
    public void RandomLines_NeverCrash_AccountForEveryToken_NeverReadOutsideTheLine()
        => SeededRuns.Run(_output, "random command lines", "CMDLINE_FUZZ", 2, DefaultLines, RandomLinesSeed);

    private void RandomLinesSeed(int seed, int lines)
    {
        var random = new Random(seed);
        BootOptions* options = stackalloc BootOptions[1];
        var statuses = new int[3];
        var codes = new HashSet<DiagnosticCode>();
        int pools = 0;

        for (int n = 0; n < lines; n++)
        {
            byte[] line = RandomLine(random);
            var placement = (n & 1) == 0 ? GuardedText.Placement.AtEnd : GuardedText.Placement.AtStart;
            using var text = new GuardedText(line, placement);
            CommandLineParser.Parse(text.Text, text.Length, options);
            string broken = BootOptionsChecker.Check(line, options);
            if (broken != null)
            {
                Assert.Fail($"seed {seed}, line {n}: {broken}\n  line: {Escape(line)}");
            }
            for (int i = 0; i < options->TokenCount; i++)
                statuses[(int)options->Token(i)->Status]++;
            for (int i = 0; i < options->DiagnosticCount; i++)
                codes.Add(options->DiagnosticAt(i)->Code);
            pools += options->PoolCount;
        }

        _output.WriteLine($"seed {seed}: tokens accepted {statuses[0]}, adjusted {statuses[1]}, rejected {statuses[2]}; pools {pools}; distinct codes {codes.Count}; never produced: {string.Join(", ", Enum.GetValues<DiagnosticCode>().Where(c => c != DiagnosticCode.None && !codes.Contains(c)))}");
        // The generator must reach all three outcomes and most diagnostics, or the test proves little.
        Assert.True(statuses[0] > lines && statuses[1] > lines / 10 && statuses[2] > lines, $"seed {seed}: outcomes {statuses[0]}/{statuses[1]}/{statuses[2]}");
        Assert.True(codes.Count >= 30, $"seed {seed}: only {codes.Count} distinct codes: {string.Join(", ", codes)}");
    }

    private static byte[] RandomLine(Random random)
    {
        var sb = new StringBuilder();
        // Mostly short lines; one in 50 goes beyond BootOptions.MaxTokens, one in 50 beyond MaxTextLength bytes.
        int kind = random.Next(50);
        int tokens = kind == 0 ? random.Next(BootOptions.MaxTokens, BootOptions.MaxTokens + 40) : random.Next(0, 24);
        for (int t = 0; t < tokens; t++)
        {
            sb.Append(random.Next(8) == 0 ? "  " : random.Next(20) == 0 ? "\t" : " ");
            sb.Append(RandomToken(random));
        }
        if (kind == 1)
        {
            // Long tokens up to and across byte 4096, with a run= near the limit or after it.
            while (sb.Length < BootOptions.MaxTextLength - 300)
                sb.Append(' ').Append(RandomPool(random)).Append(new string('x', random.Next(0, 200)));
            sb.Append(' ').Append(random.Next(2) == 0 ? "run=\"meminfo;halt\"" : "run=" + new string('c', random.Next(250, 400)));
            if (random.Next(2) == 0)
                sb.Append(' ').Append(RandomToken(random));
        }
        if (random.Next(4) == 0)
            sb.Append(' ');
        byte[] bytes = Encoding.Latin1.GetBytes(sb.ToString());
        // Flip a few bytes: near-misses of valid tokens.
        int flips = random.Next(4) == 0 ? random.Next(1, 4) : 0;
        for (int i = 0; i < flips && bytes.Length > 0; i++)
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
        // Cut the line anywhere, e.g. in the middle of a quote or option.
        if (random.Next(6) == 0 && bytes.Length > 0)
            Array.Resize(ref bytes, random.Next(bytes.Length));
        return bytes;
    }

    private static string RandomToken(Random random)
    {
        switch (random.Next(12))
        {
            case 0:
                return s_garbage[random.Next(s_garbage.Length)];
            case 1:
            {
                var sb = new StringBuilder();
                int length = random.Next(1, 12);
                for (int i = 0; i < length; i++)
                    sb.Append((char)random.Next(33, 127));
                return sb.ToString();
            }
            case 2:
            case 3:
            case 4:
                return RandomPool(random);
            case 5:
                return "hugepages=" + (random.Next(2) == 0 ? random.Next(0, 5000).ToString() : $"{random.Next(0, 70)}:{random.Next(0, 9)},{random.Next(0, 3)}:{random.Next(0, 9)}" + (random.Next(3) == 0 ? ",x" : ""));
            case 6:
                return (random.Next(2) == 0 ? "hugepagesz=" : "default_hugepagesz=") + s_sizes[random.Next(s_sizes.Length)];
            case 7:
                return "memmap=" + s_sizes[random.Next(s_sizes.Length)] + "$$@#!%x"[random.Next(7)] + s_sizes[random.Next(s_sizes.Length)];
            case 8:
                return "cma=" + s_sizes[random.Next(s_sizes.Length)] + (random.Next(2) == 0 ? "" : "@" + s_sizes[random.Next(s_sizes.Length)] + (random.Next(2) == 0 ? "" : "-" + s_sizes[random.Next(s_sizes.Length)]));
            case 9:
                return random.Next(3) switch
                {
                    0 => "numa=" + (random.Next(2) == 0 ? "off" : "fake=" + random.Next(-1, 70)),
                    1 => "run=" + (random.Next(2) == 0 ? "\"pools show;meminfo\"" : "pools;;check"),
                    _ => "test=" + (random.Next(4) == 0 ? "" : "buddy"),
                };
            default:
                return s_keys[random.Next(s_keys.Length)] + (random.Next(8) == 0 ? "" : "=") + s_sizes[random.Next(s_sizes.Length)];
        }
    }

    private static string RandomPool(Random random)
    {
        var sb = new StringBuilder("pool=");
        string[] names = { "dma32", "rt", "a", "video-buf", "x_1", "", "Upper", "fifteen_chars_x", "sixteen_chars_xx", "rt" };
        sb.Append(names[random.Next(names.Length)]);
        if (random.Next(10) != 0)
            sb.Append(':').Append(s_sizes[random.Next(s_sizes.Length)]);
        switch (random.Next(5))
        {
            case 0: sb.Append('@').Append(random.Next(0, 70)); break;
            case 1: sb.Append('@').Append(s_sizes[random.Next(s_sizes.Length)]).Append('-').Append(s_sizes[random.Next(s_sizes.Length)]); break;
            case 2: sb.Append('@'); break;
        }
        int options = random.Next(0, 5);
        for (int i = 0; i < options; i++)
            sb.Append(',').Append(s_options[random.Next(s_options.Length)]);
        return sb.ToString();
    }

    /// <summary>
    /// Every numeric field of every option, given numbers at the edges of their types (0, 1, page-1, 2^32±1,
    /// 2^52, 2^63, 2^64-1, 2^64 and more) in decimal or hex with every suffix: the field is either the
    /// mathematically exact value, or the token carries a diagnostic (refused, or clamped as documented).
    /// CMDLINE_EDGES_SEEDS / _OPS run longer; CMDLINE_EDGES_SEED replays one seed.
    /// </summary>
    [Fact]
    public void NumericFields_AtTheEdgesOfTheirTypes_AreExactOrRefusedWithADiagnostic()
        => SeededRuns.Run(_output, "command-line numeric edges", "CMDLINE_EDGES", 8, 2000, NumericEdgesSeed);

    private static readonly BigInteger s_two64 = BigInteger.One << 64;

    private static readonly BigInteger[] s_edges =
    {
        0, 1, 2, 8, 63, 64, 255, 256, 4095, 4096, 4097, (1 << 21) - 1, 1 << 21, uint.MaxValue - 1UL, uint.MaxValue, 1UL << 32, (1UL << 32) + 1,
        1UL << 40, (1UL << 52) - 1, 1UL << 52, long.MaxValue, 1UL << 63, ulong.MaxValue - 4095, ulong.MaxValue - 1, ulong.MaxValue,
        s_two64, s_two64 + 1, BigInteger.Pow(10, 20), BigInteger.Pow(10, 30),
    };

    private static readonly (string Suffix, int Shift)[] s_suffixes =
    {
        ("", 0), ("", 0), ("K", 10), ("M", 20), ("G", 30), ("T", 40), ("k", 10), ("m", 20), ("g", 30), ("t", 40),
    };

    /// <summary>A number near an edge as text, with its exact value; the suffix only when <paramref name="sized"/>.</summary>
    private static (string Text, BigInteger Exact) EdgeNumber(Random r, bool sized)
    {
        BigInteger n = s_edges[r.Next(s_edges.Length)];
        if (r.Next(4) == 0)
            n += r.Next(-2, 3);
        if (n < 0)
            n = 0;
        string digits = r.Next(3) == 0 ? "0x" + n.ToString("x").TrimStart('0').PadLeft(1, '0') : n.ToString();
        if (!sized)
            return (digits, n);
        var (suffix, shift) = s_suffixes[r.Next(s_suffixes.Length)];
        return (digits + suffix, n << shift);
    }

    private static void NumericEdgesSeed(int seed, int ops)
    {
        var r = new Random(seed);
        for (int op = 0; op < ops; op++)
        {
            var (a, x) = EdgeNumber(r, true);
            var (b, y) = EdgeNumber(r, true);
            var (c, count) = EdgeNumber(r, false);
            int field = r.Next(19);
            string line = field switch
            {
                0 => $"pool=a:{a}",
                1 => $"pool=a:4K@{a}-{b}",
                2 => $"pool=a:4K,min={a}",
                3 => $"pool=a:4K,max={a}",
                4 => $"pool=a:4K,boundary={a}",
                5 => $"pool=a:4K,align={a}",
                6 => $"pool=a:4K,prio={c}",
                7 => $"pool=a:4K,owner={c}",
                8 => $"pool=a:4K,dma={c}",
                9 => $"pool=a:4K@{c}",
                10 => $"cma={a}@{b}",
                11 => r.Next(2) == 0 ? $"kernelcore={a}" : $"movablecore={a}",
                12 => $"mem={a}",
                13 => $"memmap={a}${b}",
                14 => (r.Next(2) == 0 ? "hugepagesz=1G " : "") + $"hugepages={c}",
                15 => $"hugepages=1:{c}",
                16 => $"hugepagesz={a}",
                17 => $"numa=fake={c}",
                _ => $"pool=a:{c}%",
            };
            using var p = new Parsed(line);
            string context = $"seed {seed} op {op}: '{line}'\n{p.Dump()}";
            string broken = BootOptionsChecker.Check(Encoding.Latin1.GetBytes(line), p.Options);
            Assert.True(broken == null, $"{broken}\n{context}");
            TokenRecord token = p.Token(p.Options->TokenCount - 1);
            bool accepted = token.Status == TokenStatus.Accepted;
            Diagnostic d = p.DiagnosticOf(p.Options->TokenCount - 1);
            PoolSpec? pool = p.Options->PoolCount > 0 ? *p.Options->Pool(0) : null;

            // field value as parsed (null = not set), and the exact value it must be when set.
            void Exact(BigInteger? got, BigInteger want, params DiagnosticCode[] clamps)
            {
                if (got == null)
                {
                    // Not set: refused (with a diagnostic), or the exact value is 0, which is "not set".
                    Assert.True(!accepted || want == 0, $"accepted but not set (exact {want})\n{context}");
                    return;
                }
                if (got == want)
                    return;
                Assert.True(!accepted && clamps.Contains(d.Code), $"value {got}, exact {want}, no diagnostic says why\n{context}");
            }
            BigInteger? Set(ulong v) => v == 0 ? null : v;

            switch (field)
            {
                case 0: Exact(pool is PoolSpec s0 ? Set(s0.SizeBytes) : null, x); break;
                case 1:
                    Exact(pool is PoolSpec s1 ? s1.RangeStart : null, x);
                    Exact(pool is PoolSpec s1e ? s1e.RangeEnd : null, y);
                    break;
                case 2: Exact(pool is PoolSpec s2 ? Set(s2.Guaranteed) : null, x); if (x == 0) Assert.True(accepted, context); break;
                case 3: Exact(pool is PoolSpec s3 ? Set(s3.Max) : null, x); break;
                case 4: Exact(pool is PoolSpec s4 ? Set(s4.Boundary) : null, x); break;
                case 5: Exact(pool is PoolSpec s5 ? Set(s5.Align) : null, x); break;
                case 6: Exact(pool is PoolSpec s6 && (s6.Flags & PoolSpecFlags.HasPrio) != 0 ? s6.Prio : null, count, DiagnosticCode.PrioClamped); break;
                case 7: Exact(pool is PoolSpec s7 && (s7.Flags & PoolSpecFlags.HasOwner) != 0 ? s7.Owner : null, count); break;
                case 8: Exact(pool is PoolSpec s8 ? Set(s8.DmaBits) : null, count); break;
                case 9: Exact(pool is PoolSpec s9 && s9.Node >= 0 ? s9.Node : null, count); break;
                case 10:
                    Exact(pool is PoolSpec s10 ? Set(s10.SizeBytes) : null, x);
                    Exact(pool is PoolSpec s10s ? s10s.RangeStart : null, y);
                    break;
                case 11: Exact(pool is PoolSpec s11 ? Set(s11.SizeBytes) : null, x); break;
                case 12: Exact(Set(p.Options->MemCap), x); break;
                case 13:
                    Exact(p.Options->ReservedRangeCount > 0 ? p.Options->ReservedStart(0) : null, y);
                    Exact(p.Options->ReservedRangeCount > 0 ? p.Options->ReservedEnd(0) : null, x + y);
                    break;
                case 14:
                case 15:
                    if (count == 0)
                    {
                        Assert.True(pool == null, context);
                        break;
                    }
                    ulong block = line.StartsWith("hugepagesz=1G") ? BootOptions.HugePageSize1G : BootOptions.HugePageSize2M;
                    Exact(pool is PoolSpec s14 ? Set(s14.SizeBytes) : null, count * block);
                    break;
                case 16:
                    if (x == BootOptions.HugePageSize2M || x == BootOptions.HugePageSize1G)
                        Assert.True(accepted, context);
                    else
                        Assert.False(accepted, context);
                    break;
                case 17: Exact(p.Options->FakeNodeCount != 0 ? p.Options->FakeNodeCount : null, count, DiagnosticCode.FakeNodesClamped); break;
                default: Exact(pool is PoolSpec s18 ? Set(s18.SizePercent) : null, count); break;
            }
        }
    }

    /// <summary>
    /// Lines that fill every fixed table of the parser (pools, memmap ranges, tokens, bytes) in random
    /// order and amounts: every item beyond a table gets a diagnostic that says so (per pool and per
    /// range; one counted line for tokens and one for bytes), and a lost run= is flagged.
    /// CMDLINE_TABLES_SEEDS / _OPS run longer; CMDLINE_TABLES_SEED replays one seed.
    /// </summary>
    [Fact]
    public void FullTables_EveryDroppedItemIsReported()
        => SeededRuns.Run(_output, "command-line full tables", "CMDLINE_TABLES", 8, 60, FullTablesSeed);

    private static void FullTablesSeed(int seed, int ops)
    {
        var r = new Random(seed);
        for (int op = 0; op < ops; op++)
        {
            var tokens = new List<string>();
            int pools = r.Next(0, BootOptions.MaxPoolSpecs + 8), ranges = r.Next(0, BootOptions.MaxReservedRanges + 8), filler = r.Next(0, 160);
            for (int i = 0; i < pools; i++)
                tokens.Add($"pool=p{i}:{r.Next(1, 64)}M");
            for (int i = 0; i < ranges; i++)
                tokens.Add($"memmap=4K${0x10000000 + i * 0x2000:x}".Replace("$", "$0x"));
            for (int i = 0; i < filler; i++)
                tokens.Add(r.Next(3) == 0 ? "quiet" + new string('q', r.Next(0, 60)) : "mem=1G");
            tokens = tokens.OrderBy(_ => r.Next()).ToList();
            tokens.Add("run=\"meminfo;halt\"");
            string line = string.Join(' ', tokens);
            using var p = new Parsed(line);
            string context = $"seed {seed} op {op}\n{p.Dump()}";
            string broken = BootOptionsChecker.Check(Encoding.Latin1.GetBytes(line), p.Options);
            Assert.True(broken == null, $"{broken}\n{context}");

            int poolTokens = 0, rangeTokens = 0;
            for (int i = 0; i < p.Options->TokenCount; i++)
            {
                TokenRecord t = p.Token(i);
                string text = p.Slice(t.Offset, t.Length);
                if (text.StartsWith("pool=") && ++poolTokens > BootOptions.MaxPoolSpecs)
                    Assert.True(p.DiagnosticOf(i).Code == DiagnosticCode.TooManyPools && t.Status == TokenStatus.Rejected, context);
                if (text.StartsWith("memmap=") && ++rangeTokens > BootOptions.MaxReservedRanges)
                    Assert.True(p.DiagnosticOf(i).Code == DiagnosticCode.TooManyReservedRanges && t.Status == TokenStatus.Rejected, context);
            }
            Assert.Equal(Math.Min(poolTokens, BootOptions.MaxPoolSpecs), p.Options->PoolCount);
            Assert.Equal(Math.Min(rangeTokens, BootOptions.MaxReservedRanges), p.Options->ReservedRangeCount);
            bool runParsed = p.Options->RunLength != 0;
            Assert.True(runParsed != (p.Options->RunDroppedBy != DiagnosticCode.None), context);
        }
    }

    private static string Escape(byte[] line)
    {
        var sb = new StringBuilder();
        foreach (byte b in line)
            sb.Append(b is >= 32 and < 127 ? ((char)b).ToString() : $"\\x{b:x2}");
        return sb.ToString();
    }
}
