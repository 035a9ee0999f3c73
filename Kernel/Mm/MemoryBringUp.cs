using System;
using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Boot.Text;
using PoolKernel.Memory;
using PoolKernel.Platform;
using PoolKernel.Startup;

namespace PoolKernel.Mm
{
    /// <summary>
    /// Builds the pools from what boot discovery found (the arithmetic is pure: Kernel.Boot/Layout/PoolBringUp.cs). The sanitized map's available RAM, minus the
    /// named reservations (including mem= and memmap=, added by BootPools before this runs), split
    /// where the nodes begin and end (the SRAT's, or numa=off / numa=fake=N), becomes the map handed to
    /// Kernel.Memory; its metadata is carved from RAM and itself reserved. Set-up creates one pool per
    /// node and address class (dma, dma32, normal), and the instance goes to its one holder,
    /// <see cref="PhysicalMemoryOwner"/>. The boot allocator stays in use until the heap exists
    /// (KernelHeapGlue retires it).
    /// </summary>
    internal static unsafe class MemoryBringUp
    {
        internal static ulong MetadataBytes;
        internal static ulong UsableBytes;

        internal static void Run()
        {
            BootInfo* boot = Machine.Boot;
            if (!PoolBringUp.AddBootReservations(Reservations.Table, boot, Machine.Map, Cpu.KernelStart(), Cpu.KernelEnd(), out ulong trampoline, out int needed))
                Runtime.Panic.Halt("reservations: table full for a kernel reservation, entries needed", (ulong)needed);
            Smp.UseTrampolinePage(trampoline);
            // The command line's mem=, memmap= (reservations around the ones above) and numa= (the node layout).
            BootPools.ApplyEarly();

            MemoryRegion* pieces = (MemoryRegion*)BootAllocator.AllocZeroed((nuint)(sizeof(MemoryRegion) * PoolBringUp.MaxPieces), 64);
            byte* distances = (byte*)BootAllocator.AllocZeroed(NodeDistances.MaxNodes * NodeDistances.MaxNodes, 8);
            PoolMapPlan* plan = (PoolMapPlan*)BootAllocator.AllocZeroed((nuint)sizeof(PoolMapPlan), 8);
            if (pieces == null || distances == null || plan == null)
                Runtime.Panic.Halt("boot arena too small for the pool map");

            // Every CPU the MADT lists allocates: one remembered pool choice each (a CPU numbered beyond the
            // MADT's count is never started).
            PoolBringUp.Plan(Machine.Map, Reservations.Table, Machine.Nodes, pieces, distances, plan, Machine.Acpi->CpuCount);
            PhysicalMemoryOwner.Configure(ref plan->Config);
            switch (plan->Status)
            {
                case BringUpStatus.Ok:
                    break;
                case BringUpStatus.TooManyPieces:
                    Runtime.Panic.Halt("pools: more memory map pieces than MaxPieces allows, pieces", plan->Value);
                    break;
                case BringUpStatus.MapRefused:
                    Runtime.Panic.Halt("memory map refused by the pool set-up, status", plan->Value);
                    break;
                case BringUpStatus.NoRangeForMetadata:
                    Runtime.Panic.Halt("no RAM range large enough for the pool metadata, bytes", plan->Value);
                    break;
                case BringUpStatus.ReservationTableFull:
                    Runtime.Panic.Halt("reservations: table full for a kernel reservation, entries needed", plan->Value);
                    break;
                default:
                    Runtime.Panic.Halt("pool metadata size changed after carving, bytes", plan->Value);
                    break;
            }
            PoolKernel.Memory.MemoryMap map = new PoolKernel.Memory.MemoryMap(pieces, plan->PieceCount);
            MemoryStatus status = PhysicalMemory.Initialize((void*)plan->MetadataBase, plan->MetadataBytes, map, plan->Distances, plan->Config, out PhysicalMemory* memory);
            if (status != MemoryStatus.Ok)
                Runtime.Panic.Halt("pool set-up failed, status", (ulong)status);
            PhysicalMemoryOwner.Install(memory);
            MetadataBytes = plan->MetadataBytes;

            Account();
        }

        internal static void PrintSummary()
            => Boot.Reports.MemoryReports.Summary(ConsoleOut.Instance, PhysicalMemoryOwner.Unguarded, Reservations.Table, UsableBytes, MetadataBytes);

        /// <summary>
        /// The pools table as it stood when set-up ended (the command line's pools carved, nothing
        /// allocated yet), for `pools boot`; null until <see cref="KeepPoolsAtSetUp"/> ran.
        /// </summary>
        internal static TextBuffer* PoolsAtSetUp;

        /// <summary>
        /// Writes the pools table into boot-allocator memory, right after <see cref="PrintSummary"/> and
        /// before the heap exists: what Kernel.Sim prints for the same machine and command line, free
        /// column included. One line per pool at most 128 bytes, plus the header.
        /// </summary>
        internal static void KeepPoolsAtSetUp()
        {
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            int capacity = ((int)pm->GetTotals().LivePools + 1) * 128;
            TextBuffer* buffer = (TextBuffer*)BootAllocator.AllocZeroed((nuint)(sizeof(TextBuffer) + capacity), 8);
            if (buffer == null)
            {
                Console.WriteLine("pools:    boot arena too small to keep the set-up table; `pools boot` will say so");
                return;
            }
            *buffer = new TextBuffer((byte*)(buffer + 1), capacity);
            Boot.Reports.MemoryReports.Pools(TextBuffer.Out(buffer), pm);
            PoolsAtSetUp = buffer;
        }

        /// <summary>Usable RAM = pool memory + reservations; computes each reservation's share of RAM.</summary>
        private static void Account()
        {
            UsableBytes = Machine.Map->AvailableBytes;
            Reservations.Table->Account(Machine.Map);
        }
    }
}
