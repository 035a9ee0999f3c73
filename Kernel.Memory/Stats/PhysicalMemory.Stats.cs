namespace PoolKernel.Memory;

/// <summary>
/// Read-only views for reports: buddyinfo per pool, page-block use, totals, pool properties, and
/// iteration over live pools. None of them changes state, and none takes a lock: each is a snapshot
/// while other CPUs allocate, exact under <see cref="LockAll"/> (the kernel's reports), except
/// <see cref="DrainCaches"/> and <see cref="Check"/>, which take the locks they need.
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
        ulong cached = _buddy.CachedCount(id.Value);
        stats.PresentPages = pool.PresentPages;
        stats.FreePages = pool.FreePages + cached;
        // Without the pool's locks (a realtime pool's row in a report, docs/realtime.md) the list count and the
        // caches' are read at two moments, and a refill between them counts its frames twice: kept within the pool.
        if (stats.FreePages > pool.PresentPages - pool.BalloonedPages)
            stats.FreePages = pool.PresentPages - pool.BalloonedPages;
        stats.CachedPages = cached < stats.FreePages ? cached : stats.FreePages;
        stats.BalloonedPages = pool.BalloonedPages;
        stats.InUsePages = pool.PresentPages - stats.FreePages - pool.BalloonedPages;
        stats.Pageblocks = pool.Pageblocks;
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// How full CPU <paramref name="cpu"/>'s frame cache of pool <paramref name="id"/> is: its frames and its high
    /// mark (0: the pool is too small for caches). NoSuchPool for a dead id, InvalidArgument for a CPU outside
    /// 0..MaxCpus - 1. A snapshot, without the cache's lock.
    /// </summary>
    public MemoryStatus GetCpuCache(PoolId id, int cpu, out int count, out int high)
    {
        count = 0;
        high = 0;
        if (!IsLive(id))
            return MemoryStatus.NoSuchPool;
        if ((uint)cpu >= (uint)_maxCpus)
            return MemoryStatus.InvalidArgument;
        FrameCache* cache = _buddy.CacheOf(id.Value, cpu);
        count = cache->Count;
        high = cache->High;
        return MemoryStatus.Ok;
    }

    /// <summary>CPUs the instance keeps caches for (<see cref="MemoryConfig.MaxCpus"/>).</summary>
    public int MaxCpus { get { return _maxCpus; } }

    /// <summary>
    /// Free blocks of <paramref name="order"/> on a pool's buddy lists: one column of /proc/buddyinfo
    /// (0 for a dead pool or bad order). Frames in the pool's frame cache are not on the lists and
    /// not counted here (as Linux's buddyinfo leaves out per-CPU pages): see
    /// <see cref="PoolStats.CachedPages"/>; <see cref="PoolStats.FreePages"/> includes them.
    /// </summary>
    public ulong FreeBlocks(PoolId id, Order order)
    {
        if (!IsLive(id) || (uint)order.Value > (uint)_buddy._maxOrder)
            return 0;
        return _buddy.ListedBlocks(id.Value, order.Value);
    }

    /// <summary>
    /// Free blocks of <paramref name="order"/> on class <paramref name="cls"/>'s own list of pool
    /// <paramref name="id"/> (Linux's /proc/pagetypeinfo): below the page-block order, the free blocks
    /// inside page blocks steered to that class. From the page-block order up a free block is a whole
    /// page block of no class, on the pool's shared list: 0 here, counted by <see cref="FreeBlocks(PoolId, Order)"/>.
    /// 0 for a dead pool or a bad order or class. Cached frames are not counted (as for FreeBlocks).
    /// </summary>
    public ulong FreeBlocks(PoolId id, Order order, MobilityClass cls)
    {
        if (!IsLive(id) || (uint)order.Value >= (uint)_buddy._pageblockOrder || (uint)cls >= BuddyAllocator.ClassCount)
            return 0;
        return _buddy.ListOf(id.Value, order.Value, (int)cls)->Count;
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
        use.CachedPages = info.Pool == PoolId.None.Value ? 0 : _buddy.CachedIn(info.Pool, index);
        use.InUsePages = info.Held - use.CachedPages;
        use.Node = info.Node;
        ulong first = index << _buddy._pageblockOrder;
        use.Ballooned = _buddy._frames[first] == FrameState.Make(FrameKind.Allocated, _buddy._pageblockOrder) && _buddy._owners[first] == FrameOwner.Balloon;
        use.Mobility = info.Mobility;
        return MemoryStatus.Ok;
    }

    public MemoryTotals GetTotals()
    {
        MemoryTotals t = default;
        t.PresentPages = _presentPages;
        t.BeyondLimitPages = _beyondLimitPages;
        for (int i = 0; i < _poolCapacity; i++)
        {
            if (_buddy._pools[i].Live == 0)
                continue;
            t.LivePools++;
            t.FreePages += _buddy._pools[i].FreePages + _buddy.CachedCount(i);
            t.BalloonedPages += _buddy._pools[i].BalloonedPages;
        }
        if (t.FreePages > _presentPages - t.BalloonedPages)
            t.FreePages = _presentPages - t.BalloonedPages; // realtime pools read without their locks (GetPoolStats)
        t.InUsePages = _presentPages - t.FreePages - t.BalloonedPages;
        t.SpanPages = _buddy._spanPages;
        t.Pageblocks = _pageblockCount;
        t.MetadataBytes = _metadataBytes;
        return t;
    }

    /// <summary>The pool whose page block holds <paramref name="pfn"/> (None outside the span or in a page block with no memory; a hole inside a pool's page block reports that pool).</summary>
    public PoolId PoolOf(Pfn pfn)
    {
        ulong index = pfn.Value - _basePfn;
        if (pfn.Value < _basePfn || index >= _buddy._spanPages)
            return PoolId.None;
        return new PoolId((byte)_buddy.PoolOfFrame(index));
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

    /// <summary>
    /// The owner recorded for a frame (<see cref="FrameOwner"/>): the allocating owner at the head of
    /// an allocated block or run (a container's too: its accounted form read as the owner, <see cref="FrameOwner.OwnerOf"/>),
    /// <see cref="FrameOwner.None"/> anywhere else and outside the span.
    /// </summary>
    public byte OwnerOf(Pfn pfn)
    {
        ulong index = pfn.Value - _basePfn;
        if (pfn.Value < _basePfn || index >= _buddy._spanPages)
            return FrameOwner.None;
        return FrameOwner.OwnerOf(_buddy._owners[index]);
    }

    /// <summary>
    /// Frames held by each owner: <paramref name="pages"/>[o] (o = 0..63, an array of
    /// <see cref="FrameOwner.Count"/> the caller provides) is set to the frames of the blocks and runs
    /// recorded for owner o. One walk over the span's block heads: O(span), for reports, not hot paths.
    /// </summary>
    public void GetOwnerPages(ulong* pages)
    {
        for (int o = 0; o < FrameOwner.Count; o++)
            pages[o] = 0;
        byte runOwner = FrameOwner.None;
        for (ulong p = 0; p < _buddy._spanPages; )
        {
            byte s = _buddy._frames[p];
            FrameKind kind = FrameState.KindOf(s);
            if (kind == FrameKind.Absent || kind == FrameKind.Tail)
            {
                p++;
                continue;
            }
            ulong size = 1UL << FrameState.OrderOf(s);
            if (kind == FrameKind.Allocated || kind == FrameKind.RunFirst)
                runOwner = FrameOwner.OwnerOf(_buddy._owners[p]);
            if ((kind == FrameKind.Allocated || kind == FrameKind.RunFirst || kind == FrameKind.RunNext) && FrameOwner.IsValid(runOwner))
                pages[runOwner] += size;
            p += size;
        }
    }

    /// <summary>
    /// Gives every pool's cached blocks, every CPU's and every order's, back to the buddy lists (merging them).
    /// Nothing else changes: the same frames are free and allocated before and after. For shells, tests, and a
    /// kernel that wants buddyinfo to show every free frame merged.
    ///
    /// One freeze for all: under the table lock (the slots stay what they are), the caches of every pool slot whose
    /// caches hold a block are locked (slots ascending), frozen, one barrier runs and their owners are waited out;
    /// then each such pool in turn takes its lock, drains and lets go of its lock and its caches (cache locks rank
    /// below every pool lock, so a pool lock taken while later slots' cache locks are still held keeps the order). Which slots hold blocks is read without
    /// their locks (a filter, as <see cref="DrainOtherCpus"/>'s): a slot whose caches read empty and were refilled
    /// meanwhile keeps those blocks; with no other caller at once (tests, a quiet shell) every cache ends empty.
    /// </summary>
    public void DrainCaches()
    {
        PoolSet holding = default;
        for (int p = 0; p < _poolLimit; p++)
            if (_buddy.CachedCount(p) != 0)
                holding.Add(new PoolId((byte)p));
        if (holding.IsEmpty)
            return;
        ulong state = _tableLock.Acquire();
        for (int p = 0; p < _poolLimit; p++)
            if (holding.Contains(p))
                LockCachesOf(p); // interrupts are already off: the state to restore is the table lock's
        if (_lockFreeCaches)
        {
            for (int p = 0; p < _poolLimit; p++)
                if (holding.Contains(p))
                    FreezeCachesLocked(p);
            FreezeBarrier();
            for (int p = 0; p < _poolLimit; p++)
                if (holding.Contains(p))
                    AwaitCachesFrozen(p);
        }
        for (int p = 0; p < _poolLimit; p++)
        {
            if (!holding.Contains(p))
                continue;
            _poolLocks[p].Acquire();
            if (_buddy._pools[p].Live != 0)
            {
                _buddy.Drain(p);
                Modified(p);
            }
            _poolLocks[p].ReleaseInner();
            UnlockCachesOf(p, false, 0);
        }
        _tableLock.Release(state);
    }

    /// <summary>
    /// Runs the invariant checker over the whole instance (see <see cref="InvariantChecker"/>) without holding a
    /// realtime pool's lock for longer than a bounded section (docs/realtime.md, "Administration"): every invariant
    /// but the realtime pools' own under every lock but theirs (<see cref="LockAllButRealtime"/>: the rest of the
    /// instance does not change meanwhile, and what spans pools, present frames conserved and each page block in
    /// one live pool, is checked over all of them), then each realtime pool in sections of at most
    /// <see cref="AdminSectionSteps"/> steps, consistent through its modification generation
    /// (<see cref="InvariantChecker.CheckRealtimePool"/>). The first broken invariant is reported; a realtime pool
    /// that kept changing under its check is named in <see cref="InvariantReport.NotChecked"/> (the report is Ok
    /// otherwise: busy, not checked, which is neither clean nor broken). Not to be called with any lock held.
    /// </summary>
    public InvariantReport Check()
    {
        ulong state = LockAllButRealtime();
        InvariantReport report = InvariantChecker.Check(ref this, true);
        PoolSet realtime = default;
        for (int p = 0; p < _poolCapacity; p++)
            if (_buddy._pools[p].Live != 0 && IsRealtime(p))
                realtime.Add(new PoolId((byte)p));
        UnlockAllButRealtime(state);
        if (!report.IsOk)
            return report;
        for (int p = 0; p < _poolCapacity; p++)
        {
            if (!realtime.Contains(p))
                continue;
            InvariantReport pool = InvariantChecker.CheckRealtimePool(ref this, p, out bool busy);
            if (busy)
                report.NotChecked.Add(new PoolId((byte)p));
            else if (!pool.IsOk)
                return pool;
        }
        return report;
    }

    /// <summary>The invariant checker, for a caller that already holds every lock (<see cref="LockAll"/>: a report that also checks).</summary>
    public InvariantReport CheckLocked()
    {
        return InvariantChecker.Check(ref this);
    }
}
