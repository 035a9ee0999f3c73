namespace PoolKernel.Boot.Acpi
{
    /// <summary>
    /// From the RSDP to an <see cref="AcpiInfo"/>: validate the RSDP, walk the XSDT (revision 2+)
    /// or RSDT, validate every table's header and checksum, then read the MADT, SRAT and SLIT in
    /// that order (the SRAT refers to the MADT's CPUs, the SLIT to the SRAT's domains).
    /// </summary>
    public static unsafe class AcpiParser
    {
        private const uint XsdtEntrySize = 8;
        private const uint RsdtEntrySize = 4;

        /// <summary>
        /// Contract: <paramref name="info"/> is cleared and filled; every rejected structure is one
        /// diagnostic and is ignored, never trusted. Passing a null RSDP gives the "no ACPI" result:
        /// one node, no CPUs. Physical addresses in the tables are dereferenced directly.
        /// </summary>
        public static void Parse(byte* rsdp, AcpiInfo* info)
        {
            info->Clear();
            info->NodeCount = 1;
            if (rsdp == null)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.NoRsdp, -1, 0, 0, 0);
                return;
            }

            RsdpStatus status = Rsdp.Check(rsdp, Rsdp.MaxLength, out RsdpFields fields);
            if (status == RsdpStatus.BadSignature)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.BadRsdpSignature, -1, 0, (ulong)rsdp, 0);
                return;
            }
            if (status == RsdpStatus.BadChecksum)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.BadRsdpChecksum, -1, 0, (ulong)rsdp, 0);
                return;
            }
            if (status == RsdpStatus.BadExtendedChecksum)
                info->Diagnostics.Add(AcpiDiagnosticCode.BadRsdpExtendedChecksum, -1, 0, (ulong)rsdp, *(uint*)(rsdp + 20));
            info->RsdpAddress = (ulong)rsdp;
            info->RsdpRevision = fields.Revision;

            byte* root = null;
            uint rootLength = 0;
            uint entrySize = 0;
            if (fields.XsdtAddress != 0)
            {
                byte* xsdt = (byte*)fields.XsdtAddress;
                rootLength = ValidateRoot(xsdt, AcpiTables.SignatureXsdt, info);
                if (rootLength != 0)
                {
                    root = xsdt;
                    entrySize = XsdtEntrySize;
                    info->UsesXsdt = true;
                }
                else
                {
                    info->Diagnostics.Add(AcpiDiagnosticCode.XsdtUnusableUsingRsdt, -1, AcpiTables.SignatureXsdt, fields.XsdtAddress, 0);
                }
            }
            if (root == null && fields.RsdtAddress != 0)
            {
                byte* rsdt = (byte*)(ulong)fields.RsdtAddress;
                rootLength = ValidateRoot(rsdt, AcpiTables.SignatureRsdt, info);
                if (rootLength != 0)
                {
                    root = rsdt;
                    entrySize = RsdtEntrySize;
                }
            }
            if (root == null)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.NoMadt, -1, 0, 0, 0);
                return;
            }
            info->RootTableAddress = (ulong)root;

            byte* madt = null, srat = null, slit = null;
            uint madtLength = 0, sratLength = 0, slitLength = 0;
            int madtIndex = -1, sratIndex = -1, slitIndex = -1;
            // Trailing bytes that do not make a whole entry are ignored.
            uint entries = (rootLength - AcpiTables.HeaderSize) / entrySize;
            for (uint e = 0; e < entries; e++)
            {
                byte* slot = root + AcpiTables.HeaderSize + e * entrySize;
                ulong address = entrySize == XsdtEntrySize ? *(ulong*)slot : *(uint*)slot;
                int index = (int)e;
                if (address == 0)
                {
                    info->Diagnostics.Add(AcpiDiagnosticCode.NullTableEntry, index, 0, 0, 0);
                    continue;
                }
                byte* table = (byte*)address;
                uint signature = AcpiTables.SignatureOf(table);
                // Only tables this parser reads are checksummed; others are the concern of their users.
                if (signature != AcpiTables.SignatureMadt && signature != AcpiTables.SignatureSrat && signature != AcpiTables.SignatureSlit
                    && signature != AcpiTables.SignatureFadt)
                    continue;
                uint length = AcpiTables.Validate(table, index, &info->Diagnostics);
                if (length == 0)
                    continue;
                if (signature == AcpiTables.SignatureFadt)
                {
                    info->DsdtAddress = DsdtOf(table, length);
                    continue;
                }
                if (signature == AcpiTables.SignatureMadt)
                    Keep(table, length, index, ref madt, ref madtLength, ref madtIndex, info);
                else if (signature == AcpiTables.SignatureSrat)
                    Keep(table, length, index, ref srat, ref sratLength, ref sratIndex, info);
                else
                    Keep(table, length, index, ref slit, ref slitLength, ref slitIndex, info);
            }

            if (madt != null)
                MadtParser.Parse(madt, madtLength, madtIndex, info);
            else
                info->Diagnostics.Add(AcpiDiagnosticCode.NoMadt, -1, AcpiTables.SignatureMadt, 0, 0);

            if (srat != null)
            {
                info->NodeCount = 0;
                SratParser.Parse(srat, sratLength, sratIndex, info);
                // A SRAT without enabled entries (or rejected) leaves the single default node.
                if (info->NodeCount == 0)
                    info->NodeCount = 1;
            }

            if (slit != null)
                SlitParser.Parse(slit, slitLength, slitIndex, info);
        }

        /// <summary>FADT offsets (ACPI 6.5, table 5.9): DSDT (32-bit) at 40, X_DSDT (64-bit) at 140.</summary>
        private const uint FadtDsdt = 40, FadtXDsdt = 140;

        /// <summary>The FADT's DSDT address: X_DSDT when the table is long enough and it is set, else DSDT.</summary>
        private static ulong DsdtOf(byte* fadt, uint length)
        {
            if (length >= FadtXDsdt + 8 && *(ulong*)(fadt + FadtXDsdt) != 0)
                return *(ulong*)(fadt + FadtXDsdt);
            return length >= FadtDsdt + 4 ? *(uint*)(fadt + FadtDsdt) : 0;
        }

        /// <summary>
        /// Reads the PCI root bridges of the DSDT at <paramref name="info"/>'s <see cref="AcpiInfo.DsdtAddress"/>
        /// (<see cref="AmlRootBridges"/>); NoDsdt when there is none or its header or checksum is bad.
        /// </summary>
        public static void ReadRootBridges(AcpiInfo* info, RootBridges* result)
        {
            *result = default;
            byte* dsdt = (byte*)info->DsdtAddress;
            if (dsdt == null || AcpiTables.SignatureOf(dsdt) != AcpiTables.SignatureDsdt)
            {
                result->Status = AmlStatus.NoDsdt;
                return;
            }
            uint length = AcpiTables.Validate(dsdt, -1, &info->Diagnostics);
            if (length == 0)
            {
                result->Status = AmlStatus.NoDsdt;
                return;
            }
            AmlRootBridges.Read(dsdt + AcpiTables.HeaderSize, (int)(length - AcpiTables.HeaderSize), result);
        }

        private static uint ValidateRoot(byte* table, uint expected, AcpiInfo* info)
        {
            uint signature = AcpiTables.SignatureOf(table);
            if (signature != expected)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.UnexpectedSignature, -1, signature, (ulong)table, expected);
                return 0;
            }
            return AcpiTables.Validate(table, -1, &info->Diagnostics);
        }

        private static void Keep(byte* table, uint length, int index, ref byte* kept, ref uint keptLength, ref int keptIndex, AcpiInfo* info)
        {
            if (kept != null)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.DuplicateTable, index, AcpiTables.SignatureOf(table), (ulong)table, (ulong)kept);
                return;
            }
            kept = table;
            keptLength = length;
            keptIndex = index;
        }
    }
}
