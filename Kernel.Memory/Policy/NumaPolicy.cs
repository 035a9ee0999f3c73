using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// A memory policy as a value: a mode, a node mask and, for weighted interleave, a weight (1..255)
/// per node of the mask. Built by <see cref="Make"/> (the shape checks) and checked against the
/// machine by <see cref="Validate"/> before anyone uses it; pool choice takes it as one more input
/// (<see cref="PolicyPlan"/>). Copied by value: a context's policy is replaced whole, so an
/// allocation sees either the old policy or the new one, and a change affects new allocations only.
/// </summary>
public unsafe struct NumaPolicy
{
    public PolicyMode Mode;
    /// <summary>Bit n = node n (empty for local and default).</summary>
    public ulong Nodes;
    /// <summary>Weight of node n for weighted interleave (0 for nodes outside the mask and for other modes).</summary>
    private fixed byte _weights[NodeDistances.MaxNodes];

    /// <summary>Linux's default policy: the requesting CPU's node first.</summary>
    public static NumaPolicy Local
    {
        get
        {
            NumaPolicy p = default;
            p.Mode = PolicyMode.Local;
            return p;
        }
    }

    /// <summary>A context without a policy of its own (follows the kernel-wide one).</summary>
    public static NumaPolicy Default { get { return default; } }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly byte Weight(int node) { return (uint)node < NodeDistances.MaxNodes ? _weights[node] : (byte)0; }

    /// <summary>
    /// A policy from its parts, shape-checked: <paramref name="weights"/> (<paramref name="weightCount"/>
    /// values, each 1..255, in increasing node order; count 0 = every node weight 1) only for weighted
    /// interleave; nodes for every mode but local and default, exactly one for preferred. Weights are
    /// given as ushort so a value above 255 is refused rather than wrapped. Refused: a status, and
    /// <paramref name="policy"/> is <see cref="Default"/>.
    /// </summary>
    public static PolicyStatus Make(PolicyMode mode, ulong nodes, ushort* weights, int weightCount, out NumaPolicy policy)
    {
        policy = default;
        if (mode > PolicyMode.WeightedInterleave)
            return PolicyStatus.UnknownMode;
        bool takesNodes = mode != PolicyMode.Local && mode != PolicyMode.Default;
        if (!takesNodes && nodes != 0)
            return PolicyStatus.NodesNotTaken;
        if (takesNodes && nodes == 0)
            return PolicyStatus.NodesMissing;
        if (mode == PolicyMode.Preferred && (nodes & (nodes - 1)) != 0)
            return PolicyStatus.OneNodeOnly;
        if (mode != PolicyMode.WeightedInterleave && weightCount != 0)
            return PolicyStatus.WeightsNotTaken;
        if (mode == PolicyMode.WeightedInterleave && weightCount != 0)
        {
            if (weightCount != System.Numerics.BitOperations.PopCount(nodes))
                return PolicyStatus.WeightCount;
            for (int i = 0; i < weightCount; i++)
            {
                if (weights[i] == 0)
                    return PolicyStatus.WeightZero;
                if (weights[i] > 255)
                    return PolicyStatus.WeightTooLarge;
            }
        }
        policy.Mode = mode;
        policy.Nodes = nodes;
        if (mode == PolicyMode.WeightedInterleave)
        {
            int w = 0;
            for (int node = 0; node < NodeDistances.MaxNodes; node++)
            {
                if (((nodes >> node) & 1) != 0)
                    policy._weights[node] = weightCount == 0 ? (byte)1 : (byte)weights[w++];
            }
        }
        return PolicyStatus.Ok;
    }

    /// <summary>
    /// Checks the policy against the machine: every node of the mask exists (below
    /// <paramref name="topology"/>'s node count) and at least one of them has memory (Linux intersects
    /// the mask with the nodes that have memory and refuses an empty result; nodes without memory in a
    /// larger mask are kept and passed over when choosing). Local and default always pass.
    /// </summary>
    public readonly PolicyStatus Validate(in NumaTopology topology)
    {
        if (Mode == PolicyMode.Local || Mode == PolicyMode.Default)
            return PolicyStatus.Ok;
        if (topology.NodeCount < NodeDistances.MaxNodes && (Nodes >> topology.NodeCount) != 0)
            return PolicyStatus.UnknownNode;
        if ((Nodes & topology.MemoryNodes) == 0)
            return PolicyStatus.NoMemory;
        return PolicyStatus.Ok;
    }

    /// <summary>The lowest node of the mask at or above <paramref name="from"/> that is in <paramref name="mask"/>, wrapping; -1 for an empty mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int NextIn(ulong mask, int from)
    {
        if (mask == 0)
            return -1;
        ulong above = (uint)from < NodeDistances.MaxNodes ? mask & (ulong.MaxValue << from) : 0;
        return System.Numerics.BitOperations.TrailingZeroCount(above != 0 ? above : mask);
    }
}
