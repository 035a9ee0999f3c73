namespace PoolKernel.Memory;

/// <summary>
/// The record of one container: an owner number (0..63, the byte every block it allocates carries,
/// <see cref="FrameOwner"/>) with a name, a quota, a guarantee, its permitted pools and its
/// accounting. A container is not a second owner mechanism: it is an owner whose allocations are
/// counted and limited. The records live in the container table the caller attaches
/// (<see cref="PhysicalMemory.AttachContainers"/>), one per owner number, indexed by it.
/// The counters are written only with <see cref="AtomicCount"/>'s atomics (never under a pool
/// lock); the rest changes only in <see cref="PhysicalMemory.CreateContainer"/> and
/// <see cref="PhysicalMemory.DestroyContainer"/>, which the caller serialises with the pools.
/// </summary>
public unsafe struct Container
{
    public PoolName Name;
    /// <summary>Nonzero while the owner number is a container.</summary>
    public byte Live;
    /// <summary>The container's guarantee pool (owner-masked to it alone, minimum = its guarantee), or None.</summary>
    public PoolId GuaranteePool;
    /// <summary>Most pages the container may hold over all pools (1..2^31 - 1).</summary>
    public int QuotaPages;
    /// <summary>Pages of its guarantee pool: the guarantee rounded up to whole page blocks; 0 without one.</summary>
    public int GuaranteePages;
    /// <summary>Pages held now, allocations in flight included (reserved before the pools are asked, given back when they refuse).</summary>
    internal int _held;
    /// <summary>
    /// Accounted allocations between their reservation and their commit or give-back (raised before the
    /// quota is read, lowered after), and accounted frees between their start and their count's drop.
    /// <see cref="PhysicalMemory.DestroyContainer"/> closes the quota and then waits for 0 before it frees
    /// what is left (no block lands after) and again before it reads the held count (no free is half counted).
    /// </summary>
    internal int _inFlight;
    /// <summary>Most pages ever held at once.</summary>
    internal int _peak;
    /// <summary>Pools whose owner mask creation cleared the container's bit in (not permitted): set again on destroy.</summary>
    internal PoolSet _closed;
    /// <summary>Pools whose owner mask creation set the container's bit in (permitted, but closed to it before): cleared on destroy.</summary>
    internal PoolSet _opened;
    /// <summary>Pages held per pool slot (committed allocations only).</summary>
    internal fixed int _heldInPool[PoolId.MaxIds];
    /// <summary>Pages held per node (committed allocations only).</summary>
    internal fixed int _heldOnNode[NodeDistances.MaxNodes];
    /// <summary>Failed allocations by <see cref="ContainerFailure"/>.</summary>
    internal fixed int _failures[ContainerFailures.Count];
    /// <summary>Pages migrated out of short pools by pressure's movable step (<see cref="PhysicalMemory.MoveAboveGuarantees"/>), since creation.</summary>
    internal int _pressureMoved;
    /// <summary>Calls of that step that stopped at one of the container's blocks: no other pool the container may use had room for it.</summary>
    internal int _pressureNoRoomStops;
    /// <summary>The container's reclaim hook (<see cref="ReclaimHook"/>), or null.</summary>
    internal ReclaimHook _reclaim;
}
