namespace PoolKernel.Memory;

/// <summary>Which node a frame is on, for the NUMA policy layer (<see cref="PolicyAllocator"/>) and its counters.</summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>The node of the page block holding <paramref name="pfn"/> (its lowest present frame's node); -1 outside the span.</summary>
    public int NodeOf(Pfn pfn)
    {
        ulong index = pfn.Value - _basePfn;
        if (pfn.Value < _basePfn || index >= _buddy._spanPages)
            return -1;
        return _buddy._pageblocks[index >> _buddy._pageblockOrder].Node;
    }
}
