namespace PoolKernel.Memory;

/// <summary>
/// An allocation context's policy and its interleave position (the heap is one; the kernel-wide
/// policy is another). <see cref="Set"/> replaces the policy whole after checking it, so a refused
/// policy leaves the context exactly as it was, and restarts the interleave round (as Linux does on
/// a new policy) and empties the plans kept under the old one (<see cref="PlanCache"/>); allocations
/// already made stay where they are.
/// </summary>
public struct PolicyContext
{
    public NumaPolicy Policy;
    public InterleaveCursor Cursor;
    /// <summary>The plans already built under <see cref="Policy"/> (emptied by <see cref="Set"/>).</summary>
    public PlanCache Plans;

    /// <summary>Installs <paramref name="policy"/> if it is valid on <paramref name="topology"/>; otherwise the status and no change.</summary>
    public PolicyStatus Set(in NumaPolicy policy, in NumaTopology topology)
    {
        PolicyStatus status = policy.Validate(topology);
        if (status != PolicyStatus.Ok)
            return status;
        Policy = policy;
        Cursor = default;
        Plans = default;
        return PolicyStatus.Ok;
    }

    /// <summary>
    /// The policy in force for this context: its own, or <paramref name="fallback"/>'s when its own is
    /// Default (a context without a policy of its own follows the kernel-wide one).
    /// </summary>
    public PolicyPlan Plan(ref PolicyContext fallback, int cpuNode, in NumaTopology topology)
    {
        PolicyPlan plan;
        if (Policy.Mode == PolicyMode.Default)
            fallback.Plans.Plan(fallback.Policy, ref fallback.Cursor, cpuNode, topology, out plan);
        else
            Plans.Plan(Policy, ref Cursor, cpuNode, topology, out plan);
        return plan;
    }

    /// <summary>
    /// A block under this context's own policy for a CPU on <paramref name="cpuNode"/>, counted in
    /// <paramref name="counters"/> when it succeeds: plan, walk, count in one call, for callers that hold
    /// one lock over all three (host tests, benchmarks). Results as <see cref="PolicyAllocator.Allocate"/>.
    /// The plan's first node is tried from the kept plan's head alone (<see cref="PlanCache.Head"/>); the
    /// whole plan is copied only when that node cannot give the block.
    /// </summary>
    public MemoryStatus Allocate(ref PhysicalMemory pm, in NumaTopology topology, int cpuNode, Order order, in AllocRequest request,
        ref NumaCounters counters, out Pfn pfn, out int node)
    {
        PlanHead head = Plans.Head(Policy, ref Cursor, cpuNode, topology);
        node = -1;
        pfn = Pfn.None;
        MemoryStatus status = head.Intended < 0 ? MemoryStatus.NoPoolSatisfies : PolicyAllocator.AllocateOn(ref pm, head.Intended, order, request, out pfn);
        if (status == MemoryStatus.Ok)
            node = pm.NodeOf(pfn);
        else if (status == MemoryStatus.OutOfMemory || status == MemoryStatus.NoPoolSatisfies)
            status = AfterFirst(ref pm, head, status, order, request, out pfn, out node);
        else
            pfn = Pfn.None;
        if (status == MemoryStatus.Ok)
            counters.Record(head.Intended, head.InterleaveNode, head.CpuNode, node);
        return status;
    }

    /// <summary>The plan's other nodes when its first could not give the block: kept out of <see cref="Allocate"/>'s frame (the plan is 76 bytes).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private readonly MemoryStatus AfterFirst(ref PhysicalMemory pm, in PlanHead head, MemoryStatus first, Order order, in AllocRequest request, out Pfn pfn, out int node)
    {
        Plans.Fill(head, out PolicyPlan plan);
        return PolicyAllocator.AllocateAfterFirst(ref pm, plan, first, order, request, out pfn, out node);
    }
}
