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
    /// Bit s set exactly when the pool's free list of slot s is not empty (kept by the list
    /// primitives, checked by the checker). Slots (<see cref="BuddyAllocator.SlotOf"/>): one list a
    /// mobility class for each order below the page-block order, one shared list for each order from
    /// it up. A class's view of it (<see cref="BuddyAllocator.ClassView"/>) makes the first list that
    /// can serve an order one count of trailing zeros away.
    /// </summary>
    public ulong ListedSlots;
    /// <summary>Page blocks the pool owns.</summary>
    public ulong Pageblocks;
    /// <summary>
    /// Frames of the pool's page blocks lent to the hypervisor (whole page blocks whose head carries
    /// <see cref="FrameOwner.Balloon"/>): present, held, neither free nor in use. The pool's usable
    /// size is PresentPages minus these, and it never drops below <see cref="PoolProperties.MinimumPages"/>.
    /// </summary>
    public ulong BalloonedPages;
}
