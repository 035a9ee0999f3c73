using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The legacy virtio-blk driver against QEMU's transitional virtio-blk-pci (disable-modern=on):
/// sectors read by DMA match the image byte for byte, a write reaches the image file on the host,
/// every address the driver gives the device obeys the legacy rules (below 2^44; the queue region
/// 4 KiB-aligned and the size the legacy layout needs), and unloading gives the DMA pool back.
/// </summary>
public class VirtioBlockTests
{
    private const int SectorSize = 512;
    private const int ImageSectors = 8192;   // 4 MiB
    private const ulong AddressLimit = 1UL << 44;
    private readonly ITestOutputHelper _output;

    public VirtioBlockTests(ITestOutputHelper output) => _output = output;

    /// <summary>Sector i: its number (little-endian, 4 bytes), then byte j = (i * 7 + j) &amp; 0xFF.</summary>
    internal static byte Pattern(int sector, int offset)
        => offset < 4 ? (byte)(sector >> (8 * offset)) : (byte)((sector * 7 + offset) & 0xFF);

    internal static string CreateImage()
    {
        string path = Path.GetTempFileName();
        var image = new byte[ImageSectors * SectorSize];
        for (int s = 0; s < ImageSectors; s++)
        {
            for (int j = 0; j < SectorSize; j++)
                image[s * SectorSize + j] = Pattern(s, j);
        }
        File.WriteAllBytes(path, image);
        return path;
    }

