using System.Text;
using PoolKernel.Shell;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Seeded boots whose run= script gives every numeric argument of every command an edge value:
/// one below or above its range, 2^32 plus a valid value (what narrowing to 32 bits would
/// accept), 2^64 and beyond, hex and suffixed forms, malformed words, missing words. Each command
/// has exactly one bad argument, so each must print exactly its refusal line and do nothing; at the
/// end the checkers must be clean and nothing may have been allocated or freed.
/// SHELL_ARGS_BOOT_FUZZ_SEEDS / _OPS (commands a boot) for longer runs, _SEED to replay one.
/// </summary>
public class ShellArgumentFuzzBootTests
{
    private readonly ITestOutputHelper _output;

    public ShellArgumentFuzzBootTests(ITestOutputHelper output) => _output = output;

    /// <summary>A numeric argument: its name in the refusal line, its range, the largest value cheap to run with.</summary>
    private sealed record Arg(string Name, ulong Min, ulong Max, ulong Cheap, bool Required = true);

    /// <summary>A command form: its name and its words after the name, each a keyword (string) or an <see cref="Arg"/>.</summary>
    private sealed record Form(string Command, object[] Words);

    private const ulong MaxOrder = 10, PoolSlots = 32, MaxPfn = (1UL << 52) - 1;

    private static Form[] Forms(int nodes)
    {
        Arg order = new("ORDER", 0, MaxOrder, MaxOrder);
        return new Form[]
        {
            new("alloc", new object[] { order }),
            new("alloc", new object[] { order, "pool", new Arg("ID", 0, PoolSlots - 1, PoolSlots - 1) }),
            new("alloc", new object[] { order, "node", new Arg("N", 0, (ulong)nodes - 1, (ulong)nodes - 1) }),
            new("alloc", new object[] { order, "dma", new Arg("BITS", 12, 63, 63) }),
            new("free", new object[] { new Arg("PFN", 0, MaxPfn, MaxPfn), order }),
            new("stress", new object[] { new Arg("N", 1, 100000000, 50), new Arg("SEED", 0, ulong.MaxValue, ulong.MaxValue, Required: false) }),
            new("membench", new object[] { new Arg("PAIRS", 1, 100000000, 50, Required: false) }),
            new("heaptest", new object[] { new Arg("N", 1, 4096, 32, Required: false), new Arg("SIZE", 1, 1UL << 30, 4096, Required: false) }),
            new("gcstress", new object[] { new Arg("MIB", 1, 1UL << 20, 1), new Arg("LIVE", 0, 4096, 0, Required: false) }),
            new("netloop", new object[] { new Arg("N", 1, 1000000, 5, Required: false) }),
            new("exhaust", new object[] { "pool", new Arg("ID", 0, PoolSlots - 1, PoolSlots - 1) }),
        };
    }

    [Fact]
    public void EveryCommandsArgumentEdges_AreRefusedWithTheirLine()
    {
        SeededRuns.Run(_output, "shell argument boot fuzz", "SHELL_ARGS_BOOT_FUZZ", 3, 40, (seed, commands) =>
        {
            var random = new Random(seed);
            int nodes = random.Next(1, 3);
            Form[] forms = Forms(nodes);
            var script = new List<(string Command, string Line)>();
            int length = 0;
            while (script.Count < commands && length < 3000)
            {
                (string command, string line) = BadCommand(random, forms[random.Next(forms.Length)]);
                script.Add((command, line));
                length += command.Length + 1;
            }
            string run = string.Join(";", script.Select(s => s.Command)) + ";check";
            QemuResult result = new QemuBoot { Machine = "q35", Memory = "256M", Nodes = nodes, KernelCommandLine = $"run=\"{run}\"" }.Run();
            string[] lines = result.Lines;
            var problems = new StringBuilder();
            if (result.ExitStatus != QemuResult.CleanHalt)
                problems.AppendLine($"exit status {result.ExitStatus}");
            int at = 0;
            foreach ((string command, string expected) in script)
            {
                at = Array.IndexOf(lines, "pk> " + command, at);
                if (at < 0 || at + 1 >= lines.Length)
                {
                    problems.AppendLine($"no echo of \"{command}\"");
                    break;
                }
                if (lines[at + 1] != expected)
                    problems.AppendLine($"\"{command}\": expected \"{expected}\", got \"{lines[at + 1]}\"");
                at++;
            }
            if (!result.Console.Contains("check: ok (") || !result.Console.Contains("heap check: ok"))
                problems.AppendLine("checkers not clean at the end");
            foreach (string forbidden in new[] { "alloc: pfn", "free: ok", "PANIC", "operations (seed", "membench: ok", "heaptest: first" })
            {
                if (result.Console.Contains(forbidden))
                    problems.AppendLine($"a refused command did something: \"{forbidden}\"");
            }
            if (problems.Length > 0)
                throw new Exception(problems + "\n" + result);
        });
    }

