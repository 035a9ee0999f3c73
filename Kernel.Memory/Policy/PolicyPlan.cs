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
    private fixed byte _nodes[NodeDistances.MaxNodes];
    /// <summary>Nodes in the plan.</summary>
    public int Count;
    /// <summary>The requesting CPU's node, as the caller gave it (for the local/other counters).</summary>
    public int CpuNode;
    /// <summary>The node interleave picked for this allocation; -1 for other modes.</summary>
    public int InterleaveNode;

    /// <summary>The <paramref name="i"/>-th node to try (i below <see cref="Count"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int NodeAt(int i) { return _nodes[i]; }

    /// <summary>The node the policy intended (the first of the plan), or -1 for an empty plan.</summary>
    public readonly int Intended { get { return Count == 0 ? -1 : _nodes[0]; } }

    /// <summary>
    /// The plan of one allocation under <paramref name="policy"/> (a validated policy; Default is
    /// taken as Local) for a request from a CPU on <paramref name="cpuNode"/> (a node number below
    /// the topology's count; anything else is taken as node 0). Interleave modes advance
    /// <paramref name="cursor"/> by one step; other modes leave it as it is.
    /// </summary>
    public static PolicyPlan For(in NumaPolicy policy, ref InterleaveCursor cursor, int cpuNode, in NumaTopology topology)
    {
        PolicyPlan plan = default;
        plan.InterleaveNode = -1;
        if ((uint)cpuNode >= (uint)topology.NodeCount)
            cpuNode = 0;
        plan.CpuNode = cpuNode;
        ulong memory = topology.MemoryNodes;
        ulong mask = policy.Nodes & memory;
        switch (policy.Mode)
        {
            case PolicyMode.Bind:
                plan.AppendByDistance(cpuNode, mask, topology);
                break;
            case PolicyMode.Preferred:
                plan.AppendByDistance(cpuNode, mask, topology);
                plan.AppendByDistance(plan.Count != 0 ? plan._nodes[0] : cpuNode, memory, topology);
                break;
            case PolicyMode.PreferredMany:
                plan.AppendByDistance(cpuNode, mask, topology);
                plan.AppendByDistance(cpuNode, memory, topology);
                break;
            case PolicyMode.Interleave:
            case PolicyMode.WeightedInterleave:
                int node = policy.Mode == PolicyMode.Interleave ? cursor.Step(mask) : cursor.StepWeighted(mask, policy);
                if (node >= 0)
                {
                    plan.InterleaveNode = node;
                    plan.Append(node);
                    plan.AppendByDistance(node, memory, topology);
                }
                break;
            default:
                plan.AppendByDistance(cpuNode, memory, topology);
                break;
        }
        return plan;
    }

    private void Append(int node)
    {
        _nodes[Count++] = (byte)node;
    }

    /// <summary>Appends the nodes of <paramref name="mask"/> not yet in the plan, nearest to <paramref name="from"/> first.</summary>
    private void AppendByDistance(int from, ulong mask, in NumaTopology topology)
    {
        for (int i = 0; i < Count; i++)
            mask &= ~(1UL << _nodes[i]);
        while (mask != 0)
        {
            int node = topology.Nearest(from, mask);
            Append(node);
            mask &= ~(1UL << node);
        }
    }
}
