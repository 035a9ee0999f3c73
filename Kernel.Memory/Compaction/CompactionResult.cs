namespace PoolKernel.Memory;

/// <summary>Why a compaction pass stopped.</summary>
public enum CompactionStop : byte
{
    /// <summary>The pool now has a free block of the order asked for.</summary>
    Satisfied = 0,
    /// <summary>Every candidate page block was tried (a full pass, or no block of the order could be made).</summary>
    NoCandidates = 1,
    /// <summary>No target frame outside the page block being emptied (in a page block at least as full): nothing more can move.</summary>
    NoTarget = 2,
    /// <summary>A mover declined a move it had allowed (the page block keeps what it still holds).</summary>
    MoverDeclined = 3,
}

/// <summary>What one compaction pass did (<see cref="PhysicalMemory.Compact"/>).</summary>
public struct CompactionResult
{
    /// <summary>Frames copied to a new place.</summary>
    public ulong PagesMoved;
    /// <summary>Allocated blocks moved (each one call of its owner's mover).</summary>
    public ulong BlocksMoved;
    /// <summary>Page blocks emptied whole.</summary>
    public ulong PageblocksFreed;
    /// <summary>Candidate page blocks looked at (emptied, declined, or left part-way).</summary>
    public ulong PageblocksScanned;
    public CompactionStop Stop;
}
