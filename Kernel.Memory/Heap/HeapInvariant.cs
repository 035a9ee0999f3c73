namespace PoolKernel.Memory;

/// <summary>The heap invariants <see cref="KernelHeap.Check"/> verifies, in the order it reports them.</summary>
public enum HeapInvariant : byte
{
    Ok = 0,
    /// <summary>A frame the heap records as held is not an allocated block/run head of the pools.</summary>
    HeldPageNotAllocated,
    /// <summary>A slab page's header does not carry the heap's check word for its address.</summary>
    SlabHeaderBroken,
    /// <summary>A slab's class, size, first offset, capacity or order disagrees with its class.</summary>
    SlabGeometry,
    /// <summary>The pools' order for the slab block differs from the slab's order.</summary>
    SlabOrderMismatch,
    /// <summary>The slab's node differs from the node of its page block.</summary>
    SlabWrongNode,
    /// <summary>A free-list link is outside the slab's cells or not on a cell boundary.</summary>
    FreeListOutOfRange,
    /// <summary>A free-list cell has its in-use bit set.</summary>
    FreeListCellInUse,
    /// <summary>The free list is longer than the free count (or has a cycle).</summary>
    FreeListTooLong,
    /// <summary>The free list is shorter than the free count.</summary>
    FreeCountMismatch,
    /// <summary>In-use bits do not add up to capacity minus free count.</summary>
    InUseCountMismatch,
    /// <summary>A slab with free cells is not on a list, or a full one is.</summary>
    ListMembership,
    /// <summary>A partial-list link: prev disagrees, an element is not a held slab of that node and class, or a cycle.</summary>
    PartialListBroken,
    /// <summary>Partial-list lengths or empty counts disagree with the slabs found.</summary>
    PartialListCount,
    /// <summary>More empty slabs are kept on a list than the cache limit.</summary>
    EmptyCacheOverLimit,
    /// <summary>A class's slab or object counter disagrees with the slabs found.</summary>
    ClassCounters,
    /// <summary>Large-object count or pages disagree with the runs found.</summary>
    LargeCounters,
    /// <summary>
    /// Checked with <see cref="HeldPageNotAllocated"/> (numbered last to keep the others' numbers): a
    /// frame the heap records as held is allocated in the pools to another owner than the heap's
    /// (Expected: the heap's owner, Actual: the recorded one).
    /// </summary>
    HeldPageOfOtherOwner,
    /// <summary>
    /// The run-head bit of a frame disagrees with the pools: set on a held head the pools do not have as
    /// a run's first frame, clear on one they do, or set on a frame the heap does not hold (Expected:
    /// whether the bit should be set, Actual: the bit). Free's fast path relies on it to tell a slab from a run.
    /// </summary>
    RunBitWrong,
    /// <summary>
    /// Not the heap's own (the kernel checks it over its heap instances): a container's heap arena whose owner is
    /// not a live container, or one made after its destruction began (Expected: 1, a live container; Actual: 0).
    /// Such an arena's pages are freed by the destruction under it.
    /// </summary>
    ArenaOfNoContainer,
}

/// <summary>The heap checker's verdict: Ok, or the first broken invariant, where, and the two numbers that disagree.</summary>
public struct HeapCheckReport
{
    public HeapInvariant Code;
    /// <summary>The slab, run or cell concerned (a direct-map address), 0 when global.</summary>
    public ulong Address;
    /// <summary>Size class concerned, <see cref="KernelHeap.LargeClass"/> for runs.</summary>
    public byte Class;
    public byte Node;
    public ulong Expected;
    public ulong Actual;

    public readonly bool IsOk { get { return Code == HeapInvariant.Ok; } }

    public static HeapCheckReport Broken(HeapInvariant code, ulong address, int cls, int node, ulong expected, ulong actual)
    {
        HeapCheckReport r;
        r.Code = code;
        r.Address = address;
        r.Class = (byte)cls;
        r.Node = (byte)node;
        r.Expected = expected;
        r.Actual = actual;
        return r;
    }
}

/// <summary>What a pointer refers to (see <see cref="KernelHeap.Describe"/>), for the collector and debugging shells.</summary>
public unsafe struct HeapObjectInfo
{
    /// <summary>Start of the object the pointer is inside.</summary>
    public byte* Start;
    /// <summary>Usable bytes of the object: the cell size, or the run's pages in bytes.</summary>
    public ulong Size;
    /// <summary>Size class, or <see cref="KernelHeap.LargeClass"/>.</summary>
    public byte Class;
    public byte Node;
    public bool Allocated;
}
