namespace PoolKernel.Memory;

/// <summary>
/// Read-only views for reports: buddyinfo per pool, page-block use, totals, pool properties, and
/// iteration over live pools. None of them changes state.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>The first live pool, or None. Iterate with <see cref="NextPool"/>.</summary>
    public PoolId FirstPool() { return NextLive(0); }

    /// <summary>The live pool after <paramref name="after"/>, or None at the end.</summary>
    public PoolId NextPool(PoolId after) { return after.IsNone ? PoolId.None : NextLive(after.Value + 1); }

    private PoolId NextLive(int from)
    {
        for (int i = from; i < _poolCapacity; i++)
            if (_buddy._pools[i].Live != 0)
                return new PoolId((byte)i);
        return PoolId.None;
    }

    /// <summary>A pool's properties; NoSuchPool for a dead id.</summary>
    public MemoryStatus GetPoolProperties(PoolId id, out PoolProperties props)
    {
        props = default;
        if (!IsLive(id))
            return MemoryStatus.NoSuchPool;
        props = _buddy._pools[id.Value].Properties;
        return MemoryStatus.Ok;
    }

    public MemoryStatus GetPoolStats(PoolId id, out PoolStats stats)
    {
        stats = default;
        if (!IsLive(id))
            return MemoryStatus.NoSuchPool;
        ref Pool pool = ref _buddy._pools[id.Value];
        stats.PresentPages = pool.PresentPages;
        stats.FreePages = pool.FreePages;
        stats.InUsePages = pool.PresentPages - pool.FreePages;
        stats.Pageblocks = pool.Pageblocks;
        return MemoryStatus.Ok;
    }

    /// <summary>Free blocks of <paramref name="order"/> in a pool: one column of /proc/buddyinfo (0 for a dead pool or bad order).</summary>
    public ulong FreeBlocks(PoolId id, Order order)
    {
        if (!IsLive(id) || (uint)order.Value > (uint)_buddy._maxOrder)
            return 0;
        return _buddy.ListOf(id.Value, order.Value)->Count;
    }

    /// <summary>Page blocks the span covers; indices for <see cref="GetPageblock"/> are below it.</summary>
    public ulong PageblockCount { get { return _pageblockCount; } }

    public MemoryStatus GetPageblock(ulong index, out PageblockUse use)
    {
        use = default;
        if (index >= _pageblockCount)
            return MemoryStatus.InvalidArgument;
        PageblockInfo info = _buddy._pageblocks[index];
        use.Start = new Pfn(_basePfn + (index << _buddy._pageblockOrder));
        use.Pool = new PoolId(info.Pool);
        use.Home = new PoolId(info.Home);
        use.PresentPages = info.Present;
        use.InUsePages = info.InUse;
        use.Node = info.Node;
        return MemoryStatus.Ok;
    }

    public MemoryTotals GetTotals()
    {
        MemoryTotals t = default;
        t.PresentPages = _presentPages;
        for (int i = 0; i < _poolCapacity; i++)
        {
            if (_buddy._pools[i].Live == 0)
                continue;
            t.LivePools++;
            t.FreePages += _buddy._pools[i].FreePages;
        }
        t.InUsePages = _presentPages - t.FreePages;
        t.SpanPages = _buddy._spanPages;
        t.Pageblocks = _pageblockCount;
        t.MetadataBytes = _metadataBytes;
        return t;
    }

    /// <summary>The state byte of a frame, for tests and debugging shells (Absent outside the span).</summary>
    public FrameKind KindOf(Pfn pfn, out Order order)
    {
        order = new Order(0);
        ulong index = pfn.Value - _basePfn;
        if (pfn.Value < _basePfn || index >= _buddy._spanPages)
            return FrameKind.Absent;
        byte s = _buddy._frames[index];
        order = new Order(FrameState.OrderOf(s));
        return FrameState.KindOf(s);
    }

    /// <summary>Runs the invariant checker over the whole instance (see <see cref="InvariantChecker"/>).</summary>
    public InvariantReport Check()
    {
        return InvariantChecker.Check(ref this);
    }
}
