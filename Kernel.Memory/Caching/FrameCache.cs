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
/// Contract: calls on one <see cref="PhysicalMemory"/> are serialised by its caller (today one CPU
/// and no allocation from interrupt handlers; the SMP issue adds the lock in the kernel's owner,
/// and per-CPU instances will need only the CPU's own interrupts off for the push and pop).
/// </summary>
public unsafe struct FrameCache
{
    /// <summary>
    /// 63 entries, so that a cache with its count and newest entry is exactly 512 bytes and the free fast path finds
    /// a pool's cache with a shift instead of a multiply. At the default 2 MiB page block that is
    /// about 1/8 of a page block parked at most, few enough that a drain before a page-block move or
    /// a constrained scan is cheap, and almost four batches deep so alloc/free bursts of up to 47
    /// frames stay in the cache.
    /// </summary>
    public const int Capacity = 63;
    /// <summary>Frames moved per refill or drain: 16 amortises the buddy work (one list pop or merge chain each) over 16 operations.</summary>
    public const int Batch = 16;

    /// <summary>Entries in use (0..<see cref="Capacity"/>).</summary>
    internal int Count;
    /// <summary>
    /// The newest entry (meaningful when Count &gt; 0). It is kept apart from the older ones so a pop
    /// reads it at a fixed place: an allocation right after a free then waits for one store to
    /// forward, not for the count and then the slot it indexes.
    /// </summary>
    internal ulong _top;
    /// <summary>The older entries, oldest first: entries 0 .. Count - 2.</summary>
    internal fixed ulong _below[Capacity - 1];

    /// <summary>Removes and returns the newest entry. Contract: Count &gt; 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong Pop()
    {
        ulong frame = _top;
        int left = --Count;
        _top = _below[left > 0 ? left - 1 : 0]; // meaningless when the cache is now empty
        return frame;
    }

    /// <summary>Adds <paramref name="index"/> as the newest entry. Contract: Count &lt; Capacity.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Push(ulong index)
    {
        _below[Count > 0 ? Count - 1 : 0] = _top; // when empty this writes a slot that holds no entry
        _top = index;
        Count++;
    }

    /// <summary>Entry <paramref name="i"/> (0 = oldest, Count - 1 = newest), for drains and the checker.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong At(int i) { return i == Count - 1 ? _top : _below[i]; }

    /// <summary>Overwrites entry <paramref name="i"/> (tests and the reorderings below).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Set(int i, ulong index)
    {
        if (i == Count - 1)
            _top = index;
        else
            _below[i] = index;
    }

    /// <summary>Reverses entries [from, to).</summary>
    internal void Reverse(int from, int to)
    {
        for (int i = from, j = to - 1; i < j; i++, j--)
        {
            ulong t = At(i);
            Set(i, At(j));
            Set(j, t);
        }
    }

    /// <summary>Removes entry <paramref name="i"/>; the newest entry takes its slot.</summary>
    internal void RemoveAt(int i)
    {
        ulong newest = Pop();
        if (i < Count)
            Set(i, newest);
    }

    /// <summary>Removes the <paramref name="n"/> oldest entries (the caller has given their frames back), sliding the rest down.</summary>
    internal void DropOldest(int n)
    {
        if (n <= 0)
            return;
        int keep = Count - n;
        for (int i = 0; i < keep; i++)
            Set(i, At(i + n));
        Count = keep;
        if (keep > 0)
            _top = _below[keep - 1];
    }
}
