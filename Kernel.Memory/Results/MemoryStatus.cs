namespace PoolKernel.Memory;

/// <summary>
/// The outcome of every operation. Values are grouped by the three kinds of failure
/// (see <see cref="FailureKind"/>): out of memory and "no pool satisfies the rules" are results the
/// caller handles; caller mistakes are refused with state unchanged; corruption means the
/// metadata cannot be trusted and the kernel should fail fast.
/// </summary>
public enum MemoryStatus : byte
{
    Ok = 0,

    // The caller handles these: retry elsewhere, reclaim, or give up.
    OutOfMemory = 1,
    NoPoolSatisfies = 2,
    /// <summary>The allocation would take its container above its quota (Owners/Container.cs); nothing changed but the container's failure count.</summary>
    QuotaExceeded = 3,

    // Caller mistakes: refused, nothing changed.
    InvalidArgument = 16,
    InvalidOrder = 17,
    /// <summary>A range that must start on a page-block edge does not (<see cref="PhysicalMemory.CreatePoolFromRange"/>, the one call that returns it).</summary>
    Unaligned = 18,
    /// <summary>A free of a frame that is free (on a list or in a frame cache): freed twice, or never handed out; the allocator keeps no history to tell which.</summary>
    AlreadyFree = 19,
    /// <summary>A free of a frame that is not the head of an allocated block or run (a tail, or a later piece of a run).</summary>
    NotAllocated = 20,
    WrongOrder = 21,
    OutsideEveryPool = 22,
    OwnerRefused = 23,
    NoSuchPool = 24,
    PoolTableFull = 25,
    PoolInUse = 26,
    PagesInUse = 27,
    BelowMinimum = 28,
    AboveMaximum = 29,
    PropertiesMismatch = 30,
    ImpossibleRules = 31,
    MetadataTooSmall = 32,
    MapInvalid = 33,
    MapZeroLength = 34,
    MapOverlap = 35,
    MapWrapsAround = 36,
    MapBadNode = 37,
    MapNoMemory = 38,
    BadConfig = 39,
    WrongRunLength = 40,
    PoolIsHome = 41,
    RunFreedAsBlock = 42,
    BlockFreedAsRun = 43,
    /// <summary>A free that names another owner than the one the block or run was allocated as (<see cref="FrameOwner"/>).</summary>
    NotOwner = 44,
    /// <summary>A deflate of a page block the balloon does not hold (<see cref="PhysicalMemory.DeflatePageblock"/>), or nothing is lent (<see cref="PhysicalMemory.NextBallooned"/>).</summary>
    NotBallooned = 45,
    /// <summary>A move that would give a realtime pool's page blocks to a pool of lower priority (<see cref="PhysicalMemory.MovePageblocks"/>, docs/realtime.md).</summary>
    RealtimeProtected = 46,

    // The metadata contradicts itself.
    Corruption = 64,
}

/// <summary>The kind of a <see cref="MemoryStatus"/>.</summary>
public enum FailureKind : byte
{
    None,
    OutOfMemory,
    NoPoolSatisfies,
    QuotaExceeded,
    CallerError,
    Corruption,
}

public static class MemoryStatusKinds
{
    public static FailureKind KindOf(MemoryStatus status)
    {
        if (status == MemoryStatus.Ok)
            return FailureKind.None;
        if (status == MemoryStatus.OutOfMemory)
            return FailureKind.OutOfMemory;
        if (status == MemoryStatus.NoPoolSatisfies)
            return FailureKind.NoPoolSatisfies;
        if (status == MemoryStatus.QuotaExceeded)
            return FailureKind.QuotaExceeded;
        if (status >= MemoryStatus.Corruption)
            return FailureKind.Corruption;
        return FailureKind.CallerError;
    }
}
