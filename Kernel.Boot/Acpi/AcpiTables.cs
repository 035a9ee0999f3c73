namespace PoolKernel.Boot.Acpi
{
    /// <summary>
    /// The common System Description Table header (36 bytes: signature, length, revision, checksum,
    /// OEM ids, creator) and the checks every table passes before any of its fields is believed.
    /// </summary>
    public static unsafe class AcpiTables
    {
        public const uint HeaderSize = 36;

        /// <summary>
        /// The largest tables are MADTs and SRATs of big machines (a few tens of KiB); a length
        /// over 1 MiB means a corrupt header, and bounds the checksum loop.
        /// </summary>
        public const uint MaxTableLength = 1u << 20;

        /// <summary>Signatures as little-endian u32 (the first character is the low byte).</summary>
        public const uint SignatureRsdt = 0x54445352; // "RSDT"
        public const uint SignatureXsdt = 0x54445358; // "XSDT"
        public const uint SignatureMadt = 0x43495041; // "APIC"
        public const uint SignatureSrat = 0x54415253; // "SRAT"
        public const uint SignatureSlit = 0x54494C53; // "SLIT"
        public const uint SignatureFadt = 0x50434146; // "FACP"
        public const uint SignatureDsdt = 0x54445344; // "DSDT"

        public static byte Sum(byte* p, uint length)
        {
            byte sum = 0;
            for (uint i = 0; i < length; i++)
                sum += p[i];
            return sum;
        }

        public static uint SignatureOf(byte* table) => *(uint*)table;
        public static uint LengthOf(byte* table) => *(uint*)(table + 4);
        public static byte RevisionOf(byte* table) => table[8];

        /// <summary>
        /// Returns the table's length when the header is sane and the checksum holds; otherwise
        /// records one diagnostic (index = the root entry index) and returns 0.
        /// </summary>
        public static uint Validate(byte* table, int index, AcpiDiagnostics* diagnostics)
        {
            uint signature = SignatureOf(table);
            uint length = LengthOf(table);
            if (length < HeaderSize)
            {
                diagnostics->Add(AcpiDiagnosticCode.TableTooShort, index, signature, (ulong)table, length);
                return 0;
            }
            if (length > MaxTableLength)
            {
                diagnostics->Add(AcpiDiagnosticCode.TableTooLong, index, signature, (ulong)table, length);
                return 0;
            }
            if (Sum(table, length) != 0)
            {
                diagnostics->Add(AcpiDiagnosticCode.BadTableChecksum, index, signature, (ulong)table, length);
                return 0;
            }
            return length;
        }

        /// <summary>
        /// Checks that the subtables (u8 type, u8 length, ...) from <paramref name="first"/> tile the
        /// table exactly: each at least 2 bytes and none running past <paramref name="length"/>.
        /// Done before applying anything so a malformed table is ignored as a whole.
        /// </summary>
        public static bool SubtablesFit(byte* table, uint length, uint first, int index, AcpiDiagnostics* diagnostics)
        {
            uint offset = first;
            while (offset < length)
            {
                if (length - offset < 2)
                {
                    diagnostics->Add(AcpiDiagnosticCode.SubtableOverrun, index, SignatureOf(table), offset, length - offset);
                    return false;
                }
                uint subLength = table[offset + 1];
                if (subLength < 2 || subLength > length - offset)
                {
                    diagnostics->Add(AcpiDiagnosticCode.SubtableOverrun, index, SignatureOf(table), offset, subLength);
                    return false;
                }
                offset += subLength;
            }
            return true;
        }
    }
}
