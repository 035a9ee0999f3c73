using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The links of one listed free block: frame indices (relative to the span base) of its neighbours
/// on its list, 32 bits each, <see cref="None"/> at either end. Kept in the dense
/// <see cref="NodeTable"/>, not inside the free frame (see there for why).
/// </summary>
public struct FreeNode
{
    /// <summary>The "no neighbour" link; <see cref="FreeList.End"/> when read as an index.</summary>
    public const uint None = uint.MaxValue;

    public uint Next;
    public uint Prev;

    /// <summary>The next block's index, or <see cref="FreeList.End"/>.</summary>
    public readonly ulong NextIndex
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return Next == None ? FreeList.End : Next; }
    }

    /// <summary>The previous block's index, or <see cref="FreeList.End"/>.</summary>
    public readonly ulong PrevIndex
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return Prev == None ? FreeList.End : Prev; }
    }

    /// <summary>An index (below <see cref="NodeTable.MaxSpanPages"/>) or End as a link.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Link(ulong index) { return index == FreeList.End ? None : (uint)index; }
}

/// <summary>
/// Where the <see cref="FreeNode"/>s live: a dense array in the metadata, one 8-byte node for every
/// two frames of the span (4 bytes a frame), found through a directory of chunks of
/// 2^<see cref="ChunkOrder"/> frames (128 MiB) so that chunks without present memory (the PCI hole
/// below 4 GiB, gaps between nodes) have no nodes at all.
/// Why one node a pair is enough: only listed free heads have a node, and two listed heads never
/// share a pair. The frames 2j and 2j + 1 can both be listed heads only as two free order-0
/// blocks, which are buddies; below the page-block order (at least 1, <see cref="MemoryConfig.PageblockOrder"/>)
/// buddies share a page block and so a pool, and free buddies of one pool are always merged (a
/// merge unlinks the buddy before the merged block's node is written; a split writes the upper
/// half's node after the whole left its list).
/// Why not inside the free frames, as before: a merge unlinks the buddy, which touches the buddy's
/// node and both its neighbours' nodes, each a cold cache line in a different 4 KiB frame (and a
/// different TLB entry); freeing half of a 4 GiB map frame by frame was 2-3x slower than a classic
/// buddy's 64-byte descriptors (issue 12). The table of 4 GiB is 4 MiB and a sequential free walks
/// it sequentially. And the allocator never writes into the memory it manages.
/// A node whose pair holds no listed head reads None, None (set-up fills the table so, and
/// <see cref="FreeList.Remove"/> clears what it unlinks): the metadata then depends only on the
/// allocator's state, so a snapshot shows a refused call changed nothing, and the checker verifies it.
/// Links are 32 bits: a span holds at most <see cref="MaxSpanPages"/> frames (16 TiB); set-up trims
/// RAM beyond that as it trims RAM above 2^52 (<see cref="MemoryTotals.BeyondLimitPages"/>).
/// </summary>
public unsafe struct NodeTable
{
    /// <summary>The largest span a 32-bit link can index, with <see cref="FreeNode.None"/> kept free: 2^32 - 2^20 frames.</summary>
    public const ulong MaxSpanPages = (1UL << 32) - (1UL << Order.Limit);
    /// <summary>log2 of the frames of a directory chunk: 128 MiB, a sixteenth of the smallest PCI hole QEMU leaves below 4 GiB.</summary>
    public const int ChunkOrder = 15;
    private const ulong ChunkMask = (1UL << ChunkOrder) - 1;

    /// <summary>Frames a node: a pair.</summary>
    public const int Shift = 1;

    /// <summary>
    /// For each chunk of the span: its first node less the chunk's first pair (<see cref="Entry"/>;
    /// nodes of the chunk are consecutive). A chunk with no present frame has no nodes and is never
    /// looked up. Biased pointers rather than offsets so a lookup is one load, a shift and an add.
    /// </summary>
    public FreeNode** Chunks;

    /// <summary>Directory entries for a span of <paramref name="spanPages"/> frames.</summary>
    public static ulong ChunksFor(ulong spanPages) { return (spanPages + ChunkMask) >> ChunkOrder; }

    /// <summary>Nodes chunk <paramref name="chunk"/> of a span of <paramref name="spanPages"/> frames needs (the last chunk may be short).</summary>
    public static ulong NodesIn(ulong chunk, ulong spanPages)
    {
        ulong end = (chunk + 1) << ChunkOrder;
        return ((end < spanPages ? end : spanPages) - (chunk << ChunkOrder)) >> Shift;
    }

    /// <summary>The node of the listed free block whose first frame is <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly FreeNode* Of(ulong index) { return Chunks[index >> ChunkOrder] + (index >> Shift); }

    /// <summary>
    /// The directory entry of chunk <paramref name="chunk"/> whose nodes start at <paramref name="first"/>:
    /// biased by the chunk's first frame, so that <see cref="Of"/> adds the frame's pair number unmasked.
    /// Where the chunks' nodes follow each other without a gap (no chunk without memory before them),
    /// their entries are one and the same pointer: the lookup is then a flat array's, from a line that
    /// stays in L1 (the directory of 4 GiB is 32 entries).
    /// </summary>
    public static FreeNode* Entry(FreeNode* first, ulong chunk) { return first - ((chunk << ChunkOrder) >> Shift); }
}

/// <summary>
/// One doubly linked list of free blocks of one order in one pool. Doubly linked so a block
/// whose buddy is being merged can be unlinked in O(1) from the middle.
/// Contract: every block on the list is a <see cref="FrameKind.Free"/> head of this order in this pool.
/// </summary>
public unsafe struct FreeList
{
    /// <summary>The sentinel "no block" in heads and in the indices links are read as.</summary>
    public const ulong End = ulong.MaxValue;

    public ulong Head;
    public ulong Count;

    /// <summary>The node of the free block whose first frame is <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FreeNode* NodeOf(in NodeTable nodes, ulong index) { return nodes.Of(index); }

    public void Reset()
    {
        Head = End;
        Count = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(in NodeTable nodes, ulong index)
    {
        FreeNode* node = nodes.Of(index);
        ulong head = Head;
        node->Next = FreeNode.Link(head);
        node->Prev = FreeNode.None;
        if (head != End)
            nodes.Of(head)->Prev = (uint)index;
        Head = index;
        Count++;
    }

    /// <summary>Removes the head block, which the caller read from <see cref="Head"/> (not End): <see cref="Remove"/> without the predecessor it cannot have.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PopHead(in NodeTable nodes, ulong head)
    {
        FreeNode* node = nodes.Of(head);
        uint next = node->Next;
        if (next == FreeNode.None)
            Head = End;
        else
        {
            Head = next;
            nodes.Of(next)->Prev = FreeNode.None;
        }
        *(ulong*)node = ulong.MaxValue; // both links None
        Count--;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Remove(in NodeTable nodes, ulong index)
    {
        FreeNode* node = nodes.Of(index);
        uint next = node->Next;
        uint prev = node->Prev;
        if (prev == FreeNode.None)
            Head = next == FreeNode.None ? End : next;
        else
            nodes.Of(prev)->Next = next;
        if (next != FreeNode.None)
            nodes.Of(next)->Prev = prev;
        *(ulong*)node = ulong.MaxValue; // both links None
        Count--;
    }
}
