namespace PoolKernel.Memory;

/// <summary>Behavioural flags of a pool.</summary>
[System.Flags]
public enum PoolFlags : uint
{
    None = 0,
    /// <summary>
    /// Low memory kept for devices: pool choice uses it only as a fallback for requests that
    /// carry no address limit (the role of Linux's ZONE_DMA lowmem reserve).
    /// </summary>
    Dma = 1 << 0,
    /// <summary>Preallocated/reserved: only requests that name the pool allocate from it.</summary>
    Reserved = 1 << 1,
    /// <summary>
    /// Realtime pool: allocation and free in a bounded number of steps, served only to requests that name it,
    /// never compacted or taken by lower priorities (Kernel.Memory/Realtime, docs/realtime.md).
    /// </summary>
    Realtime = 1 << 2,
    /// <summary>Accepts only movable allocations (its accepted-class mask says so; docs/antifrag.md).</summary>
    MovableOnly = 1 << 3,
    /// <summary>
    /// Elastic memory: the balloon lends this pool's free page blocks to the hypervisor before any
    /// other pool's, above its <see cref="PoolProperties.MinimumPages"/> (Kernel.Memory/Balloon).
    /// </summary>
    Elastic = 1 << 4,
}
