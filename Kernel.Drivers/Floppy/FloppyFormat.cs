namespace PoolKernel.Drivers.Floppy
{
    /// <summary>
    /// One diskette format: geometry (512-byte sectors, MFM), the data rate the controller must be
    /// set to (CCR code), and the gap length READ/WRITE DATA take. Pure: the driver picks one by the
    /// CMOS drive type and a probe of the medium (<see cref="FloppyFormats"/>), and maps LBAs here.
    /// </summary>
    public readonly struct FloppyFormat
    {
        /// <summary>"1.44 MB", "720 KB", ...: how people call the medium.</summary>
        public readonly string Name;
        public readonly byte Cylinders;
        public readonly byte Heads;
        public readonly byte SectorsPerTrack;
        /// <summary>CCR/DSR data-rate code: 0 = 500 kbit/s, 1 = 300, 2 = 250, 3 = 1000.</summary>
        public readonly byte DataRate;
        /// <summary>GPL of READ/WRITE DATA (gap 3 between sectors).</summary>
        public readonly byte Gap3;

        public FloppyFormat(string name, byte cylinders, byte heads, byte sectorsPerTrack, byte dataRate, byte gap3)
        {
            Name = name;
            Cylinders = cylinders;
            Heads = heads;
            SectorsPerTrack = sectorsPerTrack;
            DataRate = dataRate;
            Gap3 = gap3;
        }

        public int SectorsPerCylinder => Heads * SectorsPerTrack;
        public ulong TotalSectors => (ulong)Cylinders * (ulong)SectorsPerCylinder;
        public bool IsValid => SectorsPerTrack != 0;

        /// <summary>The data rate in kbit/s, for messages.</summary>
        public uint KbitPerSecond => FloppyFormats.KbitPerSecond(DataRate);

        /// <summary>
        /// LBA to cylinder/head/sector (sector numbers start at 1). The caller has checked
        /// <paramref name="lba"/> &lt; <see cref="TotalSectors"/>, so every value fits a byte.
        /// </summary>
        public void ToChs(ulong lba, out byte cylinder, out byte head, out byte sector)
        {
            cylinder = (byte)(lba / (ulong)SectorsPerCylinder);
            head = (byte)(lba / SectorsPerTrack % Heads);
            sector = (byte)(lba % SectorsPerTrack + 1);
        }
    }

    /// <summary>
    /// The formats the driver knows and which drive reads which. CMOS register 0x10 names the drive
    /// (1 = 360 KB 5.25", 2 = 1.2 MB 5.25", 3 = 720 KB 3.5", 4 = 1.44 MB 3.5", 5 = 2.88 MB 3.5");
    /// a drive also reads the lower-density media of its size, each at its own data rate. Within
    /// one drive type no two candidate formats share a data rate, so the rate at which the medium
    /// answers READ ID names its format.
    /// </summary>
    public static class FloppyFormats
    {
        public const byte Rate500K = 0, Rate300K = 1, Rate250K = 2, Rate1M = 3;

        // Gap lengths for READ/WRITE DATA as the PC BIOSes and Linux use them.
        public static FloppyFormat Ed2880 => new FloppyFormat("2.88 MB", 80, 2, 36, Rate1M, 0x1B);
        public static FloppyFormat Hd1440 => new FloppyFormat("1.44 MB", 80, 2, 18, Rate500K, 0x1B);
        public static FloppyFormat Hd1200 => new FloppyFormat("1.2 MB", 80, 2, 15, Rate500K, 0x1B);
        public static FloppyFormat Dd720 => new FloppyFormat("720 KB", 80, 2, 9, Rate250K, 0x2A);
        /// <summary>A 360 KB diskette in a 1.2 MB drive: 300 kbit/s (the drive spins at 360 rpm).</summary>
        public static FloppyFormat Dd360 => new FloppyFormat("360 KB", 40, 2, 9, Rate300K, 0x23);

        /// <summary>Highest CMOS drive type this table knows.</summary>
        public const byte MaxDriveType = 5;

        /// <summary>"1.44 MB" for drive type 4, ..., null for 0 (no drive) and unknown types.</summary>
        public static string DriveName(byte cmosType) => cmosType switch
        {
            1 => "360 KB 5.25\"",
            2 => "1.2 MB 5.25\"",
            3 => "720 KB 3.5\"",
            4 => "1.44 MB 3.5\"",
            5 => "2.88 MB 3.5\"",
            _ => null,
        };

        /// <summary>How many formats a drive of <paramref name="cmosType"/> can read (0 for none or unknown).</summary>
        public static int CandidateCount(byte cmosType) => cmosType switch
        {
            1 => 1,
            2 => 2,
            3 => 1,
            4 => 2,
            5 => 3,
            _ => 0,
        };

        /// <summary>
        /// Candidate <paramref name="index"/> (0 = the drive's own, densest format, then lower
        /// densities) for a drive of <paramref name="cmosType"/>; default when out of range.
        /// </summary>
        public static FloppyFormat Candidate(byte cmosType, int index)
        {
            switch (cmosType)
            {
                case 1:
                    return index == 0 ? Dd360 : default;
                case 2:
                    return index == 0 ? Hd1200 : index == 1 ? Dd360 : default;
                case 3:
                    return index == 0 ? Dd720 : default;
                case 4:
                    return index == 0 ? Hd1440 : index == 1 ? Dd720 : default;
                case 5:
                    return index == 0 ? Ed2880 : index == 1 ? Hd1440 : index == 2 ? Dd720 : default;
                default:
                    return default;
            }
        }

        public static uint KbitPerSecond(byte dataRate) => dataRate switch
        {
            Rate500K => 500,
            Rate300K => 300,
            Rate250K => 250,
            _ => 1000,
        };
    }
}
