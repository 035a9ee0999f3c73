using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;

namespace PoolKernel.Boot.Layout
{
    /// <summary>
    /// Available RAM that the pools do not get, by name: the firmware's low megabyte, the kernel
    /// image, the multiboot information, boot modules, the pools' own metadata, and the command
    /// line's mem= and memmap= ranges. Usable memory = pool memory + these. Ranges are page-aligned
    /// outward and kept disjoint: a new range gets an entry for each part no earlier entry covers, so
    /// earlier ranges keep their names and no part of the new one is lost.
    /// Fixed-size and split in two shares: the kernel's own entries (<see cref="TryAddKernel"/>) have
    /// a share sized for the most the kernel adds; the command line's (<see cref="TryAddUser"/>) have
    /// a budget of their own. A range whose entries do not fit is refused whole, the table unchanged.
    /// The caller owns the storage; a zeroed table is empty.
    /// </summary>
    public unsafe struct ReservationTable
    {
        /// <summary>
        /// Before the command line: the SMP trampoline page, low firmware, kernel image, multiboot
        /// information, command line, loader name (6) and two per boot module (its range and its name string), each counted twice
        /// because a range may be split once around an earlier one; after it, the pool metadata (1),
        /// carved from RAM no entry covers, so exactly one entry.
        /// </summary>
        public const int KernelEntries = 2 * (6 + 2 * BootInfo.MaxModules) + 1;

        /// <summary>
        /// mem= (one entry) and every memmap= token (one entry each when the ranges are disjoint from
        /// everything else), plus 7 for ranges split around earlier entries. Overlapping memmap= ranges
        /// that split into more are refused once the budget is spent.
        /// </summary>
        public const int UserEntries = 1 + BootOptions.MaxReservedRanges + 7;

        public const int Capacity = KernelEntries + UserEntries;

        private const ulong PageMask = 0xFFF;

        /// <summary>One reserved range.</summary>
        public struct Entry
        {
            public ReservationName Kind;
            public ulong Base;
            public ulong End;
            /// <summary>Bytes of available RAM inside the range (what the pools lost to it), after <see cref="Account"/>.</summary>
            public ulong AvailableBytes;

            public string Name => Describe(Kind);
        }

        private fixed ulong _base[Capacity];
        private fixed ulong _end[Capacity];
        private fixed ulong _available[Capacity];
        private fixed byte _kind[Capacity];
        private int _count;
        private int _userCount;

        public int Count => _count;

        /// <summary>Entries the command line's ranges hold (at most <see cref="UserEntries"/>).</summary>
        public int UserCount => _userCount;

        /// <summary>Entry <paramref name="i"/>; an empty entry outside [0, Count).</summary>
        public Entry Get(int i)
        {
            Entry e = default;
            if ((uint)i >= (uint)_count)
                return e;
            e.Kind = (ReservationName)_kind[i];
            e.Base = _base[i];
            e.End = _end[i];
            e.AvailableBytes = _available[i];
            return e;
        }

        /// <summary>
        /// A kernel reservation of [start, end) rounded out to pages: false, with nothing added, when
        /// its uncovered parts need more entries than the table has left (<paramref name="needed"/>
        /// says how many). The kernel treats false as a wrong <see cref="KernelEntries"/> and stops.
        /// </summary>
        public bool TryAddKernel(ReservationName name, ulong start, ulong end, out int needed)
        {
            RoundOut(ref start, ref end);
            needed = CountUncovered(start, end);
            if (_count + needed > Capacity)
                return false;
            AddUncovered(name, start, end);
            return true;
        }

        /// <summary>
        /// A command-line reservation, as <see cref="TryAddKernel"/> but within the command line's
        /// budget: false, with nothing added, when its uncovered parts need more entries than are
        /// left of <see cref="UserEntries"/>.
        /// </summary>
        public bool TryAddUser(ReservationName name, ulong start, ulong end, out int needed)
        {
            RoundOut(ref start, ref end);
            needed = CountUncovered(start, end);
            if (_userCount + needed > UserEntries || _count + needed > Capacity)
                return false;
            AddUncovered(name, start, end);
            _userCount += needed;
            return true;
        }

