using System.Text.RegularExpressions;
using PoolKernel.Shell;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The shell's commands against hostile input: numbers that used to be narrowed, a test command
/// that leaked, out of memory inside a command, control bytes on the console.
/// </summary>
public class ShellCommandBootTests
{
    private readonly ITestOutputHelper _output;

    public ShellCommandBootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    /// <summary>The line printed right after the echo "pk> COMMAND" of the <paramref name="nth"/> run of that command.</summary>
    internal static string LineAfter(QemuResult result, string command, int nth = 0)
    {
        string[] lines = result.Lines;
        int seen = 0;
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            if (lines[i] == "pk> " + command && seen++ == nth)
                return lines[i + 1];
        }
        Assert.Fail($"no echo of \"{command}\" (#{nth})\n{result}");
        return null;
    }

    internal static void AssertLineAfter(QemuResult result, string command, string expected)
        => Assert.True(LineAfter(result, command) == expected, $"after \"{command}\": expected \"{expected}\", got \"{LineAfter(result, command)}\"\n{result}");

    [Fact]
    public void NumbersOutOfRange_AreRefusedWithOneLine_NothingDone()
    {
        (string Command, string Line)[] cases =
        {
            ("alloc 4294967296", "alloc: ORDER '4294967296' is out of range; expected 0..10"),
            ("alloc 4294967306", "alloc: ORDER '4294967306' is out of range; expected 0..10"),
            ("free 0x1000 4294967299", "free: ORDER '4294967299' is out of range; expected 0..10"),
            ("free 0x10000000000000 0", "free: PFN '0x10000000000000' is out of range; expected 0..4503599627370495"),
            ("alloc 0 pool 256", "alloc: ID '256' is out of range; expected 0..31"),
            ("alloc 0 node 1", "alloc: N '1' is out of range; expected 0..0"),
            ("alloc 0 dma 0", "alloc: BITS '0' is out of range; expected 12..63"),
            ("alloc 0 dma 64", "alloc: BITS '64' is out of range; expected 12..63"),
            // Below 4 KiB is frame 0, which no pool holds (the low MiB is reserved): no amount of
            // freeing would help, so it is not "out of memory".
            ("alloc 0 dma 12", "alloc: no pool holds memory the rules allow"),
            ("alloc 18446744073709551616", "alloc: ORDER '18446744073709551616' is beyond 2^64-1; expected 0..10"),
            ("alloc x", "alloc: ORDER 'x' is not a number (decimal or 0x hex, optional K/M/G/T); expected 0..10"),
            ("alloc", "alloc: ORDER missing; expected 0..10"),
            ("alloc 0 pool 1 more", "alloc: unexpected 'more'"),
            ("exhaust pool 99", "exhaust: ID '99' is out of range; expected 0..31"),
            ("exhaust pool 30", "exhaust: no pool 30 (see pools)"),
            ("heaptest 0", "heaptest: N '0' is out of range; expected 1..4096"),
            ("heaptest 4097", "heaptest: N '4097' is out of range; expected 1..4096"),
            ("heaptest 10 0", "heaptest: SIZE '0' is out of range; expected 1..1073741824"),
            ("heaptest 10 2G", "heaptest: SIZE '2G' is out of range; expected 1..1073741824"),
            ("membench 0", "membench: PAIRS '0' is out of range; expected 1..100000000"),
            ("membench 4294967296", "membench: PAIRS '4294967296' is out of range; expected 1..100000000"),
            ("stress 0", "stress: N '0' is out of range; expected 1..100000000"),
            ("stress 10 -1", "stress: SEED '-1' is not a number (decimal or 0x hex, optional K/M/G/T); expected 0..18446744073709551615"),
            ("netloop 0", "netloop: N '0' is out of range; expected 1..1000000"),
            ("netloop 4294967306", "netloop: N '4294967306' is out of range; expected 1..1000000"),
            ("unload nosuchdriver", "unload: no driver 'nosuchdriver' (see drivers)"),
            ("pools now", "usage: pools [boot]"),
            ("pools boot 1", "pools: unexpected '1'"),
        };
        string script = string.Join(";", cases.Select(c => c.Command)) + ";check";
        QemuResult result = Boot(new QemuBoot { Machine = "q35", Memory = "128M", KernelCommandLine = $"run=\"{script}\"" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        foreach (var c in cases)
            AssertLineAfter(result, c.Command, c.Line);
        // Nothing was allocated or freed by the refused commands.
        AssertLineAfter(result, "check", "check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)");
        BootTests.AssertContains(result, "heap check: ok");
        Assert.DoesNotContain("alloc: pfn", result.Console);
        Assert.DoesNotContain("free: ok", result.Console);
    }

    [Fact]
    public void HeapTest_HundredRuns_GiveEveryObjectBack()
    {
        // 4096 managed objects of 40 bytes a run used to stay on the heap (~200 KB a run): on
        // 16 MiB the kernel died of out-of-memory long before the hundredth run. The collector
        // takes them back (a gc before each heap line counts what is left).
        string runs = string.Join(";", Enumerable.Repeat("heaptest 4096 64", 99));
        QemuResult result = Boot(new QemuBoot { Machine = "q35", Memory = "16M", KernelCommandLine = $"run=\"gc;heap;heaptest 4096 64;gc;heap;{runs};gc;heap\"" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Equal(100, Regex.Matches(result.Console, "heaptest: 4096 x 64 bytes from the CPU on node 0: by node 0=4096, failed 0; managed objects on the local node 4096/4096").Count);
        string before = LineAfter(result, "heap", 0), afterOne = LineAfter(result, "heap", 1), afterAll = LineAfter(result, "heap", 2);
        _output.WriteLine($"heap before: {before}\nafter 1 run: {afterOne}\nafter 100 runs: {afterAll}");
        // The collector's stack scan is conservative: a stale word may keep an object or two (and
        // their slab page); 100 runs' 409,600 objects must not stay.
        long Objects(string line) => long.Parse(Regex.Match(line, @"; (\d+) small objects, \d+ bytes;").Groups[1].Value);
        long Pages(string line) => long.Parse(Regex.Match(line, @"^heap: (\d+) pages held").Groups[1].Value);
        Assert.InRange(Objects(afterOne), Objects(before), Objects(before) + 16);
        Assert.InRange(Objects(afterAll), Objects(before), Objects(before) + 16);
        Assert.InRange(Pages(afterAll), Pages(before), Pages(before) + 8);
    }

    [Fact]
    public void OutOfMemoryInACommand_EndsTheCommand_NotTheKernel()
    {
        // The issue's reproduction: every block held, then heaptest 128 4000. Its raw blocks fail
        // (one heap line each; the first failure runs a collection, whose freed page may serve one of
        // them), then its first managed object cannot be had: the command ends, the shell goes on,
        // and the memory comes back.
        QemuResult result = Boot(new QemuBoot
        {
            Machine = "q35",
            Memory = "32M",
            KernelCommandLine = "run=\"exhaust hold;heaptest 128 4000;meminfo;exhaust release;heaptest 128 4000;check\"",
        });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.DoesNotContain("PANIC", result.Console);
        Assert.Matches(@"exhaust: out of memory after taking \d+ pages: an order-0 request got 'out of memory' with 0 pages free in all pools", LineAfter(result, "exhaust hold"));
        BootTests.AssertContains(result, "pages until 'exhaust release'");
        // heaptest first takes its managed table of 128 block pointers (1 KiB). Whether the heap still
        // has a free 1 KiB cell when every page is held depends on what else the boot allocated in
        // that size class (the shell's tables change with its commands), so there are two ways for
        // the command to end, each asserted exactly: the table refused with nothing done, or the
        // table had, every raw block refused, and then its first managed object refused.
        string console = result.Console.Replace("\r", "");
        int rawFailures = Regex.Matches(console, @"heap: out of memory: asked 4000 bytes \(align 16, 1 pages\) on node 0: pools answered 'out of memory'").Count;
        if (console.Contains("heaptest: no memory for its table of blocks; nothing done"))
        {
            Assert.Equal(0, rawFailures);
            Assert.Matches(@"pk> heaptest 128 4000\nheap: out of memory: asked 1024 bytes \(align 8, \d+ pages\) on node 0: pools answered 'out of memory'[^\n]*\nheaptest: no memory for its table of blocks; nothing done\npk> meminfo\n", console);
        }
        else
        {
            Assert.InRange(rawFailures, 127, 128);
            Assert.Matches(@"heap: out of memory: asked 4000 bytes[^\n]*\nheap: out of memory: asked \d+ bytes \(align 8[^\n]*\nout of memory: command ended\npk> meminfo\n", console);
        }
        Assert.Matches(@"^MemTotal \(usable RAM\): +\d+ kB$", LineAfter(result, "meminfo"));
        BootTests.AssertContains(result, ": adds up");
        // Before the release: 0 free pages, or the page the collection gave back that the failed command's blocks left free.
        Assert.Matches(@"^exhaust: released \d+ held pages; free pages \d+ \(before [01]\)$", LineAfter(result, "exhaust release"));
        Assert.Equal("heaptest: 128 x 4000 bytes from the CPU on node 0: by node 0=128, failed 0; managed objects on the local node 128/128", LineAfter(result, "heaptest 128 4000", 1));
        AssertLineAfter(result, "check", "check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)");
        BootTests.AssertContains(result, "heap check: ok");
    }

    [Fact]
    public void LinesCutToTheBuffer_AreRefusedWhole_NotRunAsAPrefix()
    {
        // 17 words (the 17th would be dropped) and a 300-byte line (cut at 255): neither runs; the
        // next command does. Typed input too: a 300-byte typed line is refused, meminfo after it runs.
        string words = "alloc 0" + string.Concat(Enumerable.Repeat(" x", 15));
        string longLine = "meminfo" + new string(' ', 290) + "x";
        QemuResult result = Boot(new QemuBoot { Memory = "128M", KernelCommandLine = $"run=\"{words};{longLine};pools\"" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "line of more than 16 words; not run");
        BootTests.AssertContains(result, "line longer than 255 bytes; not run");
        Assert.DoesNotContain("alloc: ", result.Console);
        Assert.DoesNotContain("MemTotal", result.Console);
        BootTests.AssertContains(result, "pk> pools");

        QemuResult typed = Boot(new QemuBoot { Memory = "128M", Input = longLine + "\rmeminfo\rhalt\r" });
        BootTests.AssertStatus(typed, QemuResult.CleanHalt);
        BootTests.AssertContains(typed, "line longer than 255 bytes; not run");
        BootTests.AssertContains(typed, "MemTotal (usable RAM):");
    }

    [Fact]
    public void ControlBytes_AreNeverEchoedRaw()
    {
        // A run= command with ESC and ^A in it: echoed, reported and listed in caret notation.
        QemuResult result = Boot(new QemuBoot { Memory = "128M", KernelCommandLine = "run=\"cmd\u001b[2J\u0001x;cmdline\"" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        AssertLineAfter(result, "cmd^[[2J^Ax", "unknown command 'cmd^[[2J^Ax'; type help");
        AssertLineAfter(result, "cmdline", "cmdline: run=\"cmd^[[2J^Ax;cmdline\"");
        BootTests.AssertContains(result, "ok       run         'run=\"cmd^[[2J^Ax;cmdline\"'");
        Assert.False(result.Console.Contains("\u001b", StringComparison.Ordinal), "a raw control byte reached the console\n" + result);
        Assert.False(result.Console.Contains("\u0001", StringComparison.Ordinal), "a raw control byte reached the console\n" + result);

        // Typed: ^A and ESC dropped from the line, Ctrl-C abandons a line ("^C").
        QemuResult typed = Boot(new QemuBoot { Memory = "128M", Input = "\u0001mem\u001binfo\rjunk\u0003halt\r" });
        BootTests.AssertStatus(typed, QemuResult.CleanHalt);
        Assert.Contains("pk> meminfo", typed.Lines);
        BootTests.AssertContains(typed, "MemTotal (usable RAM):");
        Assert.Contains("pk> junk^C", typed.Lines);
        Assert.DoesNotContain("unknown command 'junk'", typed.Console);
        Assert.False(typed.Console.Contains("\u001b", StringComparison.Ordinal), "a raw control byte reached the console\n" + typed);
        Assert.False(typed.Console.Contains("\u0001", StringComparison.Ordinal), "a raw control byte reached the console\n" + typed);
        Assert.False(typed.Console.Contains("\u0003", StringComparison.Ordinal), "a raw control byte reached the console\n" + typed);
    }
}
