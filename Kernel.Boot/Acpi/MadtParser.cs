namespace PoolKernel.Boot.Acpi
{
    /// <summary>
    /// MADT ("APIC"): header, u32 local APIC address, u32 flags, then interrupt controller
    /// structures. Used here: type 0 processor local APIC (u8 UID, u8 APIC id, u32 flags),
    /// type 5 local APIC address override (u64 at +4), type 9 processor local x2APIC
    /// (u32 x2APIC id at +4, u32 flags at +8).
    /// </summary>
    public static unsafe class MadtParser
    {
        public const uint FirstSubtable = 44;
        private const uint FlagEnabled = 1;

        /// <summary>Contract: the table passed AcpiTables.Validate. Fills CPUs (node 0) into <paramref name="info"/>.</summary>
        public static void Parse(byte* table, uint length, int index, AcpiInfo* info)
        {
            if (length < FirstSubtable)
            {
                info->Diagnostics.Add(AcpiDiagnosticCode.TableTooShort, index, AcpiTables.SignatureMadt, (ulong)table, length);
                return;
            }
            if (!AcpiTables.SubtablesFit(table, length, FirstSubtable, index, &info->Diagnostics))
                return;

            info->MadtAddress = (ulong)table;
            info->LocalApicAddress = *(uint*)(table + 36);
            uint dropped = 0;
            for (uint offset = FirstSubtable; offset < length; offset += table[offset + 1])
            {
                byte* entry = table + offset;
                byte type = entry[0];
                byte entryLength = entry[1];
                uint apicId;
                uint flags;
                if (type == 0)
                {
                    if (entryLength < 8)
                    {
                        info->Diagnostics.Add(AcpiDiagnosticCode.SubtableTooShort, index, AcpiTables.SignatureMadt, offset, type);
                        continue;
                    }
                    apicId = entry[3];
                    flags = *(uint*)(entry + 4);
                }
                else if (type == 9)
                {
                    if (entryLength < 16)
                    {
                        info->Diagnostics.Add(AcpiDiagnosticCode.SubtableTooShort, index, AcpiTables.SignatureMadt, offset, type);
                        continue;
                    }
                    apicId = *(uint*)(entry + 4);
                    flags = *(uint*)(entry + 8);
                }
                else
                {
                    if (type == 5 && entryLength >= 12)
                        info->LocalApicAddress = *(ulong*)(entry + 4);
                    continue;
                }

                if ((flags & FlagEnabled) == 0)
                {
                    // Online-capable or absent: not a CPU the kernel can start now.
                    info->DisabledCpuCount++;
                    continue;
                }
                // Firmware may describe one CPU both as type 0 and type 9.
                if (info->FindCpu(apicId) >= 0)
                    continue;
                if (!info->AddCpu(apicId))
                    dropped++;
            }
            if (dropped != 0)
                info->Diagnostics.Add(AcpiDiagnosticCode.TooManyCpus, index, AcpiTables.SignatureMadt, dropped, 0);
        }
    }
}
