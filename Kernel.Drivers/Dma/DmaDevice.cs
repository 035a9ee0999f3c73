namespace PoolKernel.Drivers.Dma
{
    /// <summary>
    /// What a device can reach, stated once by its driver. Every buffer the driver gets obeys it:
    /// below 2^AddressBits, never crossing a multiple of Boundary, aligned to Alignment, at most
    /// MaxContiguous bytes in one piece; memory is taken near Node when it can be.
    /// </summary>
    public struct DmaDevice
    {
        /// <summary>Shown by `dmapools` as the pool's user.</summary>
        public string Name;
        /// <summary>Bits of physical address the device drives: 24 (ISA), 32, 44 (legacy virtio), 64.</summary>
        public byte AddressBits;
        /// <summary>No buffer may cross a multiple of this (power of two; 0 = none), e.g. 64 KiB for ISA and IDE PRDs.</summary>
        public ulong Boundary;
        /// <summary>Alignment of every buffer's first byte (power of two; 0 = 16 bytes).</summary>
        public ulong Alignment;
        /// <summary>Largest buffer in one piece (0 = no limit beyond the boundary).</summary>
        public ulong MaxContiguous;
        /// <summary>The device's NUMA node, or -1 when unknown.</summary>
        public int Node;

        public DmaDevice(string name, byte addressBits, ulong boundary = 0, ulong alignment = 0, ulong maxContiguous = 0, int node = -1)
        {
            Name = name;
            AddressBits = addressBits;
            Boundary = boundary;
            Alignment = alignment;
            MaxContiguous = maxContiguous;
            Node = node;
        }

        /// <summary>One past the highest address the device reaches (2^64 is represented as 0).</summary>
        public readonly ulong AddressLimit => AddressBits >= 64 ? 0 : 1UL << AddressBits;

        /// <summary>
        /// True when [physical, physical + length) obeys every rule. The single check that every
        /// buffer passes on its way to a driver.
        /// </summary>
        public readonly bool Admits(ulong physical, ulong length)
        {
            if (length == 0)
                return false;
            ulong last = physical + length - 1;
            if (last < physical)
                return false;
            if (AddressBits < 64 && last >= AddressLimit)
                return false;
            ulong align = Alignment == 0 ? 16 : Alignment;
            if ((physical & (align - 1)) != 0)
                return false;
            if (Boundary != 0 && (physical & ~(Boundary - 1)) != (last & ~(Boundary - 1)))
                return false;
            if (MaxContiguous != 0 && length > MaxContiguous)
                return false;
            return true;
        }

        /// <summary>Rules a device can have: address bits 12..64, boundary and alignment powers of two.</summary>
        public readonly bool IsValid
        {
            get
            {
                if (AddressBits < 12 || AddressBits > 64)
                    return false;
                if (Boundary != 0 && (Boundary & (Boundary - 1)) != 0)
                    return false;
                if (Alignment != 0 && (Alignment & (Alignment - 1)) != 0)
                    return false;
                if (Boundary != 0 && Alignment > Boundary)
                    return false;
                return true;
            }
        }
    }
}
