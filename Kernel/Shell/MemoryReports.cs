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
    /// Each pool report runs under every pool's lock but the realtime pools' (<see cref="PhysicalMemoryOwner.LockForReport"/>: a realtime pool's rows are a snapshot),
    /// printing as it walks: the pure reports allocate nothing, so no heap lock is wanted inside it.
    /// </summary>
    internal static unsafe class MemoryReports
    {
        internal static void MemInfo(ref ShellLine line)
        {
            TextOut w = ConsoleOut.Instance;
            // The heap's figures first: they take the heap lock, which comes before the pools' lock.
            ulong heapPages = Heap.KernelHeapGlue.PagesHeld, heapBytes = Heap.KernelHeapGlue.BytesInUse;
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            Boot.Reports.MemoryReports.MemInfo(w, pm, Reservations.Table, MemoryBringUp.UsableBytes);
            PhysicalMemoryOwner.Unlock(state);
            Boot.Reports.MemoryReports.Row(w, "Heap pages held", heapPages * 4096);
            Boot.Reports.MemoryReports.Row(w, "Heap bytes in use", heapBytes);
            Boot.Reports.MemoryReports.Row(w, "Heap metadata", Heap.KernelHeapGlue.MetadataBytes);
            Console.Write("Boot allocator: ");
            Console.Write(BootAllocator.Used / 1024);
            Console.WriteLine(BootAllocator.Retired ? " kB used, retired (its arena is in the kernel image reservation)" : " kB used, active");
        }

        /// <summary>`pools`: the table now; `pools boot`: the table as set-up left it (what Kernel.Sim computes).</summary>
        internal static void Pools(ref ShellLine line)
        {
            if (line.WordCount > 1)
            {
                if (!line.WordIs(1, "boot"))
                {
                    Console.WriteLine("usage: pools [boot]");
                    return;
                }
                if (!line.NoMoreArgs(2))
                    return;
                TextBuffer* atSetUp = MemoryBringUp.PoolsAtSetUp;
                if (atSetUp == null)
                    Console.WriteLine("pools: the set-up table was not kept (boot arena too small)");
                else
                    atSetUp->CopyTo(ConsoleOut.Instance);
                return;
            }
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            Boot.Reports.MemoryReports.Pools(ConsoleOut.Instance, pm);
            PhysicalMemoryOwner.Unlock(state);
        }

        internal static void BuddyInfo(ref ShellLine line)
        {
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            Boot.Reports.MemoryReports.BuddyInfo(ConsoleOut.Instance, pm);
            PhysicalMemoryOwner.Unlock(state);
        }

        internal static void PageTypeInfo(ref ShellLine line)
        {
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            Boot.Reports.MemoryReports.PageTypeInfo(ConsoleOut.Instance, pm);
            PhysicalMemoryOwner.Unlock(state);
        }

        internal static void ZoneInfo(ref ShellLine line)
        {
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            Boot.Reports.MemoryReports.ZoneInfo(ConsoleOut.Instance, pm, Machine.NodeCount);
            PhysicalMemoryOwner.Unlock(state);
        }

        internal static void Pageblocks(ref ShellLine line)
        {
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            Boot.Reports.MemoryReports.Pageblocks(ConsoleOut.Instance, pm);
            PhysicalMemoryOwner.Unlock(state);
        }

        internal static void Dump(ref ShellLine line)
        {
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            Boot.Reports.MemoryReports.Dump(ConsoleOut.Instance, pm, Reservations.Table, MemoryBringUp.UsableBytes, Machine.NodeCount);
            PhysicalMemoryOwner.Unlock(state);
        }
    }
}
