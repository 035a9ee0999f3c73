namespace PoolKernel.Drivers.BlockCache
{
    /// <summary>
    /// The bookkeeping of the block-device sector cache (docs/antifrag.md, "The sector cache"): which
    /// page of which disk each cached frame holds, whether it is dirty, and how recently it was used.
    /// Pure (host-tested, <c>SectorCacheTableTests</c>): it never touches a frame or a disk; the kernel
    /// layer (<c>SectorCache</c>, kernel-only) allocates the frames, moves the data and calls the disks.
    ///
    /// A cached page is <see cref="SectorsPerPage"/> consecutive sectors starting at a multiple of it
    /// (page p of a disk is sectors 8p..8p+7), one 4 KiB frame. Slots are looked up by a linear scan:
    /// the table is small (<c>SectorCache.Capacity</c> slots) and the scan is cheap next to a
    /// disk request. Least recently used is a use stamp a slot, the smallest losing.
    ///
    /// Not thread-safe: its user serialises every call (the kernel layer's busy flag).
    /// </summary>
    internal sealed class SectorCacheTable
    {
        /// <summary>Sectors of 512 bytes in one 4 KiB frame.</summary>
        public const int SectorsPerPage = 8;

        private readonly int[] _disk;
        private readonly ulong[] _page;
        private readonly ulong[] _frame;
        private readonly ulong[] _lastUse;
        private readonly bool[] _used;
        private readonly bool[] _dirty;
        private ulong _clock;

        /// <summary>A table of <paramref name="capacity"/> slots (at least 1), all free.</summary>
        public SectorCacheTable(int capacity)
        {
            if (capacity < 1)
                capacity = 1;
            _disk = new int[capacity];
            _page = new ulong[capacity];
            _frame = new ulong[capacity];
            _lastUse = new ulong[capacity];
            _used = new bool[capacity];
            _dirty = new bool[capacity];
        }

        public int Capacity => _used.Length;

        /// <summary>Slots in use (cached pages).</summary>
        public int Count { get; private set; }

        /// <summary>Cached pages written since they were read or last written back.</summary>
        public int DirtyCount { get; private set; }

        /// <summary>Lookups that found their page (<see cref="Lookup"/>).</summary>
        public ulong Hits { get; private set; }

        /// <summary>Lookups that did not.</summary>
        public ulong Misses { get; private set; }

        /// <summary>Pages removed (<see cref="Remove"/>), whatever the reason.</summary>
        public ulong Dropped { get; private set; }

        /// <summary>Dirty pages made clean by a write-back (<see cref="MarkClean"/>).</summary>
        public ulong WrittenBack { get; private set; }

        public bool IsUsed(int slot) => (uint)slot < (uint)_used.Length && _used[slot];
        public bool IsDirty(int slot) => IsUsed(slot) && _dirty[slot];
        public int DiskOf(int slot) => _disk[slot];
        public ulong PageOf(int slot) => _page[slot];
        public ulong FrameOf(int slot) => _frame[slot];

        /// <summary>The slot holding page <paramref name="page"/> of disk <paramref name="disk"/>, or -1; counts nothing.</summary>
        public int Find(int disk, ulong page)
        {
            for (int s = 0; s < _used.Length; s++)
            {
                if (_used[s] && _disk[s] == disk && _page[s] == page)
                    return s;
            }
            return -1;
        }

        /// <summary><see cref="Find"/> for a use: a hit makes the slot the most recently used; counts a hit or a miss.</summary>
        public int Lookup(int disk, ulong page)
        {
            int s = Find(disk, page);
            if (s < 0)
            {
                Misses++;
                return -1;
            }
            Hits++;
            _lastUse[s] = ++_clock;
            return s;
        }

        /// <summary>A free slot, or -1 when every slot is in use.</summary>
        public int FreeSlot()
        {
            for (int s = 0; s < _used.Length; s++)
            {
                if (!_used[s])
                    return s;
            }
            return -1;
        }

        /// <summary>
        /// Records that <paramref name="frame"/> now holds page <paramref name="page"/> of <paramref name="disk"/>,
        /// clean and most recently used. Refused (false, nothing changed) when the slot is not free or the
        /// page is cached already: a page has one slot.
        /// </summary>
        public bool Insert(int slot, int disk, ulong page, ulong frame)
        {
            if ((uint)slot >= (uint)_used.Length || _used[slot] || Find(disk, page) >= 0)
                return false;
            _used[slot] = true;
            _disk[slot] = disk;
            _page[slot] = page;
            _frame[slot] = frame;
            _dirty[slot] = false;
            _lastUse[slot] = ++_clock;
            Count++;
            return true;
        }

        /// <summary>The page was written in the cache and not yet on the disk. False for a free slot.</summary>
        public bool MarkDirty(int slot)
        {
            if (!IsUsed(slot))
                return false;
            if (!_dirty[slot])
            {
                _dirty[slot] = true;
                DirtyCount++;
            }
            return true;
        }

        /// <summary>The page's contents reached the disk (a write-back). False for a slot that is not dirty.</summary>
        public bool MarkClean(int slot)
        {
            if (!IsDirty(slot))
                return false;
            _dirty[slot] = false;
            DirtyCount--;
            WrittenBack++;
            return true;
        }

        /// <summary>
        /// The page's unwritten changes are given up (its disk is gone or refused the write-back): the slot
        /// becomes clean without counting a write-back. False for a slot that is not dirty.
        /// </summary>
        public bool DiscardChanges(int slot)
        {
            if (!IsDirty(slot))
                return false;
            _dirty[slot] = false;
            DirtyCount--;
            return true;
        }

        /// <summary>
        /// Frees a clean slot and returns its frame (the caller gives the frame back); a dirty slot is
        /// refused (0, nothing changed): its contents must reach the disk first (<see cref="MarkClean"/>).
        /// </summary>
        public ulong Remove(int slot)
        {
            if (!IsUsed(slot) || _dirty[slot])
                return 0;
            _used[slot] = false;
            Count--;
            Dropped++;
            return _frame[slot];
        }

        /// <summary>
        /// The least recently used slot in use (the next to drop), or -1 when the table is empty.
        /// <paramref name="cleanOnly"/>: among the clean slots only (a reclaimer that cannot write back).
        /// </summary>
        public int Oldest(bool cleanOnly)
        {
            int best = -1;
            for (int s = 0; s < _used.Length; s++)
            {
                if (!_used[s] || (cleanOnly && _dirty[s]))
                    continue;
                if (best < 0 || _lastUse[s] < _lastUse[best])
                    best = s;
            }
            return best;
        }

        /// <summary>The first dirty slot at or after <paramref name="from"/>, or -1.</summary>
        public int NextDirty(int from)
        {
            for (int s = from < 0 ? 0 : from; s < _used.Length; s++)
            {
                if (_used[s] && _dirty[s])
                    return s;
            }
            return -1;
        }

        /// <summary>
        /// The table's own invariants: the counts match the slots, no page is cached twice, no frame
        /// backs two slots, no slot in use has frame 0. Null when they hold, else the broken one (the
        /// first offending slot in <paramref name="slot"/>).
        /// </summary>
        public string Check(out int slot)
        {
            slot = -1;
            int used = 0, dirty = 0;
            for (int s = 0; s < _used.Length; s++)
            {
                if (!_used[s])
                    continue;
                slot = s;
                used++;
                if (_dirty[s])
                    dirty++;
                if (_frame[s] == 0)
                    return "a cached page has no frame";
                for (int t = s + 1; t < _used.Length; t++)
                {
                    if (!_used[t])
                        continue;
                    if (_disk[t] == _disk[s] && _page[t] == _page[s])
                        return "a page is cached in two slots";
                    if (_frame[t] == _frame[s])
                        return "a frame backs two cached pages";
                }
            }
            slot = -1;
            if (used != Count)
                return "the count of cached pages disagrees with the slots";
            if (dirty != DirtyCount)
                return "the count of dirty pages disagrees with the slots";
            return null;
        }
    }
}
