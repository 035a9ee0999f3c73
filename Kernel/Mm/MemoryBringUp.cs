using System;
using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory;
using PoolKernel.Platform;
using PoolKernel.Startup;

namespace PoolKernel.Mm
{
    /// <summary>
    /// Builds the pools from what boot discovery found. The sanitized map's available RAM, minus the
    /// named reservations (including mem= and memmap=, added by BootPools before this runs), split
    /// where the nodes begin and end (the SRAT's, or numa=off / numa=fake=N), becomes the map handed to
    /// Kernel.Memory; its metadata is carved from RAM and itself reserved. Set-up creates one pool per
    /// node and address class (dma, dma32, normal), and the instance goes to its one holder,
    /// <see cref="PhysicalMemoryOwner"/>. The boot allocator stays in use until the heap exists
    /// (KernelHeapGlue retires it).
    /// </summary>
    internal static unsafe class MemoryBringUp
    {
        private const ulong LowFirmwareEnd = 1UL << 20;
        /// <summary>
        /// The most pieces <see cref="BuildPieces"/> can make: every map entry, one more for each
        /// reservation (a range cut out of a piece leaves at most one extra), one more for each node
        /// boundary. Does not compile if that exceeds what the memory manager accepts.
        /// </summary>
        private const int MaxPieces = SanitizedMemoryMap.Capacity + ReservationTable.Capacity + Machine.MaxNodeBoundaries;
        private const uint MaxPiecesFitMemoryMap = (uint)(PoolKernel.Memory.MemoryMap.MaxRegions - MaxPieces);

        internal static ulong MetadataBytes;
        internal static ulong UsableBytes;

        private static MemoryRegion* s_pieces;
        private static int s_count;

        internal static void Run()
        {
            BootInfo* boot = Machine.Boot;
            // First, so that it keeps its own name inside the first MiB (the low-firmware entry is cut around it).
            ulong trampoline = Smp.ChooseTrampolinePage(boot, Machine.Map);
            if (trampoline != 0)
                Reservations.AddKernel(ReservationName.SmpTrampoline, trampoline, trampoline + 4096);
            Reservations.AddKernel(ReservationName.LowFirmware, 0, LowFirmwareEnd);
            Reservations.AddKernel(ReservationName.KernelImage, Cpu.KernelStart(), Cpu.KernelEnd());
            if (boot->InfoAddress != 0)
                Reservations.AddKernel(ReservationName.MultibootInformation, boot->InfoAddress, boot->InfoAddress + boot->InfoSize);
            // The shell reads run= commands from the loader's copy of the command line for as long
            // as the kernel runs; multiboot 1 keeps it outside the information block (QEMU puts it
            // after the image). Unreserved, its page was free memory that free-list links could overwrite.
            // The same holds for the loader's name (the banner) and the modules' strings.
            if (boot->HasCommandLine && boot->CommandLine != 0)
                Reservations.AddKernel(ReservationName.KernelCommandLine, boot->CommandLine, boot->CommandLine + boot->CommandLineLength + 1);
            if (boot->HasLoaderName && boot->LoaderName != 0)
                Reservations.AddKernel(ReservationName.BootLoaderName, boot->LoaderName, boot->LoaderName + boot->LoaderNameLength + 1);
            for (int i = 0; i < boot->ModuleCount; i++)
            {
                BootModule m = boot->GetModule(i);
                Reservations.AddKernel(ReservationName.BootModule, m.Start, m.End);
                if (m.String != 0)
                    Reservations.AddKernel(ReservationName.BootModuleName, m.String, m.String + m.StringLength + 1);
            }
            // The command line's mem=, memmap= (reservations around the ones above) and numa= (the node layout).
            BootPools.ApplyEarly();

            s_pieces = (MemoryRegion*)BootAllocator.AllocZeroed((nuint)(sizeof(MemoryRegion) * MaxPieces), 64);
            byte* distances = (byte*)BootAllocator.AllocZeroed(NodeDistances.MaxNodes * NodeDistances.MaxNodes, 8);
            if (s_pieces == null || distances == null)
                Runtime.Panic.Halt("boot arena too small for the pool map");

            int nodes = Machine.NodeCount;
            for (int a = 0; a < nodes; a++)
                for (int b = 0; b < nodes; b++)
                    distances[a * nodes + b] = Machine.Distance(a, b);
            NodeDistances distanceTable = new NodeDistances(distances, nodes);
            MemoryConfig config = MemoryConfig.Default;
            config.PoolCapacity = PoolCapacity(nodes);

            BuildPieces();
            PoolKernel.Memory.MemoryMap map = new PoolKernel.Memory.MemoryMap(s_pieces, s_count);
            MemoryStatus status = PhysicalMemory.ComputeMetadataSize(map, distanceTable, config, out ulong bytes);
            if (status != MemoryStatus.Ok)
                Runtime.Panic.Halt("memory map refused by the pool set-up, status", (ulong)status);

            // Carve the metadata from the top of the largest piece, reserve it, and rebuild the map
            // without it; the span (and so the size) does not grow by removing memory. The metadata
            // must be one range (set-up takes one pointer), so a machine whose largest piece is smaller
            // than the metadata cannot be set up at all.
            bytes = (bytes + 0xFFF) & ~0xFFFUL;
            ulong metadata = CarveTop(bytes);
            if (metadata == 0)
                Runtime.Panic.Halt("no RAM range large enough for the pool metadata, bytes", bytes);
            Reservations.AddKernel(ReservationName.PoolMetadata, metadata, metadata + bytes);
            BuildPieces();
            map = new PoolKernel.Memory.MemoryMap(s_pieces, s_count);
            status = PhysicalMemory.ComputeMetadataSize(map, distanceTable, config, out ulong needed);
            if (status != MemoryStatus.Ok || needed > bytes)
                Runtime.Panic.Halt("pool metadata size changed after carving, bytes", needed);
            status = PhysicalMemory.Initialize((void*)metadata, bytes, map, distanceTable, config, null, out PhysicalMemory* memory);
            if (status != MemoryStatus.Ok)
                Runtime.Panic.Halt("pool set-up failed, status", (ulong)status);
            PhysicalMemoryOwner.Install(memory);
            MetadataBytes = bytes;

            Account();
        }

