using System.Threading;
using PoolKernel.Memory;
using PoolKernel.Mm;

namespace PoolKernel.Drivers.BlockCache
{
    /// <summary>
    /// The kernel's block-device sector cache (docs/antifrag.md, "The sector cache"): a write-back cache
    /// of 4 KiB pages of any disk (<see cref="BlockDevice"/>: virtio-blk, ATA, floppy alike), between the
    /// disks and the callers that go through it (the shell's <c>bcache read/write</c>). Its frames are
    /// order-0 blocks of the <b>reclaimable</b> class owned by <see cref="Owners.BlockCache"/>, reached
    /// through the identity map. It gives them back under pressure: a <see cref="MemoryShortage"/>
    /// handler, called when an allocation fails (before the failure is reported; compaction's own
    /// failures go through the same owner), drops the least recently used pages, writing a dirty page
    /// back before dropping it; <c>compact</c> and <c>bcache drop</c> drop everything.
    ///
    /// Serialisation: every disk request the shell makes, through the cache or not
    /// (<see cref="ReadDirect"/>, <see cref="WriteDirect"/>), and every change of the table, happen while
    /// this CPU holds <see cref="s_busy"/>. The shell takes it by waiting (only driver unload can hold
    /// it meanwhile); the shortage handler only tries it and gives nothing back when it is held (the
    /// shortage may come from the cache's own allocation, or interrupt a disk request on this CPU), so
    /// a write-back never overlaps another request to a disk. The disks' drivers poll with bounded
    /// waits and allocate nothing during a request, so the handler may write back with the heap lock held.
    /// </summary>
    internal static unsafe class SectorCache
    {
        /// <summary>Slots of the table: at most 2 MiB cached (a lookup scans them; small next to a disk request).</summary>
        internal const int Capacity = 512;

        private const int PageBytes = SectorCacheTable.SectorsPerPage * BlockDevice.SectorSize;

        /// <summary>Created by the first use (the shell, outside any pools lock); guarded by <see cref="s_busy"/>.</summary>
        private static SectorCacheTable s_table;

        /// <summary>The disks the table's disk numbers stand for (index = number); guarded by <see cref="s_busy"/>.</summary>
        private static BlockDevice[] s_disks;

        /// <summary>1 while a CPU uses the table or a disk (see the class comment).</summary>
        private static int s_busy;

        /// <summary>The shortage handler's slot, -1 before the first use.</summary>
        private static int s_shortageSlot = -1;

        /// <summary>Dirty pages discarded because a disk was unloaded or refused their write-back.</summary>
        private static ulong s_lost;

