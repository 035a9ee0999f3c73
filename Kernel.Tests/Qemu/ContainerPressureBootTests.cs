using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Pressure's movable step at boot (docs/containers.md "Pressure", "Movable areas of a container"): a movable
/// area allocated as a container is charged to it (quota, accounting, given back on destroy); when its pool
/// runs short (`exhaust pool 1`), the container's pages there are migrated to another pool it may use, its
/// data intact, while a container permitted in the short pool only has nowhere to go: nothing of it moves
/// and the shell says so. Every scripted command's line is asserted.
/// </summary>
public class ContainerPressureBootTests
{
    private readonly ITestOutputHelper _output;

    public ContainerPressureBootTests(ITestOutputHelper output) => _output = output;

    /// <summary>The line after the prompt line of <paramref name="command"/> (its first run) plus <paramref name="line"/> - 1 matches <paramref name="pattern"/>.</summary>
    private static void Reply(QemuResult result, string command, string pattern, int line = 1)
    {
        string[] lines = result.Lines;
        int at = Array.IndexOf(lines, "pk> " + command);
        Assert.True(at >= 0 && at + line < lines.Length, $"no prompt line for '{command}'\n{result}");
        Assert.True(Regex.IsMatch(lines[at + line], "^" + pattern + "$"), $"'{command}' answered '{lines[at + line]}', not /{pattern}/\n{result}");
    }

    [Fact]
    public void AShortPool_MigratesAContainersMovableAreaToAnotherPoolItMayUse_DataIntact_NoRoomSaysSo()
    {
        const string Run = "as web vmalloc 4M pool 1;as db vmalloc 1M pool 1;as tiny vmalloc 1M;vfill 0 7;vfill 1 9;containers;"
            + "exhaust pool 1;containers;vverify 0 7;vverify 1 9;vareas 0;vareas 1;check;as db vfree 0;container destroy web;container destroy db;check;halt";
        QemuResult result = new QemuBoot
        {
            Machine = "q35",
            Memory = "1G",
            Nodes = 2,
            Cpus = 2,
            KernelCommandLine = "container=web:quota=64M,pools=node0-dma32+node1-dma32 container=db:quota=8M,pools=node0-dma32 "
                + "container=tiny:quota=64K run=\"" + Run + "\"",
            Timeout = TimeSpan.FromSeconds(180),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);

        // Charged to the container that made it, limited by its quota.
        Reply(result, "as web vmalloc 4M pool 1", @"vmalloc: area 0, 1024 pages at 0xfffff00000000000 \(3 page-table pages\), charged to web");
        Reply(result, "as db vmalloc 1M pool 1", @"vmalloc: area 1, 256 pages at 0xfffff00040000000 \(2 page-table pages\), charged to db");
        Reply(result, "as tiny vmalloc 1M", @"vmalloc: over the container's quota \(nothing kept\)");
        Reply(result, "vfill 0 7", @"vfill: area 0, 1024 pages filled with seed 7, checksum 0x[0-9a-f]+");
        Reply(result, "vfill 1 9", @"vfill: area 1, 256 pages filled with seed 9, checksum 0x[0-9a-f]+");
        Reply(result, "containers", @"owner name +quota +guarantee held +peak +above +fail: quota perm oom other");
        Reply(result, "containers", @"16 +web +16384 +0 +1024 +1024 +1024 +0 +0 +0 +0", 2);
        Reply(result, "containers", @"17 +db +2048 +0 +256 +256 +256 +0 +0 +0 +0", 3);
        // tiny's refusal: the quota, its area all given back.
        Reply(result, "containers", @"18 +tiny +16 +0 +0 +16 +0 +1 +0 +0 +0", 4);

        // Pool 1 (node0-dma32) runs out: web's 1024 pages go to node1-dma32; db may use pool 1 only: nothing moves.
        Reply(result, "exhaust pool 1", @"exhaust: out of memory after taking \d+ pages: an order-0 request got 'out of memory' with \d+ pages free in all pools");
        Reply(result, "exhaust pool 1", "exhaust: web: 1024 movable pages migrated out of pool 1 to pools it may use", 2);
        // db is asked at each order exhaust then fails at (10 down to 0, web's pages were enough for the first).
        Reply(result, "exhaust pool 1", "exhaust: db: 0 movable pages migrated out of pool 1 to pools it may use; no other pool it may use had room, 10 times: its pages there stay", 3);
        Reply(result, "exhaust pool 1", @"exhaust: returned \d+ pages; free pages (\d+) \(before \1\)", 4);
        Reply(result, "exhaust pool 1", @"check: ok \(.*\)", 5);
        // Held, peak and quota unchanged by the move; the counters say what happened.
        Assert.Equal(2, result.Lines.Count(l => Regex.IsMatch(l, @"^16 +web +16384 +0 +1024 +1024 +1024 +0 +0 +0 +0$")));
        Assert.Contains("movable web: 1024 pages migrated out of short pools under pressure; no room elsewhere 0 times", result.Lines);
        Assert.Contains("movable db: 0 pages migrated out of short pools under pressure; no room elsewhere 10 times", result.Lines);
        Reply(result, "vverify 0 7", @"vverify: area 0, 1024 pages, checksum 0x[0-9a-f]+: intact \(seed's pattern\)");
        Reply(result, "vverify 1 9", @"vverify: area 1, 256 pages, checksum 0x[0-9a-f]+: intact \(seed's pattern\)");
        Reply(result, "vareas 0", @"vareas: area 0 at 0xfffff00000000000, 1024 pages: node0 0 node1 1024; moved 0 by compaction, 0 by migration, 1024 out of short pools by pressure; charged to web");
        Reply(result, "vareas 1", @"vareas: area 1 at 0xfffff00040000000, 256 pages: node0 256 node1 0; moved 0 by compaction, 0 by migration; charged to db");
        Reply(result, "check", @"check: ok \(.*\)");
        Assert.Contains("check: vmareas ok (2 areas, 1280 pages: every frame owned by its area's owner, reverse map and page tables agree)", result.Lines);
        Reply(result, "as db vfree 0", "vfree: area 0 is not this container's");
        // Destroy gives the area back with the rest; the checker is clean and no area is left.
        Reply(result, "container destroy web", "container web: destroyed, 1024 pages given back");
        Reply(result, "container destroy db", "container db: destroyed, 256 pages given back");
        Assert.Contains("check: vmareas ok (0 areas, 0 pages: every frame owned by its area's owner, reverse map and page tables agree)", result.Lines);
        Assert.Equal(3, result.Lines.Count(l => Regex.IsMatch(l, @"^check: ok \(.*\)$")));
    }
}
