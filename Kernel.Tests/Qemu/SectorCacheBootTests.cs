using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The block-device sector cache (Kernel.Drivers/BlockCache, docs/antifrag.md) on virtio-blk and on ATA:
/// a second read of a page is a hit with no disk request; a write stays in the cache (dirty, the disk
/// unchanged) until pressure: `exhaust` makes an allocation fail, the shortage handler writes the dirty
/// page back and drops every page, and the disk then holds the written data (read back raw, and in
/// the image file after QEMU exits, with every other sector unchanged). The cached frames are
/// accounted as bcache's, in reclaimable page blocks (`check`).
/// </summary>
public class SectorCacheBootTests
{
    private const int SectorSize = 512;
    private readonly ITestOutputHelper _output;

    public SectorCacheBootTests(ITestOutputHelper output) => _output = output;

    private static string[] Devices(string disk, string image) => disk == "vda"
        ? new[] { "-drive", $"file={image},if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-modern=on" }
        : new[] { "-drive", $"file={image},format=raw,if=ide,index=0" };

    /// <summary>Lines of a section that are a driver's DMA report (a disk request was made).</summary>
    private static string[] DmaLines(string[] section) => section.Where(l => l.StartsWith("dma: ")).ToArray();

    [Theory]
    [InlineData("q35", "vda", "dma: virtio-blk data-out ")]
    [InlineData("pc", "hda", "dma: ata-piix write ")]
    public void ReadHit_WriteBack_DroppedUnderPressure_DataOnDisk(string machine, string disk, string writeLine)
    {
        string image = VirtioBlockTests.CreateImage();
        try
        {
            QemuResult result = new QemuBoot
            {
                Machine = machine,
                Memory = "256M",
                KernelCommandLine = $"run=\"bcache read {disk} 5 2;bcache read {disk} 5 2;bcache write {disk} 9 171 3;bcache read {disk} 9 3;"
                    + $"read {disk} 9 3;bcache;check;exhaust;bcache;read {disk} 9 3;check\"",
                ExtraArgs = Devices(disk, image),
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);

            // First read: a miss (one disk request for page 0); second: a hit, no disk request.
            string[] first = VirtioBlockTests.Section(result, $"bcache read {disk} 5 2");
            Assert.Contains("bcache read: ok, 0 pages hit, 1 missed", first);
            Assert.NotEmpty(DmaLines(first));
            string[] second = VirtioBlockTests.Section(result, $"bcache read {disk} 5 2", 1);
            Assert.Equal("bcache read: ok, 1 pages hit, 0 missed", second[0]);
            Assert.Empty(DmaLines(second));
            foreach (int occurrence in new[] { 0, 1 })
            {
                byte[] read = VirtioBlockTests.HexDumpOf(result, $"bcache read {disk} 5 2", 5 * SectorSize, 2 * SectorSize, occurrence);
                for (int i = 0; i < read.Length; i++)
                    Assert.True(read[i] == VirtioBlockTests.Pattern(5 + i / SectorSize, i % SectorSize), $"read {occurrence}, sector {5 + i / SectorSize} byte {i % SectorSize}");
            }

            // A write of part of page 1: the page is read first, nothing is written to the disk yet.
            string[] write = VirtioBlockTests.Section(result, $"bcache write {disk} 9 171 3");
            Assert.Contains("bcache write: ok, 0 pages hit, 1 missed", write);
            Assert.DoesNotContain(write, l => l.StartsWith(writeLine));
            Assert.Contains("bcache read: ok, 1 pages hit, 0 missed", VirtioBlockTests.Section(result, $"bcache read {disk} 9 3"));
            Assert.All(VirtioBlockTests.HexDumpOf(result, $"bcache read {disk} 9 3", 9 * SectorSize, 3 * SectorSize), b => Assert.Equal(0xAB, b));
            // The disk still has the old sectors (write-back).
            byte[] before = VirtioBlockTests.HexDumpOf(result, $"read {disk} 9 3", 9 * SectorSize, 3 * SectorSize);
            for (int i = 0; i < before.Length; i++)
                Assert.Equal(VirtioBlockTests.Pattern(9 + i / SectorSize, i % SectorSize), before[i]);

            Assert.Equal(new[] { "bcache: 2 pages (8 KiB, reclaimable, 2 in reclaimable page blocks), 1 dirty; 2 hits, 2 misses, 0 dropped, 0 written back, 0 lost" },
                VirtioBlockTests.Section(result, "bcache"));
            string[] check = VirtioBlockTests.Section(result, "check");
            Assert.Contains("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", check);
            Assert.Contains("check: bcache ok (2 pages: every frame owned by bcache, 2 in reclaimable page blocks)", check);

            // Pressure: the failed allocation writes the dirty page back, then every page is dropped.
            string[] exhaust = VirtioBlockTests.Section(result, "exhaust");
            Assert.Contains(exhaust, l => l.StartsWith(writeLine));
            Assert.Contains(exhaust, l => l.StartsWith("exhaust: out of memory after taking "));
            Assert.Contains("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", exhaust);
            Assert.Equal(new[] { "bcache: 0 pages (0 KiB, reclaimable, 0 in reclaimable page blocks), 0 dirty; 2 hits, 2 misses, 2 dropped, 1 written back, 0 lost" },
                VirtioBlockTests.Section(result, "bcache", 1));
            Assert.All(VirtioBlockTests.HexDumpOf(result, $"read {disk} 9 3", 9 * SectorSize, 3 * SectorSize, 1), b => Assert.Equal(0xAB, b));
            string[] after = VirtioBlockTests.Section(result, "check", 1);
            Assert.Contains("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", after);
            Assert.Contains("check: bcache ok (0 pages: every frame owned by bcache, 0 in reclaimable page blocks)", after);
        }
        finally
        {
            VirtioBlockTests.VerifyImageAndDelete(image);
        }
    }

