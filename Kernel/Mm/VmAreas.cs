using PoolKernel.Memory;
using PoolKernel.Platform;

namespace PoolKernel.Mm
{
    /// <summary>How an area operation ended (<see cref="VmAreas"/>).</summary>
    internal enum VmAreaStatus : byte
    {
        Ok,
        /// <summary>No area of that number (refused, nothing changed).</summary>
        NoSuchArea,
        /// <summary>Size 0 or above <see cref="VmAreas.MaxPages"/>, a page index outside the area, a node without memory (refused, nothing changed).</summary>
        InvalidArgument,
        /// <summary>Every area slot is in use (refused, nothing changed).</summary>
        NoSlot,
        /// <summary>The pools had no frame (for the page, or a page table); what the call took is given back.</summary>
        OutOfMemory,
        /// <summary>A container's frame would pass its quota; what the call took is given back.</summary>
        QuotaExceeded,
        /// <summary>The pool named is not one the container may use; what the call took is given back.</summary>
        NotPermitted,
    }

    /// <summary>
    /// Movable kernel memory (docs/antifrag.md "Movable areas"): a vmalloc-like area is a range of
    /// kernel virtual addresses outside the identity map, backed page by page with order-0 frames of
    /// the movable class owned by <see cref="Owners.VmArea"/> and mapped with 4 KiB page-table entries
    /// in the kernel's own page tables (boot.S's <c>boot_pml4</c>, which every CPU uses). The kernel
    /// reaches an area's memory only through that mapping, so a frame can move: the owner's mover
    /// (<see cref="FrameMover"/>, registered at the first area) and <see cref="Migrate"/> take the
    /// entry away, shoot the translation down on every CPU (<see cref="TlbShootdown"/>), copy the frame,
    /// and map the copy.
    ///
    /// Layout: PML4 slot <see cref="Pml4Slot"/> (<see cref="RegionBase"/>), one 1 GiB slot per area
    /// (one page directory each), areas up to <see cref="MaxPages"/> pages; the page tables come from
    /// the pools (owner vmarea, unmovable) as they are needed and go back with the area.
    ///
    /// The reverse map: a 32-bit entry per frame of the pools' span (area + 1 in bits 24-31, the page
    /// index in bits 0-23; 0 = not an area's frame), so the mover finds a frame's entry without
    /// walking the areas. Allocated (owner vmarea) at the first area and kept.
    ///
    /// Locking: every page-table entry of the region and every reverse-map entry is written under
    /// <see cref="PhysicalMemoryOwner.Lock"/> (the table lock and every pool's but the realtime pools'): the mover
    /// runs under the table lock (compaction, pressure), and never for a realtime pool's frame (neither compacts
    /// nor presses one), so a realtime CPU never waits for an area operation (docs/realtime.md). The area
    /// table itself (<see cref="s_areas"/>) is written by one CPU at a time, the shell's commands
    /// (nothing else creates or frees areas), and read by the mover under the pools' lock.
    /// Nothing here allocates from the heap.
    ///
    /// While a page moves its entry is a <b>migration entry</b> (not present, <see cref="MigrationEntry"/>
    /// set, the old frame's address kept): a CPU touching the page then takes a page fault, and the
    /// fault handler (<see cref="WaitIfMigrating"/>, Platform/Traps.cs) waits until the entry is
    /// present again and returns, so the access is retried on the new frame.
    /// </summary>
    internal static unsafe class VmAreas
    {
        /// <summary>The region's PML4 entry: 480, far from the identity map (entry 0 up to 512 GiB of RAM).</summary>
        internal const int Pml4Slot = 480;
        /// <summary>The region's first address: slot 480 = 0xF000_0000_0000, sign-extended to a canonical address.</summary>
        internal const ulong RegionBase = 0xFFFF_0000_0000_0000UL | ((ulong)Pml4Slot << 39);
        /// <summary>Areas at once: the first 64 page directories of the region's PDPT.</summary>
        internal const int MaxAreas = 64;
        /// <summary>An area's virtual slot: one page directory (1 GiB).</summary>
        internal const ulong SlotBytes = 1UL << 30;
        /// <summary>Largest area, in pages (256 MiB; the page index must also fit the reverse map's 24 bits).</summary>
        internal const ulong MaxPages = 65536;

