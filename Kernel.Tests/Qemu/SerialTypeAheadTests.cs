using System.Text;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Input that reaches COM1 before the kernel has initialised it (typed while the machine boots)
/// must reach the shell whole. QEMU's stdin is written before the guest runs, so the UART's
/// receive register already holds the first byte when the kernel programs the port: the case
/// where enabling the FIFO used to flush it ("unknown command 'eminfo'").
/// </summary>
public class SerialTypeAheadTests
{
    /// <summary>Shell commands whose output has a line of their own that does not depend on the machine's details.</summary>
    private static readonly (string Command, string Output)[] Commands =
    {
        ("meminfo", "MemTotal (usable RAM):"),
        ("pools", " id name             nodes"),
        ("numa", "numa:     1 node"),
        ("cmdline", "cmdline: "),
        ("buddyinfo", "Node 0, pool node0-dma "),
        ("heap", "heap check: ok"),
        ("disks", "no disks"),
    };

    private readonly ITestOutputHelper _output;

    public SerialTypeAheadTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void TypedBeforeTheKernelRuns_FirstByteIsKept()
    {
        QemuResult result = new QemuBoot { Machine = "q35", Memory = "128M", TypeAhead = "meminfo\nhalt\n" }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.DoesNotContain("unknown command", result.Console);
        AssertCommandOutput(result, "meminfo", "MemTotal (usable RAM):");
        AssertCommandOutput(result, "halt", "halting");
    }

    /// <summary>
    /// Seeded type-ahead: one to six commands with random leading/inner spaces and line ends
    /// (LF, CR, CR LF), often longer than the UART's 16-byte FIFO, then halt; every command's own
    /// output line must follow its echo. Two boots in CI; PK_TYPEAHEAD_SEEDS=N for more,
    /// PK_TYPEAHEAD_SEED=S replays one.
    /// </summary>
    [Fact]
    public void SeededTypeAhead_EveryCommandRunsWhole()
    {
        SeededRuns.Run(_output, "serial type-ahead", "PK_TYPEAHEAD", 2, 6, (seed, maxCommands) =>
        {
            var random = new Random(seed);
            var text = new StringBuilder();
            var typed = new List<(string Command, string Output)>();
            int count = 1 + random.Next(maxCommands);
            for (int i = 0; i < count; i++)
            {
                var (command, output) = Commands[random.Next(Commands.Length)];
                text.Append(' ', random.Next(3)).Append(command).Append(' ', random.Next(2));
                text.Append(random.Next(3) switch { 0 => "\n", 1 => "\r", _ => "\r\n" });
                typed.Add((command, output));
            }
            text.Append("halt\n");
            QemuResult result = new QemuBoot { Machine = "q35", Memory = "128M", TypeAhead = text.ToString() }.Run();
            string replay = $"seed {seed}, typed {Escape(text.ToString())}\n{result}";
            Assert.True(result.ExitStatus == QemuResult.CleanHalt, $"exit status {result.ExitStatus}; {replay}");
            Assert.False(result.Console.Contains("unknown command"), replay);
            int from = 0;
            foreach (var (command, output) in typed)
                from = AssertCommandOutput(result, command, output, from, replay);
            AssertCommandOutput(result, "halt", "halting", from, replay);
        });
    }

    /// <summary>
    /// The echo "pk> ... COMMAND" at or after line <paramref name="from"/> is followed, before the
    /// next prompt, by a line starting with <paramref name="output"/>. Returns the line after it.
    /// </summary>
    private static int AssertCommandOutput(QemuResult result, string command, string output, int from = 0, string context = null)
    {
        string[] lines = result.Lines;
        context ??= result.ToString();
        int echo = -1;
        for (int i = from; i < lines.Length && echo < 0; i++)
        {
            if (lines[i].StartsWith("pk> ") && lines[i][4..].Trim() == command)
                echo = i;
        }
        Assert.True(echo >= 0, $"no echo of \"{command}\" after line {from}; {context}");
        for (int i = echo + 1; i < lines.Length && !lines[i].StartsWith("pk> "); i++)
        {
            if (lines[i].StartsWith(output))
                return i + 1;
        }
        Assert.Fail($"\"{command}\" printed no line starting \"{output}\"; {context}");
        return -1;
    }

    private static string Escape(string s) => s.Replace("\r", "\\r").Replace("\n", "\\n");
}
