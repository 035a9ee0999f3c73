namespace PoolKernel.Memory;

/// <summary>
/// An allocation context's policy and its interleave position (the heap is one; the kernel-wide
/// policy is another). <see cref="Set"/> replaces the policy whole after checking it, so a refused
/// policy leaves the context exactly as it was, and restarts the interleave round (as Linux does on
/// a new policy); allocations already made stay where they are.
/// </summary>
public struct PolicyContext
{
    public NumaPolicy Policy;
    public InterleaveCursor Cursor;

    /// <summary>Installs <paramref name="policy"/> if it is valid on <paramref name="topology"/>; otherwise the status and no change.</summary>
    public PolicyStatus Set(in NumaPolicy policy, in NumaTopology topology)
    {
        PolicyStatus status = policy.Validate(topology);
        if (status != PolicyStatus.Ok)
            return status;
        Policy = policy;
        Cursor = default;
        return PolicyStatus.Ok;
    }

    /// <summary>
    /// The policy in force for this context: its own, or <paramref name="fallback"/>'s when its own is
    /// Default (a context without a policy of its own follows the kernel-wide one).
    /// </summary>
    public PolicyPlan Plan(ref PolicyContext fallback, int cpuNode, in NumaTopology topology)
    {
        if (Policy.Mode == PolicyMode.Default)
            return PolicyPlan.For(fallback.Policy, ref fallback.Cursor, cpuNode, topology);
        return PolicyPlan.For(Policy, ref Cursor, cpuNode, topology);
    }

    /// <summary>
    /// A block under this context's own policy for a CPU on <paramref name="cpuNode"/>, counted in
    /// <paramref name="counters"/> when it succeeds: plan, walk, count in one call, for callers that hold
    /// one lock over all three (host tests, benchmarks). Results as <see cref="PolicyAllocator.Allocate"/>.
    /// </summary>
    public MemoryStatus Allocate(ref PhysicalMemory pm, in NumaTopology topology, int cpuNode, Order order, in AllocRequest request,
        ref NumaCounters counters, out Pfn pfn, out int node)
    {
        PolicyPlan plan = PolicyPlan.For(Policy, ref Cursor, cpuNode, topology);
        MemoryStatus status = PolicyAllocator.Allocate(ref pm, plan, order, request, out pfn, out node);
        if (status == MemoryStatus.Ok)
            counters.Record(plan, node);
        return status;
    }
}