        private const ulong PageSize = 4096;
        private const ulong Present = 0x1, Writable = 0x2;
        /// <summary>
        /// A software bit of a not-present entry (the CPU ignores every other bit of one): the page is
        /// being moved (<see cref="MoveLocked"/>), the fault handler waits for it (<see cref="WaitIfMigrating"/>).
        /// </summary>
        private const ulong MigrationEntry = 1UL << 62;

        /// <summary>Page faults that waited for a migration entry to go (every CPU's), for `vareas`.</summary>
        private static int s_migrationWaits;

        internal static ulong MigrationWaits => (ulong)System.Threading.Volatile.Read(ref s_migrationWaits);
        private const ulong AddressMask = 0x000F_FFFF_FFFF_F000;
        private const int AreaShift = 24;
        private const uint IndexMask = (1u << AreaShift) - 1;

        /// <summary>One area: live or not, its size, its page tables, what moved it.</summary>
        private struct Area
        {
            public bool Live;
            /// <summary>The owner its frames are allocated as: <see cref="Owners.VmArea"/>, or the container it was made for (charged to it).</summary>
            public byte Owner;
            public ulong Pages;
            /// <summary>Page tables (PTs and the PD) the area holds.</summary>
            public ulong TablePages;
            /// <summary>Pages moved by compaction (the mover) and by migration, since the area was made.</summary>
            public ulong CompactionMoves;
            public ulong MigrationMoves;
            /// <summary>Pages moved to another pool by container pressure (PhysicalMemory.MoveAboveGuarantees).</summary>
            public ulong PressureMoves;
        }

        private static Area* s_areas;
        /// <summary>The region's PDPT (null until the first area).</summary>
        private static ulong* s_pdpt;
        /// <summary>The reverse map over [s_basePfn, s_basePfn + s_frames); its run of s_mapPages frames.</summary>
        private static uint* s_reverse;
        private static ulong s_basePfn, s_frames, s_mapPages;

        /// <summary>Area <paramref name="id"/>'s first address.</summary>
        internal static ulong AddressOf(int id) => RegionBase + (ulong)id * SlotBytes;

        /// <summary>Area <paramref name="id"/>'s size in pages, or 0 when it is not live.</summary>
        internal static ulong PagesOf(int id) => (uint)id < MaxAreas && s_areas != null && s_areas[id].Live ? s_areas[id].Pages : 0;

        /// <summary>Pages of area <paramref name="id"/> moved by compaction, by migration and by container pressure so far.</summary>
        internal static void MovesOf(int id, out ulong compaction, out ulong migration, out ulong pressure)
        {
            compaction = migration = pressure = 0;
            if (PagesOf(id) == 0)
                return;
            ulong state = PhysicalMemoryOwner.Lock();
            compaction = s_areas[id].CompactionMoves;
            migration = s_areas[id].MigrationMoves;
            pressure = s_areas[id].PressureMoves;
            PhysicalMemoryOwner.Unlock(state);
        }

        /// <summary>The owner area <paramref name="id"/>'s frames belong to (FrameOwner.None when it is not live).</summary>
        internal static byte OwnerOf(int id) => PagesOf(id) == 0 ? FrameOwner.None : s_areas[id].Owner;

        /// <summary>Page-table pages area <paramref name="id"/> holds (0 when not live).</summary>
        internal static ulong TablePagesOf(int id) => PagesOf(id) == 0 ? 0 : s_areas[id].TablePages;

