using PoolKernel.Memory;

namespace PoolKernel.Boot.MemoryMap
{
    /// <summary>
    /// The memory map exactly as the boot loader reported it, in its order, with its types
    /// (unknown values included). Nothing here is trusted: <see cref="MemoryMapSanitizer"/>
    /// turns it into something the kernel may allocate from.
    /// Fixed capacity because it is filled before any allocator exists.
    /// </summary>
    public unsafe struct RawMemoryMap
    {
        /// <summary>QEMU reports under 10 entries, large servers a few dozen; 128 leaves headroom.</summary>
        public const int Capacity = 128;

        private fixed ulong _base[Capacity];
        private fixed ulong _length[Capacity];
        private fixed uint _type[Capacity];

        /// <summary>Entries stored, 0..Capacity.</summary>
        public int Count;

        /// <summary>Entries the loader reported that did not fit.</summary>
        public int Dropped;

        public void Clear()
        {
            Count = 0;
            Dropped = 0;
        }

        /// <summary>Appends an entry; returns false (and counts it in <see cref="Dropped"/>) when full.</summary>
        public bool Add(ulong baseAddress, ulong length, uint type)
        {
            if ((uint)Count >= Capacity)
            {
                Dropped++;
                return false;
            }
            _base[Count] = baseAddress;
            _length[Count] = length;
            _type[Count] = type;
            Count++;
            return true;
        }

        /// <summary>Entry <paramref name="index"/>; the caller keeps 0 &lt;= index &lt; Count.</summary>
        public MemoryMapEntry Get(int index)
        {
            if ((uint)index >= (uint)Count)
                return default;
            return new MemoryMapEntry(_base[index], _length[index], (MemoryType)_type[index]);
        }
    }
}
