namespace PoolKernel.Memory;

/// <summary>One page block as a report shows it (pageblock use, like /proc/pagetypeinfo).</summary>
public struct PageblockUse
{
    public Pfn Start;
    public PoolId Pool;
    public PoolId Home;
    public uint PresentPages;
    public uint InUsePages;
    public byte Node;
}
