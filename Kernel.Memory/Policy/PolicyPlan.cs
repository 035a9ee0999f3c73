using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// One allocation's nodes in the order a policy tries them, each tried alone (a request strict on
/// that node), built by <see cref="For"/>. The first node is the one the policy intended (what the
/// counters compare the result with: <see cref="NumaCounters"/>); the others are its fallback, by
/// distance as Linux's zonelists order them. Only nodes with memory appear: a CPU on a node without
/// memory starts at its nearest node with memory, and nodes without memory in a policy's mask are
/// passed over. A bind plan holds only the mask's nodes, so it fails rather than leave them.
/// </summary>
public unsafe struct PolicyPlan
{
    /// <summary>The nodes in order, eight a word (node i in byte i % 8 of word i / 8): a plan is copied as eight words.</summary>
    private fixed ulong _words[Words];
    /// <summary>Words of <see cref="_words"/>: one byte a node, up to <see cref="NodeDistances.MaxNodes"/> nodes.</summary>
    internal const int Words = NodeDistances.MaxNodes / 8;
    /// <summary>Nodes in the plan.</summary>
    public int Count;
    /// <summary>The requesting CPU's node, as the caller gave it (for the local/other counters).</summary>
    public int CpuNode;
    /// <summary>The node interleave picked for this allocation; -1 for other modes.</summary>
    public int InterleaveNode;

    /// <summary>The <paramref name="i"/>-th node to try (i below <see cref="Count"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int NodeAt(int i) { return (byte)(_words[i >> 3] >> ((i & 7) * 8)); }

    /// <summary>The node the policy intended (the first of the plan), or -1 for an empty plan.</summary>
    public readonly int Intended { get { return Count == 0 ? -1 : (byte)_words[0]; } }

    /// <summary>
    /// The plan of one allocation under <paramref name="policy"/> (a validated policy; Default is
    /// taken as Local) for a request from a CPU on <paramref name="cpuNode"/> (a node number below
    /// the topology's count; anything else is taken as node 0). Interleave modes advance
    /// <paramref name="cursor"/> by one step; other modes leave it as it is.
    /// </summary>
    public static PolicyPlan For(in NumaPolicy policy, ref InterleaveCursor cursor, int cpuNode, in NumaTopology topology)
    {
        if ((uint)cpuNode >= (uint)topology.NodeCount)
            cpuNode = 0;
        int from = KeyNode(policy, ref cursor, cpuNode, topology);
        PolicyPlan plan = default;
        plan.Build(policy, from, topology);
        plan.CpuNode = cpuNode;
        plan.InterleaveNode = IsInterleave(policy.Mode) ? from : -1;
        return plan;
    }

    /// <summary>True for the modes that take one node a step (interleave, weighted interleave).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsInterleave(PolicyMode mode) => mode == PolicyMode.Interleave || mode == PolicyMode.WeightedInterleave;

    /// <summary>
    /// The node a plan's order is built from (<see cref="Build"/>): interleave's next node of the
    /// policy's nodes with memory (the cursor steps; -1 when none has memory), else the requesting
    /// CPU's node (a valid node number). The nodes of a plan depend only on the policy, this node and
    /// the topology, which is what lets <see cref="PlanCache"/> keep them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int KeyNode(in NumaPolicy policy, ref InterleaveCursor cursor, int cpuNode, in NumaTopology topology)
    {
        if (policy.Mode == PolicyMode.Interleave)
            return cursor.Step(policy.Nodes & topology.MemoryNodes);
        if (policy.Mode == PolicyMode.WeightedInterleave)
            return cursor.StepWeighted(policy.Nodes & topology.MemoryNodes, policy);
        return cpuNode;
    }

    /// <summary>
    /// Fills this (empty) plan's nodes for <paramref name="policy"/> from node <paramref name="from"/>
    /// (<see cref="KeyNode"/>'s answer): the selection by distance, the plan's one costly step.
    /// </summary>
    internal void Build(in NumaPolicy policy, int from, in NumaTopology topology)
    {
        ulong memory = topology.MemoryNodes;
        ulong mask = policy.Nodes & memory;
        switch (policy.Mode)
        {
            case PolicyMode.Bind:
                AppendByDistance(from, mask, topology);
                break;
            case PolicyMode.Preferred:
                AppendByDistance(from, mask, topology);
                AppendByDistance(Count != 0 ? NodeAt(0) : from, memory, topology);
                break;
            case PolicyMode.PreferredMany:
                AppendByDistance(from, mask, topology);
                AppendByDistance(from, memory, topology);
                break;
            case PolicyMode.Interleave:
            case PolicyMode.WeightedInterleave:
                if (from >= 0)
                {
                    Append(from);
                    AppendByDistance(from, memory, topology);
                }
                break;
            default:
                AppendByDistance(from, memory, topology);
                break;
        }
    }

    /// <summary>Adds <paramref name="node"/> at the end (the plan's words beyond Count are zero).</summary>
    private void Append(int node)
    {
        _words[Count >> 3] |= (ulong)(byte)node << ((Count & 7) * 8);
        Count++;
    }

    /// <summary>Word <paramref name="i"/> (below <see cref="Words"/>) of the node order, for <see cref="PlanCache"/>'s copy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal readonly ulong Word(int i) { return _words[i]; }

    /// <summary>Sets word <paramref name="i"/> of the node order (a copy of a built plan's, <see cref="PlanCache"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetWord(int i, ulong value) { _words[i] = value; }

    /// <summary>Appends the nodes of <paramref name="mask"/> not yet in the plan, nearest to <paramref name="from"/> first.</summary>
    private void AppendByDistance(int from, ulong mask, in NumaTopology topology)
    {
        for (int i = 0; i < Count; i++)
            mask &= ~(1UL << NodeAt(i));
        while (mask != 0)
        {
            int node = topology.Nearest(from, mask);
            Append(node);
            mask &= ~(1UL << node);
        }
    }
}
