using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Drivers as containers (issue 17; docs/drivers.md "Drivers as containers"): the IDE and virtio-blk
/// drivers each run as a container of their name (owners from 63 down), share one DMA pool whose
/// buffers are charged to each; the floppy's container comes from the command line with a quota too
/// small for its track buffer, so its load is refused in the quota's words; the shell cannot act as
/// a loaded driver's container nor destroy it; the managed objects a driver's code makes come from its
/// container's heap arena; unloading gives everything back (the objects still referenced adopted by the
/// kernel's heap, container destroyed, DMA pools gone, checker clean). Every scripted command's line is asserted.
/// </summary>
public class DriverContainerBootTests
{
    private readonly ITestOutputHelper _output;

    public DriverContainerBootTests(ITestOutputHelper output) => _output = output;

    private static void Line(QemuResult result, string pattern)
        => Assert.True(result.Lines.Any(l => Regex.IsMatch(l, "^" + pattern + "$")), $"no line matching /{pattern}/\n{result}");

    /// <summary>The lines <paramref name="command"/> printed (its <paramref name="occurrence"/>-th run), up to the next prompt.</summary>
    private static string[] Reply(QemuResult result, string command, int occurrence = 0)
    {
        string[] lines = result.Lines;
        int at = -1;
        for (int seen = 0; seen <= occurrence; seen++)
            at = Array.IndexOf(lines, "pk> " + command, at + 1);
        Assert.True(at >= 0, $"no prompt line for '{command}'\n{result}");
        int end = at + 1;
        while (end < lines.Length && !lines[end].StartsWith("pk> "))
            end++;
        return lines[(at + 1)..end];
    }

