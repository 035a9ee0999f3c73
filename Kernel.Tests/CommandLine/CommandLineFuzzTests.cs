using System.Text;
using PoolKernel.Boot.CommandLine;
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
    private const int DefaultSeed = 0x5EED_C0DE;
    private const int Lines = 25_000;

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

    [Fact]
    public void RandomLines_NeverCrash_AccountForEveryToken_NeverReadOutsideTheLine()
    {
        string env = Environment.GetEnvironmentVariable("CMDLINE_FUZZ_SEED");
        int seed = env != null ? int.Parse(env) : DefaultSeed;
        _output.WriteLine($"CommandLine fuzz seed {seed} (set CMDLINE_FUZZ_SEED to replay)");
        var random = new Random(seed);
        BootOptions* options = stackalloc BootOptions[1];
        var statuses = new int[3];
        var codes = new HashSet<DiagnosticCode>();
        int pools = 0;

        for (int n = 0; n < Lines; n++)
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

        _output.WriteLine($"tokens accepted {statuses[0]}, adjusted {statuses[1]}, rejected {statuses[2]}; pools {pools}; distinct codes {codes.Count}; never produced: {string.Join(", ", Enum.GetValues<DiagnosticCode>().Where(c => c != DiagnosticCode.None && !codes.Contains(c)))}");
        // The generator must reach all three outcomes and most diagnostics, or the test proves little.
        Assert.True(statuses[0] > Lines && statuses[1] > Lines / 10 && statuses[2] > Lines, $"seed {seed}: outcomes {statuses[0]}/{statuses[1]}/{statuses[2]}");
        Assert.True(codes.Count >= 30, $"seed {seed}: only {codes.Count} distinct codes: {string.Join(", ", codes)}");
    }

    private static byte[] RandomLine(Random random)
    {
        var sb = new StringBuilder();
        // Mostly short lines; one in 50 goes beyond BootOptions.MaxTokens.
        int tokens = random.Next(50) == 0 ? random.Next(BootOptions.MaxTokens, BootOptions.MaxTokens + 40) : random.Next(0, 24);
        for (int t = 0; t < tokens; t++)
        {
            sb.Append(random.Next(8) == 0 ? "  " : random.Next(20) == 0 ? "\t" : " ");
            sb.Append(RandomToken(random));
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

    private static string Escape(byte[] line)
    {
        var sb = new StringBuilder();
        foreach (byte b in line)
            sb.Append(b is >= 32 and < 127 ? ((char)b).ToString() : $"\\x{b:x2}");
        return sb.ToString();
    }
}