        /// <summary>
        /// Reserves an area of <paramref name="pages"/> pages (addresses and page tables only, no frame
        /// yet: <see cref="Populate"/> backs it page by page) whose frames will be allocated as
        /// <paramref name="owner"/>: <see cref="Owners.VmArea"/>, or a container, which is then charged for
        /// them (its quota, its accounting; docs/containers.md "Movable areas of a container"); its page
        /// tables stay vmarea's. The area mover is registered for that owner (compaction and pressure move
        /// its frames). Refused: 0 or more than MaxPages pages, an owner that is neither (InvalidArgument),
        /// every slot taken (NoSlot); OutOfMemory when a page table or the reverse map could not be had (what
        /// was taken is given back).
        /// </summary>
        internal static VmAreaStatus Reserve(ulong pages, byte owner, out int id)
        {
            id = -1;
            if (pages == 0 || pages > MaxPages || (owner != Owners.VmArea && !Containers.IsContainer(owner)))
                return VmAreaStatus.InvalidArgument;
            if (!SetUp() || !MoverFor(owner))
                return VmAreaStatus.OutOfMemory;
            int slot = -1;
            for (int i = 0; i < MaxAreas && slot < 0; i++)
            {
                if (!s_areas[i].Live)
                    slot = i;
            }
            if (slot < 0)
                return VmAreaStatus.NoSlot;
            ulong tables = (pages + 511) / 512 + 1;
            ulong* pd = (ulong*)NewTable();
            if (pd == null)
                return VmAreaStatus.OutOfMemory;
            for (ulong t = 0; t + 1 < tables; t++)
            {
                ulong pt = NewTable();
                if (pt == 0)
                {
                    FreeTables(pd);
                    return VmAreaStatus.OutOfMemory;
                }
                pd[t] = pt | Present | Writable;
            }
            ulong state = PhysicalMemoryOwner.Lock();
            s_areas[slot].Pages = pages;
            s_areas[slot].Owner = owner;
            s_areas[slot].TablePages = tables;
            s_areas[slot].CompactionMoves = 0;
            s_areas[slot].MigrationMoves = 0;
            s_areas[slot].PressureMoves = 0;
            s_pdpt[slot] = (ulong)pd | Present | Writable;
            s_areas[slot].Live = true;
            PhysicalMemoryOwner.Unlock(state);
            id = slot;
            return VmAreaStatus.Ok;
        }

        /// <summary>
        /// Backs page <paramref name="index"/> of area <paramref name="id"/> with a zeroed order-0 frame of
        /// the movable class (the area's owner, <paramref name="request"/>'s pool and node wishes; a container
        /// owner's quota and permissions apply) unless it
        /// is backed already (Ok, nothing done). Refused: NoSuchArea, InvalidArgument (index outside);
        /// OutOfMemory: no frame (nothing changed).
        /// </summary>
        internal static VmAreaStatus Populate(int id, ulong index, in AllocRequest request)
        {
            if (PagesOf(id) == 0)
                return VmAreaStatus.NoSuchArea;
            if (index >= s_areas[id].Pages)
                return VmAreaStatus.InvalidArgument;
            ulong* pte = Pte(id, index);
            if ((*pte & Present) != 0)
                return VmAreaStatus.Ok;
            AllocRequest mine = request;
            mine.Owner = s_areas[id].Owner;
            mine.Mobility = MobilityClass.Movable;
            // No pool or node asked for: the movable areas' NUMA policy picks the node (the `area`
            // context, docs/numa.md), counted in numastat; a named pool or node is taken as asked.
            Pfn pfn;
            MemoryStatus got = mine.Pool.IsNone && mine.PreferredNode == AllocRequest.NoNode
                ? NumaPolicies.Allocate(NumaPolicies.AreaContext, Heap.KernelHeapGlue.CurrentNode, new Order(0), mine, out pfn, out _)
                : PhysicalMemoryOwner.Allocate(new Order(0), mine, out pfn);
            if (got == MemoryStatus.QuotaExceeded || got == MemoryStatus.OwnerRefused)
                return got == MemoryStatus.QuotaExceeded ? VmAreaStatus.QuotaExceeded : VmAreaStatus.NotPermitted;
            if (got != MemoryStatus.Ok)
                return VmAreaStatus.OutOfMemory;
            ulong* frame = (ulong*)(pfn.Value << 12);
            for (int i = 0; i < 512; i++)
                frame[i] = 0;
            ulong state = PhysicalMemoryOwner.Lock();
            s_reverse[pfn.Value - s_basePfn] = ((uint)(id + 1) << AreaShift) | (uint)index;
            *pte = (pfn.Value << 12) | Present | Writable;
            PhysicalMemoryOwner.Unlock(state);
            return VmAreaStatus.Ok;
        }

