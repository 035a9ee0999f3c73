namespace PoolKernel.Memory;

/// <summary>
/// A NUMA memory policy's mode, with Linux's names and meanings (set_mempolicy(2), numactl(8)).
/// <see cref="Default"/> is a context's "no policy of its own": it follows the kernel-wide one.
/// </summary>
public enum PolicyMode : byte
{
    /// <summary>The context has no policy of its own and follows the kernel-wide one (Linux MPOL_DEFAULT).</summary>
    Default = 0,
    /// <summary>The requesting CPU's node (its nearest node with memory when it has none), then the others by distance.</summary>
    Local,
    /// <summary>Only the given nodes, nearest to the requesting CPU first; no other node.</summary>
    Bind,
    /// <summary>The one given node first, then the others by distance from it.</summary>
    Preferred,
    /// <summary>The given nodes first (nearest to the requesting CPU first), then the others by distance from the CPU.</summary>
    PreferredMany,
    /// <summary>Round robin over the given nodes, one step per allocation; a node that has no memory left falls back by distance from it.</summary>
    Interleave,
    /// <summary>As <see cref="Interleave"/>, but node n takes weight(n) (1..255) consecutive allocations per round.</summary>
    WeightedInterleave,
}
