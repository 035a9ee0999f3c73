namespace PoolKernel.Boot.Acpi
{
    /// <summary>
    /// SLIT: header, u64 number of localities N, then an N x N byte matrix; entry [i][j] is the
    /// relative distance from proximity domain i to j, 10 meaning local.
    /// </summary>
    public static unsafe class SlitParser
    {
        public const uint MatrixOffset = 44;
        /// <summary>Proximity domains are at most 32 bits, but a SLIT over 256 localities would not fit a sane table.</summary>
        private const ulong MaxLocalities = 256;

        /// <summary>
        /// Contract: the table passed AcpiTables.Validate and the SRAT was parsed first (nodes
        /// exist). The matrix is checked as a whole before any distance is copied, so a bad SLIT
        /// leaves the defaults (10 local, 20 remote).
        /// </summary>
        public static void Parse(byte* table, uint length, int index, AcpiInfo* info)
        {
            if (length < MatrixOffset)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.SlitTruncated, index, AcpiTables.SignatureSlit, 0, length);
                return;
            }
            ulong localities = *(ulong*)(table + 36);
            if (localities == 0 || localities > MaxLocalities || localities * localities > length - MatrixOffset)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.SlitTruncated, index, AcpiTables.SignatureSlit, localities, length);
                return;
            }
            uint n = (uint)localities;
            byte* matrix = table + MatrixOffset;
            for (uint i = 0; i < n; i++)
            {
                for (uint j = 0; j < n; j++)
                {
                    byte d = matrix[i * n + j];
                    bool bad = i == j ? d != AcpiInfo.LocalDistance : d <= AcpiInfo.LocalDistance;
                    if (bad)
                    {
                        info->Diagnostics.Add(AcpiDiagnosticCode.SlitBadDistance, index, AcpiTables.SignatureSlit, i, j);
                        return;
                    }
                }
            }

            info->SlitAddress = (ulong)table;
            for (int a = 0; a < info->NodeCount; a++)
            {
                uint da = info->NodeDomain(a);
                if (da >= n)
                {
                    info->Diagnostics.Add(AcpiDiagnosticCode.SlitMissingDomain, a, AcpiTables.SignatureSlit, da, n);
                    continue;
                }
                for (int b = 0; b < info->NodeCount; b++)
                {
                    uint db = info->NodeDomain(b);
                    if (db < n)
                        info->SetDistance(a, b, matrix[da * n + db]);
                }
            }
        }
    }
}
