namespace PoolKernel.Memory;

/// <summary>
/// A context's plans kept between allocations (issue 16's cost: building a plan is a selection of the
/// nodes by distance, several times the cost of the allocation it plans). A plan's node order depends
/// only on the policy, the node it is built from (<see cref="PolicyPlan.KeyNode"/>: the CPU's node, or
/// the node interleave picked) and the topology, so the order is kept per "from" node: four entries,
/// direct-mapped by that node's low bits, each the node order and its node. The owner empties the
/// cache whenever the policy changes (<see cref="PolicyContext.Set"/>); it empties itself when it is
/// asked with a topology of another node count or another set of nodes with memory. Distances are the
/// SLIT's and never change (a node's replica of the table has the same bytes), so they are not compared.
/// The caller guards an instance with its context (the kernel: its policy owner's lock).
/// </summary>
public unsafe struct PlanCache
{
    public const int Entries = 4;

    /// <summary>Entry i's node order: words i * PolicyPlan.Words onward, as <see cref="PolicyPlan"/> keeps them.</summary>
    private fixed ulong _words[Entries * PolicyPlan.Words];
    private fixed byte _count[Entries];
    private fixed sbyte _from[Entries];
    /// <summary>Bit i: entry i holds a plan.</summary>
    private byte _valid;
    private int _nodeCount;
    private ulong _memoryNodes;

    /// <summary>
    /// The plan of one allocation under <paramref name="policy"/>, as <see cref="PolicyPlan.For"/> gives it
    /// (the same nodes, counters' fields and cursor step), built only when this cache has no order for its
    /// "from" node. <paramref name="policy"/> must be the policy the cache was filled under (the owner empties
    /// it on every change).
    /// </summary>
    public void Plan(in NumaPolicy policy, ref InterleaveCursor cursor, int cpuNode, in NumaTopology topology, out PolicyPlan plan)
    {
        PlanHead head = Head(policy, ref cursor, cpuNode, topology);
        Fill(head, out plan);
    }

    /// <summary>
    /// The start of one allocation's plan (see <see cref="Plan"/>): steps the cursor, builds the entry of
    /// its "from" node if it is not kept, and answers the plan's first node and counters' fields without
    /// copying the order; <see cref="Fill"/> gives the whole plan, while nothing else has used the cache.
    /// </summary>
    public PlanHead Head(in NumaPolicy policy, ref InterleaveCursor cursor, int cpuNode, in NumaTopology topology)
    {
        if ((uint)cpuNode >= (uint)topology.NodeCount)
            cpuNode = 0;
        int from = PolicyPlan.KeyNode(policy, ref cursor, cpuNode, topology);
        if (topology.NodeCount != _nodeCount || topology.MemoryNodes != _memoryNodes)
        {
            _valid = 0;
            _nodeCount = topology.NodeCount;
            _memoryNodes = topology.MemoryNodes;
        }
        int slot = from & (Entries - 1);
        int at = slot * PolicyPlan.Words;
        if (((_valid >> slot) & 1) == 0 || _from[slot] != from)
        {
            PolicyPlan built = default;
            built.Build(policy, from, topology);
            for (int i = 0; i < PolicyPlan.Words; i++)
                _words[at + i] = built.Word(i);
            _count[slot] = (byte)built.Count;
            _from[slot] = (sbyte)from;
            _valid |= (byte)(1 << slot);
        }
        PlanHead head;
        head.Slot = slot;
        head.Intended = _count[slot] == 0 ? -1 : (byte)_words[at];
        head.CpuNode = cpuNode;
        head.InterleaveNode = PolicyPlan.IsInterleave(policy.Mode) ? from : -1;
        return head;
    }

    /// <summary>The whole plan <paramref name="head"/> started (the cache unchanged since <see cref="Head"/>).</summary>
    public readonly void Fill(in PlanHead head, out PolicyPlan plan)
    {
        plan = default;
        int at = head.Slot * PolicyPlan.Words;
        for (int i = 0; i < PolicyPlan.Words; i++)
            plan.SetWord(i, _words[at + i]);
        plan.Count = _count[head.Slot];
        plan.CpuNode = head.CpuNode;
        plan.InterleaveNode = head.InterleaveNode;
    }
}

/// <summary>One allocation's plan as <see cref="PlanCache.Head"/> starts it: its cache entry, first node and the counters' fields.</summary>
public struct PlanHead
{
    /// <summary>The cache entry holding the node order.</summary>
    public int Slot;
    /// <summary>The plan's first node (the one the policy intended), or -1 for an empty plan.</summary>
    public int Intended;
    /// <summary>The requesting CPU's node (out-of-range ones taken as 0).</summary>
    public int CpuNode;
    /// <summary>The node interleave picked, or -1.</summary>
    public int InterleaveNode;
}
