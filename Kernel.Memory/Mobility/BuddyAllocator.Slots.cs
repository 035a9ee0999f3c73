using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// Free lists by mobility class (grouping by mobility, docs/antifrag.md). A pool's lists are
/// numbered by slot: for each order below the page-block order one list a class (the free blocks of
/// page blocks steered to that class), and for each order from the page-block order up one shared
/// list (whole free page blocks belong to no class until an allocation claims one). Per pool:
/// 3 * PageblockOrder + (MaxOrder + 1 - PageblockOrder) slots, at most 3 * 12 + 9 = 45 (one bit each in
/// <see cref="Pool.ListedSlots"/>). A free block below the page-block order lies inside one page block,
/// so its slot follows from its order and its page block's <see cref="PageblockInfo.Mobility"/>.
/// </summary>
public unsafe partial struct BuddyAllocator
{
    /// <summary>Mobility classes (<see cref="MobilityClass"/>): each has its own lists below the page-block order.</summary>
    internal const int ClassCount = 3;

    /// <summary>List slots a pool has: the class lists, then the shared lists of orders PageblockOrder..MaxOrder.</summary>
    internal static int SlotsFor(int maxOrder, int pageblockOrder) { return 2 * pageblockOrder + maxOrder + 1; }

    /// <summary>The slot of a free block of <paramref name="order"/> whose page block is of class <paramref name="cls"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int SlotOf(int order, int cls)
    {
        int pbo = _pageblockOrder;
        return order < pbo ? cls * pbo + order : 2 * pbo + order;
    }

    /// <summary>The slot of the free block (index, order) as it is (its page block's class read now).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int SlotOfBlock(ulong index, int order) { return SlotOf(order, (int)_pageblocks[index >> _pageblockOrder].Mobility); }

    /// <summary>The order of the blocks listed in <paramref name="slot"/>.</summary>
    internal int OrderOfSlot(int slot)
    {
        int pbo = _pageblockOrder;
        return slot < 3 * pbo ? slot % pbo : slot - 2 * pbo;
    }

    /// <summary>The class whose lists <paramref name="slot"/> is one of; -1 for a shared slot.</summary>
    internal int ClassOfSlot(int slot)
    {
        int pbo = _pageblockOrder;
        return slot < 3 * pbo ? slot / pbo : -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FreeList* ListAt(int pool, int slot) { return _lists + pool * _listStride + slot; }

    /// <summary>The list of <paramref name="order"/> that class <paramref name="cls"/> allocates from (the shared one from the page-block order up).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal FreeList* ListOf(int pool, int order, int cls) { return ListAt(pool, SlotOf(order, cls)); }

    /// <summary>
    /// Class <paramref name="cls"/>'s view of a pool's <see cref="Pool.ListedSlots"/>: bit o set when
    /// the list it would take an order-o block from is not empty (its own below the page-block order,
    /// the shared one above).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong ClassView(ulong slots, int cls)
    {
        int pbo = _pageblockOrder;
        return ((slots >> (cls * pbo)) & ((1UL << pbo) - 1)) | ((slots >> (3 * pbo)) << pbo);
    }

    /// <summary>
    /// <see cref="ClassView"/> shifted down by <paramref name="order"/>: bit k set when the list class <paramref name="cls"/>
    /// would take a block of order + k from is not empty. From the page-block order up every class takes from the
    /// shared lists, whose slots are 2 * PageblockOrder + order (<see cref="SlotOf"/>) and the highest of a pool: one
    /// shift of <see cref="Pool.ListedSlots"/> then, where the full view costs a dozen shifts and masks on every
    /// order-9 allocation (issue 12, the bulk order-9 profile in docs/memory-bench.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong ClassViewFrom(ulong slots, int cls, int order)
    {
        int pbo = _pageblockOrder;
        return order >= pbo ? slots >> (2 * pbo + order) : ClassView(slots, cls) >> order;
    }

    /// <summary>Bit o set when any list of order o of the pool (any class, or shared) is not empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong AnyView(ulong slots)
    {
        int pbo = _pageblockOrder;
        ulong low = (1UL << pbo) - 1;
        return (slots & low) | ((slots >> pbo) & low) | ((slots >> (2 * pbo)) & low) | ((slots >> (3 * pbo)) << pbo);
    }

    /// <summary>True when the pool lists a free block of at least <paramref name="order"/> in any list (stealing can reach it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool HasListedAtLeast(int pool, int order)
    {
        ulong slots = _pools[pool].ListedSlots;
        // Order 0 (the order-0 paths, a constant there): any listed block at all. From the page-block order up only
        // the shared lists hold such blocks (ClassViewFrom).
        if (order == 0)
            return slots != 0;
        int pbo = _pageblockOrder;
        return order >= pbo ? (slots >> (2 * pbo + order)) != 0 : (AnyView(slots) >> order) != 0;
    }

    /// <summary>
    /// The class a pool's frame cache serves: the lowest class the pool accepts (unmovable for an open
    /// pool, movable for a movable-only one). Only frames of page blocks of that class are cached, and
    /// only requests of that class take cached frames, so the cache never carries a frame from one
    /// class's page blocks to another's.
    /// </summary>
    internal static MobilityClass CacheClassFor(in PoolProperties props)
    {
        uint accepted = (uint)props.AcceptedMobility;
        return accepted == 0 ? MobilityClass.Unmovable : (MobilityClass)System.Numerics.BitOperations.TrailingZeroCount(accepted);
    }

    /// <summary>True when pool <paramref name="pool"/>'s frame cache serves class <paramref name="cls"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool CacheServes(int pool, MobilityClass cls) { return _cacheClasses[pool] == cls; }

    /// <summary>Free blocks of <paramref name="order"/> on all of a pool's lists of that order.</summary>
    internal ulong ListedBlocks(int pool, int order)
    {
        if (order >= _pageblockOrder)
            return ListOf(pool, order, 0)->Count;
        ulong n = 0;
        for (int c = 0; c < ClassCount; c++)
            n += ListOf(pool, order, c)->Count;
        return n;
    }
}
