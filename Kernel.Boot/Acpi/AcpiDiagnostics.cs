namespace PoolKernel.Boot.Acpi
{
    /// <summary>
    /// Problems found in the firmware's ACPI tables. Index is the table's position in the RSDT/XSDT
    /// (or the node / entry offset, per code); Signature is the table's four characters as a
    /// little-endian u32 (0 when not applicable) so the kernel can print them.
    /// </summary>
    public enum AcpiDiagnosticCode : uint
    {
        None = 0,
        /// <summary>Value0 = address. No ACPI information.</summary>
        NoRsdp = 1,
        /// <summary>Value0 = address; "RSD PTR " missing. No ACPI information.</summary>
        BadRsdpSignature = 2,
        /// <summary>Value0 = address; the 20-byte checksum fails. No ACPI information.</summary>
        BadRsdpChecksum = 3,
        /// <summary>Value0 = address, Value1 = length field; the extended checksum (or length) fails: the RSDT is used instead of the XSDT.</summary>
        BadRsdpExtendedChecksum = 4,
        /// <summary>Value0 = address, Value1 = length; shorter than the 36-byte header. Table ignored.</summary>
        TableTooShort = 5,
        /// <summary>Value0 = address, Value1 = length; longer than any sane table. Table ignored.</summary>
        TableTooLong = 6,
        /// <summary>Value0 = address, Value1 = length; the bytes do not sum to zero. Table ignored.</summary>
        BadTableChecksum = 7,
        /// <summary>Value0 = address; the signature is not what the pointer promised (XSDT/RSDT). Table ignored.</summary>
        UnexpectedSignature = 8,
        /// <summary>Value0 = the XSDT address; unusable, fell back to the RSDT.</summary>
        XsdtUnusableUsingRsdt = 9,
        /// <summary>Index = root entry index; the entry is zero. Skipped.</summary>
        NullTableEntry = 10,
        /// <summary>Value0 = address of the second copy. Ignored, the first is used.</summary>
        DuplicateTable = 11,
        /// <summary>Value0 = offset of the bad subtable in its table, Value1 = its length byte; a subtable runs past the table or has length below 2. Table ignored.</summary>
        SubtableOverrun = 12,
        /// <summary>Value0 = offset, Value1 = subtable type; the subtable is shorter than its type requires. Subtable skipped.</summary>
        SubtableTooShort = 13,
        /// <summary>Value0 = CPUs that did not fit (more than 64 enabled).</summary>
        TooManyCpus = 14,
        /// <summary>Value0 = the first proximity domain that did not get a node, Value1 = the node limit (64). The SRAT is not used: one node.</summary>
        TooManyNodes = 15,
        /// <summary>Value0 = memory affinity ranges that did not fit, Value1 = the limit. The SRAT is not used: one node.</summary>
        TooManyMemoryRanges = 16,
        /// <summary>Value0 = base, Value1 = length; wraps past 2^64. Range ignored.</summary>
        BadMemoryRange = 17,
        /// <summary>Value0 = locality count, Value1 = table length; the matrix does not fit. SLIT ignored.</summary>
        SlitTruncated = 18,
        /// <summary>Value0 = row, Value1 = column; a distance below 10 or a diagonal entry other than 10. SLIT ignored.</summary>
        SlitBadDistance = 19,
        /// <summary>Index = node, Value0 = its proximity domain, Value1 = locality count; the SLIT has no row for it. Defaults used for that node.</summary>
        SlitMissingDomain = 20,
        /// <summary>Value0 = APIC id; SRAT names a processor the MADT does not list (or not enabled). Ignored.</summary>
        SratUnknownCpu = 21,
        /// <summary>No MADT: CPU list empty.</summary>
        NoMadt = 22,
    }

    public struct AcpiDiagnostic
    {
        public AcpiDiagnosticCode Code;
        public int Index;
        public uint Signature;
        public ulong Value0;
        public ulong Value1;
    }

    /// <summary>Fixed-capacity list of ACPI diagnostics over <see cref="DiagnosticLog"/>; further problems are only counted.</summary>
    public struct AcpiDiagnostics
    {
        public const int Capacity = 32;
        /// <summary>Does not compile if <see cref="Capacity"/> exceeds the shared log's storage.</summary>
        private const uint CapacityFitsLog = (uint)(DiagnosticLog.MaxCapacity - Capacity);

        private DiagnosticLog _log;

        public int Count => _log.Count;
        /// <summary>Problems found after the list was full.</summary>
        public int Dropped => _log.Dropped;

        public void Clear() => _log.Clear();

        public void Add(AcpiDiagnosticCode code, int index, uint signature, ulong value0, ulong value1)
            => _log.Add(Capacity, (uint)code, index, -1, signature, value0, value1);

        public AcpiDiagnostic Get(int i)
        {
            DiagnosticLog.Entry e = _log.Get(i);
            AcpiDiagnostic d = default;
            d.Code = (AcpiDiagnosticCode)e.Code;
            d.Index = e.Index;
            d.Signature = e.Signature;
            d.Value0 = e.Value0;
            d.Value1 = e.Value1;
            return d;
        }

        public int CountOf(AcpiDiagnosticCode code) => _log.CountOf((uint)code);

        /// <summary>A constant sentence for <paramref name="code"/>; the caller prints signature, index and values around it.</summary>
        public static string Describe(AcpiDiagnosticCode code)
        {
            switch (code)
            {
                case AcpiDiagnosticCode.None: return "no problem";
                case AcpiDiagnosticCode.NoRsdp: return "no RSDP found; no ACPI information";
                case AcpiDiagnosticCode.BadRsdpSignature: return "RSDP signature missing; no ACPI information (address)";
                case AcpiDiagnosticCode.BadRsdpChecksum: return "RSDP checksum bad; no ACPI information (address)";
                case AcpiDiagnosticCode.BadRsdpExtendedChecksum: return "RSDP extended checksum or length bad; using RSDT (address, length)";
                case AcpiDiagnosticCode.TableTooShort: return "table shorter than its header; ignored (address, length)";
                case AcpiDiagnosticCode.TableTooLong: return "table length absurd; ignored (address, length)";
                case AcpiDiagnosticCode.BadTableChecksum: return "table checksum bad; ignored (address, length)";
                case AcpiDiagnosticCode.UnexpectedSignature: return "table signature not the expected one; ignored (address)";
                case AcpiDiagnosticCode.XsdtUnusableUsingRsdt: return "XSDT unusable; falling back to RSDT (address)";
                case AcpiDiagnosticCode.NullTableEntry: return "root table entry is zero; skipped";
                case AcpiDiagnosticCode.DuplicateTable: return "second table with this signature; ignored (address)";
                case AcpiDiagnosticCode.SubtableOverrun: return "subtable runs past its table; table ignored (offset, length)";
                case AcpiDiagnosticCode.SubtableTooShort: return "subtable too short for its type; skipped (offset, type)";
                case AcpiDiagnosticCode.TooManyCpus: return "more CPUs than fit; extra CPUs ignored (count ignored)";
                case AcpiDiagnosticCode.TooManyNodes: return "more proximity domains than the nodes the kernel supports; SRAT not used, one node as with numa=off (first domain left out, limit)";
                case AcpiDiagnosticCode.TooManyMemoryRanges: return "more memory affinity ranges than fit; SRAT not used, one node as with numa=off (ranges left out, limit)";
                case AcpiDiagnosticCode.BadMemoryRange: return "memory affinity range wraps; ignored (base, length)";
                case AcpiDiagnosticCode.SlitTruncated: return "SLIT matrix does not fit the table; SLIT ignored (localities, length)";
                case AcpiDiagnosticCode.SlitBadDistance: return "SLIT distance invalid; SLIT ignored (row, column)";
                case AcpiDiagnosticCode.SlitMissingDomain: return "SLIT has no row for this node; default distances (domain, localities)";
                case AcpiDiagnosticCode.SratUnknownCpu: return "SRAT names a CPU the MADT does not enable; ignored (APIC id)";
                case AcpiDiagnosticCode.NoMadt: return "no MADT; CPU list empty";
                default: return "unknown ACPI diagnostic";
            }
        }
    }
}
