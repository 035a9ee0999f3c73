namespace PoolKernel.Memory;

/// <summary>
/// How the owner of movable memory lets compaction move it: a context and two function pointers,
/// registered per owner (<see cref="PhysicalMemory.RegisterMover"/>). Compaction never moves a block
/// whose owner registered no mover, nor one the mover declines; so the mover is where "pinned"
/// (a frame a device or another CPU may reach by its physical address: DMA, a page table in use) is
/// decided. Compaction moves a block only inside its own pool, so the pool's window and nodes hold for
/// the copy; pressure on a container (<see cref="PhysicalMemory.MoveAboveGuarantees"/>) moves a container's
/// block to another pool the container may use, whose window may differ. So a block handed to a device
/// under an address rule narrower than its pool's, or any block that must stay in its pool, must be declined.
/// In compaction both calls run in a section of a pass: the pool table's lock and the block's pool's locks with
/// its caches' held, so nothing of that pool changes and no other call of any mover runs meanwhile (one pass at a
/// time); between two sections the owner's blocks may be freed and others allocated, so CanMove is asked again in
/// every section that moves a block. Under pressure they run under every lock but the realtime pools' (the
/// table lock included, <see cref="PhysicalMemory.LockAllButRealtime"/>). Either way they must not call back into the instance.
/// </summary>
public unsafe struct FrameMover
{
    /// <summary>Passed back to both calls unchanged (the owner's own state).</summary>
    public void* Context;

    /// <summary>
    /// May the allocated block at (pfn, order) move now? False: pinned, or not a block this owner maps
    /// through a mapping it can change. Asked before a page block is chosen, so a declined block keeps
    /// its whole page block from being emptied and nothing is moved there.
    /// </summary>
    public delegate*<void*, Pfn, int, bool> CanMove;

    /// <summary>
    /// Copy the block (from, order) to the block at <paramref name="to"/> (already allocated to the owner,
    /// same order; the same pool for compaction, another pool for pressure) and rewrite every mapping of it to point at the copy, invalidating stale
    /// translations; true when done. False: nothing was changed (the source stays mapped and allocated,
    /// the target is given back).
    /// </summary>
    public delegate*<void*, Pfn, Pfn, int, bool> Move;

    public readonly bool IsRegistered { get { return Move != null; } }
}
