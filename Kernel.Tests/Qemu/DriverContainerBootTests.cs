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
            // entry point is not ended for that, the objects are made in the kernel's heap, and one line for the whole load
            // says so (how many, their bytes, the entry point, why), not one line an object.
            Assert.DoesNotContain(result.Lines, l => l.StartsWith("heap: an object of"));
            Assert.Single(result.Lines, l => l.StartsWith("heap: ") && l.Contains("for container floppy refused"));
            BootTests.AssertContains(result, "heap: 7 objects (1000 bytes) for container floppy refused during floppy's load: over the container's quota; made in the kernel's heap instead (a driver's entry point is not ended)");
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

    /// <summary>
    /// Acting scopes nest (docs/containers.md, "Who acts as a container"), shown by `scopes CMD` (a line as each scope begins
    /// and ends, with whom the CPU's objects are charged to, as the object path decides it) and by `cpu N irqalloc` (a managed
    /// object made in the timer interrupt, and whose heap holds it): (a) `as web read hdc 0 1`: web's scope, the IDE
    /// driver's read inside it charged to ata-piix, web's again after the read (the hex dump after that), the kernel's after
    /// `as`; a write outside `as` goes from the kernel to ata-piix and back; (b) a timer interrupt arriving on CPU 0 while
    /// it acts as web makes its object in the kernel's heap, charged to the kernel; CPU 1, not acting, and CPU 0 outside
    /// `as` the same. The checker clean after.
    /// </summary>
    [Fact]
    public void ScopesNest_ADriversIoInsideAs_ChargesTheDriverThenWebAgain_AnInterruptWhileActingMakesKernelObjects()
    {
        string dir = Directory.CreateTempSubdirectory("poolkernel-scopes").FullName;
        try
        {
            string ide = Path.Combine(dir, "ide.img");
            File.WriteAllBytes(ide, new byte[4 << 20]);
            const string Run = "scopes as web read hdc 0 1;scopes write hdc 1 7 1;as web cpu 0 irqalloc;as web cpu 1 irqalloc;cpu 0 irqalloc;check";
            QemuResult result = new QemuBoot
            {
                Machine = "pc",
                Memory = "512M",
                Cpus = 2,
                KernelCommandLine = "container=web:quota=64M run=\"" + Run + "\"",
                ExtraArgs = new[] { "-drive", $"file={ide},format=raw,if=ide,index=2" },
                Timeout = TimeSpan.FromSeconds(120),
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);

            string[] read = Reply(result, "scopes as web read hdc 0 1");
            Assert.Equal(38, read.Length);
            Assert.Equal("scope: as web begins: objects charged to web (before: the kernel)", read[0]);
            Assert.Equal("scope: ata-piix's read begins: objects charged to ata-piix (before: web)", read[1]);
            // The driver's own lines, its DMA buffers' (which it allocates as its container), inside its scope.
            Assert.Matches(@"^dma: ata-piix read phys=0x[0-9a-f]+ len=0x200 bits=32 boundary=0x10000 ok$", read[2]);
            Assert.Matches(@"^dma: ata-piix prd-table phys=0x[0-9a-f]+ len=0x8 bits=32 boundary=0x10000 ok$", read[3]);
            Assert.Equal("scope: ata-piix's read ends: objects charged to web", read[4]);
            for (int row = 0; row < 32; row++)
                Assert.Equal($"0x{row * 16:x8}  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  |................|", read[5 + row]);
            Assert.Equal("scope: as web ends: objects charged to the kernel", read[37]);

            string[] write = Reply(result, "scopes write hdc 1 7 1");
            Assert.Equal(5, write.Length);
            Assert.Equal("scope: ata-piix's write begins: objects charged to ata-piix (before: the kernel)", write[0]);
            Assert.Matches(@"^dma: ata-piix write phys=0x[0-9a-f]+ len=0x200 bits=32 boundary=0x10000 ok$", write[1]);
            Assert.Matches(@"^dma: ata-piix prd-table phys=0x[0-9a-f]+ len=0x8 bits=32 boundary=0x10000 ok$", write[2]);
            Assert.Equal("scope: ata-piix's write ends: objects charged to the kernel", write[3]);
            Assert.Equal("write: ok", write[4]);

            foreach (var (command, cpu, acted) in new[] { ("as web cpu 0 irqalloc", 0, "web"), ("as web cpu 1 irqalloc", 1, "the kernel"), ("cpu 0 irqalloc", 0, "the kernel") })
            {
                string[] irq = Reply(result, command);
                Assert.Equal(2, irq.Length);
                Assert.Matches($@"^cpu {cpu} irqalloc: page 0x[0-9a-f]+ and heap block 0x[0-9a-f]+ \(node 0\) allocated and freed in the timer interrupt$", irq[0]);
                Assert.Equal($"cpu {cpu} irqalloc: a managed object made in the timer interrupt, charged to the kernel, is in the kernel's heap (the interrupted code acted as {acted})", irq[1]);
            }
            Line(result, @"check: ok \(.*\)");
            BootTests.AssertContains(result, "heap check: ok");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
