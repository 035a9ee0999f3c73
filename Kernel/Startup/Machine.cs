using System;
using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Startup
{
    /// <summary>
    /// What the kernel learned about the machine at boot: the loader's information, the sanitized
    /// memory map, the ACPI tables (CPUs, NUMA nodes, distances). Filled once by <see cref="Discover"/>;
    /// the structures live in boot-allocator memory and are read-only afterwards.
    /// </summary>
    internal static unsafe class Machine
    {
        internal static BootInfo* Boot;
        internal static SanitizedMemoryMap* Map;
        internal static AcpiInfo* Acpi;

        /// <summary>Highest end address of available RAM.</summary>
        internal static ulong RamEnd;

        internal static void Discover(uint magic, ulong info)
        {
            Boot = (BootInfo*)BootAllocator.AllocZeroed((nuint)sizeof(BootInfo), 8);
            Map = (SanitizedMemoryMap*)BootAllocator.AllocZeroed((nuint)sizeof(SanitizedMemoryMap), 8);
            Acpi = (AcpiInfo*)BootAllocator.AllocZeroed((nuint)sizeof(AcpiInfo), 8);
            if (Boot == null || Map == null || Acpi == null)
                Runtime.Panic.Halt("boot arena too small for the boot information");

            BootInfoParser.Parse(magic, (byte*)info, Boot);
            BootDiagnostics.Print(&Boot->Diagnostics);

            MemoryMapSanitizer.Sanitize(&Boot->MemoryMap, Map);
            BootDiagnostics.Print(&Map->Diagnostics, &Boot->MemoryMap);

            byte* rsdp = (byte*)Boot->RsdpAddress;
            if (rsdp == null)
                rsdp = RsdpScanner.FindInBiosArea((byte*)0);
            AcpiParser.Parse(rsdp, Acpi);
            BootDiagnostics.Print(&Acpi->Diagnostics);

            for (int i = 0; i < Map->Count; i++)
            {
                MemoryRegion r = Map->Get(i);
                if (r.Type == MemoryType.Available && r.End > RamEnd)
                    RamEnd = r.End;
            }
            if (!DirectMap.Extend(RamEnd, &BootAllocator.AllocPage))
                Console.WriteLine("paging: out of boot memory for page tables; RAM above the mapped limit is not used");
        }

        /// <summary>The NUMA node of a physical address: the SRAT's answer, or node 0 without one.</summary>
        internal static int NodeOf(ulong address)
        {
            int node = Acpi->NodeOfAddress(address);
            return node < 0 ? 0 : node;
        }

        internal static int NodeCount => Acpi->NodeCount < 1 ? 1 : Acpi->NodeCount;

        /// <summary>The node of the boot CPU (the only one running until SMP).</summary>
        internal static int CpuNodeOfBoot => Acpi->CpuCount > 0 && Acpi->CpuNode(0) >= 0 && Acpi->CpuNode(0) < NodeCount ? Acpi->CpuNode(0) : 0;

        internal static int CpuCount => Acpi->CpuCount < 1 ? 1 : Acpi->CpuCount;
    }
}
