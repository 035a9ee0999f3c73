using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>The collector in the running kernel: its self-test, gcstress at 10x memory, collection before running out, many commands without growth, corruption.</summary>
public class GcBootTests
{
    private readonly ITestOutputHelper _output;

    public GcBootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    /// <summary>1 MiB: what stale stack words (slots a frame has not written yet, saved registers) may keep alive.</summary>
    private const long ConservativeSlackPages = 256;

    private static readonly Regex StressLine = new(
        @"gcstress: (\d+) MiB \((\d+) MiB extra live\) in (\d+) objects, (\d+) collections \(longest pause (\d+) ticks\); heap pages before (\d+), after (\d+); heap check ok; live set 64/64 intact");

    private static readonly Regex GcLine = new(
        @"gc: freed (\d+) objects \((\d+) bytes\); live (\d+) objects \((\d+) bytes\); heap pages (\d+) -> (\d+); pause (\d+) ticks; mark stack overflows (\d+)");

    [Fact]
    public void GcStress_AtTenTimesTheMachinesMemory_KeepsItsLiveSetIntact()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "pc", Memory = "64M", KernelCommandLine = "run=\"gcstress 640 8;gc;heap;check\"", Timeout = TimeSpan.FromSeconds(240) });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "collector self-test: 7 checks passed");
        Match stress = StressLine.Match(result.Console);
        Assert.True(stress.Success, "gcstress line");
        Assert.Equal("640", stress.Groups[1].Value);
        Assert.Equal("8", stress.Groups[2].Value);
        Assert.True(long.Parse(stress.Groups[4].Value) >= 10, "at least one collection per 64 MiB");
        Match gc = GcLine.Match(result.Console);
        Assert.True(gc.Success, "gc line");
        // After the run and a collection the heap is back near its size before: within 1 MiB, what a
        // stale word on the stack can keep of gcstress's largest arrays (the stack scan is conservative).
        long before = long.Parse(stress.Groups[6].Value), after = long.Parse(stress.Groups[7].Value), afterGc = long.Parse(gc.Groups[6].Value);
        Assert.True(after <= before + ConservativeSlackPages, $"heap pages {before} before gcstress, {after} after it");
        Assert.True(afterGc <= before + ConservativeSlackPages, $"heap pages {before} before gcstress, {afterGc} after a collection");
        Assert.Matches(@"gc: \d+ collections, freed \d+ objects \(\d+ bytes\) in all; live after the last \d+ objects \(\d+ bytes\); pauses total \d+ ticks, longest \d+", result.Console);
        BootTests.AssertContains(result, "heap check: ok");
        Assert.DoesNotContain("out of memory", result.Console);
    }

    private static readonly Regex CpuStressLine = new(
        @"^gcstress: cpu (\d+): (\d+) objects; ran (\d+) collections, parked (\d+) times; raw: (\d+) page allocs \((\d+) refused\), (\d+) heap allocs \((\d+) refused\), all intact and freed; records on node (\d+): (\d+)/(\d+); live set 64/64 intact$");

    private static readonly Regex AllStressLine = new(
        @"^gcstress: (\d+) MiB \((\d+) MiB extra live\) on each of (\d+) CPUs in (\d+) objects, (\d+) collections \(longest pause (\d+) ticks\); heap pages before (\d+), after (\d+); heap check ok; pool check ok; live set (\d+)/(\d+) intact$");

    /// <summary>
    /// `gcstress MIB LIVE all`: every CPU allocates managed objects around its own checksummed live set
    /// while it also takes and frees raw pages and heap blocks (stress's kinds, stamped and checked);
    /// collections run on whichever CPU crosses the threshold and park the others by NMI, whose stacks
    /// and registers are scanned. 10x the machine's memory in all, multi-threaded TCG.
    /// </summary>
    [Theory]
    [InlineData("pc", 2, 1, "64M", 640)]
    [InlineData("q35", 4, 2, "256M", 640)]
    [InlineData("pc", 2, 2, "128M", 640)]
    public void GcStress_OnEveryCpuAtOnce_WithRawStress_CollectsFromAnyCpu_AndKeepsEveryLiveSetIntact(string machine, int cpus, int nodes, string memory, int totalMiB)
    {
        int mib = totalMiB / cpus;
        QemuResult result = Boot(new QemuBoot
        {
            Machine = machine, Memory = memory, Cpus = cpus, Nodes = nodes,
            KernelCommandLine = $"run=\"gcstress {mib} 2 all;gc;heap;check\"", Timeout = TimeSpan.FromSeconds(300),
        });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, $"smp:      {cpus} of {cpus} CPUs online");
        string[] lines = result.Lines;
        int at = Array.IndexOf(lines, $"pk> gcstress {mib} 2 all");
        Assert.True(at >= 0, "no gcstress echo");
        long ran = 0, parked = 0;
        int collectors = 0;
        for (int c = 0; c < cpus; c++)
        {
            Match m = CpuStressLine.Match(lines[at + 1 + c]);
            Assert.True(m.Success, $"cpu {c}'s gcstress line: '{lines[at + 1 + c]}'");
            long N(int group) => long.Parse(m.Groups[group].Value);
            Assert.Equal(c, N(1));
            Assert.True(N(2) > 10000, $"cpu {c} made objects: {m.Value}");
            Assert.True(N(4) > 0, $"cpu {c} was never parked by another CPU's collection: {m.Value}");
            Assert.True(N(5) > 100 && N(7) > 100 && N(8) == 0, $"cpu {c}'s raw operations: {m.Value}");
            // Managed objects from each CPU come from its node (CPUs dealt over the nodes round-robin).
            Assert.Equal(nodes > 1 ? c % nodes : 0, N(9));
            Assert.True(N(10) * 100 >= N(11) * 95 && N(11) >= 64, $"cpu {c}'s records on its node: {m.Value}");
            ran += N(3);
            parked += N(4);
            if (N(3) > 0)
                collectors++;
        }
        Match all = AllStressLine.Match(lines[at + 1 + cpus]);
        Assert.True(all.Success, $"gcstress summary: '{lines[at + 1 + cpus]}'");
        long A(int group) => long.Parse(all.Groups[group].Value);
        Assert.True(A(1) == mib && A(2) == 2 && A(3) == cpus, all.Value);
        Assert.Equal(ran, A(5));
        Assert.True(A(5) >= totalMiB / 64, $"at least one collection per 64 MiB: {all.Value}");
        Assert.True(collectors >= 2, $"collections ran on {collectors} CPU(s) only");
        Assert.True(parked >= A(5), $"each collection parks every other CPU: {parked} parks for {A(5)} collections");
        Assert.True(A(9) == 64L * cpus && A(10) == 64L * cpus, all.Value);
        Assert.True(A(8) <= A(7) + ConservativeSlackPages, $"heap pages {A(7)} before gcstress, {A(8)} after it");

        Match gc = GcLine.Match(ShellCommandBootTests.LineAfter(result, "gc"));
        Assert.True(gc.Success, "gc line");
        Assert.Matches($@"; other CPUs parked {cpus - 1} in \d+ ticks$", ShellCommandBootTests.LineAfter(result, "gc"));
        Assert.True(long.Parse(gc.Groups[6].Value) <= A(7) + ConservativeSlackPages, gc.Value);
        Assert.StartsWith("heap: ", ShellCommandBootTests.LineAfter(result, "heap"));
        Assert.Matches(@"gc: \d+ collections, freed \d+ objects \(\d+ bytes\) in all; live after the last \d+ objects \(\d+ bytes\); pauses total \d+ ticks, longest \d+", result.Console);
        Assert.Equal("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", ShellCommandBootTests.LineAfter(result, "check"));
        BootTests.AssertContains(result, "heap check: ok");
        Assert.DoesNotContain("out of memory", result.Console);
    }

    /// <summary>
    /// `gc cpus`: objects that only other CPUs' stacks and registers hold, while those CPUs spin with
    /// interrupts off (as on a lock), survive collections on the boot CPU and then on CPU 1 (the boot
    /// CPU holding), with their contents, still allocated; twice, then a clean check.
    /// </summary>
    [Theory]
    [InlineData("pc", 2, 1)]
    [InlineData("q35", 4, 2)]
    public void ObjectsOnlyOtherCpusHold_WithInterruptsOff_SurviveCollectionsOnEitherCpu(string machine, int cpus, int nodes)
    {
        QemuResult result = Boot(new QemuBoot { Machine = machine, Memory = "256M", Cpus = cpus, Nodes = nodes, KernelCommandLine = "run=\"gc cpus;gc cpus;check\"" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        string[] lines = result.Lines;
        for (int nth = 0; nth < 2; nth++)
        {
            string first = ShellCommandBootTests.LineAfter(result, "gc cpus", nth);
            int at = Array.IndexOf(lines, first);
            for (int round = 0; round < 2; round++)
            {
                Match m = Regex.Match(lines[at + round],
                    $@"^gc cpus: cpu {round} ran (\d+) collections while {cpus - 1} other CPUs held objects only in their stacks and registers, interrupts off: {cpus - 1} of {cpus - 1} intact$");
                Assert.True(m.Success, $"round {round}: '{lines[at + round]}'");
                Assert.True(long.Parse(m.Groups[1].Value) >= 2, m.Value);
            }
        }
        Assert.Equal("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", ShellCommandBootTests.LineAfter(result, "check"));
        BootTests.AssertContains(result, "heap check: ok");
    }

    [Fact]
    public void GcCpus_OnOneCpu_SaysThereIsNothingToStop()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "pc", Memory = "64M", KernelCommandLine = "run=\"gc cpus;gc cpus x\"" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Equal("gc cpus: only one CPU online; nothing to stop", ShellCommandBootTests.LineAfter(result, "gc cpus"));
        Assert.Equal("gc: unexpected 'x'", ShellCommandBootTests.LineAfter(result, "gc cpus x"));
    }

    [Fact]
    public void GcStress_OnA16MiBMachine_CollectsBeforeTheHeapRunsOut()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "pc", Memory = "16M", KernelCommandLine = "run=\"gcstress 160;check\"", Timeout = TimeSpan.FromSeconds(180) });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Match stress = StressLine.Match(result.Console);
        Assert.True(stress.Success, "gcstress line");
        // 160 MiB at one threshold collection per 8 MiB would be 20: the rest ran when an allocation would have failed.
        Assert.True(long.Parse(stress.Groups[4].Value) > 20, $"collections {stress.Groups[4].Value}");
        Assert.DoesNotContain("out of memory", result.Console);
        BootTests.AssertContains(result, "heap check: ok");
    }

    [Fact]
    public void ManyShellCommands_DoNotGrowTheHeap()
    {
        // 220 commands that each make 4,096 objects (about 230 KiB): 50 MiB on a 64 MiB machine.
        const int Commands = 220;
        string run = "gc;" + string.Join(";", Enumerable.Repeat("heaptest 4096 64", Commands)) + ";gc";
        QemuResult result = Boot(new QemuBoot { Machine = "pc", Memory = "64M", KernelCommandLine = $"run=\"{run}\"", Timeout = TimeSpan.FromSeconds(240) });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Equal(Commands, Regex.Matches(result.Console, @"heaptest: 4096 x 64 bytes from the CPU on node 0: by node 0=4096, failed 0; managed objects on the local node 4096/4096").Count);
        MatchCollection gcs = GcLine.Matches(result.Console);
        Assert.Equal(2, gcs.Count);
        long first = long.Parse(gcs[0].Groups[6].Value), last = long.Parse(gcs[1].Groups[6].Value);
        Assert.True(last <= first + ConservativeSlackPages, $"heap pages {first} after the first gc, {last} after {Commands} commands and a gc");
        Assert.DoesNotContain("out of memory", result.Console);
    }

    [Fact]
    public void TenThousandShellCommands_LeaveTheHeapAsTheyFoundIt()
    {
        // Typed at the prompt: 10,000 commands that each make 8 objects and an array (the issue's count).
        const int Commands = 10000;
        string input = "gc\n" + string.Concat(Enumerable.Repeat("heaptest 8 16\n", Commands)) + "gc\nhalt\n";
        QemuResult result = Boot(new QemuBoot { Machine = "pc", Memory = "64M", TypeAhead = input, Timeout = TimeSpan.FromSeconds(300) });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Equal(Commands, Regex.Matches(result.Console, @"heaptest: 8 x 16 bytes from the CPU on node 0: by node 0=8, failed 0; managed objects on the local node 8/8").Count);
        MatchCollection gcs = GcLine.Matches(result.Console);
        Assert.Equal(2, gcs.Count);
        long first = long.Parse(gcs[0].Groups[6].Value), last = long.Parse(gcs[1].Groups[6].Value);
        Assert.True(last <= first + ConservativeSlackPages, $"heap pages {first} after the first gc, {last} after {Commands} commands and a gc");
        Assert.True(long.Parse(gcs[1].Groups[1].Value) >= Commands * 9L, "the last gc freed every command's objects");
    }

    [Fact]
    public void ADanglingReference_IsReportedWithObjectTypeAndField_AndStopsTheMachine()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "pc", Memory = "64M", KernelCommandLine = "run=\"gc corrupt;meminfo\"" });
        BootTests.AssertStatus(result, QemuResult.Panic);
        Match made = Regex.Match(result.Console, @"gc corrupt: (0x[0-9a-f]+) \+8 refers to the freed (0x[0-9a-f]+)");
        Assert.True(made.Success, "gc corrupt line");
        Assert.Matches($@"gc: HEAP CORRUPTION: object {made.Groups[1].Value} of type 0x[0-9a-f]+, field at \+8 holds {made.Groups[2].Value}, outside every object", result.Console);
        BootTests.AssertContains(result, "PANIC: gc: heap corruption; nothing was freed");
    }
}