        private static void Enter()
        {
            while (Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
                Platform.Clock.Pause();
        }

        private static void Leave() => Volatile.Write(ref s_busy, 0);

        /// <summary>Creates the table and registers the shortage handler; under <see cref="s_busy"/>.</summary>
        private static void EnsureCreatedLocked()
        {
            if (s_table != null)
                return;
            s_table = new SectorCacheTable(Capacity);
            s_disks = new BlockDevice[8];
            s_shortageSlot = MemoryShortage.Register(&OnShortage);
        }

        /// <summary>The table's number for <paramref name="disk"/>, given one at its first use; -1 when every number is taken.</summary>
        private static int DiskNumberLocked(BlockDevice disk)
        {
            int free = -1;
            for (int i = 0; i < s_disks.Length; i++)
            {
                if (s_disks[i] == disk)
                    return i;
                if (s_disks[i] == null && free < 0)
                    free = i;
            }
            if (free >= 0)
                s_disks[free] = disk;
            return free;
        }

        /// <summary>Sectors of page <paramref name="page"/> that are on the disk (the last page of a disk may be short).</summary>
        private static uint SectorsIn(BlockDevice disk, ulong page)
        {
            ulong first = page * SectorCacheTable.SectorsPerPage;
            ulong left = disk.SectorCount - first;
            return left >= SectorCacheTable.SectorsPerPage ? SectorCacheTable.SectorsPerPage : (uint)left;
        }

        private static byte* Address(ulong frame) => (byte*)(frame << 12);

        /// <summary>Writes a dirty slot's page to its disk; false when the disk refused (the slot stays dirty).</summary>
        private static bool WriteBackLocked(int slot)
        {
            BlockDevice disk = s_disks[s_table.DiskOf(slot)];
            ulong page = s_table.PageOf(slot);
            if (disk == null || !disk.Write(page * SectorCacheTable.SectorsPerPage, SectorsIn(disk, page), Address(s_table.FrameOf(slot))))
                return false;
            s_table.MarkClean(slot);
            return true;
        }

        /// <summary>Removes a clean slot and gives its frame back to the pools.</summary>
        private static void DropLocked(int slot)
        {
            ulong frame = s_table.Remove(slot);
            if (frame != 0)
                PhysicalMemoryOwner.Free(new Pfn(frame), new Order(0), Owners.BlockCache);
        }

        /// <summary>
        /// Drops least recently used pages until <paramref name="pages"/> are given back or none is left
        /// (dirty ones written back first; <paramref name="writeBack"/> false: clean ones only). Stops at
        /// a write-back the disk refuses (the page stays, dirty). Returns the frames given back.
        /// </summary>
        private static ulong ShrinkLocked(ulong pages, bool writeBack, out ulong written)
        {
            written = 0;
            ulong freed = 0;
            while (freed < pages)
            {
                int slot = s_table.Oldest(!writeBack);
                if (slot < 0)
                    break;
                if (s_table.IsDirty(slot))
                {
                    if (!WriteBackLocked(slot))
                        break;
                    written++;
                }
                DropLocked(slot);
                freed++;
            }
            return freed;
        }

        /// <summary>
        /// A frame for a new page: a reclaimable order-0 block of the pools or, when they have none (the
        /// shortage handler cannot help: this CPU holds the cache), the least recently used page's frame
        /// (written back first if dirty). 0 when neither exists.
        /// </summary>
        private static ulong NewFrameLocked()
        {
            AllocRequest request = AllocRequest.Any;
            request.Owner = Owners.BlockCache;
            request.Mobility = MobilityClass.Reclaimable;
            if (s_table.FreeSlot() >= 0 && PhysicalMemoryOwner.Allocate(new Order(0), request, out Pfn pfn) == MemoryStatus.Ok)
                return pfn.Value;
            int victim = s_table.Oldest(false);
            if (victim < 0 || (s_table.IsDirty(victim) && !WriteBackLocked(victim)))
                return 0;
            return s_table.Remove(victim);
        }

        /// <summary>
        /// The slot of page <paramref name="page"/> of the disk, cached if it was not; <paramref name="fill"/>
        /// false: the caller overwrites the whole page, so a miss reads nothing. -1 when no frame could be had
        /// or the disk failed the read (nothing cached then).
        /// </summary>
        private static int PageLocked(BlockDevice disk, int number, ulong page, bool fill, ref uint hits, ref uint misses)
        {
            int slot = s_table.Lookup(number, page);
            if (slot >= 0)
            {
                hits++;
                return slot;
            }
            misses++;
            ulong frame = NewFrameLocked();
            if (frame == 0)
                return -1;
            byte* data = Address(frame);
            uint sectors = SectorsIn(disk, page);
            for (uint i = sectors * BlockDevice.SectorSize; i < PageBytes; i++)
                data[i] = 0;
            if (fill && !disk.Read(page * SectorCacheTable.SectorsPerPage, sectors, data))
            {
                PhysicalMemoryOwner.Free(new Pfn(frame), new Order(0), Owners.BlockCache);
                return -1;
            }
            slot = s_table.FreeSlot();
            s_table.Insert(slot, number, page, frame);
            return slot;
        }

        /// <summary>
        /// Reads <paramref name="count"/> sectors at <paramref name="lba"/> through the cache: each page
        /// touched is found in the cache or read whole from the disk and kept. False (nothing copied to
        /// the caller beyond what was done) when the range is off the disk, no frame can be had, or the disk fails.
        /// </summary>
        internal static bool Read(BlockDevice disk, ulong lba, uint count, byte* destination, out uint hits, out uint misses)
            => Transfer(disk, lba, count, destination, false, out hits, out misses);

        /// <summary>
        /// Writes <paramref name="count"/> sectors at <paramref name="lba"/> into the cache (write-back: the
        /// pages are dirty until dropped, synced or written back under pressure); a page written only in
        /// part is read from the disk first. False as for <see cref="Read"/>.
        /// </summary>
        internal static bool Write(BlockDevice disk, ulong lba, uint count, byte* source, out uint hits, out uint misses)
            => Transfer(disk, lba, count, source, true, out hits, out misses);

        private static bool Transfer(BlockDevice disk, ulong lba, uint count, byte* buffer, bool write, out uint hits, out uint misses)
        {
            hits = 0;
            misses = 0;
            if (count == 0 || lba >= disk.SectorCount || count > disk.SectorCount - lba)
                return false;
            Enter();
            EnsureCreatedLocked();
            int number = DiskNumberLocked(disk);
            bool ok = number >= 0;
            ulong sector = lba, end = lba + count;
            while (ok && sector < end)
            {
                ulong page = sector / SectorCacheTable.SectorsPerPage;
                ulong pageStart = page * SectorCacheTable.SectorsPerPage;
                ulong upto = pageStart + SectorCacheTable.SectorsPerPage < end ? pageStart + SectorCacheTable.SectorsPerPage : end;
                bool whole = sector == pageStart && upto - pageStart == SectorsIn(disk, page);
                int slot = PageLocked(disk, number, page, !(write && whole), ref hits, ref misses);
                if (slot < 0)
                {
                    ok = false;
                    break;
                }
                byte* cached = Address(s_table.FrameOf(slot)) + (sector - pageStart) * BlockDevice.SectorSize;
                byte* user = buffer + (sector - lba) * BlockDevice.SectorSize;
                ulong bytes = (upto - sector) * BlockDevice.SectorSize;
                for (ulong i = 0; i < bytes; i++)
                {
                    if (write)
                        cached[i] = user[i];
                    else
                        user[i] = cached[i];
                }
                if (write)
                    s_table.MarkDirty(slot);
                sector = upto;
            }
            Leave();
            return ok;
        }

        /// <summary>
        /// A read straight from the disk (the shell's <c>read</c>): the disk's contents, not the cache's
        /// (a dirty cached page is newer); serialised with the cache's requests.
        /// </summary>
        internal static bool ReadDirect(BlockDevice disk, ulong lba, uint count, byte* destination)
        {
            Enter();
            bool ok = disk.Read(lba, count, destination);
            Leave();
            return ok;
        }

        /// <summary>
        /// A write straight to the disk (the shell's <c>write</c>); the sectors written are copied into any
        /// cached page holding them too, so the cache never serves older data than the disk holds.
        /// </summary>
        internal static bool WriteDirect(BlockDevice disk, ulong lba, uint count, byte* source)
        {
            Enter();
            bool ok = disk.Write(lba, count, source);
            if (ok && s_table != null)
            {
                int number = -1;
                for (int i = 0; i < s_disks.Length; i++)
                {
                    if (s_disks[i] == disk)
                        number = i;
                }
                for (ulong sector = lba; number >= 0 && sector < lba + count; sector++)
                {
                    int slot = s_table.Find(number, sector / SectorCacheTable.SectorsPerPage);
                    if (slot < 0)
                        continue;
                    byte* cached = Address(s_table.FrameOf(slot)) + (sector % SectorCacheTable.SectorsPerPage) * BlockDevice.SectorSize;
                    byte* user = source + (sector - lba) * BlockDevice.SectorSize;
                    for (int b = 0; b < BlockDevice.SectorSize; b++)
                        cached[b] = user[b];
                }
            }
            Leave();
            return ok;
        }

        /// <summary>
        /// The <see cref="MemoryShortage"/> handler: drops least recently used pages (writing dirty ones back)
        /// until <paramref name="pages"/> frames are given back or the cache is empty; nothing when another
        /// user holds the cache. Returns the frames given back.
        /// </summary>
        private static ulong OnShortage(ulong pages)
        {
            if (Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
                return 0;
            ulong freed = s_table == null ? 0 : ShrinkLocked(pages, true, out _);
            Leave();
            return freed;
        }

        /// <summary>Writes every dirty page back and drops every page (<c>bcache drop</c>, <c>compact</c>); the pages dropped.</summary>
        internal static ulong DropAll(out ulong written)
        {
            written = 0;
            Enter();
            ulong freed = s_table == null ? 0 : ShrinkLocked(ulong.MaxValue, true, out written);
            Leave();
            return freed;
        }

        /// <summary>Writes every dirty page back, keeping the pages (<c>bcache sync</c>); the pages written, false at the first refusal.</summary>
        internal static bool Sync(out ulong written)
        {
            written = 0;
            Enter();
            bool ok = true;
            for (int slot = s_table == null ? -1 : s_table.NextDirty(0); slot >= 0; slot = s_table.NextDirty(slot + 1))
            {
                if (!WriteBackLocked(slot))
                {
                    ok = false;
                    break;
                }
                written++;
            }
            Leave();
            return ok;
        }

        /// <summary>
        /// Before a driver unloads (<see cref="DriverManager.Unload"/>): every page written back and dropped,
        /// the disk numbers forgotten; a dirty page whose write-back fails is discarded and counted lost.
        /// Returns holding the cache, so nothing reaches a disk until <see cref="EndUnload"/>.
        /// </summary>
        internal static void BeginUnload()
        {
            Enter();
            if (s_table == null)
                return;
            ShrinkLocked(ulong.MaxValue, true, out _);
            for (int slot = s_table.Oldest(false); slot >= 0; slot = s_table.Oldest(false))
            {
                if (s_table.DiscardChanges(slot))
                    s_lost++;
                DropLocked(slot);
            }
            for (int i = 0; i < s_disks.Length; i++)
                s_disks[i] = null;
        }

        /// <summary>Ends what <see cref="BeginUnload"/> began.</summary>
        internal static void EndUnload() => Leave();

        /// <summary>What <c>bcache</c> prints: the table's counts, taken under the cache.</summary>
        internal struct Stats
        {
            public int Pages;
            public int Dirty;
            public ulong Hits;
            public ulong Misses;
            public ulong Dropped;
            public ulong WrittenBack;
            public ulong Lost;
            /// <summary>Frames of cached pages in page blocks of the reclaimable class (the rest sit in page blocks restyled by a steal).</summary>
            public ulong InReclaimableBlocks;
        }

        /// <summary>
        /// The counts, and the cache's consistency with the pools (for <c>bcache</c> and <c>check</c>): the
        /// table's own invariants, and every cached page's frame a block owned by bcache. Null
        /// when consistent, else the broken invariant (the slot in <paramref name="slot"/>).
        /// </summary>
        internal static string Check(out Stats stats, out int slot)
        {
            stats = default;
            slot = -1;
            Enter();
            if (s_table == null)
            {
                Leave();
                return null;
            }
            string broken = s_table.Check(out slot);
            stats.Pages = s_table.Count;
            stats.Dirty = s_table.DirtyCount;
            stats.Hits = s_table.Hits;
            stats.Misses = s_table.Misses;
            stats.Dropped = s_table.Dropped;
            stats.WrittenBack = s_table.WrittenBack;
            stats.Lost = s_lost;
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            ulong basePfn = pm->BasePfn.Value;
            for (int s = 0; s < s_table.Capacity && broken == null; s++)
            {
                if (!s_table.IsUsed(s))
                    continue;
                ulong frame = s_table.FrameOf(s);
                slot = s;
                if (frame < basePfn || pm->OwnerOf(new Pfn(frame)) != Owners.BlockCache)
                    broken = "a cached page's frame is not a block bcache owns";
                else if (pm->GetPageblock((frame - basePfn) >> pm->PageblockOrder, out PageblockUse use) == MemoryStatus.Ok
                    && use.Mobility == MobilityClass.Reclaimable)
                    stats.InReclaimableBlocks++;
            }
            if (broken == null)
                slot = -1;
            PhysicalMemoryOwner.Unlock(state);
            Leave();
            return broken;
        }
    }
}
