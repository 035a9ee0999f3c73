using PoolKernel.Memory;

namespace PoolKernel.Boot.MemoryMap
{
    /// <summary>
    /// One entry of the firmware memory map as the boot parsers and the sanitizer see it:
    /// [Base, Base + Length) bytes of one e820/multiboot <see cref="MemoryType"/> (the allocator's
    /// enum: one set of type codes for the whole kernel). It has no node yet; bring-up splits
    /// available entries at SRAT node edges into the allocator's <see cref="MemoryRegion"/>s.
    /// Firmware values outside the enum are kept as-is in the raw map and read as Reserved by the
    /// sanitizer (the kernel only uses what is certainly RAM).
    /// </summary>
    public struct MemoryMapEntry
    {
        public ulong Base;
        public ulong Length;
        public MemoryType Type;

        public MemoryMapEntry(ulong baseAddress, ulong length, MemoryType type)
        {
            Base = baseAddress;
            Length = length;
            Type = type;
        }

        /// <summary>Exclusive end; only meaningful for entries the sanitizer accepted (no overflow).</summary>
        public ulong End => Base + Length;
    }
}
