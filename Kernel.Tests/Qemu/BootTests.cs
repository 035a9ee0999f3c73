using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Boots the real kernel in QEMU (TCG) and checks the banner against what QEMU was given.
/// On failure the whole console output is attached to the assertion message.
/// </summary>
public class BootTests
{
    private readonly ITestOutputHelper _output;

    public BootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    internal static void AssertStatus(QemuResult result, int expected)
        => Assert.True(result.ExitStatus == expected, $"expected exit status {expected}\n{result}");

    internal static void AssertContains(QemuResult result, string text)
        => Assert.True(result.Console.Contains(text), $"console lacks \"{text}\"\n{result}");

    internal static long UsablePages(QemuResult result)
    {
        Match m = Regex.Match(result.Console, @"usable:\s+.*\((\d+) pages\)");
        Assert.True(m.Success, "no usable-memory line\n" + result);
        return long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Theory]
    [InlineData("pc", "128M")]
    [InlineData("pc", "1G")]
    [InlineData("pc", "6G")]
    [InlineData("q35", "128M")]
    [InlineData("q35", "1G")]
    [InlineData("q35", "6G")]
    public void Banner_ShowsTheMemoryQemuWasGiven(string machine, string memory)
    {
        QemuResult result = Boot(new QemuBoot { Machine = machine, Memory = memory });
        AssertStatus(result, QemuResult.CleanHalt);
        AssertContains(result, "runtime self-test: ");
        AssertContains(result, "loader:   multiboot1 (qemu)");
        AssertContains(result, "map:      multiboot1 memory map");
        AssertContains(result, "screen:   VGA text 80x25");
        long given = QemuBoot.ParseSize(memory);
        long usable = UsablePages(result) * 4096;
        // Firmware keeps a little (BIOS area, ACPI tables, the 0x9fc00 EBDA edge): at most 2 MiB here.
        Assert.True(usable <= given && usable >= given - (2L << 20), $"usable {usable} vs -m {given}\n{result}");
        if (given > (3L << 30))
        {
            AssertContains(result, "0x000100000000-");   // RAM above 4 GiB is in the map
            Match m = Regex.Match(result.Console, @"direct map: 0 - 0x([0-9a-f]+)");
            Assert.True(m.Success && ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber) >= 0x100000000UL + (ulong)(given - (3L << 30)) / 2,
                "direct map does not reach the RAM above 4 GiB\n" + result);
        }
        AssertContains(result, "numa:     1 node (no SRAT)");
    }

    [Theory]
    [InlineData(2, "1G")]
    [InlineData(4, "2G")]
    public void Numa_NodesRangesAndSlitFromAcpi(int nodes, string memory)
    {
        QemuResult result = Boot(new QemuBoot { Machine = "q35", Memory = memory, Nodes = nodes, Cpus = nodes });
        AssertStatus(result, QemuResult.CleanHalt);
        AssertContains(result, $"numa:     {nodes} nodes (SRAT)");
        AssertContains(result, $"cpus:     {nodes} ");
        AssertContains(result, "distances (SLIT):");
        for (int n = 0; n < nodes; n++)
            AssertContains(result, $"  node {n}: ");
        // QemuBoot sets distance 20 + 5 * (hops - 1) between nodes a < b.
        string[] row0 = result.Lines.First(l => l.StartsWith("  node0 ")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("10", row0[1]);
        for (int b = 1; b < nodes; b++)
            Assert.Equal((20 + (b - 1) * 5).ToString(), row0[1 + b]);
        long perNode = QemuBoot.ParseSize(memory) / nodes;
        Match last = Regex.Matches(result.Console, $@"  node {nodes - 1}: 0x([0-9a-f]+)-0x([0-9a-f]+)").Last();
        long span = (long)(ulong.Parse(last.Groups[2].Value, NumberStyles.HexNumber) - ulong.Parse(last.Groups[1].Value, NumberStyles.HexNumber));
        Assert.True(span == perNode, $"last node spans {span}, expected {perNode}\n{result}");
    }

    [Fact]
    public void BootModule_IsListed_AndKeptOutOfThePools()
    {
        string module = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(module, Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray());
            QemuResult result = Boot(new QemuBoot { Memory = "256M", KernelCommandLine = "run=dump", ExtraArgs = new[] { "-initrd", module } });
            AssertStatus(result, QemuResult.CleanHalt);
            Match m = Regex.Match(result.Console, @"module:   0x([0-9a-f]+)-0x([0-9a-f]+) (\S+)");
            Assert.True(m.Success, "no module line\n" + result);
            ulong start = ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber), end = ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber);
            Assert.Equal(100_000UL, end - start);
            Assert.Equal(module, m.Groups[3].Value);
            MemoryDump dump = MemoryDump.Parse(result);
            Assert.Contains(dump.Reservations, r => r.Name == "boot module" && r.Base <= start && r.End >= end);
            Assert.Equal(dump["usable_bytes"], (ulong)dump.Pools.Sum(p => (long)p.Present) * 4096 + (ulong)dump.Reservations.Sum(r => (long)r.RamBytes));
        }
        finally
        {
            File.Delete(module);
        }
    }

    [Fact]
    public void Iso_BootsThroughGrubWithMultiboot2()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "q35", Memory = "512M", FromIso = true, Input = "efimap\rhalt\r" });
        AssertStatus(result, QemuResult.CleanHalt);
        AssertContains(result, "loader:   multiboot2 (GRUB");
        AssertContains(result, "map:      multiboot2 memory map (tag 6)\r\n");
        AssertContains(result, "screen:   VGA text 80x25\r\n");   // GRUB kept text mode despite the header's framebuffer tag
        AssertContains(result, "pk> efimap\r\nefimap: this boot's memory map is not an EFI map (see the banner's map: line)\r\n");
        AssertContains(result, "usable:   ");
    }
}

