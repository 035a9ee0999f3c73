using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The ata-piix driver on QEMU `-M pc` (PIIX3 IDE, 8086:7010): a raw 4 MiB image with a known
/// pattern in every sector is read and written by bus-master DMA; the data is checked byte by byte
/// from the console's hex dump and in the image file afterwards, and every DMA address the driver
/// printed is checked here, independently, against the engine's rules (below 2^32, no piece
/// crossing a 64 KiB boundary, at most 64 KiB a descriptor, descriptor table dword-aligned).
/// </summary>
public class AtaDmaTests
{
    private const int SectorSize = 512;
    private const int ImageSectors = 4 * 1024 * 1024 / SectorSize;
    private const string Driver = "ata-piix";
    private readonly ITestOutputHelper _output;

    public AtaDmaTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    /// <summary>Sector s: its number in the first four bytes (little-endian), then (31 s + i) mod 256.</summary>
    internal static byte Pattern(long sector, int i)
        => i < 4 ? (byte)(sector >> (8 * i)) : (byte)((sector * 31 + i) & 0xFF);

    private static string CreateImage()
    {
        string path = Path.GetTempFileName();
        var data = new byte[ImageSectors * SectorSize];
        for (int s = 0; s < ImageSectors; s++)
        {
            for (int i = 0; i < SectorSize; i++)
                data[s * SectorSize + i] = Pattern(s, i);
        }
        File.WriteAllBytes(path, data);
        return path;
    }

    private static string Drive(string image, int index) => $"file={image},format=raw,if=ide,index={index}";

    /// <summary>The console lines a command printed: after its "pk> COMMAND" echo, up to the next prompt.</summary>
    internal static List<string> Section(QemuResult result, string command)
    {
        string[] lines = result.Lines;
        int start = Array.IndexOf(lines, "pk> " + command);
        Assert.True(start >= 0, $"no output of \"{command}\"\n{result}");
        var section = new List<string>();
        for (int i = start + 1; i < lines.Length && !lines[i].StartsWith("pk> ") && !lines[i].StartsWith("run=: "); i++)
            section.Add(lines[i]);
        return section;
    }

    private static readonly Regex DumpLine = new(@"^0x([0-9a-f]{8})  ((?:[0-9a-f]{2} ){15}[0-9a-f]{2})  \|", RegexOptions.Compiled);

    /// <summary>The bytes of a `read` hex dump, keyed by byte offset on the disk.</summary>
    internal static Dictionary<long, byte> DumpBytes(List<string> section)
    {
        var bytes = new Dictionary<long, byte>();
        foreach (string line in section)
        {
            Match m = DumpLine.Match(line);
            if (!m.Success)
                continue;
            long offset = long.Parse(m.Groups[1].Value, NumberStyles.HexNumber);
            string[] hex = m.Groups[2].Value.Split(' ');
            for (int i = 0; i < 16; i++)
                bytes[offset + i] = byte.Parse(hex[i], NumberStyles.HexNumber);
        }
        return bytes;
    }

    internal sealed record DmaLine(string Device, string What, ulong Physical, ulong Length, int Bits, ulong Boundary, bool Ok, string Text);

    private static readonly Regex DmaRegex = new(@"^dma: (\S+) (\S+) phys=0x([0-9a-f]+) len=0x([0-9a-f]+) bits=(\d+) boundary=0x([0-9a-f]+) (ok|VIOLATION)", RegexOptions.Compiled);

    internal static List<DmaLine> DmaLines(IEnumerable<string> lines)
    {
        var list = new List<DmaLine>();
        foreach (string line in lines)
        {
            if (!line.StartsWith("dma: "))
                continue;
            Match m = DmaRegex.Match(line);
            Assert.True(m.Success, $"malformed dma line: {line}");
            list.Add(new DmaLine(m.Groups[1].Value, m.Groups[2].Value,
                ulong.Parse(m.Groups[3].Value, NumberStyles.HexNumber), ulong.Parse(m.Groups[4].Value, NumberStyles.HexNumber),
                int.Parse(m.Groups[5].Value, CultureInfo.InvariantCulture), ulong.Parse(m.Groups[6].Value, NumberStyles.HexNumber),
                m.Groups[7].Value == "ok", line));
        }
        return list;
    }

