namespace PoolKernel.Boot.MemoryMap
{
    /// <summary>
    /// Memory range types as both multiboot specifications and the BIOS E820 call number them.
    /// Any other value the firmware reports is kept as-is in the raw map and treated as
    /// <see cref="Reserved"/> by the sanitizer (the kernel only uses what is certainly RAM).
    /// </summary>
    public enum MemoryType : uint
    {
        Available = 1,
        Reserved = 2,
        AcpiReclaimable = 3,
        AcpiNvs = 4,
        Bad = 5,
    }

    /// <summary>One physical range: [Base, Base + Length).</summary>
    public struct MemoryRegion
    {
        public ulong Base;
        public ulong Length;
        public MemoryType Type;

        public MemoryRegion(ulong baseAddress, ulong length, MemoryType type)
        {
            Base = baseAddress;
            Length = length;
            Type = type;
        }

        /// <summary>Exclusive end; only meaningful for entries the sanitizer accepted (no overflow).</summary>
        public ulong End => Base + Length;
    }
}