        /// <summary>An area of <paramref name="pages"/> pages owned by vmarea, every page backed (<see cref="Reserve"/>, then <see cref="Populate"/> each); all or nothing.</summary>
        internal static VmAreaStatus Allocate(ulong pages, in AllocRequest request, out int id)
            => Allocate(pages, request, Owners.VmArea, out id);

        /// <summary>An area of <paramref name="pages"/> pages whose frames <paramref name="owner"/> holds (<see cref="Reserve"/>), every page backed; all or nothing.</summary>
        internal static VmAreaStatus Allocate(ulong pages, in AllocRequest request, byte owner, out int id)
        {
            VmAreaStatus status = Reserve(pages, owner, out id);
            if (status != VmAreaStatus.Ok)
                return status;
            for (ulong i = 0; i < pages; i++)
            {
                status = Populate(id, i, request);
                if (status != VmAreaStatus.Ok)
                {
                    Free(id);
                    id = -1;
                    return status;
                }
            }
            return VmAreaStatus.Ok;
        }

        /// <summary>
        /// Gives area <paramref name="id"/> back: every entry is taken away (under the pools' lock, so the
        /// mover no longer sees the frames), the translations are shot down on every CPU, then every frame
        /// and page table goes back to the pools. Refused: NoSuchArea. The frames given back in <paramref name="frames"/>.
        /// </summary>
        internal static VmAreaStatus Free(int id, out ulong frames)
        {
            frames = 0;
            if (PagesOf(id) == 0)
                return VmAreaStatus.NoSuchArea;
            ulong pages = s_areas[id].Pages;
            byte owner = s_areas[id].Owner;
            ulong* pd = (ulong*)(s_pdpt[id] & AddressMask);
            for (ulong i = 0; i < pages; i++)
            {
                ulong state = PhysicalMemoryOwner.Lock();
                ulong* pte = Pte(id, i);
                if ((*pte & Present) != 0)
                {
                    s_reverse[(*pte >> 12) - s_basePfn] = 0;
                    *pte &= ~Present;
                }
                PhysicalMemoryOwner.Unlock(state);
            }
            ulong locked = PhysicalMemoryOwner.Lock();
            s_pdpt[id] = 0;
            s_areas[id].Live = false;
            PhysicalMemoryOwner.Unlock(locked);
            TlbShootdown.Invalidate(TlbShootdown.Everything);
            for (ulong i = 0; i < pages; i++)
            {
                ulong* pt = (ulong*)(pd[i >> 9] & AddressMask);
                ulong entry = pt[i & 511];
                if ((entry & AddressMask) != 0)
                {
                    PhysicalMemoryOwner.Free(new Pfn((entry & AddressMask) >> 12), new Order(0), owner);
                    frames++;
                }
            }
            FreeTables(pd);
            return VmAreaStatus.Ok;
        }

        internal static VmAreaStatus Free(int id) => Free(id, out _);

