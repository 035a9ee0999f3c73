using System.Runtime.CompilerServices;

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
    /// <summary>
    /// <see cref="PoolProperties.OwnerMask"/> less the live containers (<see cref="PhysicalMemory._accountedOwners"/>):
    /// the owners the fast paths admit to a named pool (<see cref="AllowsUnaccounted"/>), so a container's request
    /// misses them and its slow path accounts it, with no test of its own on the fast paths. Written with the
    /// mask or the container set, under the table lock and the locks they change under
    /// (PhysicalMemory.RefreshUnaccountedOwners); the checker compares it with the two.
    /// </summary>
    public ulong UnaccountedOwners;
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
    /// <summary>
    /// A realtime pool's modification generation (other pools leave it as it is): bumped under the pool's lock by every change of the pool that the
    /// checker's bounded sections could see half-way (<see cref="PhysicalMemory.Modified"/>): its lists, counters,
    /// page blocks (a pool destroyed gives every page block home: moves), properties, caches refilled or drained.
    /// Kept across a slot's lives (opening and closing it leave it as it was, so a creation refused after the
    /// slot was opened changes nothing; a pool destroyed with page blocks moved them home, which bumped it, and
    /// one without any has nothing a section could see half-way). A cache's own push and pop, which take only
    /// the cache's lock, do not bump it (docs/realtime.md, "Administration"). Read by the bounded checker
    /// (InvariantChecker.Realtime.cs): a realtime pool checked in several sections is consistent when it did
    /// not move between the first and the last.
    /// </summary>
    public uint Modifications;
    /// <summary>
    /// Frames of the smallest request that still refused right after a drain of other CPUs' caches of the pool
    /// (PhysicalMemory.DrainOtherCpus), since the pool's last such drain; 0: none. A rate limit's hint, read and
    /// written without a lock: a request as large skips that drain while the other CPUs' caches hold fewer frames
    /// than it asks for, so a pool that stays short does not freeze its caches (a barrier each) on every refusal.
    /// </summary>
    public ulong FutileDrainFrames;

    /// <summary><see cref="PoolProperties.AllowsOwner"/> for the fast paths: an owner 0..63 of <see cref="UnaccountedOwners"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool AllowsUnaccounted(byte owner)
    {
        return owner < 64 && ((UnaccountedOwners >> owner) & 1) != 0;
    }
}
