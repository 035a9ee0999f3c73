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
    /// <summary>
    /// Bit k set exactly when the pool's free list of order k is not empty (kept by the list
    /// primitives, checked by the checker): the first list that can serve an order is one count of
    /// trailing zeros away, and "has the pool any block of at least this order" is one shift.
    /// </summary>
    public uint ListedOrders;
    /// <summary>Page blocks the pool owns.</summary>
    public ulong Pageblocks;
    /// <summary>
    /// Frames of the pool's page blocks lent to the hypervisor (whole page blocks whose head carries
    /// <see cref="FrameOwner.Balloon"/>): present, held, neither free nor in use. The pool's usable
    /// size is PresentPages minus these, and it never drops below <see cref="PoolProperties.MinimumPages"/>.
    /// </summary>
    public ulong BalloonedPages;
}
