namespace PoolKernel.Memory;

/// <summary>
/// Metadata of one page block (2^PageblockOrder frames, the unit of pool membership): 8 bytes,
/// so about 0.016 bytes a page at the default 512-page blocks.
/// </summary>
public struct PageblockInfo
{
    /// <summary>Pool that owns the block now (<see cref="PoolId.None"/> when it has no present frame).</summary>
    public byte Pool;
    /// <summary>Pool set-up gave it to; destroyed pools return their blocks here.</summary>
    public byte Home;
    /// <summary>
    /// Frames of this block held off the buddy lists: allocated, or parked in the pool's order-0
    /// <see cref="FrameCache"/>. Cache refills and drains keep it, so the order-0 fast paths do not
    /// touch it; the frames in use are Held minus the block's cached frames
    /// (<see cref="PhysicalMemory.GetPageblock"/> reports both). A block with Held = 0 is entirely on
    /// the free lists, which is what a page-block move and compaction look for.
    /// </summary>
    public ushort Held;
    /// <summary>Frames of this block that are present memory (less than a full block at region edges and holes).</summary>
    public ushort Present;
    /// <summary>Node of the block's lowest present frame.</summary>
    public byte Node;
    /// <summary>
    /// The class the block is steered to (docs/antifrag.md): its free blocks below the page-block order
    /// are on that class's lists. Set when an allocation claims the block whole or steals it; meaningless
    /// while the block is wholly free (it is then one block of the shared lists).
    /// </summary>
    public MobilityClass Mobility;
}