    /// <summary>
    /// Each way a dirty page reaches the disk: `bcache sync` (sector 9), `compact`, which drops the cache
    /// first (sector 10), and unloading the driver (sector 11); `bcache drop` of a clean page writes nothing.
    /// </summary>
    [Fact]
    public void SyncCompactAndUnload_WriteBack_DropOfCleanWritesNothing()
    {
        string image = VirtioBlockTests.CreateImage();
        try
        {
            QemuResult result = new QemuBoot
            {
                Machine = "q35",
                Memory = "256M",
                KernelCommandLine = "run=\"bcache write vda 9 171 1;bcache sync;bcache write vda 10 171 1;compact;bcache;bcache read vda 0 1;bcache drop;bcache write vda 11 171 1;unload virtio-blk;bcache;check\"",
                ExtraArgs = Devices("vda", image),
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            Assert.Contains("bcache write: ok, 0 pages hit, 1 missed", VirtioBlockTests.Section(result, "bcache write vda 9 171 1"));
            string[] sync = VirtioBlockTests.Section(result, "bcache sync");
            Assert.Equal("bcache: 1 pages written back", sync.Last());
            Assert.Contains(sync, l => l.StartsWith("dma: virtio-blk data-out "));
            Assert.Contains("bcache write: ok, 1 pages hit, 0 missed", VirtioBlockTests.Section(result, "bcache write vda 10 171 1"));
            string[] compact = VirtioBlockTests.Section(result, "compact");
            Assert.Contains(compact, l => l.StartsWith("dma: virtio-blk data-out "));
            Assert.Contains("compact: sector cache dropped 1 pages (1 written back)", compact);
            Assert.Contains(compact, l => l.StartsWith("compact: pool 0: "));
            Assert.Equal(new[] { "bcache: 0 pages (0 KiB, reclaimable, 0 in reclaimable page blocks), 0 dirty; 1 hits, 1 misses, 1 dropped, 2 written back, 0 lost" },
                VirtioBlockTests.Section(result, "bcache"));
            Assert.Contains("bcache read: ok, 0 pages hit, 1 missed", VirtioBlockTests.Section(result, "bcache read vda 0 1"));
            Assert.Equal(new[] { "bcache: dropped 1 pages, 0 written back first" }, VirtioBlockTests.Section(result, "bcache drop"));
            Assert.Contains("bcache write: ok, 0 pages hit, 1 missed", VirtioBlockTests.Section(result, "bcache write vda 11 171 1"));
            string[] unload = VirtioBlockTests.Section(result, "unload virtio-blk");
            Assert.Contains(unload, l => l.StartsWith("dma: virtio-blk data-out "));
            Assert.Contains("unload: virtio-blk stopped, memory returned", unload);
            Assert.Equal(new[] { "bcache: 0 pages (0 KiB, reclaimable, 0 in reclaimable page blocks), 0 dirty; 1 hits, 3 misses, 3 dropped, 3 written back, 0 lost" },
                VirtioBlockTests.Section(result, "bcache", 1));
            Assert.Contains("check: bcache ok (0 pages: every frame owned by bcache, 0 in reclaimable page blocks)", VirtioBlockTests.Section(result, "check"));
        }
        finally
        {
            // Sectors 9-11 are 0xAB (each written back one of the three ways), every other sector as it was.
            VirtioBlockTests.VerifyImageAndDelete(image);
        }
    }
}
