using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The floppy driver moves real sectors by ISA DMA (8237 channel 2) through QEMU's 82077AA on
/// -M pc: the medium's format is detected (360 KB to 2.88 MB, in drives of every type QEMU has),
/// reads match a known per-sector pattern byte by byte up to the medium's last sector, a write
/// lands in the image file, every address handed to the 8237 is below 16 MiB and inside one
/// 64 KiB page, the floppy's DMA pool is a 24-bit pool of its own that goes away when the driver
/// is unloaded, and failures say what failed (LBA, C/H/S, ST0/ST1/ST2 decoded).
/// </summary>
public class FloppyDmaTests
{
    private const int SectorSize = 512;
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

    private static byte[] PatternImage(int sectors)
    {
        var image = new byte[sectors * SectorSize];
        for (int s = 0; s < sectors; s++)
        {
            for (int i = 0; i < SectorSize; i++)
                image[s * SectorSize + i] = PatternByte(s, i);
        }
        return image;
    }

    /// <summary>QEMU arguments for drive 0 holding <paramref name="image"/>: its own choice of drive type from the image size, or the drive type given.</summary>
    private static string[] DriveArgs(string image, string driveType, bool readOnly = false)
    {
        string ro = readOnly ? ",readonly=on" : "";
        return driveType == null
            ? new[] { "-drive", $"file={image},if=floppy,format=raw{ro}" }
            : new[] { "-drive", $"file={image},if=none,id=f0,format=raw{ro}", "-device", $"floppy,drive=f0,drive-type={driveType}" };
    }

