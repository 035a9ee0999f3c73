namespace PoolKernel.Memory;

/// <summary>
/// numastat's counters per node (<see cref="NumaEvent"/>), counted per successful allocation (a
/// block or run is one event, whatever its size, as Linux counts one per allocation call). The rules
/// are Linux's zone_statistics: the node the memory came from gets Hit when it is the plan's intended
/// node, else Miss (and the intended node gets Foreign); it gets LocalNode when it is the requesting
/// CPU's node, else OtherNode (a CPU on a node without memory always counts OtherNode); an interleave
/// allocation that got the node interleave picked counts InterleaveHit there. Failed allocations count
/// nothing. The caller guards an instance (the kernel: its policy owner's lock).
/// </summary>
public unsafe struct NumaCounters
{
    public const int Events = 6;

    private fixed ulong _counts[NodeDistances.MaxNodes * Events];

    /// <summary>The count of <paramref name="e"/> on <paramref name="node"/> (0 for a node out of range).</summary>
    public readonly ulong Get(int node, NumaEvent e)
    {
        return (uint)node < NodeDistances.MaxNodes ? _counts[node * Events + (int)e] : 0;
    }

    /// <summary>
    /// Counts one allocation made by <paramref name="plan"/> that landed on <paramref name="actual"/>.
    /// A node out of range (no allocation) counts nothing.
    /// </summary>
    public void Record(in PolicyPlan plan, int actual)
    {
        Record(plan.Intended, plan.InterleaveNode, plan.CpuNode, actual);
    }

    /// <summary>
    /// Counts one allocation that landed on <paramref name="actual"/> when the policy intended
    /// <paramref name="intended"/> (-1: none), interleave picked <paramref name="interleaveNode"/> (-1: not
    /// an interleave allocation), for a CPU on <paramref name="cpuNode"/>: for allocators that choose the
    /// node by a policy but place by their own rules (the heap's page refills). A node out of range counts nothing.
    /// </summary>
    public void Record(int intended, int interleaveNode, int cpuNode, int actual)
    {
        if ((uint)actual >= NodeDistances.MaxNodes || intended >= NodeDistances.MaxNodes)
            return;
        if (intended < 0 || actual == intended)
            _counts[actual * Events + (int)NumaEvent.Hit]++;
        else
        {
            _counts[actual * Events + (int)NumaEvent.Miss]++;
            _counts[intended * Events + (int)NumaEvent.Foreign]++;
        }
        if (interleaveNode >= 0 && actual == interleaveNode)
            _counts[actual * Events + (int)NumaEvent.InterleaveHit]++;
        _counts[actual * Events + (int)(actual == cpuNode ? NumaEvent.LocalNode : NumaEvent.OtherNode)]++;
    }

    /// <summary>
    /// The counters' own invariant, for the checker: over all nodes, Miss and Foreign sum to the same
    /// number, and Hit + Miss equals LocalNode + OtherNode (both are one per allocation); InterleaveHit
    /// is at most Hit on each node. False when broken.
    /// </summary>
    public readonly bool Consistent()
    {
        ulong miss = 0, foreign = 0, placed = 0, located = 0;
        for (int n = 0; n < NodeDistances.MaxNodes; n++)
        {
            ulong hit = Get(n, NumaEvent.Hit);
            miss += Get(n, NumaEvent.Miss);
            foreign += Get(n, NumaEvent.Foreign);
            placed += hit + Get(n, NumaEvent.Miss);
            located += Get(n, NumaEvent.LocalNode) + Get(n, NumaEvent.OtherNode);
            if (Get(n, NumaEvent.InterleaveHit) > hit)
                return false;
        }
        return miss == foreign && placed == located;
    }
}