    [Fact]
    public void DriversRunAsContainers_QuotaRefusesInItsWords_UnloadGivesEverythingBack()
    {
        string dir = Directory.CreateTempSubdirectory("poolkernel-drvct").FullName;
        try
        {
            string ide = Path.Combine(dir, "ide.img"), virtio = Path.Combine(dir, "virtio.img"), floppy = Path.Combine(dir, "floppy.img");
            File.WriteAllBytes(ide, new byte[4 << 20]);
            File.WriteAllBytes(virtio, new byte[4 << 20]);
            File.WriteAllBytes(floppy, new byte[1474560]);
            const string Run = "containers;drivers;dmapools;check;as ata-piix alloc 0;container destroy ata-piix;as floppy alloc 3;write hdc 20 90 2;"
                + "unload ata-piix;gc;containers;unload virtio-blk;dmapools;containers;check";
            QemuResult result = new QemuBoot
            {
                Machine = "pc",
                Memory = "512M",
                KernelCommandLine = "container=floppy:quota=16K run=\"" + Run + "\"",
                ExtraArgs = new[]
                {
                    "-drive", $"file={ide},format=raw,if=ide,index=2",
                    "-drive", $"file={virtio},if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-modern=on",
                    "-drive", $"file={floppy},if=floppy,format=raw",
                },
                Timeout = TimeSpan.FromSeconds(120),
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);

            // The floppy's container is the command line's (owner 16, 4 pages): its 18 KiB track buffer is over it.
            BootTests.AssertContains(result, "container floppy: owner 16, quota 4 pages, guarantee 0 pages, pools all");
            // Its code's objects cannot come from its arena either (the arena's metadata alone is over 4 pages): a driver's
            // entry point is not ended for that, the objects are made in the kernel's heap and the lines say so.
            BootTests.AssertContains(result, "heap: an object of 112 bytes for container floppy refused: over the container's quota; made in the kernel's heap instead (a driver's entry point is not ended)");
            BootTests.AssertContains(result, "floppy: no DMA buffer: over the driver's container quota");
            BootTests.AssertContains(result, "driver: floppy did not load (no usable device, or the reason above)");

            // containers: the drivers' containers with what they hold (their DMA buffers and their heap arenas), the floppy's refusals counted as the quota's.
            string[] table = Reply(result, "containers");
            Assert.Matches(@"^owner name +quota +guarantee held +peak +above +fail: quota perm oom other$", table[0]);
            Match floppyRow = Regex.Match(table[1], @"^16 +floppy +4 +0 +0 +0 +0 +(\d+) +0 +0 +0$");
            Assert.True(floppyRow.Success && int.Parse(floppyRow.Groups[1].Value) >= 2, string.Join("\n", table));
            int floppyRefusals = int.Parse(floppyRow.Groups[1].Value);
            Match virtioRow = Regex.Match(table[2], @"^62 +virtio-blk +4096 +0 +(\d+) +(\d+) +(\d+) +0 +0 +0 +0$");
            Match ideRow = Regex.Match(table[3], @"^63 +ata-piix +4096 +0 +(\d+) +(\d+) +(\d+) +0 +0 +0 +0$");
            Assert.True(virtioRow.Success && ideRow.Success, string.Join("\n", table));
            string ideHeld = ideRow.Groups[1].Value, virtioHeld = virtioRow.Groups[1].Value;
            Assert.True(int.Parse(ideHeld) > 0 && int.Parse(virtioHeld) > 0);
            Assert.Equal("containers: 3 (sizes in pages)", table[4]);

            // drivers: the same numbers, each driver's container, and the part of them its heap arena takes: the objects the
            // driver's code made at load (its channels, disks, rules) came from its container's arena, charged to it.
            string[] drivers = Reply(result, "drivers");
            Match ideArena = Regex.Match(string.Join("\n", drivers), "(?m)^  ata-piix  loaded  container owner 63, " + ideHeld + @" pages held \((\d+) in its heap arena\), quota 4096$");
            Match virtioArena = Regex.Match(string.Join("\n", drivers), "(?m)^  virtio-blk  loaded  container owner 62, " + virtioHeld + @" pages held \((\d+) in its heap arena\), quota 4096$");
            Assert.True(ideArena.Success && virtioArena.Success, string.Join("\n", drivers));
            int ideArenaPages = int.Parse(ideArena.Groups[1].Value);
            Assert.True(ideArenaPages > 0 && ideArenaPages < int.Parse(ideHeld), string.Join("\n", drivers));
            Assert.True(int.Parse(virtioArena.Groups[1].Value) > 0, string.Join("\n", drivers));
            Assert.Contains("  floppy  not loaded", drivers);

            // dmapools: one shared pool, each user's buffers its own container's.
            string[] pools = Reply(result, "dmapools");
            Assert.Matches(@"^dma pool dma32-n0 \(pool \d+\): below 2\^32, node 0, .* \d+ buffers, grown \d+ times$", pools[0]);
            Assert.Contains(pools, l => Regex.IsMatch(l, @"^    user ata-piix: \d+ buffers, owner 63 \(container\)$"));
            Assert.Contains(pools, l => Regex.IsMatch(l, @"^    user virtio-blk: \d+ buffers, owner 62 \(container\)$"));

            // check: the DMA pools' buffers each owned by its driver's container, which counts exactly them.
            Assert.Contains(Reply(result, "check"), l => Regex.IsMatch(l, @"^check: dma ok \(1 pools, \d+ buffers: each owned by its driver's container, which counts exactly them\)$"));

            // The shell may neither act as a loaded driver's container nor destroy it; the floppy's (no driver) it may.
            Assert.Equal(new[] { "as: ata-piix is a loaded driver's container: only the driver allocates as it" }, Reply(result, "as ata-piix alloc 0"));
            Assert.Equal(new[] { "container ata-piix: refused: a loaded driver runs as it (unload the driver)" }, Reply(result, "container destroy ata-piix"));
            Assert.Equal(new[] { "alloc: over the container's quota" }, Reply(result, "as floppy alloc 3"));
            // I/O through the driver (its write runs as its container, nested in the shell's command).
            Assert.Equal("write: ok", Reply(result, "write hdc 20 90 2")[^1]);

            // unload: everything the container held comes back (the driver returned it all: nothing to take back), the container is gone.
            string[] unloadIde = Reply(result, "unload ata-piix");
            Assert.Contains("unload: ata-piix stopped, memory returned", unloadIde);
            // The objects the driver's tables still reference are adopted by the kernel's heap, the rest of its arena given back.
            Match destroyed = Regex.Match(string.Join("\n", unloadIde), "(?m)^unload: ata-piix's container \\(owner 63\\) held " + ideHeld
                + @" pages, 0 taken back from the DMA pools, container destroyed, (\d+) pages given back; (\d+) live managed objects \(\d+ bytes, (\d+) pages\) adopted by the kernel's heap$");
            Assert.True(destroyed.Success, string.Join("\n", unloadIde));
            int givenBack = int.Parse(destroyed.Groups[1].Value), adoptedPages = int.Parse(destroyed.Groups[3].Value);
            Assert.True(int.Parse(destroyed.Groups[2].Value) > 0 && givenBack > 0 && givenBack + adoptedPages <= int.Parse(ideHeld), string.Join("\n", unloadIde));
            Assert.Matches(@"^gc: freed \d+ objects \(\d+ bytes\); live .*", Reply(result, "gc")[0]);
            string[] after = Reply(result, "containers", 1);
            Assert.DoesNotContain(after, l => l.Contains("ata-piix"));
            Assert.Equal("containers: 2 (sizes in pages)", after[^1]);
            Assert.Equal(new[]
            {
                "unload: virtio-blk stopped, memory returned",
            }, Reply(result, "unload virtio-blk")[..1]);
            Assert.Matches("^unload: virtio-blk's container \\(owner 62\\) held " + virtioHeld + @" pages, 0 taken back from the DMA pools, container destroyed, \d+ pages given back(; \d+ live managed objects \(\d+ bytes, \d+ pages\) adopted by the kernel's heap)?$",
                Reply(result, "unload virtio-blk")[1]);
            Assert.Equal(new[] { "no DMA pools" }, Reply(result, "dmapools", 1));
            string[] last = Reply(result, "containers", 2);
            Assert.Matches($@"^16 +floppy +4 +0 +0 +0 +0 +{floppyRefusals + 1} +0 +0 +0$", last[1]);
            Assert.Equal("containers: 1 (sizes in pages)", last[2]);
            Line(result, @"check: ok \(.*\)");
            Assert.Contains("check: dma ok (0 pools, 0 buffers: each owned by its driver's container, which counts exactly them)", Reply(result, "check", 1));
            BootTests.AssertContains(result, "heap check: ok");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