        /// <summary>
        /// The next part of [cursor, end) that no entry covers, in address order: true with the part
        /// in [partStart, partEnd) and <paramref name="cursor"/> moved to its end; false when the rest
        /// of the range is covered. The one interval subtraction: reservations use it to add only
        /// what is new, the pool map builder to hand the pools only what is not reserved.
        /// </summary>
        public bool NextUncovered(ref ulong cursor, ulong end, out ulong partStart, out ulong partEnd)
        {
            partStart = 0;
            partEnd = 0;
            ulong at = cursor;
            bool moved = true;
            while (moved && at < end)
            {
                moved = false;
                for (int i = 0; i < _count; i++)
                {
                    if (_base[i] <= at && at < _end[i])
                    {
                        at = _end[i];
                        moved = true;
                    }
                }
            }
            if (at >= end)
            {
                cursor = end;
                return false;
            }
            ulong stop = end;
            for (int i = 0; i < _count; i++)
            {
                if (_base[i] > at && _base[i] < stop)
                    stop = _base[i];
            }
            partStart = at;
            partEnd = stop;
            cursor = stop;
            return true;
        }

        /// <summary>How many entries a reservation of [start, end) (already page-aligned) would add.</summary>
        public int CountUncovered(ulong start, ulong end)
        {
            int count = 0;
            ulong cursor = start;
            while (NextUncovered(ref cursor, end, out _, out _))
                count++;
            return count;
        }

        /// <summary>Sets every entry's <see cref="Entry.AvailableBytes"/> from the map: usable RAM = pool memory + these.</summary>
        public void Account(SanitizedMemoryMap* map)
        {
            for (int i = 0; i < _count; i++)
                _available[i] = map->AvailableBytesIn(_base[i], _end[i]);
        }

        /// <summary>Sum of <see cref="Entry.AvailableBytes"/> over all entries.</summary>
        public ulong TotalAvailableBytes
        {
            get
            {
                ulong total = 0;
                for (int i = 0; i < _count; i++)
                    total += _available[i];
                return total;
            }
        }

        /// <summary>The name meminfo and dump print for a reservation.</summary>
        public static string Describe(ReservationName name) => name switch
        {
            ReservationName.LowFirmware => "low firmware (first MiB)",
            ReservationName.KernelImage => "kernel image + boot arena",
            ReservationName.MultibootInformation => "multiboot information",
            ReservationName.KernelCommandLine => "kernel command line",
            ReservationName.BootLoaderName => "boot loader name",
            ReservationName.BootModule => "boot module",
            ReservationName.BootModuleName => "boot module name",
            ReservationName.PoolMetadata => "pool metadata",
            ReservationName.MemCap => "mem= cap",
            ReservationName.MemmapRange => "memmap= range",
            ReservationName.SmpTrampoline => "SMP trampoline",
            _ => "reservation",
        };

        /// <summary>Start down to a page; end up to a page, an end within the last page of the address space staying at its top page.</summary>
        private static void RoundOut(ref ulong start, ref ulong end)
        {
            start &= ~PageMask;
            end = end > ~PageMask ? ~PageMask : (end + PageMask) & ~PageMask;
        }

        /// <summary>Contract: the caller checked with <see cref="CountUncovered"/> that the entries fit.</summary>
        private void AddUncovered(ReservationName name, ulong start, ulong end)
        {
            ulong cursor = start;
            while (NextUncovered(ref cursor, end, out ulong partStart, out ulong partEnd))
            {
                _kind[_count] = (byte)name;
                _base[_count] = partStart;
                _end[_count] = partEnd;
                _available[_count] = 0;
                _count++;
            }
        }
    }
}