        internal static void PrintSummary()
        {
            MemoryTotals t = PhysicalMemoryOwner.GetTotals();
            Console.Write("pools:    ");
            Console.Write(t.LivePools);
            Console.Write(" pools, ");
            Console.WriteSize(t.PresentPages * 4096);
            Console.Write(" in ");
            Console.Write(t.Pageblocks);
            Console.Write(" page blocks; reserved ");
            Console.WriteSize(Reservations.TotalAvailableBytes);
            Console.Write("; metadata ");
            Console.WriteSize(MetadataBytes);
            Console.WriteLine(t.PresentPages * 4096 + Reservations.TotalAvailableBytes == UsableBytes ? "; sums add up" : "; SUMS DO NOT ADD UP");
        }

        /// <summary>The sanitized map's available ranges, minus reservations, cut at node boundaries.</summary>
        private static void BuildPieces()
        {
            s_count = 0;
            SanitizedMemoryMap* sanitized = Machine.Map;
            ReservationTable* reserved = Reservations.Table;
            for (int i = 0; i < sanitized->Count; i++)
            {
                MemoryMapEntry r = sanitized->Get(i);
                if (r.Type != MemoryType.Available)
                    continue;
                ulong cursor = r.Base;
                while (reserved->NextUncovered(ref cursor, r.End, out ulong start, out ulong end))
                    AddSplitByNode(start, end);
            }
        }

        private static void AddSplitByNode(ulong start, ulong end)
        {
            while (start < end)
            {
                // The next node boundary (SRAT, or numa=fake=) inside (start, end) ends this piece.
                ulong cut = Machine.NextNodeBoundary(start, end);
                if (s_count == MaxPieces)
                    Runtime.Panic.Halt("pools: more memory map pieces than MaxPieces allows, pieces", (ulong)s_count);
                s_pieces[s_count++] = new MemoryRegion(start, cut - start, MemoryType.Available, (byte)Machine.NodeOf(start));
                start = cut;
            }
        }

        /// <summary>
        /// Pool-table capacity for <paramref name="nodes"/> nodes: three address classes a node (dma,
        /// dma32, normal), a movable pool a node (kernelcore=), every command-line pool, and 8 for
        /// drivers; at least the default 32, at most what a pool id can name.
        /// </summary>
        private static byte PoolCapacity(int nodes)
        {
            int wanted = 4 * nodes + Boot.CommandLine.BootOptions.MaxPoolSpecs + 8;
            if (wanted < MemoryConfig.Default.PoolCapacity)
                wanted = MemoryConfig.Default.PoolCapacity;
            return (byte)(wanted > PoolId.MaxIds ? PoolId.MaxIds : wanted);
        }

        /// <summary>
        /// The top of the largest piece that holds <paramref name="bytes"/>, page-aligned; 0 when none
        /// does. Any piece that fits will do, even if it leaves its node little or nothing: a node
        /// without pool memory is a valid layout, a boot that stops is not.
        /// </summary>
        private static ulong CarveTop(ulong bytes)
        {
            int best = -1;
            for (int i = 0; i < s_count; i++)
            {
                ulong end = s_pieces[i].End.Value & ~0xFFFUL;
                ulong start = (s_pieces[i].Base.Value + 0xFFF) & ~0xFFFUL;
                if (end > start && end - start >= bytes && (best < 0 || s_pieces[i].Length > s_pieces[best].Length))
                    best = i;
            }
            if (best < 0)
                return 0;
            return (s_pieces[best].End.Value - bytes) & ~0xFFFUL;
        }

        /// <summary>Usable RAM = pool memory + reservations; computes each reservation's share of RAM.</summary>
        private static void Account()
        {
            UsableBytes = Machine.Map->AvailableBytes;
            Reservations.Table->Account(Machine.Map);
        }
    }
}
