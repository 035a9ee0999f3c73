using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The physical memory manager: every pool, its buddy allocator, and the metadata they share.
/// It lives at the start of the caller-provided metadata block and is used through a pointer:
/// <code>
///   PhysicalMemory.ComputeMetadataSize(map, nodes, config, out ulong bytes);
///   // caller finds `bytes` of memory (boot bump allocator in the kernel, native memory on the host)
///   PhysicalMemory.Initialize(block, bytes, map, nodes, config, out PhysicalMemory* pm);
///   pm-&gt;Allocate(new Order(0), AllocRequest.Any, out Pfn pfn);
/// </code>
/// Contracts that hold for every method: any number of CPUs (<see cref="MemoryConfig.MaxCpus"/>) may call
/// at once; each public method takes the locks it needs (PhysicalMemory.Locks.cs: a lock a pool, the pool
/// table's lock, in the order stated there) and helpers that need one held say so in their name
/// (<c>...Locked</c>); nothing is allocated; a refused call leaves every structure as it was; a result is
/// a <see cref="MemoryStatus"/>, never an exception.
/// The methods are split by concept: set-up (this file), allocation, pools, statistics.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    internal BuddyAllocator _buddy;
    /// <summary>Frame number of frame index 0; aligned to the larger of the max block and the page block.</summary>
    internal ulong _basePfn;
    internal ulong _pageblockCount;
    internal ulong _presentPages;
    /// <summary>Available frames of the map at or above <see cref="Pfn.Limit"/>, left out by set-up (<see cref="MemoryTotals.BeyondLimitPages"/>).</summary>
    internal ulong _beyondLimitPages;
    internal ulong _metadataBytes;
    internal byte* _distances;
    internal int _nodeCount;
    internal int _poolCapacity;
    /// <summary>One past the highest live pool slot: loops over pools stop here. Written under <see cref="_tableLock"/>; read without it (a snapshot: a pool found through it is checked again under its own lock).</summary>
    internal int _poolLimit;
    /// <summary>Bumped when a pool is created or destroyed (<see cref="PoolTableChanged"/>); outdates every remembered choice (<see cref="_memos"/>). Starts at 1 (a zero entry never matches). Written under <see cref="_tableLock"/>.</summary>
    internal uint _poolGeneration;
    /// <summary>
    /// One <see cref="ChoiceMemo"/> a CPU (<see cref="MemoryConfig.MaxCpus"/>), indexed by <see cref="MemoryConfig.CurrentCpu"/>:
    /// read and written only by its CPU, so it needs no lock (the kernel keeps that CPU's interrupts off around the call).
    /// A pool it names may have changed since (destroyed, its slot reused): the pool is checked again under its lock.
    /// </summary>
    internal ChoiceMemo* _memos;
    /// <summary>One <see cref="RealtimeSteps"/> a CPU: written only by its CPU (under the realtime pool's lock), read as a snapshot.</summary>
    internal RealtimeSteps* _rtSteps;
    /// <summary>The longest section a non-realtime path held a realtime pool's lock, in steps (<see cref="RealtimeAdminHoldMax"/>): compare-exchanged, no lock.</summary>
    internal int _rtAdminHoldMax;
    internal int _maxCpus;
    internal delegate*<int> _currentCpu;
    /// <summary><see cref="MemoryConfig.ProcessWideBarrier"/>; null without one.</summary>
    internal delegate*<ulong, void> _processWideBarrier;
    /// <summary>
    /// The CPUs that take their caches' locks on their own fast paths although the instance is lock-free
    /// (<see cref="UseLockedCaches"/>, bit c: CPU c): their caches' frozen words stay raised at rest, and no freeze
    /// sends them a barrier. Bits are only ever added, each under every cache lock of its CPU (PhysicalMemory.Locks.cs).
    /// </summary>
    internal ulong _lockedCpus;
    /// <summary>
    /// True when each CPU uses its own caches without their lock (several CPUs and a <see cref="_processWideBarrier"/>:
    /// PhysicalMemory.Locks.cs); false: one CPU (no lock at all), or several without the barrier (the cache locks).
    /// </summary>
    internal bool _lockFreeCaches;
    /// <summary>
    /// One lock a pool slot (<see cref="PoolCapacity"/>), kept apart from <see cref="Pool"/> so that emptying a slot
    /// never clears a lock. Lock p guards pool p: its <see cref="Pool"/> counters, its free lists and
    /// <see cref="Pool.ListedSlots"/>, its cheapest-block index entries, its frame cache, the frame and owner bytes of every frame in its page blocks,
    /// and the <see cref="PageblockInfo"/> of every page block it owns (a page block changes owner only with both pools' locks held).
    /// A pool's <see cref="Pool.Properties"/> and <see cref="Pool.Live"/> change only with its lock and <see cref="_tableLock"/> held.
    /// Each lock alone on a cache line (<see cref="CacheLock"/>): CPUs on different pools never write one line.
    /// </summary>
    internal CacheLock* _poolLocks;
    /// <summary>
    /// Guards the pool table's shape: which slots are live (creation and destruction), <see cref="_poolLimit"/>,
    /// <see cref="_poolGeneration"/>. Taken before any pool lock (PhysicalMemory.Locks.cs), never under one.
    /// </summary>
    internal SpinLock _tableLock;
    /// <summary>The container table (<see cref="AttachContainers"/>): <see cref="FrameOwner.Count"/> records indexed by owner number; null until attached.</summary>
    internal Container* _containers;
    /// <summary>
    /// Bit n set exactly while owner n is a live container: its allocations and frees are accounted (Owners/PhysicalMemory.Accounted.cs).
    /// Read by the slow paths only; the fast paths miss a container through <see cref="Pool.UnaccountedOwners"/> and the
    /// accounted form of its owner bytes (<see cref="FrameOwner.Accounted"/>). Written under the table lock and every pool's lock
    /// but the realtime pools' whose owner mask does not change (<see cref="CreateContainer"/>).
    /// </summary>
    internal ulong _accountedOwners;
    /// <summary>The owner that may read every container's accounting (the kernel); set by <see cref="AttachContainers"/>.</summary>
    internal byte _supervisor;
    /// <summary>Per owner 0..63: the mover compaction moves its blocks with (<see cref="RegisterMover"/>); unregistered: unmovable.</summary>
    internal FrameMover* _movers;
    /// <summary>
    /// Called after every section of a compaction pass (<see cref="CompactPool"/>), with the table lock held and no
    /// pool lock: null but in tests, which allocate and free there to interleave with a pass
    /// (<see cref="SetCompactionStep"/>). Written while no pass runs.
    /// </summary>
    internal delegate*<void*, void> _compactionStep;
    internal void* _compactionStepContext;

    /// <summary>Where each part of the metadata block goes, derived from the map and the config.</summary>
    private struct Layout
    {
        public ulong BasePfn;
        public ulong SpanPages;
        /// <summary>The first frame set-up leaves out (<see cref="MemoryMap.UsableFrames(int, ulong, out ulong, out ulong)"/>): 2^52, or less where the span would outgrow a link.</summary>
        public ulong FrameLimit;
        public ulong Pageblocks;
        public ulong PoolsOffset;
        public ulong ListsOffset;
        public ulong CachesOffset;
        public ulong BlockCachesOffset;
        public ulong LocksOffset;
        public ulong CacheLocksOffset;
        public ulong MemosOffset;
        public ulong RealtimeOffset;
        public ulong DistancesOffset;
        public ulong PageblocksOffset;
        public ulong FramesOffset;
        public ulong OwnersOffset;
        public ulong ChunksOffset;
        public ulong NodesOffset;
        public ulong IndexHeadsOffset;
        public ulong IndexMasksOffset;
        public ulong IndexLinksOffset;
        public ulong CacheClassesOffset;
        public ulong LeftCacheClassOffset;
        public ulong MoversOffset;
        public ulong TotalBytes;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AlignUp(ulong value, ulong alignment) { return (value + alignment - 1) & ~(alignment - 1); }

    private static MemoryStatus Plan(in MemoryMap map, in NodeDistances nodes, in MemoryConfig config, out Layout layout)
    {
        layout = default;
        if (!config.IsValid)
            return MemoryStatus.BadConfig;
        if (nodes.NodeCount < 1 || nodes.NodeCount > NodeDistances.MaxNodes || (nodes.NodeCount > 1 && nodes.Table == null))
            return MemoryStatus.BadConfig;
        MemoryStatus status = map.Validate(nodes.NodeCount, out _);
        if (status != MemoryStatus.Ok)
            return status;

        ulong first = ulong.MaxValue, end = 0;
        for (int i = 0; i < map.Count; i++)
        {
            map.UsableFrames(i, out ulong f, out ulong e);
            if (e == 0)
                continue;
            if (f < first)
                first = f;
            if (e > end)
                end = e;
        }
        if (end == 0)
            return MemoryStatus.MapNoMemory;

        int spanOrder = config.MaxOrder > config.PageblockOrder ? config.MaxOrder : config.PageblockOrder;
        ulong spanAlign = 1UL << spanOrder;
        layout.BasePfn = first & ~(spanAlign - 1);
        // RAM further above the base than a 32-bit link indexes (NodeTable) is trimmed as RAM above
        // 2^52 is: left out and counted beyond the limit. MaxSpanPages is a multiple of every span
        // alignment, so the trimmed span still ends aligned at or below the limit.
        layout.FrameLimit = Pfn.Limit;
        if (end - layout.BasePfn > NodeTable.MaxSpanPages)
        {
            layout.FrameLimit = layout.BasePfn + NodeTable.MaxSpanPages;
            end = 0;
            for (int i = 0; i < map.Count; i++)
            {
                map.UsableFrames(i, layout.FrameLimit, out _, out ulong e);
                if (e > end)
                    end = e;
            }
        }
        layout.SpanPages = AlignUp(end, spanAlign) - layout.BasePfn;
        layout.Pageblocks = layout.SpanPages >> config.PageblockOrder;

        ulong at = AlignUp((ulong)sizeof(PhysicalMemory), 64);
        layout.PoolsOffset = at;
        at = AlignUp(at + (ulong)config.PoolCapacity * (ulong)sizeof(Pool), 64);
        layout.ListsOffset = at;
        at = AlignUp(at + (ulong)config.PoolCapacity * (ulong)BuddyAllocator.SlotsFor(config.MaxOrder, config.PageblockOrder) * (ulong)sizeof(FreeList), 64);
        layout.CachesOffset = at;
        at = AlignUp(at + (ulong)config.PoolCapacity * (ulong)config.MaxCpus * (ulong)sizeof(FrameCache), 64);
        layout.BlockCachesOffset = at;
        at = AlignUp(at + (ulong)config.PoolCapacity * (ulong)config.MaxCpus * FrameCache.BlockSlots * FrameCache.BlockBytes, 64);
        layout.CacheLocksOffset = at;
        at = AlignUp(at + (ulong)config.PoolCapacity * (ulong)config.MaxCpus * (ulong)sizeof(CacheLock), 64);
        layout.LocksOffset = at;
        at = AlignUp(at + (ulong)config.PoolCapacity * (ulong)sizeof(CacheLock), 64);
        layout.MemosOffset = at;
        at = AlignUp(at + (ulong)config.MaxCpus * (ulong)sizeof(ChoiceMemo), 64);
        layout.RealtimeOffset = at;
        at = AlignUp(at + (ulong)config.MaxCpus * (ulong)sizeof(RealtimeSteps), 64);
        layout.DistancesOffset = at;
        at = AlignUp(at + (ulong)(nodes.NodeCount * nodes.NodeCount), 64);
        layout.PageblocksOffset = at;
        at = AlignUp(at + layout.Pageblocks * (ulong)sizeof(PageblockInfo), 64);
        layout.FramesOffset = at;
        at = AlignUp(at + layout.SpanPages, 64);
        layout.OwnersOffset = at;
        at = AlignUp(at + layout.SpanPages, 64);
        layout.ChunksOffset = at;
        at = AlignUp(at + NodeTable.ChunksFor(layout.SpanPages) * (ulong)sizeof(FreeNode*), 64);
        layout.NodesOffset = at;
        at = AlignUp(at + PlaceNodes(map, layout, null, null) * (ulong)sizeof(FreeNode), 64);
        layout.IndexHeadsOffset = at;
        at = AlignUp(at + PageblockIndex.HeadsBytes(config.PoolCapacity, config.PageblockOrder), 64);
        layout.IndexMasksOffset = at;
        at = AlignUp(at + PageblockIndex.MasksBytes(config.PoolCapacity), 64);
        layout.IndexLinksOffset = at;
        at = AlignUp(at + PageblockIndex.LinksBytes(layout.Pageblocks), 64);
        layout.CacheClassesOffset = at;
        at = AlignUp(at + config.PoolCapacity, 64);
        layout.LeftCacheClassOffset = at;
        at = AlignUp(at + BuddyAllocator.LeftCacheClassBytes(layout.Pageblocks), 64);
        layout.MoversOffset = at;
        at = AlignUp(at + (ulong)FrameOwner.Count * (ulong)sizeof(FrameMover), 64);
        layout.TotalBytes = at;
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// How many bytes of metadata <see cref="Initialize"/> needs for this map: about six bytes a
    /// frame of the span (its state, its owner and half a free-list node, <see cref="NodeTable"/>) plus
    /// 16 bytes and a bit a page block (its info, its cheapest-block index links, its steal mark) plus the pool table. Refuses the same bad input Initialize refuses
    /// (overlapping, zero-length or wrapping ranges, bad nodes, bad config); RAM beyond
    /// <see cref="NodeTable.MaxSpanPages"/> frames from the base is trimmed, not sized (see Initialize).
    /// </summary>
    public static MemoryStatus ComputeMetadataSize(in MemoryMap map, in NodeDistances nodes, in MemoryConfig config, out ulong bytes)
    {
        MemoryStatus status = Plan(map, nodes, config, out Layout layout);
        bytes = status == MemoryStatus.Ok ? layout.TotalBytes : 0;
        return status;
    }

    /// <summary>
    /// Builds the manager in <paramref name="metadata"/> (at least ComputeMetadataSize bytes,
    /// 64-byte aligned) and returns a pointer to it (the start of the block). Every usable frame of
    /// the map becomes free memory of a default pool: one pool per node and address class
    /// ("dma" below 16 MiB, "dma32" below 4 GiB, "normal" above), the zones of a classic kernel
    /// recast as pool properties. The allocator keeps every link in its metadata (<see cref="NodeTable"/>)
    /// and never reads or writes the memory it manages, so it needs no mapping of it.
    /// Available RAM at or above 2^52 is trimmed, not refused (a machine would rather boot on what it can
    /// address): it is left out of every pool and counted in <see cref="MemoryTotals.BeyondLimitPages"/>;
    /// a map with no usable RAM below 2^52 is refused with MapNoMemory. RAM more than
    /// <see cref="NodeTable.MaxSpanPages"/> frames (16 TiB) above the span's base, more than a 32-bit
    /// free-list link can index, is trimmed and counted the same way.
    /// </summary>
    public static MemoryStatus Initialize(void* metadata, ulong metadataBytes, in MemoryMap map, in NodeDistances nodes,
        in MemoryConfig config, out PhysicalMemory* memory)
    {
        memory = null;
        MemoryStatus status = Plan(map, nodes, config, out Layout layout);
        if (status != MemoryStatus.Ok)
            return status;
        if (metadata == null || metadataBytes < layout.TotalBytes || ((ulong)metadata & 63) != 0)
            return MemoryStatus.MetadataTooSmall;

        byte* block = (byte*)metadata;
        PhysicalMemory* pm = (PhysicalMemory*)block;
        *pm = default;
        pm->_basePfn = layout.BasePfn;
        pm->_pageblockCount = layout.Pageblocks;
        pm->_metadataBytes = layout.TotalBytes;
        pm->_nodeCount = nodes.NodeCount;
        pm->_poolCapacity = config.PoolCapacity;
        pm->_poolGeneration = 1;
        pm->_maxCpus = config.MaxCpus;
        pm->_currentCpu = config.CurrentCpu;
        pm->_processWideBarrier = config.ProcessWideBarrier;
        pm->_lockFreeCaches = config.MaxCpus > 1 && config.ProcessWideBarrier != null;
        pm->_memos = (ChoiceMemo*)(block + layout.MemosOffset);
        for (int c = 0; c < config.MaxCpus; c++)
            pm->_memos[c] = default;
        pm->_rtSteps = (RealtimeSteps*)(block + layout.RealtimeOffset);
        for (int c = 0; c < config.MaxCpus; c++)
            pm->_rtSteps[c] = default;
        pm->_poolLocks = (CacheLock*)(block + layout.LocksOffset);
        for (int p = 0; p < config.PoolCapacity; p++)
        {
            pm->_poolLocks[p] = default;
            pm->_poolLocks[p].SetInterruptHooks(config.SaveAndDisableInterrupts, config.RestoreInterrupts);
        }
        pm->_tableLock.SetInterruptHooks(config.SaveAndDisableInterrupts, config.RestoreInterrupts);
        pm->_distances = block + layout.DistancesOffset;
        for (int i = 0; i < nodes.NodeCount * nodes.NodeCount; i++)
            pm->_distances[i] = nodes.NodeCount == 1 ? NodeDistances.Local : nodes.Table[i];
        for (int i = 0; i < map.Count; i++)
            pm->_beyondLimitPages += map.FramesBeyondLimit(i, layout.FrameLimit);

        ref BuddyAllocator buddy = ref pm->_buddy;
        buddy._pools = (Pool*)(block + layout.PoolsOffset);
        buddy._lists = (FreeList*)(block + layout.ListsOffset);
        buddy._caches = (FrameCache*)(block + layout.CachesOffset);
        buddy._blockCaches = block + layout.BlockCachesOffset;
        buddy._cpus = config.MaxCpus;
        buddy._cacheLocks = (CacheLock*)(block + layout.CacheLocksOffset);
        for (int i = 0; i < config.PoolCapacity * config.MaxCpus; i++)
        {
            buddy._caches[i] = default;
            for (int s = 0; s < FrameCache.BlockSlots; s++)
            {
                FrameCache* blockCache = buddy.BlockCacheOf(i / config.MaxCpus, i % config.MaxCpus, s);
                blockCache->Count = 0;
                blockCache->High = 0;
            }
            buddy._cacheLocks[i] = default;
            buddy._cacheLocks[i].Lock.SetInterruptHooks(config.SaveAndDisableInterrupts, config.RestoreInterrupts);
        }
        buddy._pageblocks = (PageblockInfo*)(block + layout.PageblocksOffset);
        buddy._frames = block + layout.FramesOffset;
        buddy._owners = block + layout.OwnersOffset;
        FreeNode* nodeArray = (FreeNode*)(block + layout.NodesOffset);
        buddy._nodes.Chunks = (FreeNode**)(block + layout.ChunksOffset);
        ulong nodeCount = PlaceNodes(map, layout, nodeArray, buddy._nodes.Chunks);
        Fill((byte*)nodeArray, nodeCount * (ulong)sizeof(FreeNode), 0xFF); // every link None
        buddy._spanPages = layout.SpanPages;
        buddy._maxOrder = config.MaxOrder;
        buddy._pageblockOrder = config.PageblockOrder;
        buddy._listStride = BuddyAllocator.SlotsFor(config.MaxOrder, config.PageblockOrder);
        buddy._index._heads = (uint*)(block + layout.IndexHeadsOffset);
        buddy._index._masks = (uint*)(block + layout.IndexMasksOffset);
        buddy._index._links = (uint*)(block + layout.IndexLinksOffset);
        buddy._cacheClasses = (MobilityClass*)(block + layout.CacheClassesOffset);
        buddy._leftCacheClass = (ulong*)(block + layout.LeftCacheClassOffset);
        for (ulong w = 0; w < BuddyAllocator.LeftCacheClassBytes(layout.Pageblocks) / sizeof(ulong); w++)
            buddy._leftCacheClass[w] = 0;
        pm->_movers = (FrameMover*)(block + layout.MoversOffset);
        for (int i = 0; i < FrameOwner.Count; i++)
            pm->_movers[i] = default;
        buddy._onBrokenContract = config.OnBrokenContract;
        buddy._fitVisits = config.FitVisits;
        buddy._poolProbes = config.PoolProbes;
        buddy._oneClass = config.OneMobilityClass;

        for (int p = 0; p < config.PoolCapacity; p++)
        {
            buddy._pools[p] = default;
            buddy._cacheClasses[p] = MobilityClass.Unmovable;
        }
        for (int i = 0; i < config.PoolCapacity * buddy._listStride; i++)
            buddy._lists[i].Reset();
        for (ulong pb = 0; pb < layout.Pageblocks; pb++)
        {
            PageblockInfo info = default;
            info.Pool = PoolId.None.Value;
            info.Home = PoolId.None.Value;
            buddy._pageblocks[pb] = info;
        }
        Fill(buddy._frames, layout.SpanPages, FrameState.Absent);
        Fill(buddy._owners, layout.SpanPages, FrameOwner.None);

        // Usable ranges in address order, so a page block's node is that of its lowest frame
        // and adjacent ranges coalesce into one run before being cut into blocks.
        int* order = stackalloc int[MemoryMap.MaxRegions];
        int usable = SortUsable(map, layout.FrameLimit, order);
        for (int k = 0; k < usable; k++)
        {
            map.UsableFrames(order[k], layout.FrameLimit, out ulong f, out ulong e);
            ulong start = f - layout.BasePfn, end = e - layout.BasePfn;
            Fill(buddy._frames + start, end - start, FrameState.Tail);
            pm->_presentPages += end - start;
            int pbo = config.PageblockOrder;
            for (ulong pb = start >> pbo; pb <= (end - 1) >> pbo; pb++)
            {
                ulong lo = pb << pbo, hi = lo + (1UL << pbo);
                ulong overlap = (end < hi ? end : hi) - (start > lo ? start : lo);
                if (buddy._pageblocks[pb].Present == 0)
                    buddy._pageblocks[pb].Node = map.Regions[order[k]].Node;
                buddy._pageblocks[pb].Present = (ushort)(buddy._pageblocks[pb].Present + overlap);
            }
        }

        status = pm->CreateDefaultPools();
        if (status != MemoryStatus.Ok)
            return status;
        buddy.BuildIndex(config.PoolCapacity, layout.Pageblocks);

        // Free every run of present frames, cut where the owning pool changes.
        for (int k = 0; k < usable; )
        {
            map.UsableFrames(order[k], layout.FrameLimit, out ulong f, out ulong e);
            k++;
            while (k < usable)
            {
                map.UsableFrames(order[k], layout.FrameLimit, out ulong f2, out ulong e2);
                if (f2 != e)
                    break;
                e = e2;
                k++;
            }
            pm->LinkRun(f - layout.BasePfn, e - layout.BasePfn);
        }
        memory = pm;
        return MemoryStatus.Ok;
    }

    /// <summary>Links the present run [start, end) into the free lists, one pool segment at a time.</summary>
    private void LinkRun(ulong start, ulong end)
    {
        int pbo = _buddy._pageblockOrder;
        while (start < end)
        {
            int pool = _buddy._pageblocks[start >> pbo].Pool;
            ulong segEnd = ((start >> pbo) + 1) << pbo;
            while (segEnd < end && _buddy._pageblocks[segEnd >> pbo].Pool == pool)
                segEnd += 1UL << pbo;
            if (segEnd > end)
                segEnd = end;
            // A greedy cut into maximal aligned blocks leaves no two free buddies unmerged.
            _buddy.LinkPieces(pool, start, segEnd);
            start = segEnd;
        }
    }

    /// <summary>Address classes of the default pools: the classic zones as windows.</summary>
    private const ulong DmaEndPfn = (16UL << 20) >> Pfn.PageShift;
    private const ulong Dma32EndPfn = (4UL << 30) >> Pfn.PageShift;

    private MemoryStatus CreateDefaultPools()
    {
        byte* poolOf = stackalloc byte[NodeDistances.MaxNodes * 3];
        for (int i = 0; i < NodeDistances.MaxNodes * 3; i++)
            poolOf[i] = PoolId.None.Value;
        int next = 0;
        int pbo = _buddy._pageblockOrder;
        for (ulong pb = 0; pb < _pageblockCount; pb++)
        {
            ref PageblockInfo info = ref _buddy._pageblocks[pb];
            if (info.Present == 0)
                continue;
            ulong pfn = _basePfn + (pb << pbo);
            int cls = pfn < DmaEndPfn ? 0 : pfn < Dma32EndPfn ? 1 : 2;
            int key = info.Node * 3 + cls;
            if (poolOf[key] == PoolId.None.Value)
            {
                if (next >= _poolCapacity)
                    return MemoryStatus.PoolTableFull;
                PoolProperties props = PoolProperties.Open("");
                props.Name = PoolName.FromParts("node", info.Node, cls == 0 ? "-dma" : cls == 1 ? "-dma32" : "-normal");
                props.NodeMask = 1UL << info.Node;
                props.WindowLow = new PhysAddr(cls == 0 ? 0 : cls == 1 ? DmaEndPfn << Pfn.PageShift : Dma32EndPfn << Pfn.PageShift);
                props.WindowHigh = new PhysAddr(cls == 0 ? DmaEndPfn << Pfn.PageShift : cls == 1 ? Dma32EndPfn << Pfn.PageShift : 0);
                props.Flags = cls == 0 ? PoolFlags.Dma : PoolFlags.None;
                OpenSlot(next, props);
                poolOf[key] = (byte)next;
                next++;
            }
            info.Pool = poolOf[key];
            info.Home = poolOf[key];
            ref Pool pool = ref _buddy._pools[info.Pool];
            pool.PresentPages += info.Present;
            pool.Pageblocks++;
        }
        for (int i = 0; i < next; i++)
            _buddy.SizeCache(i); // the caches are empty: this only sets each high mark
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// Makes table slot <paramref name="slot"/> an empty live pool: at set-up, or under the table lock and the
    /// slot's lock. Live is written last, so a reader without the lock never sees a live slot with old properties
    /// (it checks again under the lock anyway).
    /// </summary>
    private void OpenSlot(int slot, in PoolProperties props)
    {
        Pool pool = default;
        pool.Properties = props;
        pool.UnaccountedOwners = props.OwnerMask & ~_accountedOwners;
        pool.Modifications = _buddy._pools[slot].Modifications; // kept across the slot's lives (Pool.Modifications)
        _buddy._pools[slot] = pool;
        _buddy._pools[slot].Live = 1; // a plain store after the others: x86 and both compilers keep stores in order
        if (slot >= _poolLimit)
            _poolLimit = slot + 1;
        for (int o = 0; o < _buddy._listStride; o++)
            _buddy.ListAt(slot, o)->Reset();
        _buddy._cacheClasses[slot] = BuddyAllocator.CacheClassFor(props);
        for (int c = 0; c < _buddy._cpus; c++)
        {
            _buddy.CacheOf(slot, c)->Count = 0;
            _buddy.CacheOf(slot, c)->High = 0; // no page block yet: no cache (SizeCache sets it as page blocks arrive)
            for (int s = 0; s < FrameCache.BlockSlots; s++)
            {
                _buddy.BlockCacheOf(slot, c, s)->Count = 0;
                _buddy.BlockCacheOf(slot, c, s)->High = 0;
            }
        }
    }

    /// <summary>
    /// The free-list nodes the span needs (<see cref="NodeTable"/>): those of every directory chunk
    /// holding a usable frame. With <paramref name="chunks"/> not null, also writes the directory over
    /// <paramref name="nodes"/> (a chunk without usable frames is never looked up).
    /// </summary>
    private static ulong PlaceNodes(in MemoryMap map, in Layout layout, FreeNode* nodes, FreeNode** chunks)
    {
        ulong chunkCount = NodeTable.ChunksFor(layout.SpanPages);
        if (chunks != null)
            for (ulong c = 0; c < chunkCount; c++)
                chunks[c] = NodeTable.Entry(nodes, c);
        int* order = stackalloc int[MemoryMap.MaxRegions];
        int usable = SortUsable(map, layout.FrameLimit, order);
        ulong placed = 0;
        ulong next = 0; // the first chunk not yet given nodes
        for (int k = 0; k < usable; k++)
        {
            map.UsableFrames(order[k], layout.FrameLimit, out ulong f, out ulong e);
            ulong c = (f - layout.BasePfn) >> NodeTable.ChunkOrder;
            if (c < next)
                c = next;
            for (ulong last = (e - 1 - layout.BasePfn) >> NodeTable.ChunkOrder; c <= last; c++)
            {
                if (chunks != null)
                    chunks[c] = NodeTable.Entry(nodes + placed, c);
                placed += NodeTable.NodesIn(c, layout.SpanPages);
                next = c + 1;
            }
        }
        return placed;
    }

    /// <summary>Indices of the map's usable regions below <paramref name="limit"/>, sorted by start; returns how many.</summary>
    private static int SortUsable(in MemoryMap map, ulong limit, int* order)
    {
        int n = 0;
        for (int i = 0; i < map.Count; i++)
        {
            map.UsableFrames(i, limit, out ulong f, out ulong e);
            if (e == 0)
                continue;
            int j = n++;
            while (j > 0)
            {
                map.UsableFrames(order[j - 1], limit, out ulong pf, out _);
                if (pf <= f)
                    break;
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
        return n;
    }

    /// <summary>Sets <paramref name="count"/> bytes to <paramref name="value"/>, eight at a time.</summary>
    private static void Fill(byte* at, ulong count, byte value)
    {
        ulong pattern = value * 0x0101010101010101UL;
        while (count > 0 && ((ulong)at & 7) != 0)
        {
            *at++ = value;
            count--;
        }
        ulong* words = (ulong*)at;
        for (ulong i = 0; i < count >> 3; i++)
            words[i] = pattern;
        at += count & ~7UL;
        for (ulong i = 0; i < (count & 7); i++)
            at[i] = value;
    }

    /// <summary>Largest buddy order of this instance.</summary>
    public int MaxOrder { get { return _buddy._maxOrder; } }
    /// <summary>log2 of the page-block size in frames.</summary>
    public int PageblockOrder { get { return _buddy._pageblockOrder; } }
    /// <summary>Pool-table capacity (pool ids are below it).</summary>
    public int PoolCapacity { get { return _poolCapacity; } }
    public int NodeCount { get { return _nodeCount; } }
    /// <summary>First frame of the span the metadata covers.</summary>
    public Pfn BasePfn { get { return new Pfn(_basePfn); } }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsLive(PoolId id) { return id.Value < _poolCapacity && _buddy._pools[id.Value].Live != 0; }
}
