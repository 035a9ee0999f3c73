namespace PoolKernel.Memory;

/// <summary>Sizes of one pool, in frames and page blocks.</summary>
public struct PoolStats
{
    public ulong PresentPages;
    /// <summary>Free frames: on the buddy lists plus <see cref="CachedPages"/>.</summary>
    public ulong FreePages;
    /// <summary>Free order-0 frames parked in the pool's frame cache (not in buddyinfo's columns).</summary>
    public ulong CachedPages;
    /// <summary>Frames in use: present minus free minus <see cref="BalloonedPages"/>.</summary>
    public ulong InUsePages;
    /// <summary>Frames lent to the hypervisor (<see cref="Pool.BalloonedPages"/>): present = free + in use + ballooned.</summary>
    public ulong BalloonedPages;
    public ulong Pageblocks;
}
