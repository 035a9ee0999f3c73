using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The CPUs (docs/smp.md): every CPU of the MADT started, on its SRAT node, its local APIC timer
/// ticking, answering a call on itself; a fault on a non-boot CPU reported with that CPU's number
/// while the others are stopped by NMI. QEMU runs multi-threaded TCG (QemuBoot always asks for it).
/// </summary>
public class SmpBootTests
{
    private readonly ITestOutputHelper _output;

    public SmpBootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    private static readonly Regex CpuRow = new(@"^\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+(?: \S+)?)\s+(\d+)\s+(\d+)\s+(\S+)$");

    private sealed record Row(int Cpu, int Apic, int Node, string State, long Ticks, long Interrupts, string Answers);

    /// <summary>The rows of the <paramref name="nth"/> 'cpus' report: the header, then one row a CPU.</summary>
    private static List<Row> CpusReport(QemuResult result, int nth)
    {
        string[] lines = result.Lines;
        int seen = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i] != "pk> cpus" || seen++ != nth)
                continue;
            Assert.True(lines[i + 2] == "  cpu  apic  node  state     timer ticks  interrupts  answers", $"cpus header\n{result}");
            var rows = new List<Row>();
            for (int j = i + 3; j < lines.Length; j++)
            {
                Match m = CpuRow.Match(lines[j]);
                if (!m.Success)
                    break;
                rows.Add(new Row(int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), int.Parse(m.Groups[3].Value),
                    m.Groups[4].Value, long.Parse(m.Groups[5].Value), long.Parse(m.Groups[6].Value), m.Groups[7].Value));
            }
            return rows;
        }
        Assert.Fail($"no 'cpus' report #{nth}\n{result}");
        return null;
    }

    /// <summary>CPU <paramref name="cpu"/>'s "frame caches" line of the <paramref name="nth"/> 'cpus' report.</summary>
    private static string CacheLine(QemuResult result, int nth, int cpu)
    {
        string[] lines = result.Lines;
        int seen = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i] != "pk> cpus" || seen++ != nth)
                continue;
            for (int j = i + 1; j < lines.Length && !lines[j].StartsWith("pk> "); j++)
                if (lines[j].StartsWith($"  cpu {cpu} frame caches:"))
                    return lines[j];
        }
        Assert.Fail($"no frame caches line of cpu {cpu} in 'cpus' report #{nth}\n{result}");
        return null;
    }

    [Theory]
    [InlineData("pc", 1, 1)]
    [InlineData("q35", 2, 2)]
    [InlineData("pc", 4, 2)]
    [InlineData("q35", 4, 1)]
    public void EveryCpu_IsOnline_OnItsNode_TimerTicking_AnswersFromItself(string machine, int cpus, int nodes)
    {
        // CPUs dealt out over the nodes the way QemuBoot does (round-robin), the boot CPU on node 0.
        QemuResult result = Boot(new QemuBoot
        {
            Machine = machine, Memory = "256M", Cpus = cpus, Nodes = nodes,
            KernelCommandLine = "run=\"cpus;cpus;meminfo;stress 300;cpus\"",
        });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, $"smp:      {cpus} of {cpus} CPUs online, trampoline at 0x");
        Assert.Matches(new Regex(@"timer:    local APIC 100 Hz on every CPU \(\d+ counts of bus/16 a period, calibrated against PIT channel 2\)"), result.Console);
        Assert.Contains($"cpus: {cpus} of {cpus} online; timer 100 Hz", ShellCommandBootTests.LineAfter(result, "cpus"));
        Assert.Contains($"cpus: {cpus} of {cpus} online; timer 100 Hz", ShellCommandBootTests.LineAfter(result, "cpus", 1));
        // The process-wide barriers run so far (NmiBarrier.Sent): none reach another CPU with one online.
        foreach (int k in new[] { 0, 1 })
            Assert.Matches(cpus == 1 ? @"; 0 barriers sent$" : @"; \d+ barriers sent$", ShellCommandBootTests.LineAfter(result, "cpus", k));
        List<Row> first = CpusReport(result, 0), second = CpusReport(result, 1);
        Assert.Equal(cpus, first.Count);
        Assert.Equal(cpus, second.Count);
        for (int c = 0; c < cpus; c++)
        {
            foreach (Row row in new[] { first[c], second[c] })
            {
                // QEMU numbers APIC ids as its CPU indexes; the kernel numbers the boot CPU 0 and the rest in MADT order.
                Assert.True(row.Cpu == c && row.Apic == c && row.Node == (nodes > 1 ? c % nodes : 0), $"cpu {c}: {row}\n{result}");
                Assert.True(row.State == "online" && row.Answers == "yes", $"cpu {c}: {row}\n{result}");
                // The boot waits for every CPU's first tick; interrupts count the timer's too.
                Assert.True(row.Ticks > 0 && row.Interrupts >= row.Ticks, $"cpu {c}: {row}\n{result}");
            }
            Assert.True(second[c].Ticks >= first[c].Ticks, $"cpu {c}: ticks went back\n{result}");
            // The first report's call to that CPU came after its counters were read: an interrupt more.
            if (c > 0)
                Assert.True(second[c].Interrupts > first[c].Interrupts, $"cpu {c}: the call IPI was not counted\n{result}");
        }
        // Every CPU's frame caches, one a pool (docs/smp.md): after stress, on which every CPU freed pages,
        // each CPU's caches hold frames, within their high marks.
        Assert.Contains("stress: ok, all memory returned, pool and heap checkers clean", result.Console);
        for (int c = 0; c < cpus; c++)
        {
            string line = CacheLine(result, 2, c);
            MatchCollection fills = Regex.Matches(line, @" (node\d+-\w+) (\d+)/(\d+)");
            Assert.True(fills.Count > 0, $"cpu {c}: no pool with caches: '{line}'\n{result}");
            foreach (Match f in fills)
                Assert.True(int.Parse(f.Groups[2].Value) <= int.Parse(f.Groups[3].Value), $"cpu {c}: {f.Value} above its high mark\n{result}");
            Assert.True(fills.Any(f => int.Parse(f.Groups[2].Value) > 0), $"cpu {c}: nothing cached after stress: '{line}'\n{result}");
        }
        Assert.Matches(new Regex(@"\n  SMP trampoline 0x0000000[0-9a-f]{5}-0x0000000[0-9a-f]{5}: 4 kB\r?\n"), result.Console);
        BootTests.AssertContains(result, "Sum: pools + reserved = ");
        BootTests.AssertContains(result, ": adds up");
    }

    [Theory]
    [InlineData("q35", 4, 2, 3)]
    [InlineData("pc", 2, 1, 1)]
    public void FaultOnANonBootCpu_ReportsThatCpu_AfterStoppingTheOthers(string machine, int cpus, int nodes, int faulting)
    {
        QemuResult result = Boot(new QemuBoot
        {
            Machine = machine, Memory = "256M", Cpus = cpus, Nodes = nodes,
            KernelCommandLine = $"run=\"cpu {faulting} fault;cpus\"",
        });
        BootTests.AssertStatus(result, QemuResult.CpuException);
        Assert.Equal($"cpu {faulting}: page fault on purpose", ShellCommandBootTests.LineAfter(result, $"cpu {faulting} fault"));
        BootTests.AssertContains(result, $"smp: the other CPUs stopped by NMI: {cpus - 1} of {cpus - 1}");
        Assert.Matches(new Regex($@"\*\*\* CPU EXCEPTION vector=14 \(#PF page fault\) error=0x0 rip=0x[0-9a-f]{{16}} rsp=0x[0-9a-f]{{16}} cr2=0x00007ffffffff000 cpu={faulting}\r?\n"), result.Console);
        // The machine ended there: the next command never ran.
        Assert.DoesNotContain("pk> cpus", result.Console);
    }

    [Theory]
    [InlineData("doublefault", "*** CPU EXCEPTION vector=8 (#DF double fault)", QemuResult.CpuException)]
    [InlineData("throw", "Unhandled exception: ", QemuResult.UnhandledException)]
    public void FatalOnTheBootCpu_StopsTheOthers_ThenReportsAsBefore(string test, string report, int status)
    {
        QemuResult result = Boot(new QemuBoot { Machine = "q35", Cpus = 2, KernelCommandLine = "test=" + test });
        BootTests.AssertStatus(result, status);
        BootTests.AssertContains(result, "smp: the other CPUs stopped by NMI: 1 of 1");
        BootTests.AssertContains(result, report);
    }

    [Fact]
    public void CpuCommand_BadInput_IsRefusedWithOneLine_NothingRun()
    {
        (string Command, string Line)[] cases =
        {
            ("cpu 2 fault", "cpu: N '2' is out of range; expected 0..1"),
            ("cpu x fault", "cpu: N 'x' is not a number (decimal or 0x hex, optional K/M/G/T); expected 0..1"),
            ("cpu", "cpu: N missing; expected 0..1"),
            ("cpu 1", "cpu: usage: cpu N fault|irqalloc"),
            ("cpu 1 fault now", "cpu: usage: cpu N fault|irqalloc"),
            ("cpu 1 run", "cpu: usage: cpu N fault|irqalloc"),
        };
        QemuResult result = Boot(new QemuBoot
        {
            Machine = "q35", Cpus = 2,
            KernelCommandLine = "run=\"" + string.Join(';', cases.Select(c => c.Command)) + ";cpus\"",
        });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        foreach ((string command, string line) in cases)
            ShellCommandBootTests.AssertLineAfter(result, command, line);
        List<Row> rows = CpusReport(result, 0);
        Assert.True(rows.Count == 2 && rows.All(r => r.State == "online" && r.Answers == "yes"), result.ToString());
    }
}
