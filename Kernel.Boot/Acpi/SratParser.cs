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
            uint droppedDomains = 0;
            uint firstDroppedDomain = 0;
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
                    if (!AssignCpu(entry[3], domain, index, info) && droppedDomains++ == 0)
                        firstDroppedDomain = domain;
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
                    uint memoryDomain = *(uint*)(entry + 2);
                    int node = info->NodeForDomain(memoryDomain);
                    if (node == AcpiInfo.NoNode)
                    {
                        if (droppedDomains++ == 0)
                            firstDroppedDomain = memoryDomain;
                        continue;
                    }
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
                    if (!AssignCpu(*(uint*)(entry + 8), *(uint*)(entry + 4), index, info) && droppedDomains++ == 0)
                        firstDroppedDomain = *(uint*)(entry + 4);
                }
            }
            if (droppedDomains != 0 || droppedRanges != 0)
            {
                // One line for the whole table, then the safe layout.
                if (droppedDomains != 0)
                    info->Diagnostics.Add(AcpiDiagnosticCode.TooManyNodes, index, AcpiTables.SignatureSrat, firstDroppedDomain, AcpiInfo.MaxNodes);
                else
                    info->Diagnostics.Add(AcpiDiagnosticCode.TooManyMemoryRanges, index, AcpiTables.SignatureSrat, droppedRanges, AcpiInfo.MaxMemoryRanges);
                info->DropNumaLayout();
                return;
            }
            info->NumberNodesByDomain();
        }

        /// <summary>Sets the CPU's node; false only when its domain found no free node id.</summary>
        private static bool AssignCpu(uint apicId, uint domain, int index, AcpiInfo* info)
        {
            int cpu = info->FindCpu(apicId);
            if (cpu < 0)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.SratUnknownCpu, index, AcpiTables.SignatureSrat, apicId, domain);
                return true;
            }
            int node = info->NodeForDomain(domain);
            if (node == AcpiInfo.NoNode)
                return false;
            info->SetCpuNode(cpu, node);
            return true;
        }
    }
}
