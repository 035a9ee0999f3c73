using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory;

namespace PoolKernel.Boot.Layout
{
    /// <summary>Why <see cref="PoolBringUp.Plan"/> could not give the pools a map (the kernel stops on any of these).</summary>
    public enum BringUpStatus : byte
    {
        Ok,
        /// <summary>More map pieces than <see cref="PoolBringUp.MaxPieces"/>; Value is the count.</summary>
        TooManyPieces,
        /// <summary>Kernel.Memory refused the map; Value is the <see cref="MemoryStatus"/>.</summary>
        MapRefused,
        /// <summary>No piece of RAM holds the pools' metadata in one range; Value is its size in bytes.</summary>
        NoRangeForMetadata,
        /// <summary>The reservation table had no room for the metadata; Value is the entries it needed.</summary>
        ReservationTableFull,
        /// <summary>The metadata needed more after it was carved out; Value is what it needed.</summary>
        MetadataGrew,
    }

    /// <summary>What <see cref="PoolBringUp.Plan"/> gives the pools' set-up: their map, distances, configuration and metadata range.</summary>
    public unsafe struct PoolMapPlan
    {
        public BringUpStatus Status;
        /// <summary>The number that goes with a refusal (see <see cref="BringUpStatus"/>).</summary>
        public ulong Value;
        public int PieceCount;
        public ulong MetadataBase;
        public ulong MetadataBytes;
        public MemoryConfig Config;
        public NodeDistances Distances;
    }

    /// <summary>
    /// The pure part of the kernel's pool bring-up (Kernel/Mm/MemoryBringUp.cs, and the host
    /// simulator Kernel.Sim runs the same): the kernel's own reservations from the loader's
    /// information, then the map handed to Kernel.Memory: the sanitized map's available RAM minus
    /// the named reservations, cut where the nodes begin and end, with the pools' metadata carved
    /// from the top of the largest piece and itself reserved. The caller then runs
    /// <see cref="PhysicalMemory.Initialize"/> with the metadata at <see cref="PoolMapPlan.MetadataBase"/>
    /// (the kernel through its identity map, the host through its own backing).
    /// </summary>
    public static unsafe class PoolBringUp
    {
        /// <summary>The firmware's first MiB (real-mode IVT, BDA, EBDA, option ROMs): never pool memory.</summary>
        public const ulong LowFirmwareEnd = 1UL << 20;

        /// <summary>
        /// The most pieces <see cref="BuildPieces"/> can make: every map entry, one more for each
        /// reservation (a range cut out of a piece leaves at most one extra), one more for each node
        /// boundary. Does not compile if that exceeds what the memory manager accepts.
        /// </summary>
        public const int MaxPieces = SanitizedMemoryMap.Capacity + ReservationTable.Capacity + NodeLayout.MaxBoundaries;
        private const uint MaxPiecesFitMemoryMap = (uint)(PoolKernel.Memory.MemoryMap.MaxRegions - MaxPieces);

