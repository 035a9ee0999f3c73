using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The links of a free block, kept inside the free block's first frame (16 bytes at a coloured offset, reached
/// through the direct map), so free lists cost no metadata. Links are frame indices relative to
/// the span base; <see cref="FreeList.End"/> terminates.
/// </summary>
public struct FreeNode
{
    public ulong Next;
    public ulong Prev;
}

/// <summary>
/// One doubly linked list of free blocks of one order in one pool. Doubly linked so a block
/// whose buddy is being merged can be unlinked in O(1) from the middle.
/// Contract: every block on the list is a <see cref="FrameKind.Free"/> head of this order in this pool.
/// </summary>
public unsafe struct FreeList
{
    /// <summary>The sentinel "no block" in links and heads.</summary>
    public const ulong End = ulong.MaxValue;

    public ulong Head;
    public ulong Count;

    /// <summary>
    /// The node of the free block whose first frame is <paramref name="index"/>. It sits at a
    /// cache-line offset chosen by the low 6 bits of the index (a colour), not at offset 0: nodes
    /// at page-aligned addresses all map to the same L1 set, and a split or merge chain touching
    /// ten blocks would then evict itself.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FreeNode* NodeOf(byte* frameMemory, ulong index)
    {
        return (FreeNode*)(frameMemory + (index << Pfn.PageShift) + ((index & ColourMask) << CacheLineShift));
    }

    private const int CacheLineShift = 6;
    /// <summary>64 colours x 64-byte lines = one 4 KiB frame.</summary>
    private const ulong ColourMask = (Pfn.PageSize >> CacheLineShift) - 1;

    public void Reset()
    {
        Head = End;
        Count = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(byte* frameMemory, ulong index)
    {
        FreeNode* node = NodeOf(frameMemory, index);
        ulong head = Head;
        node->Next = head;
        node->Prev = End;
        if (head != End)
            NodeOf(frameMemory, head)->Prev = index;
        Head = index;
        Count++;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Remove(byte* frameMemory, ulong index)
    {
        FreeNode* node = NodeOf(frameMemory, index);
        ulong next = node->Next;
        ulong prev = node->Prev;
        if (prev == End)
            Head = next;
        else
            NodeOf(frameMemory, prev)->Next = next;
        if (next != End)
            NodeOf(frameMemory, next)->Prev = prev;
        Count--;
    }
}
