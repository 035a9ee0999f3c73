using PoolKernel.Memory;

namespace PoolKernel.Boot.MemoryMap
{
    /// <summary>
    /// Turns the loader's raw memory map into a <see cref="SanitizedMemoryMap"/>. Pure: no state,
    /// no allocation beyond a few KiB of stack.
    /// </summary>
    public static unsafe class MemoryMapSanitizer
    {
        public const ulong PageSize = 4096;
        public const ulong PageMask = PageSize - 1;

        /// <summary>x86-64 architectural maximum physical address width (CPUID 0x80000008 reports at most 52).</summary>
        public const int PhysicalAddressBits = 52;
        public const ulong PhysicalAddressLimit = 1UL << PhysicalAddressBits;

        /// <summary>
        /// Contract: reads raw->Count entries, writes a complete map and its diagnostics to
        /// <paramref name="output"/> (cleared first). Never fails: every entry is either used,
        /// repaired or dropped, and each problem yields exactly one diagnostic.
        /// Why this way: the boot allocator must never hand out a page that is not certainly RAM,
        /// so uncertainty always resolves against "available": an overlap with anything else, a
        /// partial page, an unknown type.
        /// </summary>
        public static void Sanitize(RawMemoryMap* raw, SanitizedMemoryMap* output)
        {
            output->Clear();
            int count = raw->Count;
            if (count > RawMemoryMap.Capacity)
                count = RawMemoryMap.Capacity;
            if (raw->Dropped > 0)
                output->Diagnostics.Add(MemoryMapDiagnosticCode.RawMapOverflow, -1, -1, (ulong)raw->Dropped, raw->DroppedBytes);

            // Usable extents (available shrunk to pages); about 5 KiB of stack in all with the
            // boundary array below. Overlaps are reported on the original extents, re-read from raw.
            ulong* start = stackalloc ulong[RawMemoryMap.Capacity];
            ulong* end = stackalloc ulong[RawMemoryMap.Capacity];
            MemoryType* type = stackalloc MemoryType[RawMemoryMap.Capacity];
            bool* kept = stackalloc bool[RawMemoryMap.Capacity];
            bool* usable = stackalloc bool[RawMemoryMap.Capacity];

            for (int i = 0; i < count; i++)
            {
                MemoryMapEntry entry = raw->Get(i);
                kept[i] = false;
                usable[i] = false;

                MemoryType t = entry.Type;
                if (t < MemoryType.Available || t > MemoryType.BadMemory)
                {
                    output->Diagnostics.Add(MemoryMapDiagnosticCode.UnknownType, i, -1, (ulong)t, 0);
                    t = MemoryType.Reserved;
                }
                if (entry.Length == 0)
                {
                    output->Diagnostics.Add(MemoryMapDiagnosticCode.ZeroLength, i, -1, entry.Base, 0);
                    continue;
                }
                if (entry.Base + entry.Length < entry.Base) // wrapped (arithmetic is unchecked)
                {
                    output->Diagnostics.Add(MemoryMapDiagnosticCode.AddressOverflow, i, -1, entry.Base, entry.Length);
                    continue;
                }
                ulong e = entry.Base + entry.Length;
                if (e > PhysicalAddressLimit)
                {
                    output->Diagnostics.Add(MemoryMapDiagnosticCode.BeyondPhysicalLimit, i, -1, entry.Base, entry.Length);
                    continue;
                }

                kept[i] = true;
                type[i] = t;
                start[i] = entry.Base;
                end[i] = e;
                usable[i] = true;

                if (t == MemoryType.Available && ((entry.Base | e) & PageMask) != 0)
                {
                    // e <= 2^52, so rounding up cannot wrap.
                    ulong s = (entry.Base + PageMask) & ~PageMask;
                    ulong f = e & ~PageMask;
                    if (f <= s)
                    {
                        output->Diagnostics.Add(MemoryMapDiagnosticCode.UnalignedNoWholePage, i, -1, entry.Base, entry.Length);
                        usable[i] = false;
                    }
                    else
                    {
                        output->Diagnostics.Add(MemoryMapDiagnosticCode.UnalignedShrunk, i, -1, entry.Base, entry.Length);
                        start[i] = s;
                        end[i] = f;
                    }
                }
            }

            // One report per overlapping pair, on the later entry, naming the earlier one.
            for (int j = 0; j < count; j++)
            {
                if (!kept[j])
                    continue;
                MemoryMapEntry later = raw->Get(j);
                for (int i = 0; i < j; i++)
                {
                    if (!kept[i])
                        continue;
                    MemoryMapEntry earlier = raw->Get(i);
                    ulong lo = earlier.Base > later.Base ? earlier.Base : later.Base;
                    ulong hi = earlier.End < later.End ? earlier.End : later.End;
                    if (lo >= hi)
                        continue;
                    MemoryMapDiagnosticCode code;
                    bool availableI = type[i] == MemoryType.Available;
                    bool availableJ = type[j] == MemoryType.Available;
                    if (availableI && availableJ)
                        code = MemoryMapDiagnosticCode.AvailableOverlapsAvailable;
                    else if (availableI || availableJ)
                        code = MemoryMapDiagnosticCode.AvailableOverlapsReserved;
                    else if (type[i] == type[j])
                        code = MemoryMapDiagnosticCode.ReservedOverlapsSameType;
                    else
                        code = MemoryMapDiagnosticCode.ReservedOverlapsOtherType;
                    output->Diagnostics.Add(code, j, i, lo, hi);
                }
            }

            // Every boundary of a usable entry, sorted and unique. Between two neighbouring
            // boundaries each entry either covers the whole interval or none of it.
            ulong* points = stackalloc ulong[2 * RawMemoryMap.Capacity];
            int pointCount = 0;
            for (int i = 0; i < count; i++)
            {
                if (!usable[i])
                    continue;
                pointCount = InsertUnique(points, pointCount, start[i]);
                pointCount = InsertUnique(points, pointCount, end[i]);
            }

            for (int k = 0; k + 1 < pointCount; k++)
            {
                ulong lo = points[k];
                ulong hi = points[k + 1];
                int best = -1;
                for (int i = 0; i < count; i++)
                {
                    if (!usable[i] || start[i] > lo || end[i] < hi)
                        continue;
                    if (best < 0 || Strictness(type[i]) > Strictness(type[best]))
                        best = i;
                }
                if (best >= 0)
                    output->Append(lo, hi, type[best]);
            }

            // Available entries were page aligned, so a partial page can only appear where a
            // non-available entry cut into one; that overlap is already reported. Give the partial
            // page up, compacting in place.
            int write = 0;
            for (int r = 0; r < output->Count; r++)
            {
                MemoryMapEntry region = output->Get(r);
                ulong s = region.Base;
                ulong f = region.End;
                if (region.Type == MemoryType.Available)
                {
                    s = (s + PageMask) & ~PageMask;
                    f &= ~PageMask;
                    if (f <= s)
                        continue;
                }
                output->Set(write, s, f, region.Type);
                write++;
            }
            output->Count = write;
        }

        /// <summary>
        /// Which type wins where entries overlap: anything beats available; among the rest the
        /// one the kernel must be most careful with (bad, then NVS that must never be touched,
        /// then reserved, then ACPI tables the kernel may reclaim later).
        /// </summary>
        private static int Strictness(MemoryType type)
        {
            switch (type)
            {
                case MemoryType.Available: return 0;
                case MemoryType.AcpiReclaimable: return 1;
                case MemoryType.Reserved: return 2;
                case MemoryType.AcpiNvs: return 3;
                default: return 4; // Bad
            }
        }

        /// <summary>Inserts <paramref name="value"/> into the sorted array unless present; returns the new count.</summary>
        private static int InsertUnique(ulong* points, int count, ulong value)
        {
            int at = count;
            while (at > 0 && points[at - 1] > value)
                at--;
            if (at > 0 && points[at - 1] == value)
                return count;
            for (int k = count; k > at; k--)
                points[k] = points[k - 1];
            points[at] = value;
            return count + 1;
        }
    }
}