        /// <summary>The frame behind page <paramref name="index"/> of a live area (read under the pools' lock); Pfn.None when not backed.</summary>
        internal static Pfn FrameOf(int id, ulong index)
        {
            if (PagesOf(id) == 0 || index >= s_areas[id].Pages)
                return Pfn.None;
            ulong state = PhysicalMemoryOwner.Lock();
            ulong entry = *Pte(id, index);
            PhysicalMemoryOwner.Unlock(state);
            return (entry & Present) != 0 ? new Pfn((entry & AddressMask) >> 12) : Pfn.None;
        }

        /// <summary>What <see cref="Migrate"/> did.</summary>
        internal struct MigrationResult
        {
            /// <summary>Pages moved to the node, pages already there, pages that could not move (no frame on the node).</summary>
            public ulong Moved, AlreadyThere, Failed;
            /// <summary>The first page that could not move (valid when Failed is not 0).</summary>
            public ulong FirstFailed;
        }

        /// <summary>
        /// Moves every backed page of area <paramref name="id"/> to <paramref name="node"/>'s pools, page by
        /// page: a frame on the node by a bind request (counted in numastat), then under the pools' lock
        /// the entry taken away, the translation shot down, the frame copied and the copy mapped, then the
        /// old frame given back. A page for which the node has no frame stays where it is (counted in
        /// Failed; nothing counted in numastat). Refused: NoSuchArea; InvalidArgument (a node outside the
        /// topology or without memory), nothing changed.
        /// </summary>
        internal static VmAreaStatus Migrate(int id, int node, int cpuNode, out MigrationResult result)
            => Migrate(id, node, cpuNode, false, out result);

        /// <summary>
        /// <see cref="Migrate"/>; <paramref name="everyPage"/>: pages already on the node move too, each to a new
        /// frame there (`vareatouch`: moves while another CPU reads the area).
        /// </summary>
        internal static VmAreaStatus Migrate(int id, int node, int cpuNode, bool everyPage, out MigrationResult result)
        {
            result = default;
            if (PagesOf(id) == 0)
                return VmAreaStatus.NoSuchArea;
            AllocRequest request = AllocRequest.Any;
            byte owner = s_areas[id].Owner;
            request.Owner = owner;
            request.Mobility = MobilityClass.Movable;
            ulong pages = s_areas[id].Pages;
            for (ulong i = 0; i < pages; i++)
            {
                Pfn from = FrameOf(id, i);
                if (from == Pfn.None)
                    continue;
                if (!everyPage && PhysicalMemoryOwner.NodeOf(from) == node)
                {
                    result.AlreadyThere++;
                    continue;
                }
                MemoryStatus status = NumaPolicies.AllocateOnNode(node, cpuNode, new Order(0), request, out Pfn to);
                if (status == MemoryStatus.InvalidArgument)
                    return result.Moved == 0 && result.Failed == 0 ? VmAreaStatus.InvalidArgument : VmAreaStatus.Ok;
                if (status != MemoryStatus.Ok)
                {
                    if (result.Failed++ == 0)
                        result.FirstFailed = i;
                    continue;
                }
                ulong state = PhysicalMemoryOwner.Lock();
                // Compaction may have moved the page since it was read: move whatever backs it now.
                ulong* pte = Pte(id, i);
                from = new Pfn((*pte & AddressMask) >> 12);
                MoveLocked(id, i, pte, from, to);
                s_areas[id].MigrationMoves++;
                PhysicalMemoryOwner.Unlock(state);
                PhysicalMemoryOwner.Free(from, new Order(0), owner);
                result.Moved++;
            }
            return VmAreaStatus.Ok;
        }

