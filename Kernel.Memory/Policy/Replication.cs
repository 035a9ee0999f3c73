namespace PoolKernel.Memory;

/// <summary>
/// Replicated allocations: the same buffer on several nodes, so each CPU reads memory on its own
/// node (issue 16; Linux has no general kernel API for it, its text replication is per-architecture).
/// All or nothing: either every node gets its copy or nothing stays allocated. The copies' memory is
/// reached through <c>direct</c>, the caller's address of physical address 0 (the kernel's identity
/// map: 0; a host fixture: its backing).
/// </summary>
public static unsafe class Replication
{
    /// <summary>
    /// A copy of <paramref name="pages"/> frames on each node of <paramref name="nodes"/>, each a run
    /// allocated strictly on its node (pool choice inside the node as usual) as <paramref name="owner"/>.
    /// Refused with nothing allocated: InvalidArgument (no pages, no nodes, a node that is not a node
    /// of <paramref name="topology"/> or has no memory). Any other failure on a node (OutOfMemory,
    /// NoPoolSatisfies, Corruption) frees every copy made before it and is returned with that node in
    /// <paramref name="failedNode"/> (-1 when none failed); <paramref name="set"/> is then empty.
    /// </summary>
    public static MemoryStatus Allocate(ref PhysicalMemory pm, ulong pages, ulong nodes, byte owner, in NumaTopology topology,
        out ReplicaSet set, out int failedNode)
    {
        set = default;
        failedNode = -1;
        if (pages == 0 || nodes == 0 || (nodes & ~topology.AllNodes) != 0 || (nodes & ~topology.MemoryNodes) != 0)
            return MemoryStatus.InvalidArgument;
        AllocRequest request = AllocRequest.Any;
        request.Owner = owner;
        request.Flags = RequestFlags.NodeStrict;
        for (ulong m = nodes; m != 0; m &= m - 1)
        {
            int node = System.Numerics.BitOperations.TrailingZeroCount(m);
            request.PreferredNode = (byte)node;
            MemoryStatus status = pm.AllocateRun(pages, request, out Pfn first);
            if (status != MemoryStatus.Ok)
            {
                failedNode = node;
                // Undo: give back every copy made so far (they are this owner's runs of this length).
                Free(ref pm, ref set, owner);
                return status;
            }
            set.Pages = pages;
            set.Set(node, first);
        }
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Frees every copy (as <paramref name="owner"/>) and empties the set. The first refusal is
    /// returned (the copies after it are still freed: each is its own run); Ok otherwise.
    /// </summary>
    public static MemoryStatus Free(ref PhysicalMemory pm, ref ReplicaSet set, byte owner)
    {
        MemoryStatus result = MemoryStatus.Ok;
        for (ulong m = set.Nodes; m != 0; m &= m - 1)
        {
            int node = System.Numerics.BitOperations.TrailingZeroCount(m);
            MemoryStatus status = pm.FreeRun(set.CopyOn(node), set.Pages, owner);
            if (status != MemoryStatus.Ok && result == MemoryStatus.Ok)
                result = status;
        }
        set = default;
        return result;
    }

    /// <summary>
    /// Writes <paramref name="length"/> bytes from <paramref name="source"/> at <paramref name="offset"/>
    /// into every copy. False (nothing written) when the range does not fit in a copy.
    /// </summary>
    public static bool Write(in ReplicaSet set, ulong offset, byte* source, ulong length, byte* direct)
    {
        ulong size = set.Pages << Pfn.PageShift;
        if (offset > size || length > size - offset)
            return false;
        for (ulong m = set.Nodes; m != 0; m &= m - 1)
        {
            byte* copy = direct + (set.CopyOn(System.Numerics.BitOperations.TrailingZeroCount(m)).Value << Pfn.PageShift) + offset;
            for (ulong i = 0; i < length; i++)
                copy[i] = source[i];
        }
        return true;
    }

    /// <summary>The bytes a CPU on <paramref name="cpuNode"/> reads (<see cref="ReplicaSet.CopyFor"/>), or null for an empty set.</summary>
    public static byte* Read(in ReplicaSet set, int cpuNode, in NumaTopology topology, byte* direct)
    {
        Pfn copy = set.CopyFor(cpuNode, topology);
        return copy == Pfn.None ? null : direct + (copy.Value << Pfn.PageShift);
    }
}
