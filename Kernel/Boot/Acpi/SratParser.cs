namespace PoolKernel.Boot.Acpi
{
    /// <summary>
    /// SRAT: header, 12 reserved bytes, then affinity structures. Type 0 processor local APIC
    /// affinity (16 bytes: domain bits 0-7 at +2, APIC id at +3, u32 flags at +4, domain bits 8-31
    /// at +9..+11), type 1 memory affinity (40 bytes: u32 domain at +2, u64 base at +8, u64 length
    /// at +16, u32 flags at +28: enabled, hot-pluggable), type 2 processor x2APIC affinity
    /// (24 bytes: u32 domain at +4, u32 x2APIC id at +8, u32 flags at +12).
    /// </summary>
    public static unsafe class SratParser
    {
        public const uint FirstSubtable = 48;
        private const uint FlagEnabled = 1;
        private const uint FlagHotPluggable = 2;

        /// <summary>
        /// Contract: the table passed AcpiTables.Validate and the MADT was parsed first (CPUs exist).
        /// Assigns dense nodes to proximity domains (numbered in ascending domain order, so QEMU's
    /// nodeid N is node N when its domains are 0..N-1) and sets the node
        /// of every CPU and memory range it names. Disabled entries are skipped entirely, so they
        /// create no node.
        /// </summary>
        public static void Parse(byte* table, uint length, int index, AcpiInfo* info)
        {
            if (length < FirstSubtable)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.TableTooShort, index, AcpiTables.SignatureSrat, (ulong)table, length);
                return;
            }
            if (!AcpiTables.SubtablesFit(table, length, FirstSubtable, index, &info->Diagnostics))
                return;

            info->SratAddress = (ulong)table;
            // SRAT revision 1 (ACPI 2.0) defined only the low byte of the processor domain.
            bool wideProcessorDomain = AcpiTables.RevisionOf(table) >= 2;
            uint droppedRanges = 0;
            for (uint offset = FirstSubtable; offset < length; offset += table[offset + 1])
            {
                byte* entry = table + offset;
                byte type = entry[0];
                byte entryLength = entry[1];
                if (type == 0)
                {
                    if (entryLength < 16)
                    {
                        info->Diagnostics.Add(AcpiDiagnosticCode.SubtableTooShort, index, AcpiTables.SignatureSrat, offset, type);
                        continue;
                    }
                    if ((*(uint*)(entry + 4) & FlagEnabled) == 0)
                        continue;
                    uint domain = entry[2];
                    if (wideProcessorDomain)
                        domain |= (uint)entry[9] << 8 | (uint)entry[10] << 16 | (uint)entry[11] << 24;
                    AssignCpu(entry[3], domain, index, info);
                }
                else if (type == 1)
                {
                    if (entryLength < 40)
                    {
                        info->Diagnostics.Add(AcpiDiagnosticCode.SubtableTooShort, index, AcpiTables.SignatureSrat, offset, type);
                        continue;
                    }
                    uint flags = *(uint*)(entry + 28);
                    if ((flags & FlagEnabled) == 0)
                        continue;
                    ulong baseAddress = *(ulong*)(entry + 8);
                    ulong rangeLength = *(ulong*)(entry + 16);
                    if (rangeLength == 0)
                        continue;
                    if (baseAddress + rangeLength < baseAddress) // wrapped (arithmetic is unchecked)
                    {
                        info->Diagnostics.Add(AcpiDiagnosticCode.BadMemoryRange, index, AcpiTables.SignatureSrat, baseAddress, rangeLength);
                        continue;
                    }
                    int node = NodeFor(*(uint*)(entry + 2), index, info);
                    if (node == AcpiInfo.NoNode)
                        continue;
                    if (!info->AddMemoryRange(baseAddress, rangeLength, node, (flags & FlagHotPluggable) != 0))
                        droppedRanges++;
                }
                else if (type == 2)
                {
                    if (entryLength < 24)
                    {
                        info->Diagnostics.Add(AcpiDiagnosticCode.SubtableTooShort, index, AcpiTables.SignatureSrat, offset, type);
                        continue;
                    }
                    if ((*(uint*)(entry + 12) & FlagEnabled) == 0)
                        continue;
                    AssignCpu(*(uint*)(entry + 8), *(uint*)(entry + 4), index, info);
                }
            }
            if (droppedRanges != 0)
                info->Diagnostics.Add(AcpiDiagnosticCode.TooManyMemoryRanges, index, AcpiTables.SignatureSrat, droppedRanges, 0);
            info->NumberNodesByDomain();
        }

        private static void AssignCpu(uint apicId, uint domain, int index, AcpiInfo* info)
        {
            int cpu = info->FindCpu(apicId);
            if (cpu < 0)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.SratUnknownCpu, index, AcpiTables.SignatureSrat, apicId, domain);
                return;
            }
            int node = NodeFor(domain, index, info);
            if (node != AcpiInfo.NoNode)
                info->SetCpuNode(cpu, node);
        }

        private static int NodeFor(uint domain, int index, AcpiInfo* info)
        {
            int node = info->NodeForDomain(domain);
            if (node == AcpiInfo.NoNode)
                info->Diagnostics.Add(AcpiDiagnosticCode.TooManyNodes, index, AcpiTables.SignatureSrat, domain, AcpiInfo.MaxNodes);
            return node;
        }
    }
}
