namespace PoolKernel.Memory;

/// <summary>
/// The type of a memory-map range. The values are the e820/multiboot type codes so a
/// boot parser can pass them through unchanged. Only <see cref="Available"/> becomes pool memory.
/// </summary>
public enum MemoryType : uint
{
    Available = 1,
    Reserved = 2,
    AcpiReclaimable = 3,
    AcpiNvs = 4,
    BadMemory = 5,
}
