using PoolKernel.Memory;

namespace PoolKernel.Boot.MemoryMap
{
    /// <summary>
    /// The memory map exactly as the boot loader reported it, in its order, with its types
    /// (unknown values included; an EFI map's types already translated, and touching descriptors of
    /// one translated type joined, see <see cref="AddJoined"/>). Nothing here is trusted: <see cref="MemoryMapSanitizer"/>
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

        /// <summary>Entries the loader reported that did not fit (all of them available RAM, see <see cref="Add"/>).</summary>
        public int Dropped;

        /// <summary>Bytes of available RAM in the dropped entries: memory the kernel will not use.</summary>
        public ulong DroppedBytes;

        public void Clear()
        {
            Count = 0;
            Dropped = 0;
            DroppedBytes = 0;
        }

        /// <summary>
        /// Appends an entry. When the table is full, only available RAM is ever dropped: losing RAM
        /// is safe, while a dropped reserved entry would let the pools hand out firmware memory that
        /// an available entry overlaps. So a new available entry is dropped, and a new entry of any
        /// other type takes the place of the last stored available one (which is dropped instead).
        /// Returns false when an entry (the new one or the evicted one) was dropped; <see cref="Dropped"/> and
        /// <see cref="DroppedBytes"/> count it. A full table of non-available entries drops a new
        /// non-available one too: with no available entry stored, and every later available entry
        /// dropped, no RAM is handed out that it could have covered.
        /// </summary>
        public bool Add(ulong baseAddress, ulong length, uint type)
        {
            int droppedBefore = Dropped;
            int slot = Count;
            if ((uint)Count >= Capacity)
            {
                if ((MemoryType)type == MemoryType.Available)
                    return Drop(length);
                slot = LastAvailable();
                if (slot < 0)
                    return Drop(0);
                Drop(_length[slot]);
                for (int i = slot; i < Count - 1; i++)
                {
                    _base[i] = _base[i + 1];
                    _length[i] = _length[i + 1];
                    _type[i] = _type[i + 1];
                }
                slot = Count - 1;
                Count--;
            }
            _base[slot] = baseAddress;
            _length[slot] = length;
            _type[slot] = type;
            Count++;
            return Dropped == droppedBefore;
        }

        /// <summary>
        /// Like <see cref="Add"/>, but an entry that starts where the last stored one ends and has its
        /// type extends that one instead of taking a slot. For maps whose loader splits RAM finely by
        /// purposes the kernel does not distinguish (an EFI map: boot-services code, data, free pages
        /// all become available), so that one range keeps one entry. Same return value as Add.
        /// </summary>
        public bool AddJoined(ulong baseAddress, ulong length, uint type)
        {
            int last = Count - 1;
            if (last >= 0 && _type[last] == type && _length[last] <= ulong.MaxValue - _base[last]
                && _base[last] + _length[last] == baseAddress && length <= ulong.MaxValue - _length[last])
            {
                _length[last] += length;
                return true;
            }
            return Add(baseAddress, length, type);
        }

        private bool Drop(ulong availableBytes)
        {
            Dropped++;
            DroppedBytes += availableBytes;
            return false;
        }

        private int LastAvailable()
        {
            for (int i = Count - 1; i >= 0; i--)
            {
                if ((MemoryType)_type[i] == MemoryType.Available)
                    return i;
            }
            return -1;
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
