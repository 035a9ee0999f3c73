namespace PoolKernel.Memory;

/// <summary>
/// A pool: properties plus the counters its buddy allocator keeps. Its free lists live in the
/// free-list table (one <see cref="FreeList"/> per order); its page blocks are those whose
/// <see cref="PageblockInfo.Pool"/> names it.
/// </summary>
public struct Pool
{
    public PoolProperties Properties;
    /// <summary>Nonzero while the table slot holds a pool.</summary>
    public byte Live;
    /// <summary>Present frames in the pool's page blocks.</summary>
    public ulong PresentPages;
    /// <summary>Frames on the pool's free lists (kept by the list primitives); cached frames are counted in its <see cref="FrameCache"/>, not here.</summary>
    public ulong FreePages;
    /// <summary>Page blocks the pool owns.</summary>
    public ulong Pageblocks;
}
