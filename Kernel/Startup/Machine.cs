using System;
using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.Reports;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Mm;
using PoolKernel.Platform;
using PoolKernel.Memory;

namespace PoolKernel.Startup
{
    /// <summary>
    /// What the kernel learned about the machine at boot: the loader's information, the sanitized
    /// memory map, the ACPI tables (CPUs, NUMA nodes, distances). Filled once by <see cref="Discover"/>
    /// (which may drop an SRAT that leaves RAM on no node); the structures live in boot-allocator
    /// memory. The node layout can be replaced once more, by numa=off or numa=fake=N
    /// (PoolBringUp.ApplyLayout from BootPools.ApplyEarly), before the
    /// pools are set up; everything here is read-only from then on.
    /// </summary>
    internal static unsafe class Machine
    {
        internal static BootInfo* Boot;
        internal static SanitizedMemoryMap* Map;
        internal static AcpiInfo* Acpi;

        /// <summary>The node layout (pure: Kernel.Boot/Layout/NodeLayout.cs); decided by Discover and the command line.</summary>
        internal static NodeLayout* Nodes;

        /// <summary>Highest end address of available RAM.</summary>
        internal static ulong RamEnd => Nodes->RamEnd;

        /// <summary>Parses the loader's information into <see cref="Boot"/>; prints nothing (the screen is not chosen yet).</summary>
        internal static void ReadBootInformation(uint magic, ulong info)
        {
            Boot = (BootInfo*)BootAllocator.AllocZeroed((nuint)sizeof(BootInfo), 8);
            Map = (SanitizedMemoryMap*)BootAllocator.AllocZeroed((nuint)sizeof(SanitizedMemoryMap), 8);
            Acpi = (AcpiInfo*)BootAllocator.AllocZeroed((nuint)sizeof(AcpiInfo), 8);
            Nodes = (NodeLayout*)BootAllocator.AllocZeroed((nuint)sizeof(NodeLayout), 8);
            if (Boot == null || Map == null || Acpi == null || Nodes == null)
                Runtime.Panic.Halt("boot arena too small for the boot information");
            BootInfoParser.Parse(magic, (byte*)info, Boot);
        }

        /// <summary>After <see cref="ReadBootInformation"/>: its problems, the sanitized map, ACPI, the direct map.</summary>
        internal static void Discover()
        {
            BootDiagnostics.Print(ConsoleOut.Instance, &Boot->Diagnostics);

            MemoryMapSanitizer.Sanitize(&Boot->MemoryMap, Map);
            BootDiagnostics.Print(ConsoleOut.Instance, &Map->Diagnostics, &Boot->MemoryMap);

            byte* rsdp = (byte*)Boot->RsdpAddress;
            if (rsdp == null)
                rsdp = RsdpScanner.FindInBiosArea((byte*)0);
            AcpiParser.Parse(rsdp, Acpi);
            // The DSDT's PCI root bridges, before the tables' memory is reclaimed.
            PciNodes.Read(Acpi);
            BootDiagnostics.Print(ConsoleOut.Instance, &Acpi->Diagnostics);
            BootDiagnostics.ReclaimAcpi(ConsoleOut.Instance, Map);

            if (Nodes->UseFirmware(Map, Acpi, out ulong uncovered))
                BootDiagnostics.PrintSratDropped(ConsoleOut.Instance, uncovered);
            if (!DirectMap.Extend(RamEnd, &BootAllocator.AllocPage))
                Console.WriteLine("paging: out of boot memory for page tables; RAM above the mapped limit is not used");
        }

        internal static NumaMode Numa => Nodes->Mode;

        internal static int NodeOf(ulong address) => Nodes->NodeOf(address);

        internal static int NodeCount => Nodes->NodeCount;

        internal static byte Distance(int from, int to) => Nodes->Distance(from, to);

        internal static int CpuNode(int cpu) => Nodes->CpuNode(cpu);

        internal static ulong NextNodeBoundary(ulong start, ulong end) => Nodes->NextNodeBoundary(start, end);

        /// <summary>The node of the boot CPU (the only one running until SMP).</summary>
        internal static int CpuNodeOfBoot => CpuNode(0) < NodeCount ? CpuNode(0) : 0;

        internal static ulong FakeNodeStart(int node) => Nodes->FakeNodeStart(node);

        internal static int CpuCount => Acpi->CpuCount < 1 ? 1 : Acpi->CpuCount;
    }
}
