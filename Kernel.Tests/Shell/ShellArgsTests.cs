using System.Numerics;
using System.Text;
using PoolKernel.Shell;
using PoolKernel.Tests.CommandLine;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Shell;

/// <summary>
/// The shell's one numeric argument reader (Kernel.Shell/ShellArgs.cs): values are compared with
/// their range in 64 bits, before any narrowing; overflow and malformed words are refused.
/// </summary>
public sealed unsafe class ShellArgsTests
{
    private readonly ITestOutputHelper _output;

    public ShellArgsTests(ITestOutputHelper output) => _output = output;

    private static ArgStatus Read(string word, ulong min, ulong max, out ulong value)
    {
        if (word == null)
            return ShellArgs.Read(null, 0, min, max, out value);
        using var text = new GuardedText(Encoding.Latin1.GetBytes(word));
        return ShellArgs.Read(text.Text, text.Length, min, max, out value);
    }

    // The truncations: each was narrowed to a smaller type and accepted.
    [Theory]
    [InlineData("4294967296", 0UL, 10UL, ArgStatus.OutOfRange)]   // alloc 4294967296 became order 0
    [InlineData("4294967306", 0UL, 10UL, ArgStatus.OutOfRange)]   // alloc 4294967306 became order 10
    [InlineData("4294967299", 0UL, 10UL, ArgStatus.OutOfRange)]   // free PFN 4294967299 freed order 3
    [InlineData("256", 0UL, 31UL, ArgStatus.OutOfRange)]          // alloc 0 pool 256 used pool 0
    [InlineData("0", 12UL, 63UL, ArgStatus.OutOfRange)]           // alloc 0 dma 0
    [InlineData("64", 12UL, 63UL, ArgStatus.OutOfRange)]
    [InlineData("18446744073709551615", 0UL, ulong.MaxValue, ArgStatus.Ok)]
    [InlineData("18446744073709551616", 0UL, ulong.MaxValue, ArgStatus.TooLarge)]
    [InlineData("0xFFFFFFFFFFFFFFFF", 0UL, ulong.MaxValue, ArgStatus.Ok)]
    [InlineData("0x10000000000000000", 0UL, ulong.MaxValue, ArgStatus.TooLarge)]
    [InlineData("16777216T", 0UL, ulong.MaxValue, ArgStatus.TooLarge)]
    [InlineData("16777215T", 0UL, ulong.MaxValue, ArgStatus.Ok)]
    [InlineData("99999999999999999999999x", 0UL, ulong.MaxValue, ArgStatus.NotANumber)]
    [InlineData("", 0UL, 10UL, ArgStatus.NotANumber)]
    [InlineData("-1", 0UL, 10UL, ArgStatus.NotANumber)]
    [InlineData("0x", 0UL, 10UL, ArgStatus.NotANumber)]
    [InlineData("5%", 0UL, 10UL, ArgStatus.NotANumber)]
    [InlineData("1KB", 0UL, ulong.MaxValue, ArgStatus.NotANumber)]
    [InlineData(" 1", 0UL, 10UL, ArgStatus.NotANumber)]
    [InlineData("10", 0UL, 10UL, ArgStatus.Ok)]
    [InlineData("1k", 0UL, 1024UL, ArgStatus.Ok)]
    [InlineData(null, 0UL, 10UL, ArgStatus.Missing)]
    public void Edges(string word, ulong min, ulong max, ArgStatus expected)
    {
        ArgStatus status = Read(word, min, max, out ulong value);
        Assert.Equal(expected, status);
        Assert.Equal(expected == ArgStatus.Ok ? Reference(word, min, max).Value : 0UL, value);
    }

