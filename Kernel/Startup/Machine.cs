using System;
using PoolKernel.Boot.Acpi;
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
    /// (<see cref="SetNumaOff"/>, <see cref="SetFakeNodes"/> from BootPools.ApplyEarly), before the
    /// pools are set up; everything here is read-only from then on.
    /// </summary>
    internal static unsafe class Machine
    {
        internal static BootInfo* Boot;
        internal static SanitizedMemoryMap* Map;
        internal static AcpiInfo* Acpi;

        /// <summary>
        /// The most node boundaries <see cref="NextNodeBoundary"/> can cut at: both edges of every SRAT
        /// memory range (numa=fake=N has fewer, N - 1).
        /// </summary>
        internal const int MaxNodeBoundaries = 2 * AcpiInfo.MaxMemoryRanges;

        /// <summary>Highest end address of available RAM.</summary>
        internal static ulong RamEnd;

        /// <summary>Parses the loader's information into <see cref="Boot"/>; prints nothing (the screen is not chosen yet).</summary>
        internal static void ReadBootInformation(uint magic, ulong info)
        {
            Boot = (BootInfo*)BootAllocator.AllocZeroed((nuint)sizeof(BootInfo), 8);
            Map = (SanitizedMemoryMap*)BootAllocator.AllocZeroed((nuint)sizeof(SanitizedMemoryMap), 8);
            Acpi = (AcpiInfo*)BootAllocator.AllocZeroed((nuint)sizeof(AcpiInfo), 8);
            if (Boot == null || Map == null || Acpi == null)
                Runtime.Panic.Halt("boot arena too small for the boot information");
            BootInfoParser.Parse(magic, (byte*)info, Boot);
        }

        /// <summary>After <see cref="ReadBootInformation"/>: its problems, the sanitized map, ACPI, the direct map.</summary>
        internal static void Discover()
        {
            BootDiagnostics.Print(&Boot->Diagnostics);

            MemoryMapSanitizer.Sanitize(&Boot->MemoryMap, Map);
            BootDiagnostics.Print(&Map->Diagnostics, &Boot->MemoryMap);

            byte* rsdp = (byte*)Boot->RsdpAddress;
            if (rsdp == null)
                rsdp = RsdpScanner.FindInBiosArea((byte*)0);
            AcpiParser.Parse(rsdp, Acpi);
            BootDiagnostics.Print(&Acpi->Diagnostics);

            ulong uncovered = 0;
            for (int i = 0; i < Map->Count; i++)
            {
                MemoryMapEntry r = Map->Get(i);
                if (r.Type != MemoryType.Available)
                    continue;
                if (r.End > RamEnd)
                    RamEnd = r.End;
                uncovered += Acpi->UncoveredBytes(r.Base, r.End);
            }
            if (uncovered > AcpiInfo.MaxUncoveredRam)
            {
                Console.Write("acpi: the SRAT's nodes leave ");
                Console.WriteSize(uncovered);
                Console.Write(" of RAM on no node; SRAT not used, one node (as numa=off)");
                Console.WriteLine();
                Acpi->DropNumaLayout();
            }
            if (!DirectMap.Extend(RamEnd, &BootAllocator.AllocPage))
                Console.WriteLine("paging: out of boot memory for page tables; RAM above the mapped limit is not used");
        }

        /// <summary>How the node layout was decided: the firmware's SRAT, or the command line (numa=off, numa=fake=N).</summary>
        internal enum NumaMode { Firmware, Off, Fake }

        internal static NumaMode Numa;
        /// <summary>With <see cref="NumaMode.Fake"/>: first address of each fake node (node 0 starts at 0).</summary>
        private static ulong[] s_fakeStart;
        private static int s_fakeCount;

        /// <summary>numa=off: one node for everything, before the pools are set up.</summary>
        internal static void SetNumaOff()
        {
            Numa = NumaMode.Off;
        }

        /// <summary>
        /// numa=fake=N: node n is [starts[n], starts[n + 1]), the last one open-ended; replaces the
        /// firmware's nodes (before the pools are set up). Distances are 10 local, 20 remote;
        /// CPUs are dealt out round-robin.
        /// </summary>
        internal static void SetFakeNodes(ulong* starts, int count)
        {
            s_fakeStart = new ulong[count];
            for (int i = 0; i < count; i++)
                s_fakeStart[i] = starts[i];
            s_fakeCount = count;
            Numa = NumaMode.Fake;
        }

        /// <summary>
        /// The NUMA node of a physical address: the SRAT's answer (node 0 without one, and for the at most
        /// <see cref="AcpiInfo.MaxUncoveredRam"/> of RAM a used SRAT may leave uncovered), unless the command line decided.
        /// </summary>
        internal static int NodeOf(ulong address)
        {
            if (Numa == NumaMode.Off)
                return 0;
            if (Numa == NumaMode.Fake)
            {
                int n = 0;
                while (n + 1 < s_fakeCount && address >= s_fakeStart[n + 1])
                    n++;
                return n;
            }
            int node = Acpi->NodeOfAddress(address);
            return node < 0 ? 0 : node;
        }

        internal static int NodeCount => Numa == NumaMode.Off ? 1 : Numa == NumaMode.Fake ? s_fakeCount : Acpi->NodeCount < 1 ? 1 : Acpi->NodeCount;

        /// <summary>SLIT distance between two nodes (10 = local); fake nodes are 10/20.</summary>
        internal static byte Distance(int from, int to)
        {
            if (Numa == NumaMode.Firmware)
                return Acpi->Distance(from, to);
            return from == to ? AcpiInfo.LocalDistance : AcpiInfo.RemoteDistance;
        }

        /// <summary>Node of CPU <paramref name="cpu"/> (round-robin over fake nodes).</summary>
        internal static int CpuNode(int cpu)
        {
            if (Numa == NumaMode.Off)
                return 0;
            if (Numa == NumaMode.Fake)
                return cpu % s_fakeCount;
            int node = Acpi->CpuNode(cpu);
            return node < 0 ? 0 : node;
        }

        /// <summary>
        /// The first node boundary inside (start, end), or end: where a piece of RAM handed to the
        /// pools must be cut so that each piece lies on one node.
        /// </summary>
        internal static ulong NextNodeBoundary(ulong start, ulong end)
        {
            ulong cut = end;
            if (Numa == NumaMode.Off)
                return cut;
            if (Numa == NumaMode.Fake)
            {
                for (int n = 1; n < s_fakeCount; n++)
                {
                    if (s_fakeStart[n] > start && s_fakeStart[n] < cut)
                        cut = s_fakeStart[n];
                }
                return cut;
            }
            for (int r = 0; r < Acpi->MemoryRangeCount; r++)
            {
                MemoryAffinity a = Acpi->GetMemoryRange(r);
                ulong aEnd = a.Base + a.Length;
                if (a.Base > start && a.Base < cut)
                    cut = a.Base;
                if (aEnd > start && aEnd < cut)
                    cut = aEnd;
            }
            return cut;
        }

        /// <summary>The node of the boot CPU (the only one running until SMP).</summary>
        internal static int CpuNodeOfBoot => CpuNode(0) < NodeCount ? CpuNode(0) : 0;

        /// <summary>With numa=fake: where fake node <paramref name="node"/> starts.</summary>
        internal static ulong FakeNodeStart(int node) => (uint)node < (uint)s_fakeCount ? s_fakeStart[node] : 0;

        internal static int CpuCount => Acpi->CpuCount < 1 ? 1 : Acpi->CpuCount;
    }
}
