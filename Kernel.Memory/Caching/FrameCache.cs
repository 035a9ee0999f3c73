using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// A hot cache of order-0 frames: a LIFO stack of frame indices (relative to the span base) that
/// were freed as order 0 and kept un-merged, the way Linux keeps per-CPU page lists. Allocating an
/// order-0 frame pops the most recently freed one (still warm in the CPU caches) and freeing one
/// pushes it, so neither touches the buddy lists. When the stack is empty it is refilled with
/// <see cref="Batch"/> frames from the buddy lists; when it is full the <see cref="Batch"/> oldest
/// (coldest) entries are drained back with merging.
/// Every entry's frame byte reads <see cref="FrameKind.Cached"/> and its page block belongs to the
/// cache's pool. One cache a pool now; the SMP issue makes it one a (pool, CPU), found through
/// <see cref="BuddyAllocator.CacheOf"/>, so nothing else changes shape.
/// Contract: the caller holds the lock of the owning <see cref="PhysicalMemory"/> (per-CPU
/// instances will need only the CPU's own interrupts off for the push and pop).
/// </summary>
public unsafe struct FrameCache
{
    /// <summary>
    /// 63 entries, so that a cache with its count is exactly 512 bytes and the free fast path finds
    /// a pool's cache with a shift instead of a multiply. At the default 2 MiB page block that is
    /// about 1/8 of a page block parked at most, few enough that a drain before a page-block move or
    /// a constrained scan is cheap, and almost four batches deep so alloc/free bursts of up to 47
    /// frames stay in the cache.
    /// </summary>
    public const int Capacity = 63;
    /// <summary>Frames moved per refill or drain: 16 amortises the buddy work (one list pop or merge chain each) over 16 operations.</summary>
    public const int Batch = 16;

    /// <summary>Entries in use; the top of the stack is <c>_frames[Count - 1]</c>.</summary>
    internal int Count;
    internal fixed ulong _frames[Capacity];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong Pop() { return _frames[--Count]; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Push(ulong index) { _frames[Count++] = index; }

    /// <summary>Entry <paramref name="i"/> (0 = oldest), for drains and the checker.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong At(int i) { return _frames[i]; }

    /// <summary>Reverses entries [from, to).</summary>
    internal void Reverse(int from, int to)
    {
        for (int i = from, j = to - 1; i < j; i++, j--)
        {
            ulong t = _frames[i];
            _frames[i] = _frames[j];
            _frames[j] = t;
        }
    }

    /// <summary>Removes entry <paramref name="i"/>; the top entry takes its slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void RemoveAt(int i) { _frames[i] = _frames[--Count]; }

    /// <summary>Removes the <paramref name="n"/> oldest entries (the caller has given their frames back), sliding the rest down.</summary>
    internal void DropOldest(int n)
    {
        for (int i = n; i < Count; i++)
            _frames[i - n] = _frames[i];
        Count -= n;
    }
}
