namespace PoolKernel.Memory;

/// <summary>
/// Allocation by a <see cref="PolicyPlan"/>: the plan's nodes in order, each as a request strict on
/// that node (<see cref="RequestFlags.NodeStrict"/>, the request's other constraints kept), until one
/// gives memory. Pool choice inside a node is the usual rule (<see cref="PoolChoice"/>). A request
/// that names a pool is not a choice and is refused (InvalidArgument): policies apply to pool choice only.
/// </summary>
public static class PolicyAllocator
{
    /// <summary>
    /// A block of 2^<paramref name="order"/> frames by the plan. Ok with the block and the node it is on;
    /// OutOfMemory when some node's pools qualified but had no fitting block; NoPoolSatisfies when no
    /// node of the plan had a qualifying pool (an empty plan too); any other status as the pools gave
    /// it, at once (a caller's mistake or corruption is not a reason to try the next node).
    /// </summary>
    public static MemoryStatus Allocate(ref PhysicalMemory pm, in PolicyPlan plan, Order order, in AllocRequest request, out Pfn pfn, out int node)
    {
        return Walk(ref pm, plan, order, 0, request, out pfn, out node);
    }

    /// <summary>A run of <paramref name="pages"/> contiguous frames by the plan (as <see cref="PhysicalMemory.AllocateRun"/>); results as <see cref="Allocate"/>.</summary>
    public static MemoryStatus AllocateRun(ref PhysicalMemory pm, in PolicyPlan plan, ulong pages, in AllocRequest request, out Pfn first, out int node)
    {
        return Walk(ref pm, plan, default, pages, request, out first, out node);
    }

    /// <summary>The one walk: a block of <paramref name="order"/> when <paramref name="runPages"/> is 0, else a run.</summary>
    private static MemoryStatus Walk(ref PhysicalMemory pm, in PolicyPlan plan, Order order, ulong runPages, in AllocRequest request, out Pfn pfn, out int node)
    {
        return WalkFrom(ref pm, plan, 0, false, order, runPages, request, out pfn, out node);
    }

    /// <summary>
    /// A block of 2^<paramref name="order"/> frames on <paramref name="node"/> alone (the first node of a
    /// plan, tried before the rest of it is copied: <see cref="PolicyContext.Allocate"/>). Results as
    /// <see cref="Allocate"/> for a plan of that one node.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static MemoryStatus AllocateOn(ref PhysicalMemory pm, int node, Order order, in AllocRequest request, out Pfn pfn)
    {
        pfn = Pfn.None;
        if (!request.Pool.IsNone)
            return MemoryStatus.InvalidArgument;
        AllocRequest strict = request;
        strict.Flags |= RequestFlags.NodeStrict;
        strict.PreferredNode = (byte)node;
        return pm.Allocate(order, strict, out pfn);
    }

    /// <summary>
    /// The rest of a block's walk after <see cref="AllocateOn"/> failed on the plan's first node with
    /// <paramref name="first"/> (OutOfMemory or NoPoolSatisfies): the plan's other nodes; results as <see cref="Allocate"/>.
    /// </summary>
    public static MemoryStatus AllocateAfterFirst(ref PhysicalMemory pm, in PolicyPlan plan, MemoryStatus first, Order order, in AllocRequest request, out Pfn pfn, out int node)
    {
        return WalkFrom(ref pm, plan, 1, first == MemoryStatus.OutOfMemory, order, 0, request, out pfn, out node);
    }

    /// <summary>The walk from the plan's node <paramref name="start"/>, <paramref name="outOfMemory"/> carried from the nodes before it.</summary>
    private static MemoryStatus WalkFrom(ref PhysicalMemory pm, in PolicyPlan plan, int start, bool outOfMemory, Order order, ulong runPages, in AllocRequest request,
        out Pfn pfn, out int node)
    {
        pfn = Pfn.None;
        node = -1;
        if (!request.Pool.IsNone)
            return MemoryStatus.InvalidArgument;
        AllocRequest strict = request;
        strict.Flags |= RequestFlags.NodeStrict;
        for (int i = start; i < plan.Count; i++)
        {
            strict.PreferredNode = (byte)plan.NodeAt(i);
            MemoryStatus status = runPages == 0 ? pm.Allocate(order, strict, out pfn) : pm.AllocateRun(runPages, strict, out pfn);
            if (status == MemoryStatus.Ok)
            {
                node = pm.NodeOf(pfn);
                return status;
            }
            if (status == MemoryStatus.OutOfMemory)
                outOfMemory = true;
            else if (status != MemoryStatus.NoPoolSatisfies)
                return status;
        }
        pfn = Pfn.None;
        return outOfMemory ? MemoryStatus.OutOfMemory : MemoryStatus.NoPoolSatisfies;
    }
}
