namespace PoolKernel.Memory;

/// <summary>
/// One range of the firmware memory map: [Base, Base + Length) bytes of one type on one node.
/// Byte-granular as firmware reports it; set-up trims available ranges inward to whole frames.
/// </summary>
public struct MemoryRegion
{
    public PhysAddr Base;
    public ulong Length;
    public MemoryType Type;
    /// <summary>NUMA node of the range (0 without NUMA); below <see cref="NodeDistances.MaxNodes"/>.</summary>
    public byte Node;

    public MemoryRegion(ulong baseAddress, ulong length, MemoryType type, byte node)
    {
        Base = new PhysAddr(baseAddress);
        Length = length;
        Type = type;
        Node = node;
    }

    /// <summary>One past the last byte. Only meaningful once <see cref="MemoryMap.Validate"/> ruled out wrap-around.</summary>
    public readonly PhysAddr End { get { return new PhysAddr(Base.Value + Length); } }
}
