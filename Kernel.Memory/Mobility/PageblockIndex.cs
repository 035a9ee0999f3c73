using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The cheapest-block index: the page blocks that have free frames on class lists, filed by pool,
/// mobility class and held count, so the page block that costs least to take over (stealing) or to
/// empty (compaction) is found without a scan of every page block. A page block is filed when it
/// belongs to a pool, is not wholly held (Held &lt; Present) and is not wholly free and whole (those
/// are on the shared lists, one free block, and need no index); its bucket is 0 for Held = 0 (a
/// page block with holes) and 1 + log2(Held) otherwise, so the lowest non-empty bucket of a
/// (pool, class) holds page blocks within a factor of two of the fewest held frames. Each bucket is a
/// doubly linked list of page-block numbers; a bit mask a (pool, class) says which buckets are not
/// empty. Kept by <see cref="BuddyAllocator.HeldChanged"/> on every held-count change, and on class
/// and pool changes; the checker verifies membership and links. 8 bytes a page block plus
/// 4 * (PageblockOrder + 2) bytes a (pool, class).
/// </summary>
public unsafe struct PageblockIndex
{
    /// <summary>"No page block": end of a bucket, unset link.</summary>
    public const uint None = uint.MaxValue;

    /// <summary>First page block of bucket b of (pool p, class c): _heads[(p * 3 + c) * _buckets + b].</summary>
    internal uint* _heads;
    /// <summary>Bit b set when bucket b of (pool, class) is not empty: _masks[p * 3 + c].</summary>
    internal uint* _masks;
    /// <summary>Per page block: next and previous page block of its bucket (_links[2 pb], _links[2 pb + 1]).</summary>
    internal uint* _links;
    /// <summary>Buckets a (pool, class): PageblockOrder + 1 (held counts 0, 1, 2-3, ..., up to 2^PageblockOrder - 1).</summary>
    internal int _buckets;

    /// <summary>Bytes of the three tables for a pool table of <paramref name="pools"/> and <paramref name="pageblocks"/> page blocks.</summary>
    public static ulong HeadsBytes(int pools, int pageblockOrder) { return (ulong)pools * BuddyAllocator.ClassCount * (ulong)(pageblockOrder + 1) * sizeof(uint); }
    public static ulong MasksBytes(int pools) { return (ulong)pools * BuddyAllocator.ClassCount * sizeof(uint); }
    public static ulong LinksBytes(ulong pageblocks) { return pageblocks * 2 * sizeof(uint); }

    /// <summary>
    /// The bucket of a page block with <paramref name="held"/> of <paramref name="present"/> frames
    /// held, or -1 when it is not filed (wholly held, or wholly free and whole).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Key(uint held, uint present, uint full)
    {
        if (held >= present || (held == 0 && present == full))
            return -1;
        return held == 0 ? 0 : 1 + System.Numerics.BitOperations.Log2(held);
    }

    internal void Reset(int pools, ulong pageblocks, int pageblockOrder)
    {
        _buckets = pageblockOrder + 1;
        for (ulong i = 0; i < (ulong)pools * BuddyAllocator.ClassCount * (ulong)_buckets; i++)
            _heads[i] = None;
        for (int i = 0; i < pools * BuddyAllocator.ClassCount; i++)
            _masks[i] = 0;
        for (ulong i = 0; i < pageblocks * 2; i++)
            _links[i] = None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint* HeadOf(int pool, int cls, int bucket) { return _heads + (pool * BuddyAllocator.ClassCount + cls) * _buckets + bucket; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint Mask(int pool, int cls) { return _masks[pool * BuddyAllocator.ClassCount + cls]; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint Next(ulong pb) { return _links[2 * pb]; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint Prev(ulong pb) { return _links[2 * pb + 1]; }

    /// <summary>Files page block <paramref name="pb"/> at the head of a bucket.</summary>
    internal void Insert(int pool, int cls, int bucket, ulong pb)
    {
        uint* head = HeadOf(pool, cls, bucket);
        uint first = *head;
        _links[2 * pb] = first;
        _links[2 * pb + 1] = None;
        if (first != None)
            _links[2 * (ulong)first + 1] = (uint)pb;
        *head = (uint)pb;
        _masks[pool * BuddyAllocator.ClassCount + cls] |= 1u << bucket;
    }

    /// <summary>Takes page block <paramref name="pb"/> out of the bucket it is filed in; its links read None after.</summary>
    internal void Remove(int pool, int cls, int bucket, ulong pb)
    {
        uint next = _links[2 * pb], prev = _links[2 * pb + 1];
        uint* head = HeadOf(pool, cls, bucket);
        if (prev == None)
            *head = next;
        else
            _links[2 * (ulong)prev] = next;
        if (next != None)
            _links[2 * (ulong)next + 1] = prev;
        _links[2 * pb] = None;
        _links[2 * pb + 1] = None;
        if (*head == None)
            _masks[pool * BuddyAllocator.ClassCount + cls] &= ~(1u << bucket);
    }
}
