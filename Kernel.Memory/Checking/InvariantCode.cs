namespace PoolKernel.Memory;

/// <summary>Which invariant the checker found broken first.</summary>
public enum InvariantCode : byte
{
    Ok = 0,
    /// <summary>A page block has present frames but no live pool, or a pool but no present frames.</summary>
    PageblockOwnership,
    /// <summary>A page block's Present count differs from its non-absent frames.</summary>
    PageblockPresentCount,
    /// <summary>A page block's Held count differs from its allocated plus cached frames.</summary>
    PageblockHeldCount,
    /// <summary>A page block lies outside its pool's window or nodes.</summary>
    PageblockOutsideWindow,
    /// <summary>A Tail frame where a block head was expected (a block boundary).</summary>
    OrphanTail,
    /// <summary>A block head with an order above the maximum, or a head not aligned to its order.</summary>
    BlockMisaligned,
    /// <summary>A block's frames include another head, an absent frame, or run past the span.</summary>
    BlockNotContiguous,
    /// <summary>A block covers page blocks of different pools.</summary>
    BlockCrossesPools,
    /// <summary>A free block and its buddy are both free, same order, same pool: they should have merged.</summary>
    UnmergedBuddies,
    /// <summary>An Isolated head outside a move.</summary>
    IsolatedLeft,
    /// <summary>A free-list link points outside the span or at a frame that is not a free head of that order and pool.</summary>
    FreeListBadNode,
    /// <summary>A free list's back links disagree with its forward links.</summary>
    FreeListBadLink,
    /// <summary>A list's count, its walked length and the free heads of that pool and order disagree (also: a block on two lists, or a cycle).</summary>
    FreeListCount,
    /// <summary>A pool's FreePages, PresentPages or Pageblocks counters disagree with the blocks, or a live pool sits above the live-slot limit.</summary>
    PoolCounters,
    /// <summary>Present frames in all page blocks no longer add up to what set-up found.</summary>
    PresentNotConserved,
    /// <summary>A frame kind value that is not in the enum.</summary>
    UnknownFrameKind,
    /// <summary>A frame-cache entry outside the span, not a Cached order-0 frame, or in another pool's page block; or a Cached frame of order above 0.</summary>
    CacheBadEntry,
    /// <summary>A frame-cache entry appears twice (Expected and Actual are the two positions).</summary>
    CacheDuplicate,
    /// <summary>A cache's count exceeds its capacity, differs from the Cached frames of its pool, or a dead pool's cache is not empty.</summary>
    CacheCount,
    /// <summary>A remembered pool choice of the current generation names a pool slot that is not live (Pool is the slot).</summary>
    ChoiceMemoStale,
    /// <summary>
    /// A frame's owner byte is wrong: the head of an allocated block or run (Allocated, RunFirst) without
    /// an owner 0..63, or any other frame without <see cref="FrameOwner.None"/> (Actual is the byte).
    /// </summary>
    FrameOwnerBad,
    /// <summary>
    /// A live pool's frame cache has a high mark other than its present frames give
    /// (<see cref="FrameCache.HighFor"/>; Expected: that mark, Actual: the cache's), or holds more frames
    /// than its high mark (Expected: the mark, Actual: the count). A dead pool's cache has mark 0.
    /// </summary>
    CacheAboveHigh,
    /// <summary>
    /// A pool's <see cref="Pool.ListedSlots"/> bit disagrees with its list (Order: the list's slot; Expected: 1
    /// when the list holds blocks, Actual: the bit), or a bit above the last slot is set (Order: the slot count).
    /// </summary>
    ListedOrdersMask,
    /// <summary>A free-list node whose frames hold no free head is not None, None (Pfn: the pair's first frame; Actual: Next &lt;&lt; 32 | Prev).</summary>
    IdleNodeLinked,
    /// <summary>
    /// A block lent to the hypervisor (owner <see cref="FrameOwner.Balloon"/>) that is not one whole
    /// page block of the page-block order (Expected: that order, Actual: the block's), or lies in a pool
    /// the balloon may not take from (Expected 0, Actual: the pool's flags).
    /// </summary>
    BalloonBlockBad,
    /// <summary>
    /// A pool's <see cref="Pool.BalloonedPages"/> differs from its lent blocks (Expected: the frames
    /// found, Actual: the counter), or its present frames minus its lent frames are below its
    /// guaranteed minimum (Order 1; Expected: the minimum, Actual: what is left).
    /// </summary>
    BalloonCount,
    /// <summary>A container's held count differs from the pages whose block or run heads carry its owner number (Pool: the owner; Expected: from the frames, Actual: the count), or its per-pool or per-node counts do not add up to it (Order 1: pools, 2: nodes).</summary>
    ContainerHeld,
    /// <summary>In one pool (Pool), the pages held by containers per the frames differ from the sum of their per-pool counts.</summary>
    ContainerPoolHeld,
    /// <summary>A container's record disagrees with itself or the pools (Pool: the owner): held above quota (Order 1), peak below held (2), guarantee pool not live, not owner-masked to it alone or not at its guarantee (3), a live bit without a record or the reverse (4).</summary>
    ContainerRecord,
    /// <summary>
    /// The cheapest-block index (<see cref="PageblockIndex"/>) disagrees with a page block: filed in a
    /// bucket of another pool, class or held count, filed when it should not be or missing (Pfn: the
    /// page block; Expected: the bucket it should be in, -1 as all ones for none; Actual: where it was
    /// found), a broken back link, or a non-empty-bucket mask bit wrong (Order: the bucket).
    /// </summary>
    PageblockIndexBroken,
    /// <summary>An entry of some CPU's cache (any order) lies in a page block of another class than the one its cache serves, which no steal on several CPUs explains (<see cref="BuddyAllocator.LeftCacheClass"/>; Expected: the cache's class, Actual: the page block's).</summary>
    CachedFrameOfAnotherClass,
    /// <summary>A page block is steered to a class its pool does not accept (Expected: the pool's accepted mask, Actual: the class).</summary>
    PageblockClassRefused,
    /// <summary>A page block of a realtime pool is of another class than the pool's cache class, which its bounded path allocates (docs/realtime.md; Expected: the cache class, Actual: the page block's).</summary>
    RealtimeClassMixed,
    /// <summary>
    /// A remembered pool choice of the current generation marks a pool as implying the entry's rules
    /// (<see cref="ChoiceMemo.Implied"/>) whose window does not lie inside them or whose blocks of the entry's order are
    /// not aligned enough (Pool: the pool; Order: the entry's order; Expected: the rules' first frame; Actual: the
    /// pool's window's first frame).
    /// </summary>
    ChoiceMemoNotImplied,
    /// <summary>
    /// A fast path could serve a container (docs/containers.md, "What accounting costs"): the head of a block or run
    /// records its owner in the accounted form (<see cref="FrameOwner.Accounted"/>) while the owner is not a live
    /// container, or in the plain form while it is (Order 0; Pfn: the head; Expected: the byte it should be; Actual: the
    /// byte), a live pool's <see cref="Pool.UnaccountedOwners"/> is not its owner mask less the containers (Order 1; Pool:
    /// the pool; Expected: that mask; Actual: the word), or a remembered pool choice of the current generation has the
    /// other form of its owner (Order 2; Expected, Actual: the owner bytes).
    /// </summary>
    AccountedOwnerForm,
    /// <summary>
    /// A CPU's last request found (<see cref="ChoiceMemo.FindRequest"/>), kept for the current generation, names a slot
    /// that a lookup of that request by its shape does not find (Order: its order; Expected: the CPU; Actual: the slot).
    /// </summary>
    ChoiceMemoLastRequest,
}
