namespace PoolKernel.Memory;

/// <summary>
/// How a container gives memory back under pressure: a function the container's user installs
/// (<see cref="PhysicalMemory.SetReclaimHook"/>), asked by <see cref="PhysicalMemory.ReclaimAboveGuarantees"/>
/// to free up to <c>pages</c> pages it holds in <c>pool</c> (with its own owner number, through the
/// ordinary frees) and to return how many it freed. The allocator never frees a container's blocks
/// itself: only the owner knows which of its pages it can drop (caches, clean buffers) and the
/// allocator never reads or writes the memory it manages. When the anti-fragmentation work
/// (mobility classes, compaction) makes pages movable, the same hook is where a container's movable
/// pages are migrated rather than dropped; the order in which containers are asked does not change.
/// </summary>
public unsafe struct ReclaimHook
{
    /// <summary>
    /// (context, owner, pool, pages wanted) -&gt; pages freed. Called without any pool lock held. With
    /// pool <see cref="PoolId.None"/> (the kernel ran out of memory anywhere) the hook frees pages of any
    /// pool but its own guarantee pool; otherwise pages of that pool.
    /// </summary>
    public delegate*<void*, byte, PoolId, ulong, ulong> Function;
    public void* Context;
}
