using System;

namespace PoolKernel.Mm
{
    /// <summary>
    /// Available RAM that the pools do not get, by name: the firmware's low megabyte, the kernel
    /// image (with its .bss, boot stack and the boot allocator's arena), the multiboot information,
    /// boot modules, the pools' own metadata. Usable memory = pool memory + these, and the shell
    /// shows both sides of that sum. Ranges are page-aligned outward and kept disjoint.
    /// </summary>
    internal static unsafe class Reservations
    {
        internal const int Capacity = 32;

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

        internal static int Count => s_count;

        internal static Entry Get(int i) => s_entries[i];

        /// <summary>
        /// Adds [start, end) rounded out to pages, minus whatever earlier entries already cover: each
        /// uncovered part becomes an entry of its own, so earlier ranges keep their names and no part
        /// of the new range is lost.
        /// </summary>
        internal static void Add(string name, ulong start, ulong end)
        {
            if (s_entries == null)
                s_entries = new Entry[Capacity];
            AddUncovered(name, start & ~0xFFFUL, (end + 0xFFF) & ~0xFFFUL, 0);
        }

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
            if (s_count == Capacity)
            {
                Console.WriteLine("reservations: table full; range left to the pools");
                return;
            }
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