        /// <summary>
        /// The consistency of every area with the pools (for <c>check</c>): each backed page's frame is
        /// owned by the area's owner and its reverse entry names the page; every reverse entry names a backed page
        /// that maps its frame. Null when consistent, else the broken invariant; the area and page in
        /// <paramref name="area"/>, <paramref name="page"/>. <paramref name="areas"/> and
        /// <paramref name="pages"/> count what was checked.
        /// </summary>
        internal static string Check(out int areas, out ulong pages, out int area, out ulong page)
        {
            areas = 0;
            pages = 0;
            area = -1;
            page = 0;
            if (s_areas == null)
                return null;
            string broken = null;
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            for (int id = 0; id < MaxAreas && broken == null; id++)
            {
                if (!s_areas[id].Live)
                    continue;
                areas++;
                for (ulong i = 0; i < s_areas[id].Pages && broken == null; i++)
                {
                    ulong entry = *Pte(id, i);
                    if ((entry & Present) == 0)
                        continue;
                    pages++;
                    ulong pfn = (entry & AddressMask) >> 12;
                    area = id;
                    page = i;
                    if (pfn < s_basePfn || pfn - s_basePfn >= s_frames)
                        broken = "a page maps a frame outside the pools' span";
                    else if (pm->OwnerOf(new Pfn(pfn)) != s_areas[id].Owner)
                        broken = "a page maps a frame its area's owner does not own";
                    else if (s_reverse[pfn - s_basePfn] != (((uint)(id + 1) << AreaShift) | (uint)i))
                        broken = "a page's frame has a reverse entry naming another page";
                }
            }
            for (ulong f = 0; f < s_frames && broken == null; f++)
            {
                uint e = s_reverse[f];
                if (e == 0)
                    continue;
                area = (int)(e >> AreaShift) - 1;
                page = e & IndexMask;
                if (!s_areas[area].Live || page >= s_areas[area].Pages || (*Pte(area, page) & AddressMask) != (s_basePfn + f) << 12)
                    broken = "a reverse entry names a page that does not map its frame";
            }
            PhysicalMemoryOwner.Unlock(state);
            return broken;
        }

        /// <summary>
        /// The move itself, under the pools' lock: the entry is taken away and shot down on every CPU
        /// (so no CPU writes the old frame during the copy), the frame copied, the copy mapped, the
        /// reverse map updated. <paramref name="to"/> is a frame the area's owner owns.
        /// </summary>
        private static void MoveLocked(int id, ulong index, ulong* pte, Pfn from, Pfn to)
        {
            ulong address = AddressOf(id) + index * PageSize;
            *pte = (from.Value << 12) | MigrationEntry;
            TlbShootdown.Invalidate(address);
            ulong* src = (ulong*)(from.Value << 12);
            ulong* dst = (ulong*)(to.Value << 12);
            for (int w = 0; w < 512; w++)
                dst[w] = src[w];
            s_reverse[from.Value - s_basePfn] = 0;
            s_reverse[to.Value - s_basePfn] = ((uint)(id + 1) << AreaShift) | (uint)index;
            *pte = (to.Value << 12) | Present | Writable;
            Cpu.InvalidatePage(address);
        }

