using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Class "the runtime's own allocations under pressure": with every free block held by
/// <c>exhaust hold</c>, a seeded random sequence of shell commands with valid arguments runs. Each
/// must end with its own output or with "out of memory: command ended", never with a panic or a
/// hang; afterwards <c>exhaust release</c> gives the memory back and both checkers are clean.
/// OOM_BOOT_FUZZ_SEEDS / _OPS (commands a boot) for longer runs, OOM_BOOT_FUZZ_SEED to replay one.
/// </summary>
public class OutOfMemoryFuzzBootTests
{
    private readonly ITestOutputHelper _output;

    public OutOfMemoryFuzzBootTests(ITestOutputHelper output) => _output = output;

    /// <summary>Commands with valid arguments, cheap enough for TCG, that may allocate (objects or pages).</summary>
    private static string NextCommand(Random random) => random.Next(17) switch
    {
        0 => "meminfo",
        1 => "pools",
        2 => "buddyinfo",
        3 => "zoneinfo",
        4 => "pageblocks",
        5 => "numa",
        6 => "heap",
        7 => $"heaptest {random.Next(1, 257)} {random.Next(1, 8001)}",
        8 => $"stress {random.Next(10, 201)} {random.Next()}",
        9 => $"membench {random.Next(10, 101)}",
        10 => "check",
        11 => "dump",
        12 => "cmdline",
        13 => "drivers",
        14 => "dmapools",
        15 => $"alloc {random.Next(0, 11)}",
        _ => "exhaust",
    };

    [Fact]
    public void EveryCommandUnderExhaustedMemory_EndsCleanly_AndMemoryComesBack()
    {
        SeededRuns.Run(_output, "out-of-memory commands", "OOM_BOOT_FUZZ", 2, 12, (seed, count) =>
        {
            var random = new Random(seed);
            var commands = new List<string>();
            for (int i = 0; i < count; i++)
                commands.Add(NextCommand(random));
            string script = "exhaust hold;" + string.Join(";", commands) + ";exhaust release;check";
            QemuResult result = new QemuBoot { Machine = "q35", Memory = "32M", KernelCommandLine = $"run=\"{script}\"" }.Run();
            string context = $"seed {seed}: {script}\n{result}";
            Assert.True(result.ExitStatus == QemuResult.CleanHalt, $"status {result.ExitStatus}, not a clean halt; {context}");
            Assert.False(result.Console.Contains("PANIC", StringComparison.Ordinal), "panic; " + context);

            // Each scripted command ran, in order, and printed something of its own before the next prompt.
            var lines = result.Lines.ToList();
            int at = 0;
            foreach (string command in commands.Prepend("exhaust hold").Append("exhaust release").Append("check"))
            {
                int echo = lines.FindIndex(at, l => l == "pk> " + command);
                Assert.True(echo >= 0, $"'{command}' never ran; {context}");
                Assert.True(echo + 1 < lines.Count && !lines[echo + 1].StartsWith("pk> ", StringComparison.Ordinal),
                    $"'{command}' printed nothing; {context}");
                at = echo + 1;
            }
            Assert.Matches(@"^exhaust: released \d+ held pages; free pages \d+ \(before \d+\)$", lines[lines.FindIndex(l => l == "pk> exhaust release") + 1]);
            Assert.Contains("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", result.Console);
            Assert.Contains("heap check: ok", result.Console);
        });
    }
}
