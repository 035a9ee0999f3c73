using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The floppy driver moves real sectors by ISA DMA (8237 channel 2) through QEMU's 82077AA on
/// -M pc: reads match a known per-sector pattern byte by byte, a write lands in the image file,
/// every address handed to the 8237 is below 16 MiB and inside one 64 KiB page, and the floppy's
/// DMA pool is a 24-bit pool of its own that goes away when the driver is unloaded.
/// </summary>
public class FloppyDmaTests
{
    private const int SectorSize = 512;
    private const int Sectors = 2880;   // 80 cylinders x 2 heads x 18 sectors
    private const byte Written = 0xCC;  // "write fd0 100 204 18"
    private const int WriteLba = 100, WriteCount = 18;

    private static readonly Regex DumpRow = new(@"^0x([0-9a-f]+)  ((?:[0-9a-f]{2} ){15}[0-9a-f]{2})  \|", RegexOptions.Compiled);
    private static readonly Regex DmaLine = new(@"^dma: floppy (\w+) phys=0x([0-9a-f]+) len=0x([0-9a-f]+) bits=(\d+) boundary=0x([0-9a-f]+) (.*)$", RegexOptions.Compiled);

    private readonly ITestOutputHelper _output;

    public FloppyDmaTests(ITestOutputHelper output) => _output = output;

    /// <summary>Sector s: its number (little-endian) and a marker, then bytes that depend on s and the offset.</summary>
    internal static byte PatternByte(int sector, int offset) => offset switch
    {
        0 => (byte)sector,
        1 => (byte)(sector >> 8),
        2 => 0xF1,
        3 => 0x0D,
        _ => (byte)(sector * 31 + offset * 7 + (offset >> 8)),
    };

    private static byte[] PatternImage()
    {
        var image = new byte[Sectors * SectorSize];
        for (int s = 0; s < Sectors; s++)
        {
            for (int i = 0; i < SectorSize; i++)
                image[s * SectorSize + i] = PatternByte(s, i);
        }
        return image;
    }