        /// <summary>
        /// The page-fault handler's question (Platform/Traps.cs, any CPU, interrupts off): does the fault at
        /// <paramref name="address"/> hit an area page that is being moved? If so this waits until the mover
        /// (another CPU, under the pools' lock, which this CPU does not hold: the mover holds it) maps the
        /// copy, counts the wait and returns true: the faulting instruction is to be retried. Also true when
        /// the entry became present between the fault and the look (the move ended meanwhile). False for any
        /// other fault: outside the region, an area or page table that does not exist, an entry that is
        /// neither (a real fault: the handler reports it). Reads the page tables without a lock: an area's
        /// tables live as long as the area, and a CPU touching an area while the shell frees it is a bug the
        /// report then names. The mover's own CPU never faults on the page (it copies through the identity map).
        /// </summary>
        internal static bool WaitIfMigrating(ulong address)
        {
            if (address < RegionBase || address >= RegionBase + MaxAreas * SlotBytes || s_pdpt == null)
                return false;
            int id = (int)((address - RegionBase) / SlotBytes);
            ulong pdEntry = s_pdpt[id];
            if ((pdEntry & Present) == 0)
                return false;
            ulong index = (address - AddressOf(id)) / PageSize;
            ulong ptEntry = ((ulong*)(pdEntry & AddressMask))[index >> 9];
            if ((ptEntry & Present) == 0)
                return false;
            ulong* pte = (ulong*)(ptEntry & AddressMask) + (index & 511);
            // Plain reads of the entry: the loop calls out (Cpu.Pause) between them, so each is a new load,
            // as in Smp.WaitForWork; the mover writes the entry whole (one aligned 8-byte store).
            ulong entry = *pte;
            if ((entry & Present) == 0 && (entry & MigrationEntry) == 0)
                return false;
            while ((entry & Present) == 0 && (entry & MigrationEntry) != 0)
            {
                Cpu.Pause();
                entry = *pte;
            }
            if ((entry & Present) == 0)
                return false;
            int seen = System.Threading.Volatile.Read(ref s_migrationWaits);
            while (System.Threading.Interlocked.CompareExchange(ref s_migrationWaits, seen + 1, seen) != seen)
                seen = System.Threading.Volatile.Read(ref s_migrationWaits);
            Cpu.InvalidatePage(address);
            return true;
        }

        /// <summary>The mover's question: is this an area's frame (an order-0 block with a reverse entry)?</summary>
        private static bool CanMove(void* context, Pfn pfn, int order)
        {
            return order == 0 && pfn.Value >= s_basePfn && pfn.Value - s_basePfn < s_frames && s_reverse[pfn.Value - s_basePfn] != 0;
        }

        /// <summary>
        /// The mover: compaction's target frame (same pool) or pressure's (another pool the container may use,
        /// PhysicalMemory.MoveAboveGuarantees), already the area owner's, takes the page's place.
        /// </summary>
        private static bool Move(void* context, Pfn from, Pfn to, int order)
        {
            if (!CanMove(context, from, order) || to.Value < s_basePfn || to.Value - s_basePfn >= s_frames)
                return false;
            uint e = s_reverse[from.Value - s_basePfn];
            int id = (int)(e >> AreaShift) - 1;
            ulong index = e & IndexMask;
            ulong* pte = Pte(id, index);
            if ((*pte & AddressMask) != from.Value << 12)
                return false;
            MoveLocked(id, index, pte, from, to);
            // Compaction moves inside a pool; pressure moves to another (a read of two page blocks' pool bytes).
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            if (pm->PoolOf(from).Value == pm->PoolOf(to).Value)
                s_areas[id].CompactionMoves++;
            else
                s_areas[id].PressureMoves++;
            return true;
        }

        /// <summary>Page <paramref name="index"/>'s entry in area <paramref name="id"/>'s page tables (which exist while the area is live).</summary>
        private static ulong* Pte(int id, ulong index)
        {
            ulong* pd = (ulong*)(s_pdpt[id] & AddressMask);
            ulong* pt = (ulong*)(pd[index >> 9] & AddressMask);
            return pt + (index & 511);
        }

