namespace PoolKernel.Memory;

/// <summary>
/// What a 4 KiB frame is, as recorded in its one byte of per-frame metadata. Only the first frame
/// (the head) of a block says what the block is; every other frame of the block is <see cref="Tail"/>.
/// Splitting or merging a block therefore rewrites one head byte, never the whole block.
/// </summary>
public enum FrameKind : byte
{
    /// <summary>Not usable memory: a hole, a reserved range, or span padding. Never in any block.</summary>
    Absent = 0,
    /// <summary>The named sentinel "not the head of a block": inside a free or allocated block.</summary>
    Tail = 1,
    /// <summary>Head of a free block, linked on its pool's free list of its order.</summary>
    Free = 2,
    /// <summary>Head of a block handed out by Allocate.</summary>
    Allocated = 3,
    /// <summary>Head of the first aligned piece of a run handed out by AllocateRun.</summary>
    RunFirst = 4,
    /// <summary>Head of a later aligned piece of the same run.</summary>
    RunNext = 5,
    /// <summary>Head of a free block taken off its list while it changes pools (never visible between calls).</summary>
    Isolated = 6,
    /// <summary>
    /// An order-0 frame parked in its pool's <see cref="FrameCache"/>: freed by its owner but kept
    /// un-merged, so it is neither on a free list nor allocated. Counted as free in the pool's
    /// statistics, not in its page block's in-use count; a free of it is a double free.
    /// </summary>
    Cached = 7,
}
