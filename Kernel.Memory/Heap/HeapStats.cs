namespace PoolKernel.Memory;

/// <summary>One size class: geometry and use. Bytes are counted in whole cells.</summary>
public struct HeapClassStats
{
    /// <summary>Cell size in bytes (what a caller may use of an object of this class).</summary>
    public uint ObjectSize;
    /// <summary>Alignment every cell of the class has (the largest power of two dividing the size).</summary>
    public uint Alignment;
    /// <summary>Buddy order of the class's slabs.</summary>
    public int SlabOrder;
    public uint ObjectsPerSlab;
    public ulong Slabs;
    public ulong Pages;
    public ulong ObjectsInUse;
    public ulong BytesInUse;
    /// <summary>Free cells in the class's slabs.</summary>
    public ulong FreeObjects;
    /// <summary>Slab header plus the padding that aligns the first cell, over all slabs.</summary>
    public ulong HeaderBytes;
    /// <summary>Bytes at the end of every slab too small for a cell, over all slabs.</summary>
    public ulong SlackBytes;
    /// <summary>Empty slabs kept (all nodes) so alternating alloc/free does not go to the pools.</summary>
    public ulong EmptySlabs;
}

/// <summary>The whole heap.</summary>
public struct HeapTotals
{
    /// <summary>Frames the heap holds from the pools (slabs and large runs).</summary>
    public ulong PagesHeld;
    public ulong SlabPages;
    public ulong Slabs;
    public ulong SmallObjects;
    public ulong SmallBytesInUse;
    public ulong LargeObjects;
    public ulong LargePages;
    public ulong HeaderBytes;
    public ulong SlackBytes;
    public ulong FreeCellBytes;
    public ulong EmptySlabs;
    /// <summary>Frees refused as foreign, double or interior.</summary>
    public ulong RefusedFrees;
    public ulong Failures;
}