    /// <summary>One command of <paramref name="form"/> with exactly one bad argument, and the line it must print.</summary>
    private static (string Command, string Line) BadCommand(Random random, Form form)
    {
        var args = form.Words.Select((w, i) => (w, i)).Where(p => p.w is Arg).ToArray();
        int bad = args[random.Next(args.Length)].i;
        var words = new List<string>();
        string line = null;
        for (int i = 0; i < form.Words.Length; i++)
        {
            if (form.Words[i] is string keyword)
            {
                words.Add(keyword);
                continue;
            }
            var arg = (Arg)form.Words[i];
            if (i != bad)
            {
                words.Add(Valid(random, arg));
                continue;
            }
            bool last = i == form.Words.Length - 1;
            if (last && arg.Required && random.Next(8) == 0)
            {
                line = $"{form.Command}: {arg.Name} missing; expected {arg.Min}..{arg.Max}";
                break;
            }
            (string word, ArgStatus status) = Bad(random, arg);
            words.Add(word);
            line = $"{form.Command}: {arg.Name} '{word}' {ShellArgs.Describe(status)}; expected {arg.Min}..{arg.Max}";
            // Arguments after the bad one are not read: the command stops at the first refusal.
        }
        return ((form.Command + " " + string.Join(" ", words)).TrimEnd(), line);
    }

    private static string Valid(Random random, Arg arg)
    {
        ulong top = Math.Min(arg.Max, arg.Cheap);
        ulong value = arg.Min + (ulong)random.NextInt64(0, (long)Math.Min(top - arg.Min, (ulong)long.MaxValue - 1) + 1);
        return random.Next(4) == 0 ? "0x" + value.ToString("x") : value.ToString();
    }

    private static (string Word, ArgStatus Status) Bad(Random random, Arg arg)
    {
        var candidates = new List<(string, ArgStatus)>
        {
            ("18446744073709551616", ArgStatus.TooLarge),
            ("0x10000000000000000", ArgStatus.TooLarge),
            ("16777216T", ArgStatus.TooLarge),
            ((ulong.MaxValue / 10 + 1).ToString() + "0", ArgStatus.TooLarge),
            ("x", ArgStatus.NotANumber),
            ("-1", ArgStatus.NotANumber),
            ("1KB", ArgStatus.NotANumber),
            ("0x", ArgStatus.NotANumber),
            ("5%", ArgStatus.NotANumber),
            ("1.5", ArgStatus.NotANumber),
        };
        if (arg.Min > 0)
            candidates.Add(((arg.Min - 1).ToString(), ArgStatus.OutOfRange));
        if (arg.Max < ulong.MaxValue)
        {
            candidates.Add(((arg.Max + 1).ToString(), ArgStatus.OutOfRange));
            candidates.Add(("0x" + (arg.Max + 1).ToString("X"), ArgStatus.OutOfRange));
            candidates.Add((ulong.MaxValue.ToString(), ArgStatus.OutOfRange));
            ulong bait = (1UL << 32) + arg.Min + (ulong)random.Next(0, 3);   // narrowed to 32 bits: in range
            if (bait > arg.Max)
                candidates.Add((bait.ToString(), ArgStatus.OutOfRange));
            ulong byteBait = 256 + arg.Min;                                    // narrowed to a byte: in range
            if (byteBait > arg.Max)
                candidates.Add((byteBait.ToString(), ArgStatus.OutOfRange));
            if (arg.Max < (4UL << 30))
                candidates.Add(("4G", ArgStatus.OutOfRange));
        }
        return candidates[random.Next(candidates.Count)];
    }
}
