namespace PoolKernel.Memory;

/// <summary>
/// Why the last failed allocation failed, kept in the heap so the kernel can print it after a
/// null return: what was asked (bytes, alignment, node, size class or large pages), what the pools
/// answered, and what was free at that moment. Pool is <see cref="PoolId.None"/> because the heap
/// lets pool choice pick (preferred node first, then the distance rule).
/// </summary>
public struct HeapFailure
{
    public HeapStatus Status;
    /// <summary>The last answer of the physical memory manager.</summary>
    public MemoryStatus MemoryStatus;
    public ulong RequestedBytes;
    public ulong Alignment;
    public byte Node;
    /// <summary>Size class asked for, or <see cref="KernelHeap.LargeClass"/> for a page run.</summary>
    public byte Class;
    /// <summary>The pool asked (None: chosen by the pool-choice rule).</summary>
    public PoolId Pool;
    /// <summary>Frames asked of the pools: the slab's block or the large run.</summary>
    public ulong PagesAsked;
    /// <summary>Free frames in all pools when the allocation failed.</summary>
    public ulong FreePagesAtFailure;
    /// <summary>Free frames in the pools of the requested node.</summary>
    public ulong FreePagesOnNode;
    /// <summary>Frames the heap held (after it released its cached empty slabs to retry).</summary>
    public ulong HeapPagesHeld;
    /// <summary>Failures so far, this one included (0 = never failed; the other fields are then zero).</summary>
    public ulong Count;
}