    /// <summary>
    /// Random words near every edge a command's range has (0, min, max, 2^8, 2^32, 2^64, with
    /// suffixes, hex, garbage) against random ranges, compared with a BigInteger reference, each
    /// word read from a buffer that ends at a PROT_NONE page. SHELLARGS_FUZZ_SEEDS/_OPS for more.
    /// </summary>
    [Fact]
    public void RandomWordsAndRanges_MatchTheReference()
    {
        SeededRuns.Run(_output, "shell argument fuzz", "SHELLARGS_FUZZ", 8, 4000, (seed, ops) =>
        {
            var random = new Random(seed);
            for (int i = 0; i < ops; i++)
            {
                ulong a = RandomEdge(random), b = RandomEdge(random);
                ulong min = Math.Min(a, b), max = Math.Max(a, b);
                string word = RandomWord(random, min, max);
                ArgStatus status = Read(word, min, max, out ulong value);
                (ArgStatus want, ulong wantValue) = Reference(word, min, max);
                if (status != want || value != wantValue)
                    throw new Exception($"'{word}' in {min}..{max}: got {status} {value}, expected {want} {wantValue}");
            }
        });
    }

    private static readonly ulong[] s_edges =
    {
        0, 1, 9, 10, 11, 12, 31, 32, 63, 64, 255, 256, 4095, 4096, 1UL << 20, uint.MaxValue, 1UL << 32,
        (1UL << 32) + 10, (1UL << 52) - 1, long.MaxValue, ulong.MaxValue - 1, ulong.MaxValue,
    };

    private static ulong RandomEdge(Random r) => r.Next(4) == 0 ? (ulong)r.NextInt64() : s_edges[r.Next(s_edges.Length)];

    private static string RandomWord(Random r, ulong min, ulong max)
    {
        BigInteger n = r.Next(6) switch
        {
            0 => (BigInteger)min + r.Next(-2, 3),
            1 => (BigInteger)max + r.Next(-2, 3),
            2 => (BigInteger)RandomEdge(r) + r.Next(-2, 3),
            3 => BigInteger.Pow(2, 64) * r.Next(1, 20) + r.Next(-3, 3),
            4 => (BigInteger)r.NextInt64() * r.NextInt64(),
            _ => r.Next(100),
        };
        if (n < 0)
            n = -n;
        string digits = r.Next(3) == 0 ? "0x" + n.ToString("X").TrimStart('0').PadLeft(1, '0') : n.ToString();
        int shape = r.Next(12);
        return shape switch
        {
            0 => digits + "KMGTkmgt"[r.Next(8)],
            1 => digits + "xB%- "[r.Next(5)],
            2 => "-" + digits,
            3 => "",
            4 => digits.Substring(0, r.Next(digits.Length + 1)) + (char)r.Next(1, 256),
            5 => "0x",
            _ => digits,
        };
    }

    /// <summary>The specification, by arbitrary-precision arithmetic.</summary>
    private static (ArgStatus Status, ulong Value) Reference(string word, ulong min, ulong max)
    {
        if (word == null)
            return (ArgStatus.Missing, 0);
        string body = word;
        int shift = 0;
        if (body.Length > 0 && "KMGTkmgt".IndexOf(body[^1]) >= 0)
        {
            shift = 10 * ("KMGT".IndexOf(char.ToUpperInvariant(body[^1])) + 1);
            body = body[..^1];
        }
        BigInteger n;
        if (body.Length > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X'))
        {
            string hex = body[2..];
            if (!hex.All(Uri.IsHexDigit))
                return (ArgStatus.NotANumber, 0);
            n = BigInteger.Parse("0" + hex, System.Globalization.NumberStyles.HexNumber);
        }
        else
        {
            if (body.Length == 0 || !body.All(c => c >= '0' && c <= '9'))
                return (ArgStatus.NotANumber, 0);
            n = BigInteger.Parse(body);
        }
        n <<= shift;
        if (n > ulong.MaxValue)
            return (ArgStatus.TooLarge, 0);
        if (n < min || n > max)
            return (ArgStatus.OutOfRange, 0);
        return (ArgStatus.Ok, (ulong)n);
    }
}
