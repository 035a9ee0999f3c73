namespace PoolKernel.Memory;

/// <summary>The per-node counters of Linux's numastat, with its meanings (counted by <see cref="NumaCounters.Record"/>).</summary>
public enum NumaEvent : byte
{
    /// <summary>Allocated on this node, and this node was the one intended.</summary>
    Hit = 0,
    /// <summary>Allocated on this node although another node was intended.</summary>
    Miss,
    /// <summary>Intended for this node but allocated on another.</summary>
    Foreign,
    /// <summary>Interleave picked this node and the allocation got it.</summary>
    InterleaveHit,
    /// <summary>Allocated on this node for a CPU of this node.</summary>
    LocalNode,
    /// <summary>Allocated on this node for a CPU of another node.</summary>
    OtherNode,
}
