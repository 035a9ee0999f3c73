namespace PoolKernel.Boot.Acpi
{
    public enum RsdpStatus : uint
    {
        Ok = 0,
        BadSignature = 1,
        /// <summary>The ACPI 1.0 checksum over the first 20 bytes fails: nothing in it is usable.</summary>
        BadChecksum = 2,
        /// <summary>Revision 2+, but the length or the extended checksum fails: only the RSDT address is usable.</summary>
        BadExtendedChecksum = 3,
    }

    /// <summary>The fields of a checked RSDP.</summary>
    public struct RsdpFields
    {
        public byte Revision;
        public uint RsdtAddress;
        /// <summary>0 unless revision >= 2 and the extended checksum holds.</summary>
        public ulong XsdtAddress;
        public uint Length;
    }

    /// <summary>
    /// The Root System Description Pointer: "RSD PTR ", checksum, OEM id, revision, RSDT address
    /// (20 bytes, ACPI 1.0); from revision 2 also length, XSDT address, extended checksum (36 bytes).
    /// </summary>
    public static unsafe class Rsdp
    {
        public const uint V1Size = 20;
        public const uint V2Size = 36;
        /// <summary>"RSD PTR " read as a little-endian u64.</summary>
        public const ulong Signature = 0x2052545020445352;

        /// <summary>
        /// An RSDP claims its own length; anything past a page is not an RSDP. Bounds the extended
        /// checksum loop.
        /// </summary>
        public const uint MaxLength = 4096;

        /// <summary>
        /// Checks the RSDP at <paramref name="p"/>, reading at most <paramref name="readable"/> bytes
        /// (pass Rsdp.MaxLength when the caller cannot bound it). On BadExtendedChecksum the v1
        /// fields are still filled so the caller can fall back to the RSDT.
        /// </summary>
        public static RsdpStatus Check(byte* p, uint readable, out RsdpFields fields)
        {
            fields = default;
            if (readable < V1Size || *(ulong*)p != Signature)
                return RsdpStatus.BadSignature;
            if (AcpiTables.Sum(p, V1Size) != 0)
                return RsdpStatus.BadChecksum;
            fields.Revision = p[15];
            fields.RsdtAddress = *(uint*)(p + 16);
            fields.Length = V1Size;
            if (fields.Revision < 2)
                return RsdpStatus.Ok;
            if (readable < V2Size)
                return RsdpStatus.BadExtendedChecksum;
            uint length = *(uint*)(p + 20);
            if (length < V2Size || length > MaxLength || length > readable)
                return RsdpStatus.BadExtendedChecksum;
            if (AcpiTables.Sum(p, length) != 0)
                return RsdpStatus.BadExtendedChecksum;
            fields.Length = length;
            fields.XsdtAddress = *(ulong*)(p + 24);
            return RsdpStatus.Ok;
        }
    }

    /// <summary>
    /// Finding the RSDP the BIOS way, for multiboot1 where the loader does not pass it: the first
    /// KiB of the EBDA (segment in the BIOS data area word at 0x40E), then 0xE0000-0xFFFFF, on
    /// 16-byte boundaries.
    /// </summary>
    public static unsafe class RsdpScanner
    {
        public const uint EbdaSegmentPointer = 0x40E;
        public const uint EbdaScanLength = 1024;
        public const uint BiosAreaStart = 0xE0000;
        public const uint BiosAreaEnd = 0x100000;
        /// <summary>Conventional memory ends at 640 KiB; an EBDA segment outside [1 KiB, 640 KiB) is garbage.</summary>
        private const uint EbdaLowest = 0x400;
        private const uint ConventionalMemoryEnd = 0xA0000;

        /// <summary>
        /// Returns a pointer to the first valid RSDP, or null. <paramref name="physicalZero"/> is
        /// where physical address 0 is mapped: (byte*)0 in the identity-mapped kernel, a 1 MiB
        /// buffer in tests. Reads only below 1 MiB.
        /// </summary>
        public static byte* FindInBiosArea(byte* physicalZero)
        {
            uint ebda = (uint)*(ushort*)(physicalZero + EbdaSegmentPointer) << 4;
            if (ebda >= EbdaLowest && ebda <= ConventionalMemoryEnd - EbdaScanLength)
            {
                byte* found = ScanRange(physicalZero, ebda, ebda + EbdaScanLength);
                if (found != null)
                    return found;
            }
            return ScanRange(physicalZero, BiosAreaStart, BiosAreaEnd);
        }

        private static byte* ScanRange(byte* physicalZero, uint start, uint end)
        {
            for (uint a = start; a + Rsdp.V1Size <= end; a += 16)
            {
                byte* p = physicalZero + a;
                // A revision-2 RSDP that fails its extended checksum is still returned: the parser
                // reports it and falls back to the RSDT.
                RsdpStatus status = Rsdp.Check(p, BiosAreaEnd - a, out _);
                if (status == RsdpStatus.Ok || status == RsdpStatus.BadExtendedChecksum)
                    return p;
            }
            return null;
        }
    }
}