        /// <summary>
        /// The kernel's reservations before the command line's: the low firmware, the image
        /// [<paramref name="kernelStart"/>, <paramref name="kernelEnd"/>), the multiboot information,
        /// and the strings and modules the loader placed that the kernel keeps reading (the shell reads
        /// run= from the loader's copy of the command line for as long as it runs; multiboot 1 keeps
        /// it outside the information block, QEMU after the image). First of all the SMP trampoline
        /// page (<see cref="TrampolinePage.Choose"/> over <paramref name="map"/>; none when it gives 0),
        /// so that it keeps its own name inside the first MiB (the low-firmware entry is cut around
        /// it); <paramref name="trampoline"/> is that page. False, with the entries needed, when the
        /// table is full: <see cref="ReservationTable.KernelEntries"/> is then wrong.
        /// </summary>
        public static bool AddBootReservations(ReservationTable* table, BootInfo* boot, SanitizedMemoryMap* map, ulong kernelStart, ulong kernelEnd, out ulong trampoline, out int needed)
        {
            trampoline = TrampolinePage.Choose(boot, map);
            needed = 0;
            if (trampoline != 0 && !table->TryAddKernel(ReservationName.SmpTrampoline, trampoline, trampoline + TrampolinePage.Size, out needed))
                return false;
            if (!table->TryAddKernel(ReservationName.LowFirmware, 0, LowFirmwareEnd, out needed))
                return false;
            if (!table->TryAddKernel(ReservationName.KernelImage, kernelStart, kernelEnd, out needed))
                return false;
            if (boot->InfoAddress != 0 && !table->TryAddKernel(ReservationName.MultibootInformation, boot->InfoAddress, boot->InfoAddress + boot->InfoSize, out needed))
                return false;
            if (boot->HasCommandLine && boot->CommandLine != 0
                && !table->TryAddKernel(ReservationName.KernelCommandLine, boot->CommandLine, boot->CommandLine + boot->CommandLineLength + 1, out needed))
                return false;
            if (boot->HasLoaderName && boot->LoaderName != 0
                && !table->TryAddKernel(ReservationName.BootLoaderName, boot->LoaderName, boot->LoaderName + boot->LoaderNameLength + 1, out needed))
                return false;
            for (int i = 0; i < boot->ModuleCount; i++)
            {
                BootModule m = boot->GetModule(i);
                if (!table->TryAddKernel(ReservationName.BootModule, m.Start, m.End, out needed))
                    return false;
                if (m.String != 0 && !table->TryAddKernel(ReservationName.BootModuleName, m.String, m.String + m.StringLength + 1, out needed))
                    return false;
            }
            return true;
        }

        /// <summary>
        /// The command line's mem= and memmap= (reservations around the kernel's own) and numa= (the
        /// node layout), recorded in <paramref name="result"/> for the boot lines and the shell's
        /// cmdline. Returns how many nodes the firmware described (the numa=off line names it).
        /// </summary>
        public static int ApplyLayout(SanitizedMemoryMap* map, BootOptions* options, ReservationTable* table, NodeLayout* nodes, BootLayoutResult* result)
        {
            int firmwareNodes = nodes->NodeCount;
            BootLayout.Apply(map, options, table, nodes->RamEnd, result);
            if (result->Numa == NumaLayout.Off)
                nodes->SetOff();
            else if (result->Numa == NumaLayout.Fake)
                nodes->SetFake(result->FakeStarts, result->FakeNodeCount);
            return firmwareNodes;
        }

        /// <summary>
        /// The map for the pools' set-up, from the sanitized map, the reservations (the command line's
        /// included) and the node layout. <paramref name="pieces"/> holds <see cref="MaxPieces"/> regions,
        /// <paramref name="distances"/> NodeDistances.MaxNodes squared bytes; both must outlive the set-up.
        /// On success the metadata range is reserved (<see cref="ReservationName.PoolMetadata"/>) and
        /// not in the pieces.
        /// </summary>
        /// <remarks><paramref name="maxCpus"/>: the CPUs that will allocate at once (<see cref="MemoryConfig.MaxCpus"/>, clamped to 1..<see cref="MemoryConfig.CpuLimit"/>).</remarks>
        public static void Plan(SanitizedMemoryMap* map, ReservationTable* table, NodeLayout* nodes, MemoryRegion* pieces, byte* distances, PoolMapPlan* plan, int maxCpus = 1)
        {
            *plan = default;
            int nodeCount = nodes->NodeCount;
            for (int a = 0; a < nodeCount; a++)
                for (int b = 0; b < nodeCount; b++)
                    distances[a * nodeCount + b] = nodes->Distance(a, b);
            plan->Distances = new NodeDistances(distances, nodeCount);
            plan->Config = MemoryConfig.Default;
            plan->Config.PoolCapacity = PoolCapacity(nodeCount);
            plan->Config.MaxCpus = (byte)(maxCpus < 1 ? 1 : maxCpus > MemoryConfig.CpuLimit ? MemoryConfig.CpuLimit : maxCpus);

            if (!BuildPieces(map, table, nodes, pieces, plan))
                return;
            PoolKernel.Memory.MemoryMap poolMap = new PoolKernel.Memory.MemoryMap(pieces, plan->PieceCount);
            MemoryStatus status = PhysicalMemory.ComputeMetadataSize(poolMap, plan->Distances, plan->Config, out ulong bytes);
            if (status != MemoryStatus.Ok)
            {
                Refuse(plan, BringUpStatus.MapRefused, (ulong)status);
                return;
            }

            // Carve the metadata from the top of the largest piece, reserve it, and rebuild the map
            // without it; the span (and so the size) does not grow by removing memory. The metadata
            // must be one range (set-up takes one pointer), so a machine whose largest piece is smaller
            // than the metadata cannot be set up at all.
            bytes = (bytes + 0xFFF) & ~0xFFFUL;
            ulong metadata = CarveTop(pieces, plan->PieceCount, bytes);
            if (metadata == 0)
            {
                Refuse(plan, BringUpStatus.NoRangeForMetadata, bytes);
                return;
            }
            if (!table->TryAddKernel(ReservationName.PoolMetadata, metadata, metadata + bytes, out int needed))
            {
                Refuse(plan, BringUpStatus.ReservationTableFull, (ulong)needed);
                return;
            }
            if (!BuildPieces(map, table, nodes, pieces, plan))
                return;
            poolMap = new PoolKernel.Memory.MemoryMap(pieces, plan->PieceCount);
            status = PhysicalMemory.ComputeMetadataSize(poolMap, plan->Distances, plan->Config, out ulong after);
            if (status != MemoryStatus.Ok || after > bytes)
            {
                Refuse(plan, BringUpStatus.MetadataGrew, after);
                return;
            }
            plan->MetadataBase = metadata;
            plan->MetadataBytes = bytes;
        }

