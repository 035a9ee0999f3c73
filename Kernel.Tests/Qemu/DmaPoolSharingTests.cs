using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Three drivers on one machine: the IDE controller (32-bit, 64 KiB boundary) and legacy virtio-blk
/// (44-bit) have compatible rules and share one DMA pool; the floppy's ISA DMA (24-bit) is stricter
/// and gets its own. Unloading drivers shrinks the picture until no DMA pool is left.
/// </summary>
public class DmaPoolSharingTests
{
    private readonly ITestOutputHelper _output;

    public DmaPoolSharingTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void CompatibleDriversShareAPool_TheStricterOneGetsItsOwn()
    {
        string dir = Directory.CreateTempSubdirectory("poolkernel-share").FullName;
        try
        {
            string ide = Path.Combine(dir, "ide.img"), virtio = Path.Combine(dir, "virtio.img"), floppy = Path.Combine(dir, "floppy.img");
            File.WriteAllBytes(ide, new byte[4 << 20]);
            File.WriteAllBytes(virtio, new byte[4 << 20]);
            File.WriteAllBytes(floppy, new byte[1474560]);
            QemuResult result = new QemuBoot
            {
                Machine = "pc",
                Memory = "512M",
                KernelCommandLine = "run=\"dmapools;pools;unload ata-piix;dmapools;unload virtio-blk;unload floppy;dmapools;check\"",
                ExtraArgs = new[]
                {
                    "-drive", $"file={ide},format=raw,if=ide,index=2",
                    "-drive", $"file={virtio},if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-modern=on",
                    "-drive", $"file={floppy},if=floppy,format=raw",
                },
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);

            string[] sections = Regex.Split(result.Console, @"pk> ");
            string first = sections.First(s => s.StartsWith("dmapools"));
            // One pool below 2^32 with both the IDE and the virtio driver as users...
            Match shared = Regex.Match(first, @"dma pool (\S+) \(pool \d+\): below 2\^32[^\n]*\n((?:    user [^\n]*\n)+)");
            Assert.True(shared.Success, "no shared 32-bit pool\n" + result);
            Assert.Contains("user ata-piix", shared.Groups[2].Value);
            Assert.Contains("user virtio-blk", shared.Groups[2].Value);
            // ...and the floppy alone in its own pool below 2^24.
            Match isa = Regex.Match(first, @"dma pool (\S+) \(pool \d+\): below 2\^24[^\n]*\n((?:    user [^\n]*\n)+)");
            Assert.True(isa.Success, "no 24-bit pool\n" + result);
            // Each user's buffers belong to its driver's container (docs/drivers.md, "Drivers as containers").
            Assert.Matches(@"^    user floppy: 1 buffers, owner \d+ \(container\)$", isa.Groups[2].Value.Trim('\n').TrimEnd('\r'));
            Assert.Equal(2, Regex.Matches(first, "^dma pool ", RegexOptions.Multiline).Count);

            // The DMA pools are real pools: `pools` lists them with the dma and resv flags.
            string pools = sections.First(s => s.StartsWith("pools"));
            Assert.Matches(@"dma32-n0 .* dma resv ", pools);
            Assert.Matches(@"dma24-n0 .* dma resv ", pools);

            // Unloading the IDE driver leaves virtio-blk as the shared pool's only user.
            string afterIde = sections.Where(s => s.StartsWith("dmapools")).ElementAt(1);
            Assert.DoesNotContain("user ata-piix", afterIde);
            Assert.Contains("user virtio-blk", afterIde);
            // With every driver gone, so is every DMA pool, and the allocator is consistent.
            Assert.StartsWith("dmapools\nno DMA pools", sections.Where(s => s.StartsWith("dmapools")).ElementAt(2).Replace("\r", ""));
            BootTests.AssertContains(result, "check: ok");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
