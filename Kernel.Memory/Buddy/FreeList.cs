using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The links of a free block, kept inside the free block itself (its first 16 bytes, reached
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FreeNode* NodeOf(byte* frameMemory, ulong index)
    {
        return (FreeNode*)(frameMemory + (index << Pfn.PageShift));
    }

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
