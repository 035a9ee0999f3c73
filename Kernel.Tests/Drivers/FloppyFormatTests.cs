using PoolKernel.Drivers.Floppy;
using Xunit;

namespace PoolKernel.Tests.Drivers;

/// <summary>
/// The floppy driver's pure tables: which formats a drive of each CMOS type reads, the LBA to
/// C/H/S mapping of each format, and the names of the controller's status bits.
/// </summary>
public class FloppyFormatTests
{
    public static TheoryData<byte> DriveTypes => new() { 1, 2, 3, 4, 5 };

    /// <summary>
    /// The driver names the medium by the data rate that reads an ID: that only works when no two
    /// formats a drive reads share a rate. The drive's own format comes first (densest first).
    /// </summary>
    [Theory]
    [MemberData(nameof(DriveTypes))]
    public void EveryDriveType_CandidatesHaveDistinctRates_DensestFirst(byte type)
    {
        int count = FloppyFormats.CandidateCount(type);
        Assert.InRange(count, 1, 3);
        Assert.NotNull(FloppyFormats.DriveName(type));
        for (int i = 0; i < count; i++)
        {
            FloppyFormat f = FloppyFormats.Candidate(type, i);
            Assert.True(f.IsValid, $"type {type} candidate {i}");
            for (int j = 0; j < i; j++)
            {
                FloppyFormat earlier = FloppyFormats.Candidate(type, j);
                Assert.NotEqual(earlier.DataRate, f.DataRate);
                Assert.True(earlier.TotalSectors > f.TotalSectors, $"type {type}: {earlier.Name} before {f.Name}");
            }
        }
        Assert.False(FloppyFormats.Candidate(type, count).IsValid);
        Assert.False(FloppyFormats.Candidate(type, -1).IsValid);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    [InlineData(15)]
    public void NoOrUnknownDriveType_HasNoCandidates(byte type)
    {
        Assert.Equal(0, FloppyFormats.CandidateCount(type));
        Assert.Null(FloppyFormats.DriveName(type));
        Assert.False(FloppyFormats.Candidate(type, 0).IsValid);
    }

    /// <summary>The sizes QEMU's image-size detection uses (its fd_formats table), and the drive type QEMU reports in CMOS for each.</summary>
    [Theory]
    [InlineData(4, "1.44 MB", 2880, 0, 500u)]
    [InlineData(4, "720 KB", 1440, 2, 250u)]
    [InlineData(2, "1.2 MB", 2400, 0, 500u)]
    [InlineData(2, "360 KB", 720, 1, 300u)]
    [InlineData(5, "2.88 MB", 5760, 3, 1000u)]
    [InlineData(5, "1.44 MB", 2880, 0, 500u)]
    [InlineData(5, "720 KB", 1440, 2, 250u)]
    [InlineData(3, "720 KB", 1440, 2, 250u)]
    [InlineData(1, "360 KB", 720, 1, 300u)]
    public void QemuMedia_AreCandidatesOfTheirDrive(byte type, string name, int sectors, byte rate, uint kbit)
    {
        int count = FloppyFormats.CandidateCount(type);
        FloppyFormat found = default;
        for (int i = 0; i < count; i++)
        {
            if (FloppyFormats.Candidate(type, i).Name == name)
                found = FloppyFormats.Candidate(type, i);
        }
        Assert.True(found.IsValid, $"{name} is not read by drive type {type}");
        Assert.Equal((ulong)sectors, found.TotalSectors);
        Assert.Equal(rate, found.DataRate);
        Assert.Equal(kbit, found.KbitPerSecond);
    }

    /// <summary>Every LBA of every format maps to a distinct C/H/S inside the geometry, in track order.</summary>
    [Theory]
    [MemberData(nameof(DriveTypes))]
    public void ToChs_IsABijectionOntoTheGeometry(byte type)
    {
        for (int i = 0; i < FloppyFormats.CandidateCount(type); i++)
        {
            FloppyFormat f = FloppyFormats.Candidate(type, i);
            var seen = new HashSet<(byte, byte, byte)>();
            for (ulong lba = 0; lba < f.TotalSectors; lba++)
            {
                f.ToChs(lba, out byte c, out byte h, out byte s);
                Assert.InRange(c, 0, f.Cylinders - 1);
                Assert.InRange(h, 0, f.Heads - 1);
                Assert.InRange(s, 1, f.SectorsPerTrack);
                Assert.Equal(lba, ((ulong)c * f.Heads + h) * f.SectorsPerTrack + (ulong)(s - 1));
                Assert.True(seen.Add((c, h, s)), $"{f.Name}: LBA {lba} maps to a C/H/S already used");
            }
        }
    }

    [Fact]
    public void StatusBits_HaveNames_WhereTheDatasheetDefinesFlags()
    {
        Assert.Equal("normal termination", FloppyStatus.Termination(0x20));
        Assert.Equal("abnormal termination", FloppyStatus.Termination(0x44));
        Assert.Equal("invalid command", FloppyStatus.Termination(0x80));
        Assert.Equal(1, FloppyStatus.Head(0x44));
        Assert.Equal("write protected", FloppyStatus.Flag(1, 1));
        Assert.StartsWith("missing address mark", FloppyStatus.Flag(1, 0));
        Assert.StartsWith("end of cylinder", FloppyStatus.Flag(1, 7));
        Assert.Equal("missing data address mark", FloppyStatus.Flag(2, 0));
        // ST0 bits 7-6 (termination), 2 (head), 1-0 (drive) and the reserved ST1 bits are not flags.
        foreach (int bit in new[] { 7, 6, 2, 1, 0 })
            Assert.Null(FloppyStatus.Flag(0, bit));
        Assert.Null(FloppyStatus.Flag(1, 6));
        Assert.Null(FloppyStatus.Flag(1, 3));
        Assert.Null(FloppyStatus.Flag(2, 7));
        Assert.Null(FloppyStatus.Flag(3, 0));
    }
}