/// <summary>Deliberate failures and bad input: each ends the way docs/exit-status.md says.</summary>
public class BootFailureTests
{
    private readonly ITestOutputHelper _output;

    public BootFailureTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(string commandLine)
    {
        QemuResult result = new QemuBoot { KernelCommandLine = commandLine }.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    [Fact]
    public void PoolTokens_AdjustedByTheParser_AndRefusedByThePlanner_GetOneLineEach()
    {
        QemuResult result = Boot("pool=a:8M,frob pool=b:64G,bar");
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Single(result.Lines, l => l.StartsWith("cmdline: pool a: created 8 MiB") && l.Contains("also: unknown pool option"));
        Assert.Single(result.Lines, l => l.Contains("'pool=b:64G,bar'"));
        Assert.Contains(result.Lines, l => l.StartsWith("cmdline: 'pool=b:64G,bar': needs 64 GiB") && l.Contains("also: unknown pool option"));
        Assert.DoesNotContain(result.Lines, l => l.Contains("'pool=a:8M,frob'"));
    }

    [Fact]
    public void TestFault_ReportsThePageFaultWithCr2()
    {
        QemuResult result = Boot("test=fault");
        BootTests.AssertStatus(result, QemuResult.CpuException);
        BootTests.AssertContains(result, "*** CPU EXCEPTION vector=14 (#PF page fault) error=0x0 rip=");
        BootTests.AssertContains(result, "cr2=0x00007e0000001000");
    }

    [Theory]
    [InlineData("ud", "vector=6 (#UD invalid opcode)")]
    [InlineData("divide", "vector=0 (#DE divide error)")]
    [InlineData("gp", "vector=13 (#GP general protection)")]
    [InlineData("doublefault", "vector=8 (#DF double fault)")]
    public void CpuExceptions_PrintAReport_AndEndWithTheirStatus(string test, string report)
    {
        QemuResult result = Boot("test=" + test);
        BootTests.AssertStatus(result, QemuResult.CpuException);
        BootTests.AssertContains(result, "*** CPU EXCEPTION " + report + " error=");
        Assert.Matches(@"rip=0x[0-9a-f]{16} rsp=0x[0-9a-f]{16} cr2=0x[0-9a-f]{16}", result.Console);
    }

    [Fact]
    public void TestThrow_PrintsTypeAndMessageAndHalts()
    {
        QemuResult result = Boot("test=throw");
        BootTests.AssertStatus(result, QemuResult.UnhandledException);
        BootTests.AssertContains(result, "Unhandled exception: System.InvalidOperationException: test=throw asked for an unhandled exception");
    }

    [Fact]
    public void BadCommandLineTokens_OneLineEach_BootGoesOn()
    {
        QemuResult result = Boot("pool=x:1Q foo=bar test=nosuch");
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Single(result.Lines, l => l.StartsWith("cmdline: 'pool=x:1Q': "));
        Assert.Single(result.Lines, l => l.StartsWith("cmdline: 'foo=bar': unknown parameter"));
        Assert.Single(result.Lines, l => l == "cmdline: 'test=nosuch': unknown test name (known: fault, ud, divide, gp, doublefault, throw); ignored");
        BootTests.AssertContains(result, "usable:   ");
    }
}

/// <summary>The serial shell, driven by typed input and by run= on the command line.</summary>
public class ShellTests
{
    private readonly ITestOutputHelper _output;

    public ShellTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void TypedCommands_WithBackspace_AreExecuted()
    {
        // "numx" + backspace + "a" = "numa"; then an unknown command; then halt.
        QemuResult result = new QemuBoot { Memory = "256M", Input = "numx\ba\rfrob\rhalt\r" }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "pk> numx\b \ba");   // echo, erase, retype
        Assert.True(Regex.Matches(result.Console, "numa:     1 node").Count == 2, "numa ran (banner + command)\n" + result);
        BootTests.AssertContains(result, "unknown command 'frob'; type help");
        BootTests.AssertContains(result, "halting");
    }

    [Fact]
    public void RunParameter_RunsCommandsThenHalts()
    {
        QemuResult result = new QemuBoot { KernelCommandLine = "run=help;cmdline" }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "pk> help");
        BootTests.AssertContains(result, "  cmdline     the kernel command line, token by token");
        BootTests.AssertContains(result, "ok       run         'run=help;cmdline'");
        BootTests.AssertContains(result, "run=: done, halting");
    }
}