        /// <summary>
        /// The first area's set-up: the area table, the region's PDPT in PML4 slot 480, the reverse map,
        /// and the mover. False when the pools had no frame for one of them (what was taken is given back).
        /// </summary>
        private static bool SetUp()
        {
            if (s_pdpt != null)
                return true;
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            ulong basePfn = pm->BasePfn.Value;
            ulong frames = PhysicalMemoryOwner.GetTotals().SpanPages;
            ulong mapPages = (frames * 4 + PageSize - 1) / PageSize;
            AllocRequest request = AllocRequest.Any;
            request.Owner = Owners.VmArea;
            if (PhysicalMemoryOwner.AllocateRun(mapPages, request, out Pfn map) != MemoryStatus.Ok)
                return false;
            ulong table = NewTable();
            ulong pdpt = NewTable();
            if (table == 0 || pdpt == 0)
            {
                if (table != 0)
                    PhysicalMemoryOwner.Free(new Pfn(table >> 12), new Order(0), Owners.VmArea);
                if (pdpt != 0)
                    PhysicalMemoryOwner.Free(new Pfn(pdpt >> 12), new Order(0), Owners.VmArea);
                PhysicalMemoryOwner.FreeRun(map, mapPages, Owners.VmArea);
                return false;
            }
            uint* reverse = (uint*)(map.Value << 12);
            for (ulong i = 0; i < frames; i++)
                reverse[i] = 0;
            s_areas = (Area*)table;
            s_reverse = reverse;
            s_basePfn = basePfn;
            s_frames = frames;
            s_mapPages = mapPages;
            s_pdpt = (ulong*)pdpt;
            Cpu.Pml4()[Pml4Slot] = pdpt | Present | Writable;
            return MoverFor(Owners.VmArea);
        }

        /// <summary>Owners the area mover is registered for (bit per owner number): vmarea, and each container an area was made for.</summary>
        private static ulong s_moverOwners;

        /// <summary>Registers the area mover for <paramref name="owner"/> unless it is already; false when refused.</summary>
        private static bool MoverFor(byte owner)
        {
            if (((s_moverOwners >> owner) & 1) != 0)
                return true;
            FrameMover mover = default;
            mover.CanMove = &CanMove;
            mover.Move = &Move;
            if (PhysicalMemoryOwner.RegisterMover(owner, mover) != MemoryStatus.Ok)
                return false;
            s_moverOwners |= 1UL << owner;
            return true;
        }

        /// <summary>
        /// Before container <paramref name="owner"/> is destroyed (Containers.Destroy): every area made for it is
        /// freed (its frames through the container's frees: counted off it) and the mover forgotten for the owner
        /// number, which may be an ordinary owner afterwards. The frames given back.
        /// </summary>
        internal static ulong FreeOwnedBy(byte owner)
        {
            if (owner == Owners.VmArea || s_areas == null)
                return 0;
            ulong frames = 0;
            for (int id = 0; id < MaxAreas; id++)
            {
                if (OwnerOf(id) == owner && Free(id, out ulong f) == VmAreaStatus.Ok)
                    frames += f;
            }
            if (((s_moverOwners >> owner) & 1) != 0)
            {
                PhysicalMemoryOwner.UnregisterMover(owner);
                s_moverOwners &= ~(1UL << owner);
            }
            return frames;
        }

        /// <summary>The set-up's frames: the reverse map's run, the area table and the PDPT (0 before the first area).</summary>
        internal static ulong SetUpPages => s_pdpt == null ? 0 : s_mapPages + 2;

        /// <summary>A zeroed page-table page from the pools (owner vmarea, unmovable), its physical (= identity) address; 0 when none.</summary>
        private static ulong NewTable()
        {
            AllocRequest request = AllocRequest.Any;
            request.Owner = Owners.VmArea;
            request.Mobility = MobilityClass.Unmovable;
            if (PhysicalMemoryOwner.Allocate(new Order(0), request, out Pfn pfn) != MemoryStatus.Ok)
                return 0;
            ulong* page = (ulong*)(pfn.Value << 12);
            for (int i = 0; i < 512; i++)
                page[i] = 0;
            return pfn.Value << 12;
        }

        /// <summary>Gives back a page directory no CPU can reach any more and the page tables it lists.</summary>
        private static void FreeTables(ulong* pd)
        {
            for (int i = 0; i < 512; i++)
            {
                if ((pd[i] & Present) != 0)
                    PhysicalMemoryOwner.Free(new Pfn((pd[i] & AddressMask) >> 12), new Order(0), Owners.VmArea);
            }
            PhysicalMemoryOwner.Free(new Pfn((ulong)pd >> 12), new Order(0), Owners.VmArea);
        }
    }
}