    [Theory]
    [InlineData("pc", "512M")]
    [InlineData("q35", "512M")]
    [InlineData("q35", "6G")]
    public void ReadWriteUnload_DataMatchesTheImage_AndDmaObeysLegacyRules(string machine, string memory)
    {
        string image = CreateImage();
        try
        {
            QemuResult result = new QemuBoot
            {
                Machine = machine,
                Memory = memory,
                KernelCommandLine = "run=\"disks;read vda 5 2;write vda 9 171 3;read vda 9 3;dmapools;unload virtio-blk;dmapools\"",
                ExtraArgs = new[]
                {
                    "-drive", $"file={image},if=none,id=d0,format=raw",
                    "-device", "virtio-blk-pci,drive=d0,disable-modern=on",
                },
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            BootTests.AssertContains(result, "driver: virtio-blk takes pci ");
            BootTests.AssertContains(result, $"  vda  {ImageSectors} sectors (4 MiB)  dma 44-bit boundary 0x0");

            // Sectors 5-6 as the image holds them.
            byte[] read = HexDumpOf(result, "read vda 5 2", 5 * SectorSize, 2 * SectorSize);
            for (int i = 0; i < read.Length; i++)
                Assert.True(read[i] == Pattern(5 + i / SectorSize, i % SectorSize), $"sector {5 + i / SectorSize} byte {i % SectorSize}: {read[i]:x2}\n{result}");

            Assert.Equal("write: ok", Section(result, "write vda 9 171 3").Last());
            byte[] written = HexDumpOf(result, "read vda 9 3", 9 * SectorSize, 3 * SectorSize);
            Assert.All(written, b => Assert.Equal(0xAB, b));

            CheckDmaLines(result);

            // One pool used by the driver before unload; none after (it was the only user).
            string[] before = Section(result, "dmapools");
            Assert.Contains(before, l => l.StartsWith("dma pool dma44-") && l.Contains("below 2^44"));
            Assert.Contains(before, l => l.Trim().StartsWith("user virtio-blk: "));
            Assert.Contains("unload: virtio-blk stopped, memory returned", Section(result, "unload virtio-blk"));
            string[] after = Section(result, "dmapools", 1);
            Assert.DoesNotContain(after, l => l.Contains("virtio-blk"));
            Assert.Contains("no DMA pools", after);
        }
        finally
        {
            VerifyImageAndDelete(image);
        }
    }

    [Fact]
    public void LastSector_Reads_AndARequestPastTheEnd_IsRefused()
    {
        string image = CreateImage();
        try
        {
            QemuResult result = new QemuBoot
            {
                Machine = "q35",
                Memory = "256M",
                KernelCommandLine = $"run=\"read vda {ImageSectors - 1} 1;read vda {ImageSectors - 1} 2\"",
                ExtraArgs = new[]
                {
                    "-drive", $"file={image},if=none,id=d0,format=raw",
                    "-device", "virtio-blk-pci,drive=d0,disable-modern=on",
                },
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            byte[] last = HexDumpOf(result, $"read vda {ImageSectors - 1} 1", (long)(ImageSectors - 1) * SectorSize, SectorSize);
            for (int j = 0; j < SectorSize; j++)
                Assert.Equal(Pattern(ImageSectors - 1, j), last[j]);
            string[] refused = Section(result, $"read vda {ImageSectors - 1} 2");
            Assert.Equal(new[] { "virtio-blk: request beyond the end of the disk", "read: failed" }, refused);
        }
        finally
        {
            VerifyImageAndDelete(image, written: false);
        }
    }

    /// <summary>After QEMU exited: sectors 9-11 of the file are 0xAB (when written), every other sector untouched.</summary>
    internal static void VerifyImageAndDelete(string image, bool written = true)
    {
        byte[] bytes = File.ReadAllBytes(image);
        File.Delete(image);
        Assert.Equal(ImageSectors * SectorSize, bytes.Length);
        for (int s = 0; s < ImageSectors; s++)
        {
            for (int j = 0; j < SectorSize; j++)
            {
                byte expected = written && s >= 9 && s <= 11 ? (byte)0xAB : Pattern(s, j);
                byte actual = bytes[s * SectorSize + j];
                Assert.True(actual == expected, $"image sector {s} byte {j}: {actual:x2}, expected {expected:x2}");
            }
        }
    }

    /// <summary>
    /// Every "dma: virtio-blk" line, checked independently of the kernel: below 2^44, no boundary
    /// rule, the queue region 4 KiB-aligned and exactly the legacy layout's size for the queue size
    /// the driver reported, headers/status/data 16-byte aligned with the lengths of the requests.
    /// </summary>
    private static void CheckDmaLines(QemuResult result)
    {
        Match load = Regex.Match(result.Console, @"virtio-blk: io 0x[0-9a-f]+, features offered 0x[0-9a-f]+ accepted 0x0, queue 0: (\d+) entries at 0x([0-9a-f]+) \(used ring \+0x([0-9a-f]+)\), vda (\d+) sectors");
        Assert.True(load.Success, "no virtio-blk load line\n" + result);
        ulong queueSize = ulong.Parse(load.Groups[1].Value, CultureInfo.InvariantCulture);
        ulong queuePhys = ulong.Parse(load.Groups[2].Value, NumberStyles.HexNumber);
        ulong usedOffset = ulong.Parse(load.Groups[3].Value, NumberStyles.HexNumber);
        Assert.Equal((ulong)ImageSectors, ulong.Parse(load.Groups[4].Value, CultureInfo.InvariantCulture));
        Assert.True(ulong.IsPow2(queueSize) && queueSize <= 32768, $"queue size {queueSize}");
        static ulong Align(ulong v) => (v + 4095) & ~4095UL;
        ulong expectedUsed = Align(16 * queueSize + 6 + 2 * queueSize);
        ulong expectedTotal = expectedUsed + Align(6 + 8 * queueSize);
        Assert.Equal(expectedUsed, usedOffset);

        var lines = result.Lines.Where(l => l.StartsWith("dma: virtio-blk ")).ToList();
        var what = new List<string>();
        foreach (string line in lines)
        {
            Match m = Regex.Match(line, @"^dma: virtio-blk (\S+) phys=0x([0-9a-f]+) len=0x([0-9a-f]+) bits=(\d+) boundary=0x([0-9a-f]+) ok$");
            Assert.True(m.Success, $"malformed or refused dma line: {line}\n{result}");
            string kind = m.Groups[1].Value;
            ulong phys = ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber);
            ulong len = ulong.Parse(m.Groups[3].Value, NumberStyles.HexNumber);
            Assert.Equal("44", m.Groups[4].Value);
            Assert.Equal("0", m.Groups[5].Value);
            Assert.True(len > 0 && phys + len <= AddressLimit && phys + len > phys, $"beyond 2^44: {line}");
            ulong alignment = kind == "queue" ? 4096UL : 16UL;
            Assert.True(phys % alignment == 0, $"not {alignment}-aligned: {line}");
            switch (kind)
            {
                case "queue":
                    Assert.Equal(queuePhys, phys);
                    Assert.Equal(expectedTotal, len);
                    Assert.True(phys >> 12 <= uint.MaxValue, $"queue frame does not fit the 32-bit PFN register: {line}");
                    break;
                case "header": Assert.Equal(16UL, len); break;
                case "status": Assert.Equal(1UL, len); break;
                case "data-in":
                case "data-out":
                    Assert.True(len % SectorSize == 0, line);
                    break;
                default: Assert.Fail($"unexpected dma use: {line}"); break;
            }
            what.Add(kind);
        }
        // One queue at load, then header, data, status for each of the three requests.
        Assert.Equal(new[] { "queue", "header", "data-in", "status", "header", "data-out", "status", "header", "data-in", "status" }, what);
        var dataLengths = lines.Where(l => l.Contains(" data-")).Select(l => Regex.Match(l, "len=0x([0-9a-f]+)").Groups[1].Value).ToArray();
        Assert.Equal(new[] { "400", "600", "600" }, dataLengths);
    }

    /// <summary>The console lines a shell command printed (its <paramref name="occurrence"/>-th run), prompt excluded.</summary>
    internal static string[] Section(QemuResult result, string command, int occurrence = 0)
    {
        string[] lines = result.Lines;
        int seen = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i] != "pk> " + command || seen++ != occurrence)
                continue;
            var section = new List<string>();
            for (int j = i + 1; j < lines.Length && !lines[j].StartsWith("pk> ") && !lines[j].StartsWith("run=: "); j++)
                section.Add(lines[j]);
            return section.ToArray();
        }
        Assert.Fail($"command \"{command}\" not run\n{result}");
        return Array.Empty<string>();
    }

    /// <summary>The bytes of a `read` hex dump, checking its offsets run from <paramref name="offset"/> without gaps.</summary>
    internal static byte[] HexDumpOf(QemuResult result, string command, long offset, int length, int occurrence = 0)
    {
        var bytes = new List<byte>();
        foreach (string line in Section(result, command, occurrence))
        {
            Match m = Regex.Match(line, @"^0x([0-9a-f]{8})  ((?:[0-9a-f]{2} ){15}[0-9a-f]{2})  \|");
            if (!m.Success)
                continue;
            Assert.Equal(offset + bytes.Count, long.Parse(m.Groups[1].Value, NumberStyles.HexNumber));
            foreach (string b in m.Groups[2].Value.Split(' '))
                bytes.Add(byte.Parse(b, NumberStyles.HexNumber));
        }
        Assert.True(bytes.Count == length, $"{command}: {bytes.Count} bytes dumped, expected {length}\n{result}");
        return bytes.ToArray();
    }
}