    /// <summary>The PIIX bus-master rules, checked from the numbers alone (not from the kernel's verdict).</summary>
    private static void AssertObeysPiixRules(DmaLine d)
    {
        ulong last = d.Physical + d.Length - 1;
        Assert.True(d.Ok, $"kernel refused: {d.Text}");
        Assert.Equal(Driver, d.Device);
        Assert.True(d.Length > 0 && d.Length <= 0x10000, $"length beyond one PRD: {d.Text}");
        Assert.True(last < 1UL << 32, $"above 4 GiB: {d.Text}");
        Assert.True(d.Physical >> 16 == last >> 16, $"crosses a 64 KiB boundary: {d.Text}");
        Assert.True(d.Physical % 4 == 0 && d.Length % 2 == 0, $"misaligned: {d.Text}");
        if (d.What == "prd-table")
            Assert.True(d.Length % 8 == 0, $"PRD table not whole descriptors: {d.Text}");
        else
            Assert.True(d.What is "read" or "write", $"unexpected dma use: {d.Text}");
    }

    [Fact]
    public void ReadWriteByDma_SecondaryMaster_DataAndRulesHold()
    {
        string image = CreateImage();
        try
        {
            const string run = "disks;read hdc 3 4;write hdc 20 90 130;read hdc 149 1;dmapools;unload ata-piix;dmapools";
            QemuResult result = Boot(new QemuBoot
            {
                Machine = "pc",
                Memory = "512M",
                KernelCommandLine = $"run=\"{run}\"",
                ExtraArgs = new[] { "-drive", Drive(image, 2) },
            });
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            BootTests.AssertContains(result, "driver: ata-piix takes pci 00:01.1");
            BootTests.AssertContains(result, "ata: hdc: QEMU HARDDISK, 8192 sectors (4 MiB), LBA28, bus-master DMA");
            Assert.Contains(Section(result, "disks"), l => l.StartsWith("  hdc  8192 sectors (4 MiB)  dma 32-bit boundary 0x10000"));

            // read hdc 3 4: sectors 3..6 exactly as the image was made.
            List<string> first = Section(result, "read hdc 3 4");
            Dictionary<long, byte> bytes = DumpBytes(first);
            Assert.Equal(4 * SectorSize, bytes.Count);
            for (long s = 3; s < 7; s++)
            {
                for (int i = 0; i < SectorSize; i++)
                {
                    byte got = bytes[s * SectorSize + i];
                    Assert.True(got == Pattern(s, i), $"sector {s} byte {i}: {got:x2}, expected {Pattern(s, i):x2}");
                }
            }

            // write hdc 20 90 130: 65 KiB, more than one PRD can carry.
            List<string> write = Section(result, "write hdc 20 90 130");
            Assert.Contains("write: ok", write);
            List<DmaLine> writeDma = DmaLines(write);
            List<DmaLine> writePieces = writeDma.Where(d => d.What == "write").ToList();
            Assert.True(writePieces.Count >= 2, $"a 130-sector write used {writePieces.Count} PRD(s)\n{result}");
            Assert.Equal(130UL * SectorSize, (ulong)writePieces.Sum(d => (long)d.Length));
            DmaLine table = Assert.Single(writeDma, d => d.What == "prd-table");
            Assert.Equal((ulong)writePieces.Count * 8, table.Length);

            // read hdc 149 1: the last written sector reads back as 0x5A.
            bytes = DumpBytes(Section(result, "read hdc 149 1"));
            Assert.Equal(SectorSize, bytes.Count);
            for (int i = 0; i < SectorSize; i++)
                Assert.True(bytes[149L * SectorSize + i] == 0x5A, $"sector 149 byte {i}: {bytes[149L * SectorSize + i]:x2}");
            Assert.Equal(4UL * SectorSize, (ulong)DmaLines(first).Where(d => d.What == "read").Sum(d => (long)d.Length));

            // Every DMA address the driver gave the device obeys the engine's rules.
            List<DmaLine> all = DmaLines(result.Lines);
            Assert.NotEmpty(all);
            foreach (DmaLine d in all)
                AssertObeysPiixRules(d);

            // The pool had the driver as a user; after unload it is gone (or no longer the driver's).
            Assert.Contains(Section(result, "dmapools"), l => l.Trim().StartsWith("user ata-piix:"));
            List<string> unload = Section(result, "unload ata-piix");
            Assert.Contains(unload, l => l.StartsWith("ata: returned 4 bounce buffers and 1 PRD tables; block pool ok, pool detach ok"));
            Assert.Contains("unload: ata-piix stopped, memory returned", unload);
            int afterUnload = Array.IndexOf(result.Lines, "pk> unload ata-piix");
            List<string> poolsAfter = result.Lines.Skip(afterUnload + 1).SkipWhile(l => l != "pk> dmapools").Skip(1).TakeWhile(l => !l.StartsWith("pk> ") && !l.StartsWith("run=: ")).ToList();
            Assert.True(poolsAfter.Contains("no DMA pools") || !poolsAfter.Any(l => l.Contains("user ata-piix")), "pool still held after unload\n" + result);

            // The image on the host: 0x5A in sectors 20..149, every other sector untouched.
            byte[] after = File.ReadAllBytes(image);
            Assert.Equal(ImageSectors * SectorSize, after.Length);
            for (long s = 0; s < ImageSectors; s++)
            {
                bool written = s >= 20 && s <= 149;
                for (int i = 0; i < SectorSize; i++)
                {
                    byte want = written ? (byte)0x5A : Pattern(s, i);
                    byte got = after[s * SectorSize + i];
                    Assert.True(got == want, $"image sector {s} byte {i}: {got:x2}, expected {want:x2}");
                }
            }
        }
        finally
        {
            File.Delete(image);
        }
    }

