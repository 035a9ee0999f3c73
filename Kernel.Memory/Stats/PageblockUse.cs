namespace PoolKernel.Memory;

/// <summary>One page block as a report shows it (pageblock use, like /proc/pagetypeinfo).</summary>
public struct PageblockUse
{
    public Pfn Start;
    public PoolId Pool;
    public PoolId Home;
    public uint PresentPages;
    /// <summary>Allocated frames (cached ones not counted).</summary>
    public uint InUsePages;
    /// <summary>Free frames parked in the pool's order-0 frame cache (not on the buddy lists, so the block cannot merge whole until a drain).</summary>
    public uint CachedPages;
    /// <summary>The whole page block is lent to the hypervisor (Kernel.Memory/Balloon); its frames count in <see cref="InUsePages"/> as held.</summary>
    public bool Ballooned;
    public byte Node;
    /// <summary>The class the page block is steered to (docs/antifrag.md); meaningless while it is wholly free.</summary>
    public MobilityClass Mobility;
}
