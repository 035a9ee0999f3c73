namespace PoolKernel.Memory;

/// <summary>Sizes of one pool, in frames and page blocks.</summary>
public struct PoolStats
{
    public ulong PresentPages;
    /// <summary>Free frames: on the buddy lists plus <see cref="CachedPages"/>.</summary>
    public ulong FreePages;
    /// <summary>Free order-0 frames parked in the pool's frame cache (not in buddyinfo's columns).</summary>
    public ulong CachedPages;
    public ulong InUsePages;
    public ulong Pageblocks;
}
