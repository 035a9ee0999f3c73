using System.Numerics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// A hot cache of order-0 frames (or, as a block cache, of blocks of one order above 0: the same stack of
/// block heads, see <see cref="BlockSlots"/>): a LIFO stack of frame indices (relative to the span base) that
/// were freed as order 0 and kept un-merged, the way Linux keeps per-CPU page lists. Allocating an
/// order-0 frame pops the most recently freed one (still warm in the CPU caches) and freeing one
/// pushes it, so neither touches the buddy lists. When the stack is empty it is refilled with
/// <see cref="BatchSize"/> frames from the buddy lists; when it holds <see cref="High"/> frames the
/// <see cref="BatchSize"/> oldest (coldest) entries are drained back with merging. Both scale with the
/// pool's present frames (<see cref="HighFor"/>), as Linux sizes its per-CPU batches to the zone; a
/// small pool has no cache at all (High 0) and behaves as a plain buddy allocator.
/// Every entry's frame byte reads <see cref="FrameKind.Cached"/> and its page block belongs to the
/// cache's pool. One cache a (pool, CPU) (<see cref="BuddyAllocator.CacheOf(int, int)"/>), all of a pool's
/// with the same high mark. Contract: a cache is touched by its own CPU's fast paths inside a lock-free
/// section (its <see cref="CacheLock.Active"/> word raised, the cache not frozen) or, in an instance without
/// the process-wide barrier, under its lock; otherwise only under its lock (<see cref="BuddyAllocator._cacheLocks"/>):
/// refill and drain take it and the pool's lock, another CPU freezes the cache and waits its owner out
/// holding it (PhysicalMemory.Locks.cs, docs/smp.md).
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
    /// <summary>
    /// Frames moved per refill or drain in a pool of at least 16384 frames (64 MiB): 16 amortises the
    /// buddy work (one list pop or merge chain each) over 16 operations.
    /// </summary>
    public const int Batch = 16;
    /// <summary>
    /// log2 of the pool frames per frame of batch: a batch of present / 1024, rounded down to a power
    /// of two and at most <see cref="Batch"/>. With a high mark under four batches a cache parks under
    /// present / 256 frames (0.4% of the pool); Linux's batch of zone pages / 4096 (rounded down to
    /// 2^n - 1) with a high mark of six batches parks under 0.15% of the zone.
    /// </summary>
    public const int PagesPerBatchShift = 10;
    /// <summary>
    /// A pool smaller than this many blocks of the largest order has no cache (16 MiB at MaxOrder 10). A
    /// refill splits the lowest free block it finds into order-0 frames that stay parked, so an exact
    /// fit that a plain buddy would have kept whole is broken up: on a pool of one or two largest
    /// blocks that is a large share of what it can ever hand out (issue 12: a 32-frame pool refused an
    /// order-4 block with 17 frames free). With at least four, a refill of at most
    /// (present / 1024) frames touches under a thousandth of the pool, and any request that draining
    /// could satisfy is met by the drain-and-retry on the slow path.
    /// </summary>
    public const int MinLargestBlocks = 4;

    /// <summary>
    /// The order of a block of 64 frames: their frame-state bytes (and their owner bytes) fill one 64-byte line. An
    /// instance of several CPUs refills an empty full-size order-0 cache with one such block
    /// (<see cref="BuddyAllocator.RefillLine"/>), so no two CPUs' cached frames share those lines.
    /// </summary>
    public const int LineOrder = 6;

    /// <summary>
    /// The orders above 0 that have caches of their own, as Linux keeps per-CPU lists for orders 1-3 and
    /// for the huge-page order (2 MiB on x86-64): <see cref="BlockSlots"/> caches a (pool, CPU), slot s for
    /// order <see cref="OrderOfSlot"/>(s) (<see cref="BuddyAllocator.BlockCacheOf"/>). Each is a
    /// FrameCache whose entries are heads of cached blocks of its order.
    /// </summary>
    public const int BlockSlots = 4;
    /// <summary>The huge-page order, the last slot's: a 2 MiB block, what page tables map with one entry.</summary>
    public const int HugeOrder = 9;
    /// <summary>
    /// The most blocks a cache of an order above 0 holds: 7 (batch 2), so that a block cache fits in
    /// <see cref="BlockBytes"/>. Linux bounds all orders of a CPU's lists together in pages; here each
    /// order has its own bound, at most the order-0 cache's frames for orders 1-3
    /// (<see cref="HighFor(ulong, int, int)"/>).
    /// </summary>
    public const int BlockCapacity = 7;
    /// <summary>
    /// The bytes a block cache takes: one cache line, the first 64 bytes of a FrameCache (count and high
    /// mark 8, the newest entry 8, six older entries 48). A block cache is addressed as a FrameCache
    /// (<see cref="BuddyAllocator.BlockCacheOf"/>) whose high mark never exceeds <see cref="BlockCapacity"/>,
    /// so no operation reaches past its 64 bytes (Push writes entry Count - 1 &lt;= 5 of the older ones);
    /// the four of a (pool, CPU) take 256 bytes instead of 2 KiB, which keeps the metadata within issue 12's
    /// 8 bytes a page on small machines.
    /// </summary>
    public const int BlockBytes = 64;
    /// <summary>
    /// log2 of the pool frames per cached huge block: one per 2^17 frames (512 MiB), so the huge blocks
    /// parked on one CPU are at most present / 256 frames, the order-0 cache's bound.
    /// </summary>
    public const int PagesPerHugeShift = 17;

    /// <summary>The order of block-cache slot <paramref name="slot"/> (0..<see cref="BlockSlots"/> - 1): 1, 2, 3, then <see cref="HugeOrder"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int OrderOfSlot(int slot) { return slot < 3 ? slot + 1 : HugeOrder; }

    /// <summary>The block-cache slot of <paramref name="order"/>, or -1 when that order has no cache (0 has the frame cache).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SlotOfOrder(int order) { return (uint)(order - 1) < 3u ? order - 1 : order == HugeOrder ? 3 : -1; }

    /// <summary>
    /// The high mark, in blocks, of a pool's caches of <paramref name="order"/>: for order 0 <see cref="HighFor(ulong, int)"/>;
    /// for orders 1-3 the order-0 mark shifted right by the order (so each parks at most as many frames
    /// as the order-0 cache: 63 frames give 7, 7 and 7 blocks, 15 frames 7, 3 and 1), at most <see cref="BlockCapacity"/>; for
    /// the huge order one block a 512 MiB of pool (<see cref="PagesPerHugeShift"/>) rounded down to 2^n - 1
    /// (at least 1), at most <see cref="BlockCapacity"/>. 0 (no cache) wherever the order-0 cache has none
    /// (a small pool, <see cref="MinLargestBlocks"/>) and for an order above <paramref name="maxOrder"/>.
    /// </summary>
    public static int HighFor(ulong presentPages, int maxOrder, int order)
    {
        int high0 = HighFor(presentPages, maxOrder);
        if (order == 0 || high0 == 0)
            return high0;
        if (order > maxOrder)
            return 0;
        int high;
        if (order < HugeOrder)
            high = high0 >> order;
        else
        {
                ulong blocks = presentPages >> PagesPerHugeShift;
            if (blocks == 0)
                return 0;
            high = blocks < 2 ? 1 : (1 << BitOperations.Log2(blocks)) - 1;
        }
        return high > BlockCapacity ? BlockCapacity : high;
    }

    /// <summary>Entries in use (0..<see cref="High"/>).</summary>
    internal int Count;
    /// <summary>
    /// The most entries this cache may hold: 4 x batch - 1 (3, 7, 15, 31 or <see cref="Capacity"/>), or 0
    /// when the pool has no cache (<see cref="HighFor"/>). Kept beside the count (in what was padding,
    /// so the layout stays 512 bytes) and set whenever the pool's present frames change; a cache never
    /// holds more (the checker verifies it).
    /// </summary>
    internal int High;

    /// <summary>
    /// Entries a refill takes and a full cache drains: (High + 1) / 4 for a high mark of 2^n - 1 of at least
    /// 3, 1 for a high mark of 1 (a block cache of one entry, <see cref="HighFor(ulong, int, int)"/>).
    /// </summary>
    internal int BatchSize { [MethodImpl(MethodImplOptions.AggressiveInlining)] get { return (High + 4) >> 2; } }

    /// <summary>
    /// The high mark of a pool with <paramref name="presentPages"/> frames and largest order
    /// <paramref name="maxOrder"/>: 0 (no cache) below <see cref="MinLargestBlocks"/> largest blocks or
    /// 1024 frames; else 4 x batch - 1 with batch = present / 1024 rounded down to a power of two, at
    /// most <see cref="Batch"/>.
    /// </summary>
    public static int HighFor(ulong presentPages, int maxOrder)
    {
        ulong batch = presentPages >> PagesPerBatchShift;
        if (batch == 0 || presentPages < (ulong)MinLargestBlocks << maxOrder)
            return 0;
        if (batch > Batch)
            batch = Batch;
        return (4 << BitOperations.Log2(batch)) - 1;
    }

    /// <summary>
    /// The entries: slot 0 the newest (meaningful when Count &gt; 0), slot i + 1 older entry i (oldest first,
    /// entries 0 .. Count - 2). The newest is kept at a fixed place so a pop reads it there: an allocation
    /// right after a free then waits for one store to forward, not for the count and then the slot it indexes.
    /// Slot Count is where the newest goes when a push makes it an older entry, and where a pop finds the next
    /// newest, so neither tests for an empty cache: with Count 0 (push) or 1 (pop) that slot is slot 0 itself,
    /// copied onto itself (ilc: a compare and a branch less in each than indexing the older entries apart).
    /// </summary>
    internal fixed ulong _slots[Capacity];

    /// <summary>Removes and returns the newest entry. Contract: Count &gt; 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong Pop()
    {
        ulong frame = _slots[0];
        int left = --Count;
        _slots[0] = _slots[left]; // meaningless when the cache is now empty
        return frame;
    }

    /// <summary>Adds <paramref name="index"/> as the newest entry. Contract: Count &lt; Capacity.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Push(ulong index)
    {
        int count = Count;
        _slots[count] = _slots[0]; // when empty this copies slot 0, which holds no entry, onto itself
        _slots[0] = index;
        Count = count + 1;
    }

    /// <summary>Entry <paramref name="i"/> (0 = oldest, Count - 1 = newest), for drains and the checker.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong At(int i) { return i == Count - 1 ? _slots[0] : _slots[i + 1]; }

    /// <summary>Overwrites entry <paramref name="i"/> (tests and the reorderings below).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Set(int i, ulong index)
    {
        if (i == Count - 1)
            _slots[0] = index;
        else
            _slots[i + 1] = index;
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
            _slots[0] = _slots[keep];
    }
}
