namespace PoolKernel.Memory;

/// <summary>Statistics: per size class, large objects, totals. None of them changes state.</summary>
public unsafe partial struct KernelHeap
{
    /// <summary>Geometry and use of class <paramref name="cls"/> (0..SizeClasses.Count-1); InvalidArgument otherwise.</summary>
    public HeapStatus GetClassStats(int cls, out HeapClassStats stats)
    {
        stats = default;
        if ((uint)cls >= SizeClasses.Count)
            return HeapStatus.InvalidArgument;
        ulong slabBytes = Pfn.PageSize << _slabOrder[cls];
        ulong used = _firstOffset[cls] + (ulong)_capacity[cls] * _objectSize[cls];
        stats.ObjectSize = _objectSize[cls];
        stats.Alignment = 1u << _alignShift[cls];
        stats.SlabOrder = _slabOrder[cls];
        stats.ObjectsPerSlab = _capacity[cls];
        stats.Slabs = _slabs[cls];
        stats.Pages = _slabs[cls] << _slabOrder[cls];
        stats.ObjectsInUse = _objects[cls];
        stats.BytesInUse = _objects[cls] * _objectSize[cls];
        stats.FreeObjects = _slabs[cls] * _capacity[cls] - _objects[cls];
        stats.HeaderBytes = _slabs[cls] * _firstOffset[cls];
        stats.SlackBytes = _slabs[cls] * (slabBytes - used);
        for (int n = 0; n < _nodeCount; n++)
            stats.EmptySlabs += ListOf(n, cls)->Empty;
        return HeapStatus.Ok;
    }

    /// <summary>Frames the heap holds from the pools: slab blocks plus large runs.</summary>
    public ulong PagesHeld
    {
        get
        {
            ulong pages = _largePages;
            for (int c = 0; c < SizeClasses.Count; c++)
                pages += _slabs[c] << _slabOrder[c];
            return pages;
        }
    }

    public HeapTotals GetTotals()
    {
        HeapTotals t = default;
        for (int c = 0; c < SizeClasses.Count; c++)
        {
            GetClassStats(c, out HeapClassStats s);
            t.SlabPages += s.Pages;
            t.Slabs += s.Slabs;
            t.SmallObjects += s.ObjectsInUse;
            t.SmallBytesInUse += s.BytesInUse;
            t.HeaderBytes += s.HeaderBytes;
            t.SlackBytes += s.SlackBytes;
            t.FreeCellBytes += s.FreeObjects * s.ObjectSize;
            t.EmptySlabs += s.EmptySlabs;
        }
        t.LargeObjects = _largeObjects;
        t.LargePages = _largePages;
        t.PagesHeld = t.SlabPages + _largePages;
        t.RefusedFrees = _refusedFrees;
        t.Failures = _lastFailure.Count;
        return t;
    }
}