    [Theory]
    [InlineData(0, "hda")]
    [InlineData(1, "hdb")]
    [InlineData(3, "hdd")]
    public void DiskAtEachPosition_IsNamedByIt_AndReads(int index, string name)
    {
        string image = CreateImage();
        try
        {
            QemuResult result = Boot(new QemuBoot
            {
                Machine = "pc",
                Memory = "256M",
                KernelCommandLine = $"run=\"disks;read {name} 4097 1\"",
                ExtraArgs = new[] { "-drive", Drive(image, index) },
            });
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            BootTests.AssertContains(result, $"ata: {name}: QEMU HARDDISK, 8192 sectors (4 MiB)");
            // QEMU's default CD-ROM sits at secondary master unless a drive takes that place.
            BootTests.AssertContains(result, "ata: hdc: packet device (CD/DVD), skipped");
            Assert.Contains(Section(result, "disks"), l => l.StartsWith($"  {name}  8192 sectors"));
            List<string> read = Section(result, $"read {name} 4097 1");
            Dictionary<long, byte> bytes = DumpBytes(read);
            Assert.Equal(SectorSize, bytes.Count);
            for (int i = 0; i < SectorSize; i++)
                Assert.Equal(Pattern(4097, i), bytes[4097L * SectorSize + i]);
            foreach (DmaLine d in DmaLines(result.Lines))
                AssertObeysPiixRules(d);
        }
        finally
        {
            File.Delete(image);
        }
    }

    [Fact]
    public void NoDisk_OnlyTheDefaultCdRom_DriverDeclinesAndTakesNoMemory()
    {
        QemuResult result = Boot(new QemuBoot { Machine = "pc", Memory = "128M", KernelCommandLine = "run=\"disks;dmapools\"" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "ata: hdc: packet device (CD/DVD), skipped");
        BootTests.AssertContains(result, "ata: no ATA disk found");
        Assert.Contains("no disks", Section(result, "disks"));
        Assert.Contains("no DMA pools", Section(result, "dmapools"));
        Assert.Empty(DmaLines(result.Lines));
    }
}
