namespace PoolKernel.Memory;

/// <summary>
/// Which nodes the heap may take pages from (a NUMA <c>bind</c> policy: docs/numa.md "The heap"), and
/// the record of its page refills the kernel counts in numastat. A page refill is a new slab or a large
/// run taken from the pools; cells of a slab the heap already holds are not refills.
/// </summary>
public unsafe partial struct KernelHeap
{
    /// <summary>
    /// Binds the heap's page refills to <paramref name="nodes"/> (bit n = node n; 0 = unbound): from now
    /// on a new slab or large run comes only from those nodes' pools, and only partial slabs of those
    /// nodes serve another node's request, so a bound heap that finds no memory there fails
    /// (OutOfMemory or NoPoolSatisfies) rather than take another node's pages. Objects already held stay
    /// where they are, and are still freed and reused (a change affects new pages only). Nodes at or above
    /// the heap's node count are dropped from the mask; a mask with none left is taken as 0 (unbound).
    /// </summary>
    public void BindNodes(ulong nodes)
    {
        if (_nodeCount < 64)
            nodes &= (1UL << _nodeCount) - 1;
        _boundNodes = nodes;
    }

    /// <summary>The nodes page refills are bound to; 0 = any.</summary>
    public readonly ulong BoundNodes { get { return _boundNodes; } }

    /// <summary>Page refills (new slabs and large runs) since the heap was made; the kernel counts the new ones in numastat.</summary>
    public readonly ulong Refills { get { return _refills; } }

    /// <summary>The node of the last page refill's frames (meaningful once <see cref="Refills"/> is above 0).</summary>
    public readonly int LastRefillNode { get { return _lastRefillNode; } }

    /// <summary>True when <paramref name="node"/>'s pages and partial slabs may serve refills (unbound, or in the mask).</summary>
    private readonly bool NodeAllowed(int node)
    {
        return _boundNodes == 0 || ((_boundNodes >> node) & 1) != 0;
    }

    /// <summary>Counts a page refill whose first frame is <paramref name="pfn"/>.</summary>
    private void CountRefill(ulong pfn)
    {
        _refills++;
        _lastRefillNode = NodeOf(pfn);
    }

    /// <summary>
    /// A bound heap's page block or run from its bound nodes only: each node of the mask but
    /// <paramref name="skip"/> (already tried), nearest to <paramref name="node"/> first by the pools'
    /// SLIT distances (ties: the lower node), each as a request strict on that node. The first success,
    /// else OutOfMemory when some node had qualifying pools, else NoPoolSatisfies; any other status at
    /// once (a refusal or corruption is not a reason to try the next node).
    /// </summary>
    private MemoryStatus AllocateBound(Order order, ulong runPages, AllocRequest request, int node, int skip, out Pfn pfn)
    {
        pfn = Pfn.None;
        request.Flags |= RequestFlags.NodeStrict;
        ulong left = _boundNodes;
        if ((uint)skip < 64)
            left &= ~(1UL << skip);
        bool outOfMemory = false;
        while (left != 0)
        {
            int next = -1;
            int best = int.MaxValue;
            for (ulong m = left; m != 0; m &= m - 1)
            {
                int n = System.Numerics.BitOperations.TrailingZeroCount(m);
                int d = n == node ? -1 : _memory->_distances[node * _nodeCount + n];
                if (d < best)
                {
                    best = d;
                    next = n;
                }
            }
            left &= ~(1UL << next);
            request.PreferredNode = (byte)next;
            MemoryStatus ms = runPages == 0 ? _memory->Allocate(order, request, out pfn) : _memory->AllocateRun(runPages, request, out pfn);
            if (ms == MemoryStatus.Ok)
                return ms;
            if (ms == MemoryStatus.OutOfMemory || ms == MemoryStatus.QuotaExceeded)
                outOfMemory = true;
            else if (ms != MemoryStatus.NoPoolSatisfies)
                return ms;
        }
        pfn = Pfn.None;
        return outOfMemory ? MemoryStatus.OutOfMemory : MemoryStatus.NoPoolSatisfies;
    }
}
