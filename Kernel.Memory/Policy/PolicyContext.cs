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
    /// <remarks>
    /// Shaped for the common case, the first node giving the block (issue 16's cost: the pair through
    /// this layer against the same pair without it): inlined, the request checked once and copied once
    /// with the node made strict, the pools' entry inlined here, the count inlined; every other case (an empty plan, a named pool, the first
    /// node failing) leaves through <see cref="NotOnFirst"/>, outside this frame, with the first try's
    /// status (the first node is never asked twice).
    /// </remarks>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public MemoryStatus Allocate(ref PhysicalMemory pm, in NumaTopology topology, int cpuNode, Order order, in AllocRequest request,
        ref NumaCounters counters, out Pfn pfn, out int node)
    {
        PlanHead head = Plans.Head(Policy, ref Cursor, cpuNode, topology);
        MemoryStatus status = MemoryStatus.NoPoolSatisfies;
        if (head.Intended >= 0 && request.Pool.IsNone)
        {
            AllocRequest strict = request;
            strict.Flags |= RequestFlags.NodeStrict;
            strict.PreferredNode = (byte)head.Intended;
            status = pm.Allocate(order, strict, out pfn);
            if (status == MemoryStatus.Ok)
            {
                node = pm.NodeOf(pfn);
                counters.Record(head.Intended, head.InterleaveNode, head.CpuNode, node);
                return status;
            }
        }
        return NotOnFirst(ref pm, head, status, order, request, ref counters, out pfn, out node);
    }

    /// <summary>
    /// <see cref="Allocate"/> when the plan's first node did not give the block (<paramref name="first"/>: its
    /// status; NoPoolSatisfies when it was not asked: an empty plan or a named pool): a named pool refused,
    /// a failure other than OutOfMemory or NoPoolSatisfies passed on, else the plan's other nodes (the plan
    /// is 76 bytes: copied here, outside Allocate's frame), counted when one gives the block.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private readonly MemoryStatus NotOnFirst(ref PhysicalMemory pm, in PlanHead head, MemoryStatus first, Order order, in AllocRequest request,
        ref NumaCounters counters, out Pfn pfn, out int node)
    {
        pfn = Pfn.None;
        node = -1;
        if (!request.Pool.IsNone)
            return MemoryStatus.InvalidArgument;
        if (first != MemoryStatus.OutOfMemory && first != MemoryStatus.NoPoolSatisfies)
            return first;
        Plans.Fill(head, out PolicyPlan plan);
        MemoryStatus status = PolicyAllocator.AllocateAfterFirst(ref pm, plan, first, order, request, out pfn, out node);
        if (status == MemoryStatus.Ok)
            counters.Record(head.Intended, head.InterleaveNode, head.CpuNode, node);
        return status;
    }
}
