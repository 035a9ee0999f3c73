using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// N copies of one buffer, one on each node of <see cref="Nodes"/>, each a run of <see cref="Pages"/>
/// frames (made by <see cref="Replication.Allocate"/>). A reader takes the copy nearest its CPU
/// (<see cref="CopyFor"/>: its own node's when there is one); a writer writes every copy
/// (<see cref="Replication.Write"/>). The zero value holds no copy.
/// </summary>
public unsafe struct ReplicaSet
{
    /// <summary>Frames in each copy.</summary>
    public ulong Pages;
    /// <summary>Bit n: a copy lives on node n.</summary>
    public ulong Nodes;
    private fixed ulong _first[NodeDistances.MaxNodes];

    /// <summary>The first frame of the copy on <paramref name="node"/>; <see cref="Pfn.None"/> when there is none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Pfn CopyOn(int node)
    {
        return (uint)node < NodeDistances.MaxNodes && ((Nodes >> node) & 1) != 0 ? new Pfn(_first[node]) : Pfn.None;
    }

    /// <summary>
    /// The copy a CPU on <paramref name="cpuNode"/> reads: its own node's, else the nearest
    /// (<see cref="NumaTopology.Nearest"/>); <see cref="Pfn.None"/> for an empty set.
    /// </summary>
    public readonly Pfn CopyFor(int cpuNode, in NumaTopology topology)
    {
        if (((Nodes >> cpuNode) & 1) != 0 && (uint)cpuNode < NodeDistances.MaxNodes)
            return new Pfn(_first[cpuNode]);
        if ((uint)cpuNode >= (uint)topology.NodeCount)
            return Nodes == 0 ? Pfn.None : new Pfn(_first[System.Numerics.BitOperations.TrailingZeroCount(Nodes)]);
        int node = topology.Nearest(cpuNode, Nodes);
        return node < 0 ? Pfn.None : new Pfn(_first[node]);
    }

    internal void Set(int node, Pfn first)
    {
        _first[node] = first.Value;
        Nodes |= 1UL << node;
    }
}
