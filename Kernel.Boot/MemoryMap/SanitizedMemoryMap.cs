using PoolKernel.Memory;

namespace PoolKernel.Boot.MemoryMap
{
    /// <summary>What <see cref="SanitizedMemoryMap.CheckInvariants"/> found first.</summary>
    public enum MemoryMapInvariant : uint
    {
        Ok = 0,
        EmptyRegion = 1,
        NotSorted = 2,
        Overlapping = 3,
        NotCoalesced = 4,
        UnalignedAvailable = 5,
        UnknownType = 6,
        BeyondPhysicalLimit = 7,
    }

    /// <summary>
    /// The memory map the kernel may trust: sorted by base, non-overlapping, no empty regions,
    /// adjacent regions of one type coalesced, available regions 4 KiB aligned at both ends,
    /// only the five known types. Gaps are memory the kernel knows nothing about.
    /// </summary>
    public unsafe struct SanitizedMemoryMap
    {
        /// <summary>
        /// The sweep over n raw entries yields at most 2n - 1 elementary ranges, so twice the raw
        /// capacity can never overflow.
        /// </summary>
        public const int Capacity = 2 * RawMemoryMap.Capacity;

        private fixed ulong _base[Capacity];
        private fixed ulong _length[Capacity];
        private fixed uint _type[Capacity];

        public int Count;

        /// <summary>One entry per problem found in the raw map.</summary>
        public MemoryMapDiagnostics Diagnostics;

        public void Clear()
        {
            Count = 0;
            Diagnostics.Clear();
        }

        public MemoryMapEntry Get(int index)
        {
            if ((uint)index >= (uint)Count)
                return default;
            return new MemoryMapEntry(_base[index], _length[index], (MemoryType)_type[index]);
        }

        /// <summary>
        /// Appends [start, end) or extends the last region when it ends at start with the same
        /// type. Callers append in ascending order; returns false when full.
        /// </summary>
        internal bool Append(ulong start, ulong end, MemoryType type)
        {
            if (Count > 0)
            {
                int last = Count - 1;
                if (_type[last] == (uint)type && _base[last] + _length[last] == start)
                {
                    _length[last] = end - _base[last];
                    return true;
                }
            }
            if ((uint)Count >= Capacity)
                return false;
            _base[Count] = start;
            _length[Count] = end - start;
            _type[Count] = (uint)type;
            Count++;
            return true;
        }

        internal void Set(int index, ulong start, ulong end, MemoryType type)
        {
            _base[index] = start;
            _length[index] = end - start;
            _type[index] = (uint)type;
        }

        /// <summary>
        /// Gives ACPI-reclaimable memory to the kernel once the ACPI tables in it have been read (the
        /// kernel parses them into <c>AcpiInfo</c> at boot and never reads them again): every
        /// ACPI-reclaimable region whose both ends are 4 KiB aligned becomes available, merged with
        /// available neighbours it touches, so the map keeps every invariant of
        /// <see cref="CheckInvariants"/>. A region with an unaligned end stays as it is (available
        /// memory must be whole pages; firmware gives page-aligned ones: EFI maps count 4 KiB pages).
        /// Returns the bytes that became available.
        /// </summary>
        public ulong ReclaimAcpi()
        {
            ulong reclaimed = 0;
            int kept = 0;
            for (int i = 0; i < Count; i++)
            {
                ulong start = _base[i];
                ulong end = start + _length[i];
                MemoryType type = (MemoryType)_type[i];
                if (type == MemoryType.AcpiReclaimable && ((start | end) & MemoryMapSanitizer.PageMask) == 0)
                {
                    type = MemoryType.Available;
                    reclaimed += end - start;
                }
                if (kept > 0 && _type[kept - 1] == (uint)type && _base[kept - 1] + _length[kept - 1] == start)
                {
                    _length[kept - 1] = end - _base[kept - 1];
                    continue;
                }
                Set(kept, start, end, type);
                kept++;
            }
            Count = kept;
            return reclaimed;
        }

        /// <summary>Sum of the lengths of all available regions.</summary>
        public ulong AvailableBytes
        {
            get
            {
                ulong total = 0;
                for (int i = 0; i < Count; i++)
                {
                    if (_type[i] == (uint)MemoryType.Available)
                        total += _length[i];
                }
                return total;
            }
        }

        /// <summary>
        /// Bytes of available RAM inside [start, end): what a reservation of that range keeps from
        /// the pools, and what mem=, memmap= and numa=fake=N count. Holes and other types count 0.
        /// </summary>
        public ulong AvailableBytesIn(ulong start, ulong end)
        {
            ulong total = 0;
            for (int i = 0; i < Count; i++)
            {
                if (_type[i] != (uint)MemoryType.Available)
                    continue;
                ulong regionEnd = _base[i] + _length[i];
                ulong lo = _base[i] > start ? _base[i] : start;
                ulong hi = regionEnd < end ? regionEnd : end;
                if (hi > lo)
                    total += hi - lo;
            }
            return total;
        }

        /// <summary>
        /// The structural checker: tests call it after every sanitize, the kernel may call it before
        /// trusting the map. Returns the first broken invariant and the index of the region breaking it.
        /// </summary>
        public MemoryMapInvariant CheckInvariants(out int badIndex)
        {
            for (int i = 0; i < Count; i++)
            {
                badIndex = i;
                ulong start = _base[i];
                ulong length = _length[i];
                uint type = _type[i];
                if (length == 0)
                    return MemoryMapInvariant.EmptyRegion;
                if (type < (uint)MemoryType.Available || type > (uint)MemoryType.BadMemory)
                    return MemoryMapInvariant.UnknownType;
                if (start > MemoryMapSanitizer.PhysicalAddressLimit - length)
                    return MemoryMapInvariant.BeyondPhysicalLimit;
                if (type == (uint)MemoryType.Available && ((start | length) & MemoryMapSanitizer.PageMask) != 0)
                    return MemoryMapInvariant.UnalignedAvailable;
                if (i > 0)
                {
                    ulong previousEnd = _base[i - 1] + _length[i - 1];
                    if (_base[i - 1] >= start)
                        return MemoryMapInvariant.NotSorted;
                    if (previousEnd > start)
                        return MemoryMapInvariant.Overlapping;
                    if (previousEnd == start && _type[i - 1] == type)
                        return MemoryMapInvariant.NotCoalesced;
                }
            }
            badIndex = -1;
            return MemoryMapInvariant.Ok;
        }
    }
}