        private static void Refuse(PoolMapPlan* plan, BringUpStatus status, ulong value)
        {
            plan->Status = status;
            plan->Value = value;
        }

        /// <summary>
        /// Pool-table capacity for <paramref name="nodes"/> nodes: three address classes a node (dma,
        /// dma32, normal), a movable pool a node (kernelcore=), every command-line pool, and 8 for
        /// drivers; at least the default 32, at most what a pool id can name.
        /// </summary>
        public static byte PoolCapacity(int nodes)
        {
            int wanted = 4 * nodes + BootOptions.MaxPoolSpecs + 8;
            if (wanted < MemoryConfig.Default.PoolCapacity)
                wanted = MemoryConfig.Default.PoolCapacity;
            return (byte)(wanted > PoolId.MaxIds ? PoolId.MaxIds : wanted);
        }

        /// <summary>The sanitized map's available ranges, minus reservations, cut at node boundaries.</summary>
        private static bool BuildPieces(SanitizedMemoryMap* map, ReservationTable* table, NodeLayout* nodes, MemoryRegion* pieces, PoolMapPlan* plan)
        {
            int count = 0;
            for (int i = 0; i < map->Count; i++)
            {
                MemoryMapEntry r = map->Get(i);
                if (r.Type != MemoryType.Available)
                    continue;
                ulong cursor = r.Base;
                while (table->NextUncovered(ref cursor, r.End, out ulong start, out ulong end))
                {
                    while (start < end)
                    {
                        // The next node boundary inside (start, end) ends this piece.
                        ulong cut = nodes->NextNodeBoundary(start, end);
                        if (count == MaxPieces)
                        {
                            Refuse(plan, BringUpStatus.TooManyPieces, (ulong)count);
                            return false;
                        }
                        pieces[count++] = new MemoryRegion(start, cut - start, MemoryType.Available, (byte)nodes->NodeOf(start));
                        start = cut;
                    }
                }
            }
            plan->PieceCount = count;
            return true;
        }

        /// <summary>
        /// The top of the largest piece that holds <paramref name="bytes"/>, page-aligned; 0 when none
        /// does. Any piece that fits will do, even if it leaves its node little or nothing: a node
        /// without pool memory is a valid layout, a boot that stops is not.
        /// </summary>
        private static ulong CarveTop(MemoryRegion* pieces, int count, ulong bytes)
        {
            int best = -1;
            for (int i = 0; i < count; i++)
            {
                ulong end = pieces[i].End.Value & ~0xFFFUL;
                ulong start = (pieces[i].Base.Value + 0xFFF) & ~0xFFFUL;
                if (end > start && end - start >= bytes && (best < 0 || pieces[i].Length > pieces[best].Length))
                    best = i;
            }
            if (best < 0)
                return 0;
            return (pieces[best].End.Value - bytes) & ~0xFFFUL;
        }
    }
}
