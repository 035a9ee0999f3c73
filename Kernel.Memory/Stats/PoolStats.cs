namespace PoolKernel.Memory;

/// <summary>Sizes of one pool, in frames and page blocks.</summary>
public struct PoolStats
{
    public ulong PresentPages;
    public ulong FreePages;
    public ulong InUsePages;
    public ulong Pageblocks;
}