    /// <summary>
    /// Every format QEMU's floppy offers in the drive it picks for that image size, plus 1.44 MB and
    /// 720 KB media in a 2.88 MB drive: the format line names the medium, `disks` its size, the
    /// dumps (first sector, two sectors at 40, the medium's last sector, the written sectors) equal
    /// the image byte by byte, the image file afterwards differs exactly in sectors 100..117.
    /// </summary>
    [Theory]
    [InlineData(2880, null, "type 4 (1.44 MB 3.5\")", "1.44 MB (80/2/18, 2880 sectors at 500 kbit/s)")]
    [InlineData(1440, null, "type 4 (1.44 MB 3.5\")", "720 KB (80/2/9, 1440 sectors at 250 kbit/s)")]
    [InlineData(2400, null, "type 2 (1.2 MB 5.25\")", "1.2 MB (80/2/15, 2400 sectors at 500 kbit/s)")]
    [InlineData(720, null, "type 2 (1.2 MB 5.25\")", "360 KB (40/2/9, 720 sectors at 300 kbit/s)")]
    [InlineData(5760, null, "type 5 (2.88 MB 3.5\")", "2.88 MB (80/2/36, 5760 sectors at 1000 kbit/s)")]
    [InlineData(2880, "288", "type 5 (2.88 MB 3.5\")", "1.44 MB (80/2/18, 2880 sectors at 500 kbit/s)")]
    [InlineData(1440, "288", "type 5 (2.88 MB 3.5\")", "720 KB (80/2/9, 1440 sectors at 250 kbit/s)")]
    public void Floppy_DetectsTheMedium_ReadsWritesByIsaDma_BelowSixteenMiB_InItsOwnPool(int sectors, string driveType, string drive, string medium)
    {
        string imagePath = Path.GetTempFileName();
        try
        {
            byte[] original = PatternImage(sectors);
            File.WriteAllBytes(imagePath, original);
            int last = sectors - 1;
            QemuResult result = new QemuBoot
            {
                Machine = "pc",
                Memory = "512M",
                KernelCommandLine = $"run=\"disks;read fd0 0 1;read fd0 40 2;read fd0 {last} 1;write fd0 100 204 18;read fd0 100 1;dmapools;unload floppy;dmapools\"",
                ExtraArgs = DriveArgs(imagePath, driveType),
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            string probeLine = $"floppy: cmos drive 0 {drive}, controller version 0x90, medium {medium}";
            Assert.True(result.Lines.Contains(probeLine), $"no line \"{probeLine}\"\n{result}");
            BootTests.AssertContains(result, "driver: floppy takes its legacy device");
            BootTests.AssertContains(result, $"floppy: fd0 {medium}, bounce buffer phys=");
            BootTests.AssertContains(result, $"  fd0  {sectors} sectors ({sectors / 2} KiB)  dma 24-bit boundary 0x10000");
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
            AssertDump(lines, $"read fd0 {last} 1", last, 1, original, result);
            AssertDump(lines, "read fd0 100 1", WriteLba, 1, expectedAfterWrite, result);

            // The image file: exactly sectors 100..117 changed, to 0xCC.
            byte[] after = File.ReadAllBytes(imagePath);
            Assert.Equal(original.Length, after.Length);
            for (int i = 0; i < after.Length; i++)
            {
                if (after[i] != expectedAfterWrite[i])
                    Assert.Fail($"image byte {i} (sector {i / SectorSize} offset {i % SectorSize}) is {after[i]:x2}, expected {expectedAfterWrite[i]:x2}\n{result}");
            }

            int perCylinder = int.Parse(Regex.Match(medium, @"/2/(\d+),").Groups[1].Value) * 2;
            int writeCylinders = (WriteLba + WriteCount - 1) / perCylinder - WriteLba / perCylinder + 1;
            AssertDmaLines(lines, writeCylinders, result);
            AssertOwnPoolThenGone(lines, result);
        }
        finally
        {
            File.Delete(imagePath);
        }
    }

    /// <summary>
    /// On main a 720 KB medium was registered as 1440 KiB and every read failed. Failures now say
    /// what failed: a range past the end names the medium and its size; a write to a
    /// write-protected medium names the LBA, the C/H/S, the format and ST0/ST1/ST2 decoded, and is
    /// not retried; the image is unchanged and the sector still reads back as it was.
    /// </summary>
    [Fact]
    public void Floppy_Failures_SayWhatFailed_PastTheEnd_AndWriteProtected()
    {
        string imagePath = Path.GetTempFileName();
        try
        {
            byte[] original = PatternImage(1440);
            File.WriteAllBytes(imagePath, original);
            QemuResult result = new QemuBoot
            {
                Machine = "pc",
                Memory = "256M",
                KernelCommandLine = "run=\"read fd0 1440 1;read fd0 1439 2;write fd0 100 204 1;read fd0 100 1\"",
                ExtraArgs = DriveArgs(imagePath, null, readOnly: true),
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            string[] lines = result.Lines;
            AssertNextLines(lines, "pk> read fd0 1440 1", result,
                "floppy: read of LBA 1440 count 1 refused: past the end of the 720 KB medium (1440 sectors)",
                "read: failed");
            AssertNextLines(lines, "pk> read fd0 1439 2", result,
                "floppy: read of LBA 1439 count 2 refused: past the end of the 720 KB medium (1440 sectors)",
                "read: failed");
            int write = Array.IndexOf(lines, "pk> write fd0 100 204 1");
            Assert.True(write >= 0, $"no write echo\n{result}");
            var errors = lines.Skip(write + 1).TakeWhile(l => !l.StartsWith("pk>")).Where(l => l.StartsWith("floppy: ")).ToList();
            Assert.True(errors.Count == 1, $"{errors.Count} floppy lines for one write-protected write (no retry expected)\n{result}");
            Assert.Matches(@"^floppy: write error at LBA 100 \(C/H/S 5/1/2, 1 sector, 720 KB at 250 kbit/s\), attempt 3 of 3: st0=0x[0-9a-f]{2} abnormal termination, head 1(, seek end)?; st1=0x02 write protected; st2=0x00 -$", errors[0]);
            Assert.Contains("write: failed", lines.Skip(write + 1).TakeWhile(l => !l.StartsWith("pk>")));
            AssertDump(lines, "read fd0 100 1", WriteLba, 1, original, result);
            Assert.Equal(original, File.ReadAllBytes(imagePath));
        }
        finally
        {
            File.Delete(imagePath);
        }
    }

    /// <summary>
    /// The medium is ejected (QEMU monitor) after the driver loaded: a read reaches the controller
    /// and fails, and its line names the LBA, the C/H/S, ST0 decoded, and the disk-change line.
    /// </summary>
    [Fact]
    public void Floppy_MediumRemoved_ReadFailureNamesTheDiskChange()
    {
        string imagePath = Path.GetTempFileName();
        string monitor = Path.Combine(Path.GetTempPath(), $"pk-fdmon-{Guid.NewGuid():N}.sock");
        try
        {
            File.WriteAllBytes(imagePath, PatternImage(2880));
            string monitorReply = "";
            var args = new List<string>(DriveArgs(imagePath, null))
            {
                "-chardev", $"socket,id=hmp,path={monitor},server=on,wait=off", "-mon", "chardev=hmp,mode=readline",
            };
            QemuResult result = new QemuBoot
            {
                Machine = "pc",
                Memory = "256M",
                ExtraArgs = args.ToArray(),
                BeforeInput = () => monitorReply = Monitor(monitor, "eject -f floppy0"),
                Input = "read fd0 0 1\nhalt\n",
            }.Run();
            _output.WriteLine(result.ToString());
            _output.WriteLine("monitor: " + monitorReply);
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            string[] lines = result.Lines;
            int read = Array.IndexOf(lines, "pk> read fd0 0 1");
            Assert.True(read >= 0, $"no read echo\n{result}");
            var block = lines.Skip(read + 1).TakeWhile(l => !l.StartsWith("pk>")).ToList();
            var errors = block.Where(l => l.StartsWith("floppy: read error")).ToList();
            Assert.True(errors.Count == 3, $"{errors.Count} read error lines, expected one per attempt\n{result}");
            for (int i = 0; i < 3; i++)
                Assert.Matches($@"^floppy: read error at LBA 0 \(C/H/S 0/0/1, 1 sector, 1.44 MB at 500 kbit/s\), attempt {i + 1} of 3: st0=0x[0-9a-f]{{2}} abnormal termination, head 0.*; disk-change line set: medium removed or changed$", errors[i]);
            Assert.Equal("read: failed", block.Last(l => l.Length > 0));
            BootTests.AssertContains(result, "pk> halt");
        }
        finally
        {
            File.Delete(imagePath);
            File.Delete(monitor);
        }
    }

    /// <summary>Sends one command to QEMU's human monitor on a unix socket and returns what it answered within a second.</summary>
    private static string Monitor(string socketPath, string command)
    {
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        client.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
        client.Send(System.Text.Encoding.ASCII.GetBytes(command + "\n"));
        var reply = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        var until = DateTime.UtcNow.AddSeconds(1);
        while (DateTime.UtcNow < until)
        {
            if (client.Available > 0)
                reply.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, client.Receive(buffer)));
            else
                Thread.Sleep(50);
        }
        return reply.ToString();
    }

    /// <summary>The lines right after <paramref name="echo"/> are exactly <paramref name="expected"/>.</summary>
    private static void AssertNextLines(string[] lines, string echo, QemuResult result, params string[] expected)
    {
        int at = Array.IndexOf(lines, echo);
        Assert.True(at >= 0, $"no \"{echo}\"\n{result}");
        for (int i = 0; i < expected.Length; i++)
            Assert.True(at + 1 + i < lines.Length && lines[at + 1 + i] == expected[i], $"after \"{echo}\" line {i + 1} should be \"{expected[i]}\"\n{result}");
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
    private static void AssertDmaLines(string[] lines, int writeCylinders, QemuResult result)
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
        // The load's last-sector check, read 0 1, read 40 2, the last sector, read 100 1 (one cylinder
        // each at most); write 100..117 is one command per cylinder it spans.
        Assert.True(reads >= 5, $"{reads} floppy DMA reads reported\n{result}");
        Assert.True(writes == writeCylinders, $"{writes} floppy DMA writes reported, expected {writeCylinders}\n{result}");
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
