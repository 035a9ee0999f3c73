using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Movable kernel areas (issue 15, docs/antifrag.md "Movable areas") and migration between nodes
/// (issue 16, docs/numa.md "Migration"): an area's frames really move under `compact` and `migrate`
/// (copied, the page-table entry rewritten, the translation shot down on every CPU), its contents
/// read back through its virtual addresses intact, and the checker (pools and areas) stays clean.
/// </summary>
public class VmAreaBootTests
{
    private readonly ITestOutputHelper _output;

    public VmAreaBootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.DoesNotContain("CORRUPTED", result.Console);
        Assert.DoesNotContain("BROKEN", result.Console);
        return result;
    }

    private static Match Line(QemuResult result, string command, string pattern, int nth = 0)
    {
        string line = ShellCommandBootTests.LineAfter(result, command, nth);
        Match m = Regex.Match(line, "^" + pattern + "$");
        Assert.True(m.Success, $"after \"{command}\" (#{nth}): \"{line}\" does not match {pattern}\n{result}");
        return m;
    }

    private static ulong Hex(string text) => ulong.Parse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private const string CheckPools = "check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)";

    /// <summary>
    /// Migration entries: CPU 1 checksums a 1 MiB area sweep after sweep while CPU 0 moves every page of it
    /// to a new frame 10 times. Reads of a page being moved fault on its migration entry and wait (counted;
    /// on main such a fault ends the machine), every sweep's checksum is right, the area is given back.
    /// </summary>
    [Fact]
    public void AnotherCpuReadingPagesBeingMoved_WaitsInTheFaultHandler_AndReadsTheRightContents()
    {
        QemuResult result = Boot(new QemuBoot
        {
            Machine = "q35",
            Memory = "512M",
            Cpus = 2,
            KernelCommandLine = "run=\"vareatouch 1M 10 3;check;halt\"",
            Timeout = TimeSpan.FromSeconds(180),
        });
        Match m = Line(result, "vareatouch 1M 10 3",
            @"vareatouch: area 0, 256 pages moved 10 times \(2560 moves, 0 without a frame\) while cpu 1 read it (\d+) times; (\d+) faults waited for a migration; 0 sweeps wrong; checksum intact");
        Assert.True(long.Parse(m.Groups[1].Value) >= 1);
        Assert.True(long.Parse(m.Groups[2].Value) > 0, "no read met a page being moved");
        ShellCommandBootTests.AssertLineAfter(result, "check", CheckPools);
        BootTests.AssertContains(result, "check: vmareas ok (0 areas, 0 pages: every frame owned by its area's owner, reverse map and page tables agree)");
        Assert.DoesNotContain("CPU EXCEPTION", result.Console);
    }

    [Theory]
    [InlineData("pc", "256M", 1)]
    [InlineData("q35", "1G", 2)]
    public void AreaCompacted_FramesMove_ChecksumIntact_FreeGivesEverythingBack(string machine, string memory, int cpus)
    {
        QemuResult result = Boot(new QemuBoot
        {
            Machine = machine, Memory = memory, Cpus = cpus,
            KernelCommandLine = "run=\"vareatest 4M 3;vareas;check;vfree 0;vfree 0;vareas;check;halt\"",
        });
        Match test = Line(result, "vareatest 4M 3",
            @"vareatest: area 0, 1024 pages between (\d+) fillers \(freed\); compact moved (\d+) pages, (\d+) of the area's frames; checksum intact");
        // Pages moved (a page may move twice) and the area's pages whose frame changed.
        long moved = long.Parse(test.Groups[2].Value), changed = long.Parse(test.Groups[3].Value);
        Assert.True(changed > 0, "compact moved none of the area's frames\n" + result);
        Assert.True(moved >= changed);
        // The area is the only movable memory with a mover: every page compaction moved is one of its own.
        Match areas = Line(result, "vareas",
            @"vareas: area 0 at 0xfffff00000000000, 1024 pages: node0 1024; moved (\d+) by compaction, 0 by migration");
        Assert.Equal(moved, long.Parse(areas.Groups[1].Value));
        Match shootdowns = Regex.Match(result.Console, @"vareas: 1 areas; \d+ pages of reverse map and tables; (\d+) shootdowns sent");
        Assert.True(shootdowns.Success, result.ToString());
        // With a second CPU every move is shot down on it; alone, there is nobody to tell.
        Assert.Equal(cpus > 1 ? moved : 0, long.Parse(shootdowns.Groups[1].Value));
        ShellCommandBootTests.AssertLineAfter(result, "check", CheckPools);
        BootTests.AssertContains(result, "check: vmareas ok (1 areas, 1024 pages: every frame owned by its area's owner, reverse map and page tables agree)");
        Assert.Equal("vfree: area 0: 1024 frames and 3 page-table pages given back", ShellCommandBootTests.LineAfter(result, "vfree 0"));
        Assert.Equal("vfree: no such area (see vareas)", ShellCommandBootTests.LineAfter(result, "vfree 0", 1));
        Line(result, "vareas", @"vareas: 0 areas; \d+ pages of reverse map and tables; \d+ shootdowns sent", 1);
        Assert.Equal(CheckPools, ShellCommandBootTests.LineAfter(result, "check", 1));
        BootTests.AssertContains(result, "check: vmareas ok (0 areas, 0 pages: every frame owned by its area's owner, reverse map and page tables agree)");
    }

    [Fact]
    public void TheAreaPolicy_PlacesAnAreasFrames_RefusedPolicyKeepsTheOld()
    {
        // The `area` NUMA context (issue 16): vmalloc's frames by its policy, counted in numastat.
        QemuResult result = Boot(new QemuBoot
        {
            Machine = "q35", Memory = "1G", Nodes = 2, NodeMemory = new[] { "960M", "64M" }, CpuNodes = new[] { 0, 1 },
            KernelCommandLine = "run=\"policy;policy area bind 1;vmalloc 4M;vareas 0;numastat;policy area bind 7;policy area default;vfree 0;check;halt\"",
        });
        Assert.Equal("policy: kernel local", ShellCommandBootTests.LineAfter(result, "policy"));
        BootTests.AssertContains(result, "policy: area default (follows kernel: local)");
        Assert.Equal("policy: area now bind 1 (new allocations)", ShellCommandBootTests.LineAfter(result, "policy area bind 1"));
        Line(result, "vmalloc 4M", @"vmalloc: area 0, 1024 pages at 0xfffff00000000000 \(3 page-table pages\)");
        Line(result, "vareas 0", @"vareas: area 0 at 0xfffff00000000000, 1024 pages: node0 0 node1 1024; moved 0 by compaction, 0 by migration");
        Assert.Equal(new long[] { 0, 1024 }, NumaHits(result));
        Assert.Equal(new long[] { 0, 1024 }, NumaHits(result, "other_node"));
        Assert.Equal("policy: refused, a node of the list is not a node of this machine; area keeps bind 1", ShellCommandBootTests.LineAfter(result, "policy area bind 7"));
        Assert.Equal("policy: area now default (new allocations)", ShellCommandBootTests.LineAfter(result, "policy area default"));
        Assert.Equal("vfree: area 0: 1024 frames and 3 page-table pages given back", ShellCommandBootTests.LineAfter(result, "vfree 0"));
        ShellCommandBootTests.AssertLineAfter(result, "check", CheckPools);
        BootTests.AssertContains(result, "check: numa ok (policies valid, counters consistent)");
    }

    [Fact]
    public void MigrateToNode1_EveryFrameInNode1sSratRange_ChecksumIntact_PagesThatCannotMoveStay()
    {
        QemuResult result = Boot(new QemuBoot
        {
            Machine = "q35", Memory = "1G", Nodes = 2, NodeMemory = new[] { "960M", "64M" }, CpuNodes = new[] { 0, 1 },
            KernelCommandLine = "run=\"numa;vareatest 4M;numastat;migrate 0 1;vareas 0;numastat;vmalloc 64M;migrate 1 1;numastat;vareas;check;" +
                "migrate 2 1;vfree 1;vfree 0;check;halt\"",
        });
        Assert.Equal("cpus:     2 (apic ids 0@node0 1@node1)", ShellCommandBootTests.LineAfter(result, "numa"));
        for (int i = 0; i < 3; i++)
            Line(result, "numastat", @" +node0 +node1", i);
        // Node 1's memory as the SRAT gives it (the `numa` listing).
        Match range = Regex.Match(result.Console, @"  node 1: 0x([0-9a-f]+)-0x([0-9a-f]+) ");
        Assert.True(range.Success, result.ToString());
        ulong low = ulong.Parse(range.Groups[1].Value, NumberStyles.HexNumber), high = ulong.Parse(range.Groups[2].Value, NumberStyles.HexNumber);

        Line(result, "vareatest 4M", @"vareatest: area 0, 1024 pages between \d+ fillers \(freed\); compact moved \d+ pages, \d+ of the area's frames; checksum intact");
        Line(result, "migrate 0 1",
            @"migrate: area 0 to node 1: 1024 pages moved, 0 already there, 0 could not move; checksum intact; \d+ ticks, a plain copy of the same pages \d+ ticks");
        Line(result, "vareas 0", @"vareas: area 0 at 0xfffff00000000000, 1024 pages: node0 0 node1 1024; moved \d+ by compaction, 1024 by migration");
        // Every page's frame from the page tables, as runs: all inside node 1's SRAT range, 1024 pages in all.
        long pages = 0;
        foreach (Match run in Regex.Matches(result.Console, @"vareas: area 0 pages (\d+)-(\d+): frames \[(0x[0-9a-f]+), (0x[0-9a-f]+)\) node (\d+)"))
        {
            ulong from = Hex(run.Groups[3].Value), to = Hex(run.Groups[4].Value);
            Assert.True(from >= low && to <= high, $"frames [{from:x}, {to:x}) outside node 1 [{low:x}, {high:x})\n{result}");
            Assert.Equal("1", run.Groups[5].Value);
            long n = long.Parse(run.Groups[2].Value) - long.Parse(run.Groups[1].Value) + 1;
            Assert.Equal((long)(to - from) / 4096, n);
            pages += n;
        }
        Assert.Equal(1024, pages);

        Line(result, "vmalloc 64M", @"vmalloc: area 1, 16384 pages at 0xfffff00040000000 \(33 page-table pages\)");
        // Node 1 (64 MiB, 4 MiB of it the first area's) cannot take the whole second area: the rest stays, reported.
        Match partial = Line(result, "migrate 1 1",
            @"migrate: area 1 to node 1: (\d+) pages moved, (\d+) already there, (\d+) could not move \(no frame on the node; first: page (\d+)\); checksum intact; \d+ ticks, a plain copy of the same pages \d+ ticks");
        long moved = long.Parse(partial.Groups[1].Value), already = long.Parse(partial.Groups[2].Value), failed = long.Parse(partial.Groups[3].Value);
        Assert.True(moved > 0 && failed > 0, result.ToString());
        Assert.Equal(16384, moved + already + failed);
        Line(result, "vareas", @"vareas: area 0 at 0xfffff00000000000, 1024 pages: node0 0 node1 1024; moved \d+ by compaction, 1024 by migration");
        Assert.Contains($"vareas: area 1 at 0xfffff00040000000, 16384 pages: node0 {failed} node1 {moved + already}; moved 0 by compaction, {moved} by migration", result.Console);

        // numastat: node 1's hits grow by exactly the pages moved there; the failed moves count nowhere.
        long[] hits = NumaHits(result);
        Assert.Equal(3, hits.Length / 2);
        Assert.Equal(hits[0], hits[2]);             // node 0 unchanged by migrate 0 1
        Assert.Equal(hits[1] + 1024, hits[3]);
        // vmalloc 64M between them: the area's frames come by the `area` policy (default: the kernel's,
        // local), all 16384 from the CPU's node 0, each a numa_hit there.
        Assert.Equal(hits[2] + 16384, hits[4]);
        Assert.Equal(hits[3] + moved, hits[5]);

        ShellCommandBootTests.AssertLineAfter(result, "check", CheckPools);
        BootTests.AssertContains(result, "check: vmareas ok (2 areas, 17408 pages: every frame owned by its area's owner, reverse map and page tables agree)");
        Assert.Equal("migrate: no such area (see vareas)", ShellCommandBootTests.LineAfter(result, "migrate 2 1"));
        Assert.Equal("vfree: area 1: 16384 frames and 33 page-table pages given back", ShellCommandBootTests.LineAfter(result, "vfree 1"));
        Assert.Equal("vfree: area 0: 1024 frames and 3 page-table pages given back", ShellCommandBootTests.LineAfter(result, "vfree 0"));
        Assert.Equal(CheckPools, ShellCommandBootTests.LineAfter(result, "check", 1));
        BootTests.AssertContains(result, "check: vmareas ok (0 areas, 0 pages: every frame owned by its area's owner, reverse map and page tables agree)");
    }

    /// <summary>
    /// <paramref name="counter"/> of node 0 and node 1 from each numastat in order, without the heap's page
    /// refills (numastat's second table): [n0, n1, n0, n1, ...].
    /// </summary>
    private static long[] NumaHits(QemuResult result, string counter = "numa_hit")
    {
        MatchCollection rows = Regex.Matches(result.Console, $@"(?m)^{counter} +(\d+) +(\d+)\r?$");
        Assert.True(rows.Count % 2 == 0, result.ToString());
        long[] hits = new long[rows.Count];
        for (int i = 0; i < rows.Count; i += 2)
        {
            hits[i] = long.Parse(rows[i].Groups[1].Value) - long.Parse(rows[i + 1].Groups[1].Value);
            hits[i + 1] = long.Parse(rows[i].Groups[2].Value) - long.Parse(rows[i + 1].Groups[2].Value);
        }
        return hits;
    }
}
