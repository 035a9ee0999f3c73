using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Multiboot;

namespace PoolKernel.Mm
{
    /// <summary>
    /// Available RAM that the pools do not get, by name: the firmware's low megabyte, the kernel
    /// image (with its .bss, boot stack and the boot allocator's arena), the multiboot information,
    /// boot modules, the pools' own metadata. Usable memory = pool memory + these, and the shell
    /// shows both sides of that sum. Ranges are page-aligned outward and kept disjoint.
    /// The table is fixed-size and split in two shares: the kernel's own entries
    /// (<see cref="AddKernel"/>) can never be dropped, so they have a share sized for the most the
    /// kernel adds; the command line's (<see cref="TryAddUser"/>: mem=, memmap=) have a budget of
    /// their own and a range that does not fit is refused whole, before anything is added.
    /// </summary>
    internal static unsafe class Reservations
    {
        /// <summary>
        /// Before the command line: low firmware, kernel image, multiboot information, command line,
        /// loader name (5) and two per boot module (its range and its name string), each counted twice
        /// because a range may be split once around an earlier one; after it, the pool metadata (1),
        /// carved from RAM no entry covers, so exactly one entry.
        /// </summary>
        internal const int KernelEntries = 2 * (5 + 2 * BootInfo.MaxModules) + 1;

        /// <summary>
        /// mem= (one entry) and every memmap= token (one entry each when the ranges are disjoint from
        /// everything else), plus 7 for ranges split around earlier entries. Overlapping memmap= ranges
        /// that split into more are refused once the budget is spent.
        /// </summary>
        internal const int UserEntries = 1 + BootOptions.MaxReservedRanges + 7;

        internal const int Capacity = KernelEntries + UserEntries;

        internal struct Entry
        {
            public string Name;
            public ulong Base;
            public ulong End;
            /// <summary>Bytes of available RAM inside the range (what the pools lost to it).</summary>
            public ulong AvailableBytes;
        }

        private static Entry[] s_entries;
        private static int s_count;
        private static int s_userCount;

        internal static int Count => s_count;

        /// <summary>Entries the command line's ranges hold (at most <see cref="UserEntries"/>).</summary>
        internal static int UserCount => s_userCount;

        internal static Entry Get(int i) => s_entries[i];

        /// <summary>
        /// A kernel reservation: [start, end) rounded out to pages, minus whatever earlier entries
        /// already cover; each uncovered part becomes an entry of its own, so earlier ranges keep
        /// their names and no part of the new range is lost. Never dropped: a full table here means
        /// <see cref="KernelEntries"/> is wrong, and the kernel stops rather than give the range to the pools.
        /// </summary>
        internal static void AddKernel(string name, ulong start, ulong end)
        {
            EnsureTable();
            start &= ~0xFFFUL;
            end = RoundUp(end);
            int needed = CountUncovered(start, end, 0);
            if (s_count + needed > Capacity)
                Runtime.Panic.Halt("reservations: table full for a kernel reservation, entries needed", (ulong)needed);
            AddUncovered(name, start, end, 0);
        }

        /// <summary>
        /// A command-line reservation, as <see cref="AddKernel"/> but within the command line's budget:
        /// false, with nothing added, when its uncovered parts need more entries than are left of
        /// <see cref="UserEntries"/>; <paramref name="needed"/> says how many it needed.
        /// </summary>
        internal static bool TryAddUser(string name, ulong start, ulong end, out int needed)
        {
            EnsureTable();
            start &= ~0xFFFUL;
            end = RoundUp(end);
            needed = CountUncovered(start, end, 0);
            if (s_userCount + needed > UserEntries || s_count + needed > Capacity)
                return false;
            AddUncovered(name, start, end, 0);
            s_userCount += needed;
            return true;
        }

        private static void EnsureTable()
        {
            if (s_entries == null)
                s_entries = new Entry[Capacity];
        }

        /// <summary>Rounds up to a page; an end within the last page of the address space stays at its top page.</summary>
        private static ulong RoundUp(ulong end) => end > ~0xFFFUL ? ~0xFFFUL : (end + 0xFFF) & ~0xFFFUL;

        /// <summary>How many entries <see cref="AddUncovered"/> would add for [start, end).</summary>
        private static int CountUncovered(ulong start, ulong end, int from)
        {
            int count = 0;
            for (int i = from; i < s_count && start < end; i++)
            {
                Entry e = s_entries[i];
                if (e.End <= start || e.Base >= end)
                    continue;
                if (e.Base > start)
                    count += CountUncovered(start, e.Base, i + 1);
                start = e.End;
            }
            return start < end ? count + 1 : count;
        }

        /// <summary>Contract: the caller checked with <see cref="CountUncovered"/> that the entries fit.</summary>
        private static void AddUncovered(string name, ulong start, ulong end, int from)
        {
            for (int i = from; i < s_count && start < end; i++)
            {
                Entry e = s_entries[i];
                if (e.End <= start || e.Base >= end)
                    continue;
                if (e.Base > start)
                    AddUncovered(name, start, e.Base, i + 1);
                start = e.End;
            }
            if (start >= end)
                return;
            s_entries[s_count].Name = name;
            s_entries[s_count].Base = start;
            s_entries[s_count].End = end;
            s_count++;
        }

        internal static void SetAvailable(int i, ulong bytes) => s_entries[i].AvailableBytes = bytes;

        internal static ulong TotalAvailableBytes
        {
            get
            {
                ulong total = 0;
                for (int i = 0; i < s_count; i++)
                    total += s_entries[i].AvailableBytes;
                return total;
            }
        }
    }
}
