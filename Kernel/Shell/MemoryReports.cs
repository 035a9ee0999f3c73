using System;
using PoolKernel.Boot.Text;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>
    /// The shell's memory reports: the pure ones (Kernel.Boot/Reports/MemoryReports.cs) on the
    /// kernel's pools, reservations and console, and the heap's rows that only the kernel has.
    /// </summary>
    internal static unsafe class MemoryReports
    {
        private static PhysicalMemory* Pm => PhysicalMemoryOwner.Unguarded;

        internal static void MemInfo(ref ShellLine line)
        {
            TextOut w = ConsoleOut.Instance;
            Boot.Reports.MemoryReports.MemInfo(w, Pm, Reservations.Table, MemoryBringUp.UsableBytes);
            Boot.Reports.MemoryReports.Row(w, "Heap pages held", Heap.KernelHeapGlue.PagesHeld * 4096);
            Boot.Reports.MemoryReports.Row(w, "Heap bytes in use", Heap.KernelHeapGlue.BytesInUse);
            Boot.Reports.MemoryReports.Row(w, "Heap metadata", Heap.KernelHeapGlue.MetadataBytes);
            Console.Write("Boot allocator: ");
            Console.Write(BootAllocator.Used / 1024);
            Console.WriteLine(BootAllocator.Retired ? " kB used, retired (its arena is in the kernel image reservation)" : " kB used, active");
        }

        internal static void Pools(ref ShellLine line) => Boot.Reports.MemoryReports.Pools(ConsoleOut.Instance, Pm);

        internal static void BuddyInfo(ref ShellLine line) => Boot.Reports.MemoryReports.BuddyInfo(ConsoleOut.Instance, Pm);

        internal static void ZoneInfo(ref ShellLine line) => Boot.Reports.MemoryReports.ZoneInfo(ConsoleOut.Instance, Pm, Machine.NodeCount);

        internal static void Pageblocks(ref ShellLine line) => Boot.Reports.MemoryReports.Pageblocks(ConsoleOut.Instance, Pm);

        internal static void Dump(ref ShellLine line) => Boot.Reports.MemoryReports.Dump(ConsoleOut.Instance, Pm, Reservations.Table, MemoryBringUp.UsableBytes, Machine.NodeCount);
    }
}
