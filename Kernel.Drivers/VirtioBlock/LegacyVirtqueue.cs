namespace PoolKernel.Drivers.VirtioBlock
{
    /// <summary>One descriptor of a split virtqueue (16 bytes, little-endian).</summary>
    internal struct VirtqDescriptor
    {
        public ulong Address;
        public uint Length;
        public ushort Flags;
        public ushort Next;

        internal const ushort FlagNext = 1;
        /// <summary>The device writes this buffer (device-to-memory).</summary>
        internal const ushort FlagWrite = 2;
    }

    /// <summary>One used-ring element: the head of a finished chain and the bytes the device wrote.</summary>
    internal struct VirtqUsedElement
    {
#pragma warning disable CS0649 // written by the device, by DMA
        public uint Id;
        public uint Length;
#pragma warning restore CS0649
    }

    /// <summary>
    /// Where the three parts of a legacy split virtqueue of <c>size</c> entries lie in its one
    /// contiguous region: descriptor table at 0 (16 bytes each), the available ring right after it
    /// (flags, idx, ring[size], used_event), and the used ring (flags, idx, ring[size] of 8 bytes,
    /// avail_event) at the next multiple of 4096. The device computes the same offsets from the
    /// queue size alone, which is why the region must be physically contiguous and page-aligned.
    /// </summary>
    internal readonly struct LegacyVirtqueueLayout
    {
        /// <summary>Legacy ring alignment: the used ring starts on the next 4 KiB after the available ring.</summary>
        public const uint RingAlignment = 4096;

        public readonly uint Size;

        public LegacyVirtqueueLayout(uint size) => Size = size;

        public uint DescriptorsOffset => 0;
        public uint AvailableOffset => 16 * Size;
        private uint AvailableBytes => 2 + 2 + 2 * Size + 2;
        public uint UsedOffset => Align(AvailableOffset + AvailableBytes);
        private uint UsedBytes => 2 + 2 + 8 * Size + 2;
        public uint TotalBytes => Align(UsedOffset + UsedBytes);

        private static uint Align(uint value) => (value + RingAlignment - 1) & ~(RingAlignment - 1);

        /// <summary>Legacy queue sizes are powers of two up to 32768.</summary>
        public bool IsValid => Size != 0 && Size <= 32768 && (Size & (Size - 1)) == 0;
    }

    /// <summary>
    /// A legacy split virtqueue over a region the driver owns: descriptors, the available ring the
    /// driver fills, and the used ring the device fills. Requests are issued one at a time (the
    /// driver polls for completion), so descriptors 0..n-1 are reused for every chain.
    /// </summary>
    internal unsafe struct LegacyVirtqueue
    {
        private const ushort AvailNoInterrupt = 1;

        private VirtqDescriptor* _descriptors;
        private ushort* _available;   // [0] flags, [1] idx, [2 + i] ring
        private ushort* _used;        // [0] flags, [1] idx, then elements
        private ushort _availableIndex;
        private ushort _lastUsedIndex;
        private uint _size;

        public uint Size => _size;

        /// <summary>Points the queue at a zeroed region laid out by <paramref name="layout"/>.</summary>
        public void Initialize(byte* region, in LegacyVirtqueueLayout layout)
        {
            _size = layout.Size;
            _descriptors = (VirtqDescriptor*)(region + layout.DescriptorsOffset);
            _available = (ushort*)(region + layout.AvailableOffset);
            _used = (ushort*)(region + layout.UsedOffset);
            _availableIndex = 0;
            _lastUsedIndex = 0;
            // Polled driver: ask the device not to raise interrupts for this queue.
            _available[0] = AvailNoInterrupt;
        }

        public VirtqDescriptor* Descriptor(int i) => _descriptors + i;

        /// <summary>Publishes the chain starting at <paramref name="head"/>: ring entry first, then the index.</summary>
        public void Publish(ushort head)
        {
            _available[2 + (_availableIndex % _size)] = head;
            // x86 keeps stores in order; the index store is the one the device acts on, so it comes last.
            _availableIndex++;
            _available[1] = _availableIndex;
        }

        /// <summary>The used ring's index as the device last wrote it (read from memory every call).</summary>
        public ushort DeviceUsedIndex => *(ushort*)((byte*)_used + 2);

        /// <summary>True when the device has returned a chain since the last <see cref="TakeUsed"/>.</summary>
        public bool HasUsed => DeviceUsedIndex != _lastUsedIndex;

        /// <summary>Consumes one used element.</summary>
        public VirtqUsedElement TakeUsed()
        {
            VirtqUsedElement* ring = (VirtqUsedElement*)(_used + 2);
            VirtqUsedElement e = ring[_lastUsedIndex % _size];
            _lastUsedIndex++;
            return e;
        }
    }
}