    [Fact]
    public void Floppy_ReadsWritesByIsaDma_BelowSixteenMiB_InItsOwnPool()
    {
        string imagePath = Path.GetTempFileName();
        try
        {
            byte[] original = PatternImage();
            File.WriteAllBytes(imagePath, original);
            QemuResult result = new QemuBoot
            {
                Machine = "pc",
                Memory = "512M",
                KernelCommandLine = "run=\"disks;read fd0 0 1;read fd0 40 2;write fd0 100 204 18;read fd0 100 1;dmapools;unload floppy;dmapools\"",
                ExtraArgs = new[] { "-drive", $"file={imagePath},if=floppy,format=raw" },
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            BootTests.AssertContains(result, "controller version 0x90");
            BootTests.AssertContains(result, "driver: floppy takes its legacy device");
            BootTests.AssertContains(result, "  fd0  2880 sectors (1440 KiB)  dma 24-bit boundary 0x10000");
            BootTests.AssertContains(result, "write: ok");
            BootTests.AssertContains(result, "unload: floppy stopped, memory returned");
            Assert.DoesNotContain("read: failed", result.Console);
            Assert.DoesNotContain("floppy: read error", result.Console);
            Assert.DoesNotContain("VIOLATION", result.Console);

            string[] lines = result.Lines;
            byte[] expectedAfterWrite = (byte[])original.Clone();
            for (int i = WriteLba * SectorSize; i < (WriteLba + WriteCount) * SectorSize; i++)
                expectedAfterWrite[i] = Written;
            AssertDump(lines, "read fd0 0 1", 0, 1, original, result);
            AssertDump(lines, "read fd0 40 2", 40, 2, original, result);
            AssertDump(lines, "read fd0 100 1", WriteLba, 1, expectedAfterWrite, result);

            // The image file: exactly sectors 100..117 changed, to 0xCC.
            byte[] after = File.ReadAllBytes(imagePath);
            Assert.Equal(original.Length, after.Length);
            for (int i = 0; i < after.Length; i++)
            {
                if (after[i] != expectedAfterWrite[i])
                    Assert.Fail($"image byte {i} (sector {i / SectorSize} offset {i % SectorSize}) is {after[i]:x2}, expected {expectedAfterWrite[i]:x2}\n{result}");
            }

            AssertDmaLines(lines, result);
            AssertOwnPoolThenGone(lines, result);
        }
        finally
        {
            File.Delete(imagePath);
        }
    }

    /// <summary>The hex dump after "pk> COMMAND" covers exactly the sectors read and equals the image byte by byte.</summary>
    private static void AssertDump(string[] lines, string command, int lba, int count, byte[] image, QemuResult result)
    {
        int start = Array.IndexOf(lines, "pk> " + command);
        Assert.True(start >= 0, $"no \"{command}\" in the console\n{result}");
        long expectedOffset = (long)lba * SectorSize;
        int rows = 0;
        for (int i = start + 1; i < lines.Length && !lines[i].StartsWith("pk>") && !lines[i].StartsWith("run="); i++)
        {
            Match m = DumpRow.Match(lines[i]);
            if (!m.Success)
                continue;
            long offset = long.Parse(m.Groups[1].Value, NumberStyles.HexNumber);
            Assert.True(offset == expectedOffset, $"{command}: row at {offset:x}, expected {expectedOffset:x}\n{result}");
            string[] bytes = m.Groups[2].Value.Split(' ');
            for (int b = 0; b < 16; b++)
            {
                byte got = byte.Parse(bytes[b], NumberStyles.HexNumber);
                byte want = image[offset + b];
                if (got != want)
                    Assert.Fail($"{command}: byte {offset + b:x} (sector {(offset + b) / SectorSize}) read {got:x2}, expected {want:x2}\n{result}");
            }
            expectedOffset += 16;
            rows++;
        }
        Assert.True(rows == count * SectorSize / 16, $"{command}: {rows} dump rows, expected {count * SectorSize / 16}\n{result}");
    }

    /// <summary>Every address given to the 8237 is checked here independently: 24 bits, one 64 KiB page, at most 64 KiB.</summary>
    private static void AssertDmaLines(string[] lines, QemuResult result)
    {
        int reads = 0, writes = 0;
        foreach (string line in lines)
        {
            if (!line.StartsWith("dma: floppy "))
                continue;
            Match m = DmaLine.Match(line);
            Assert.True(m.Success, $"malformed dma line \"{line}\"\n{result}");
            ulong phys = ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber);
            ulong len = ulong.Parse(m.Groups[3].Value, NumberStyles.HexNumber);
            Assert.Equal("24", m.Groups[4].Value);
            Assert.Equal("10000", m.Groups[5].Value);
            Assert.Equal("ok", m.Groups[6].Value);
            Assert.True(len > 0 && len <= 0x10000 && len % SectorSize == 0, $"length {len:x} in \"{line}\"");
            Assert.True(phys + len <= 1UL << 24, $"above 16 MiB: \"{line}\"");
            Assert.True(phys >> 16 == (phys + len - 1) >> 16, $"crosses 64 KiB: \"{line}\"");
            if (m.Groups[1].Value == "read")
                reads++;
            else if (m.Groups[1].Value == "write")
                writes++;
            else
                Assert.Fail($"unknown transfer in \"{line}\"");
        }
        // read 0 1, read 40 2 (one cylinder each), read 100 1; write 100..117 spans cylinders 2 and 3.
        Assert.True(reads >= 3, $"{reads} floppy DMA reads reported\n{result}");
        Assert.True(writes >= 2, $"{writes} floppy DMA writes reported\n{result}");
    }

    /// <summary>First dmapools: a pool below 2^24 whose only user is the floppy. After unload: no pool has the floppy, no 24-bit pool is left.</summary>
    private static void AssertOwnPoolThenGone(string[] lines, QemuResult result)
    {
        int first = Array.IndexOf(lines, "pk> dmapools");
        int unload = Array.IndexOf(lines, "pk> unload floppy");
        int second = Array.LastIndexOf(lines, "pk> dmapools");
        Assert.True(first >= 0 && unload > first && second > unload, $"dmapools/unload order\n{result}");

        int floppyPool = -1;
        for (int i = first + 1; i < unload; i++)
        {
            if (lines[i].StartsWith("    user floppy:"))
            {
                for (floppyPool = i - 1; floppyPool > first && lines[floppyPool].StartsWith("    user "); floppyPool--)
                {
                }
            }
        }
        Assert.True(floppyPool > first, $"no DMA pool lists user floppy\n{result}");
        Assert.Contains("): below 2^24, ", lines[floppyPool]);
        int users = 0;
        for (int i = floppyPool + 1; i < unload && lines[i].StartsWith("    user "); i++)
            users++;
        Assert.True(users == 1, $"the floppy's 24-bit pool has {users} users\n{result}");
        Assert.StartsWith("    user floppy: 1 buffers", lines[floppyPool + 1]);

        for (int i = second + 1; i < lines.Length && !lines[i].StartsWith("run="); i++)
        {
            Assert.False(lines[i].StartsWith("    user floppy"), $"floppy still a pool user after unload\n{result}");
            Assert.False(lines[i].Contains("): below 2^24, "), $"24-bit pool left after unload\n{result}");
        }
    }
}
