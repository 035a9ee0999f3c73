using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>Allocation and freeing of buddy blocks; the pool walk in <see cref="PoolChoice"/> order that page runs share (PhysicalMemory.Runs.cs).</summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// Allocates a block of 2^order frames. A request naming a pool uses that pool (refused with
    /// NoSuchPool, OwnerRefused or PropertiesMismatch if it does not fit); otherwise pools are
    /// tried in the <see cref="PoolChoice"/> order. Address rules (range, DMA bits, alignment,
    /// boundary) hold in both cases, and a constrained result is checked against them before it is
    /// returned. The block records <see cref="AllocRequest.Owner"/> as its owner (<see cref="FrameOwner"/>):
    /// only that owner may free it. Results: Ok; OutOfMemory (qualifying pools exist but none has a
    /// fitting block); NoPoolSatisfies; caller errors (InvalidOrder, InvalidArgument, ImpossibleRules,
    /// OwnerRefused); Corruption.
    /// This is <see cref="Allocate"/>'s body: the fast paths serve only owners that are not containers (a named pool
    /// admits on <see cref="Pool.UnaccountedOwners"/>, a remembered choice of a container's is never found by its
    /// plain shape), so a container's request always misses them and <see cref="AllocateMissed"/> accounts it.
    /// </summary>
    /// <remarks>
    /// This entry is inlined into its callers and holds only the fast paths: a block of a larger order, rule-free
    /// or by pool choice, goes to <see cref="AllocateBlock"/>; for order 0, an unmovable request (the class the
    /// pools' frame caches serve, <see cref="BuddyAllocator.CacheClassFor"/>) with no address rule that names a
    /// live pool admitting its owner, or that names none and whose shape has a remembered pool-choice order whose
    /// first pool with free frames implies every rule of the request (<see cref="RememberedFirst"/>: any rule-free
    /// request; a ruled one whose rules that pool's every frame obeys, such as DMA32 + 64 KiB from the dma32 pool,
    /// checked once when the memo entry was written, <see cref="ChoiceMemo.Implied"/>), takes the most recently
    /// freed frame from that pool's <see cref="FrameCache"/> (one pop, one frame-byte store and one owner-byte
    /// store; the page block's held count already covers a cached frame; AllowsOwner has refused owners above 63,
    /// so the recorded owner is valid). Anything else, an empty cache included, goes to <see cref="AllocateSlow"/>,
    /// which makes every check again and checks a ruled result on the way out.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal MemoryStatus AllocateUnaccounted(Order order, in AllocRequest request, out Pfn pfn)
    {
        int pool = request.Pool.Value;
        bool ruled = request.HasAddressRules;
        if (order.Value != 0 && (!ruled || request.Pool.IsNone))
        {
            // One CPU and whole page blocks: the trimmed copy (PhysicalMemory.Whole.cs).
            MemoryStatus blockStatus = _maxCpus == 1 && order.Value >= _buddy._pageblockOrder ?
                AllocateWholeOneCpu(order.Value, request, out Pfn blockPfn) : AllocateBlock(order.Value, request, out blockPfn);
            pfn = blockPfn;
            return blockStatus;
        }
        // Every CPU's cache of a pool serves one class; only the unmovable class, the caches' class in
        // every pool that accepts it, is served here (a constant compare): the others, and the movable
        // class of a movable-only pool's caches, go to the slow path, which serves them by the pool's class.
        // A ruled request naming a pool is never served here (only rule-free ones are taken as named).
        if (request.Mobility == MobilityClass.Unmovable)
        {
            bool named = pool < _poolCapacity && !ruled;
            uint generation = 0;
            if (!named)
                pool = request.Pool.IsNone ? RememberedFirst(0, request, out generation) : -1;
            // One copy of the hit for an instance of one CPU and one for several (see TakeCachedFrame); a local of
            // its own keeps the caller's pfn out of memory.
            if ((uint)pool < (uint)_poolCapacity &&
                (_maxCpus == 1 ? TakeCachedFrame(pool, named, generation, request, true, out Pfn hitPfn, out MemoryStatus hit) :
                    TakeCachedFrame(pool, named, generation, request, false, out hitPfn, out hit)))
            {
                pfn = hitPfn;
                return hit;
            }
        }
        // A separate local keeps the caller's pfn out of memory on the fast path.
        MemoryStatus status = AllocateMissed(order, request, out Pfn slowPfn);
        pfn = slowPfn;
        return status;
    }

    /// <summary>
    /// The order-0 hit of <see cref="AllocateUnaccounted"/>: <paramref name="pool"/> (named, or remembered in pool
    /// table <paramref name="generation"/>) admits the request inside the calling CPU's section on its frame cache
    /// (<see cref="LockCache"/>, <see cref="AdmittedLocked"/>) and that cache holds a frame: the newest is popped
    /// and marked allocated and owned. False, nothing changed, otherwise; true with <paramref name="status"/> also
    /// when the call is nested in the CPU's own lock-free section (<see cref="AllocateBypassingCache"/> answered).
    /// <paramref name="oneCpu"/> is a constant at each call site, true only when the instance has one CPU
    /// (<see cref="MemoryConfig.MaxCpus"/> = 1): that copy has CPU 0, no section, no nesting and no call on its
    /// path, so none of its values lives across a call (the copy for several CPUs kept the pool, the cache and
    /// the frame in stack slots around the hook and lock calls: ilc, issue 12).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TakeCachedFrame(int pool, bool named, uint generation, in AllocRequest request, bool oneCpu, out Pfn pfn, out MemoryStatus status)
    {
        status = MemoryStatus.Ok;
        int cpu = oneCpu ? 0 : CurrentCpu();
        ulong state = oneCpu ? 0 : LockCache(pool, cpu);
        if (!oneCpu && state == NestedEntry)
        {
            status = AllocateBypassingCache(0, pool, named, generation, request, out Pfn nestedPfn);
            pfn = nestedPfn;
            return true;
        }
        if (AdmittedLocked(pool, named, generation, request))
        {
            FrameCache* cache = oneCpu ? _buddy._caches + pool : _buddy.CacheOf(pool, cpu); // one CPU: one cache a pool
            if (cache->Count != 0)
            {
                _buddy.CountPoolProbe();
                ulong frame = cache->Pop();
                _buddy._owners[frame] = request.Owner;
                _buddy._frames[frame] = FrameState.Make(FrameKind.Allocated, 0);
                if (!oneCpu)
                    UnlockCache(pool, cpu, state);
                pfn = new Pfn(_basePfn + frame);
                return true;
            }
        }
        if (!oneCpu)
            UnlockCache(pool, cpu, state);
        pfn = Pfn.None;
        return false;
    }

    /// <summary>
    /// A request of order &gt; 0 (whatever <paramref name="order"/> is: an invalid one goes on to
    /// <see cref="AllocateSlow"/>) without address rules, or by pool choice with or without them. The path of a
    /// classic buddy allocation: a named pool that admits the request, or by pool choice the first remembered
    /// pool with free frames when it implies every rule of the request (<see cref="RememberedFirst"/>, as
    /// <see cref="WalkPools"/> would try it: a ruled block then obeys the rules whichever block of the pool it
    /// is, <see cref="ChoiceMemo.Implied"/>), gives its first listed block of at least the order, split
    /// down (<see cref="BuddyAllocator.TakeFirst"/>); the block is marked allocated, owned and held.
    /// Before that, an order with per-CPU caches (1, 2, 3, 9: <see cref="FrameCache.SlotOfOrder"/>) and an
    /// unmovable request first tries the calling CPU's cache of that order in the pool the walk would try
    /// first (<see cref="TakeCachedBlock"/>), as the order-0 fast path does.
    /// Anything else (no such block listed, so a drain of the frame cache may be needed; no memo entry;
    /// a refusal) goes to AllocateSlow, which decides every case again. Kept apart from AllocateSlow so
    /// this path's frame holds only what it uses: inside AllocateSlow, with the pool walk inlined there,
    /// the order-9 pair spilled its list links to the stack (ilc profile, issue 12).
    /// </summary>
    private MemoryStatus AllocateBlock(int order, in AllocRequest request, out Pfn pfn)
    {
        int pool = request.Pool.Value;
        bool named = pool < _poolCapacity;
        uint generation = 0;
        if ((uint)order <= (uint)_buddy._maxOrder)
        {
            if (!named && request.Pool.IsNone)
                pool = RememberedFirst(order, request, out generation);
            if ((uint)pool < (uint)_poolCapacity && request.Mobility == MobilityClass.Unmovable && FrameCache.SlotOfOrder(order) >= 0 &&
                TakeCachedBlock(pool, order, named, generation, request, out pfn, out MemoryStatus cached))
                return cached;
            // By pool choice the walk would try this pool first; with nothing listed there it would drain
            // its caches (AllocateSlow does).
            if (!named && (uint)pool < (uint)_poolCapacity && !_buddy.HasListedAtLeast(pool, order))
                pool = -1;
            if ((uint)pool < (uint)_poolCapacity)
            {
                ulong state = LockPool(pool);
                // A realtime pool allocates its own class only, on its counted path (AllocateNamedLocked).
                if (AdmittedLocked(pool, named, generation, request) && !IsRealtime(pool))
                {
                    _buddy.CountPoolProbe();
                    ulong index = _buddy.TakeFirst(pool, order, (int)request.Mobility);
                    if (index != FreeList.End)
                    {
                        ref BuddyAllocator b = ref _buddy;
                        b._frames[index] = FrameState.Make(FrameKind.Allocated, order);
                        b._owners[index] = request.Owner;
                        b.AddHeld(index, 1UL << order, 1);
                        UnlockPool(pool, state);
                        pfn = new Pfn(_basePfn + index);
                        return MemoryStatus.Ok;
                    }
                }
                UnlockPool(pool, state);
            }
        }
        MemoryStatus status = AllocateMissed(new Order(order), request, out Pfn slowPfn);
        pfn = slowPfn;
        return status;
    }

    /// <summary>
    /// The cache-hit path of <see cref="AllocateBlock"/> for an unmovable rule-free request of an
    /// <paramref name="order"/> that has per-CPU caches: <paramref name="pool"/> (the <paramref name="named"/> pool,
    /// or by pool choice the first remembered pool with free frames, <see cref="RememberedFirst"/>, of pool table
    /// <paramref name="generation"/>) admits the request inside the calling CPU's section on its cache (<see cref="LockCache"/>)
    /// (<see cref="AdmittedLocked"/>) and that CPU's cache of the order holds a block: the newest one is popped
    /// and marked allocated and owned (its page blocks' held counts already cover it). False, with nothing
    /// changed, otherwise. True with <paramref name="status"/> also when the call is nested in this CPU's own
    /// lock-free section on the cache (<see cref="NestedEntry"/>): then the pool's lists answered (<see cref="AllocateBypassingCache"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TakeCachedBlock(int pool, int order, bool named, uint generation, in AllocRequest request, out Pfn pfn, out MemoryStatus status)
    {
        pfn = Pfn.None;
        status = MemoryStatus.Ok;
        int cpu = CurrentCpu();
        FrameCache* cache = _buddy.BlockCacheOf(pool, cpu, FrameCache.SlotOfOrder(order));
        if (cache->Count == 0)
            return false; // a snapshot: only drains change another CPU's cache, and a miss is always correct
        ulong state = LockCache(pool, cpu);
        if (state == NestedEntry)
        {
            status = AllocateBypassingCache(order, pool, named, generation, request, out pfn);
            return true;
        }
        if (cache->Count == 0 || !AdmittedLocked(pool, named, generation, request))
        {
            UnlockCache(pool, cpu, state);
            return false;
        }
        _buddy.CountPoolProbe();
        ulong index = cache->Pop();
        _buddy._owners[index] = request.Owner;
        _buddy._frames[index] = FrameState.Make(FrameKind.Allocated, order);
        UnlockCache(pool, cpu, state);
        pfn = new Pfn(_basePfn + index);
        return true;
    }

    /// <summary>
    /// For a request of <paramref name="order"/> by pool choice: the pool the walk would try first, from the
    /// <see cref="ChoiceMemo"/> entry of its shape (the first remembered pool with free frames, <see cref="HasFreeFrames"/>),
    /// when that pool implies every rule of the request (<see cref="ChoiceMemo.Implied"/>; always, for a rule-free
    /// request), so any of its blocks of the order may be handed out unchecked; -1 when there is no entry, the walk
    /// would need the pool table (no remembered pool has frames) or that pool does not imply the rules (the walk
    /// then searches it for a block that obeys them).
    /// A pool in the entry qualified when it was written and the entry is of pool table
    /// <paramref name="generation"/>, which the caller compares again under the pool's lock (<see cref="AdmittedLocked"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int RememberedFirst(int order, in AllocRequest request, out uint generation)
    {
        ChoiceMemo* memo = CpuMemo();
        generation = _poolGeneration;
        if (order == 0)
        {
            // The order-0 fast path (a constant there): the last request found answers a repeated request, the first
            // remembered pool nearly always has a listed frame, and the walk over the others is kept out of its frame.
            // A larger order looks its entry up and walks inline as before: by pool choice (the bulk shapes) its first
            // pool runs dry half the time, and the bulk9 shape read slower with the last request (ilc, alternating runs).
            int slot0 = memo->FindRequest(0, request, generation);
            if (slot0 < 0)
                return -1;
            int first = memo->PoolAt(slot0, 0);
            if (memo->Count(slot0) != 0 && _buddy.HasListedAtLeast(first, 0))
                return memo->Implied(slot0, 0) ? first : -1;
            return RememberedWithFrames(memo, slot0, 0);
        }
        int slot = memo->Find(ChoiceMemo.Shape(order, request), request, generation);
        if (slot < 0)
            return -1;
        return FirstWithFrames(memo, slot, order);
    }

    /// <summary><see cref="FirstWithFrames"/> out of line, for the order-0 fast path's rare case.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int RememberedWithFrames(ChoiceMemo* memo, int slot, int order) { return FirstWithFrames(memo, slot, order); }

    /// <summary>
    /// The first pool of entry <paramref name="slot"/> with free frames (<see cref="HasFreeFrames"/>: cached ones
    /// count), when it implies the entry's rules; else -1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int FirstWithFrames(ChoiceMemo* memo, int slot, int order)
    {
        int count = memo->Count(slot);
        for (int i = 0; i < count; i++)
        {
            int pool = memo->PoolAt(slot, i);
            if (HasFreeFrames(pool, order))
                return memo->Implied(slot, i) ? pool : -1;
        }
        return -1;
    }

    /// <summary>
    /// Under pool <paramref name="pool"/>'s lock, whether a rule-free request may take a block from it: a
    /// <paramref name="named"/> pool must be live and admit the request's owner among its owners that are not
    /// containers (<see cref="Pool.UnaccountedOwners"/>: a container's request misses here and is accounted on
    /// the slow path) and its mobility class; a pool
    /// from the calling CPU's memo qualified in pool table <paramref name="generation"/>, which must still be
    /// the current one (a pool is created or destroyed with its slot's lock held and the generation bumped
    /// before that lock is released, so the slot still holds the pool that was remembered).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool AdmittedLocked(int pool, bool named, uint generation, in AllocRequest request)
    {
        if (!named)
            return _poolGeneration == generation; // read after the lock's atomic: not moved before it
        ref Pool p = ref _buddy._pools[pool];
        return p.Live != 0 && p.AllowsUnaccounted(request.Owner) && p.Properties.Accepts(request.Mobility);
    }

    /// <summary>Every case of <see cref="Allocate"/>, the fast ones included (reached when they do not apply: an empty frame cache, a refusal, no memo entry).</summary>
    private MemoryStatus AllocateSlow(Order order, in AllocRequest request, out Pfn pfn)
    {
        pfn = Pfn.None;
        if ((uint)order.Value > (uint)_buddy._maxOrder)
            return MemoryStatus.InvalidOrder;
        if (!request.Pool.IsNone)
        {
            if (request.Pool.Value >= _poolCapacity)
                return MemoryStatus.NoSuchPool;
            int pool = request.Pool.Value;
            int cpu = CurrentCpu();
            ulong state = LockCpuPool(pool, cpu);
            MemoryStatus status = AllocateNamedLocked(pool, order, request, cpu, out pfn);
            UnlockCpuPool(pool, cpu, state);
            // Realtime pools drain only their own CPU's cache (Kernel.Memory/Realtime).
            if (status == MemoryStatus.OutOfMemory && !IsRealtime(pool) && DrainOtherCpus(pool, cpu, order.Pages))
            {
                state = LockCpuPool(pool, cpu);
                status = AllocateNamedLocked(pool, order, request, cpu, out pfn);
                UnlockCpuPool(pool, cpu, state);
                NoteDrainOutcome(pool, order.Pages, status);
            }
            return status;
        }
        return AllocateByChoice(order, request, out pfn);
    }

    /// <summary>
    /// The pool ran short (a request of <paramref name="frames"/> frames refused) while other CPUs' caches of it hold
    /// frames: those caches are drained (with their locks, frozen and their owners waited out, and the pool's lock,
    /// <see cref="LockPoolWithCachesOf"/>; the caller holds none) so the frames merge on its lists, and the caller
    /// tries once more and reports how that went (<see cref="NoteDrainOutcome"/>). False (nothing locked, no
    /// barrier) when no other CPU's cache of the pool holds a frame (its own path has drained
    /// <paramref name="cpu"/>'s own), or when rate-limited: a request at least as large as one refused right after
    /// the pool's last drain (<see cref="Pool.FutileDrainFrames"/>) skips the drain while the other CPUs' caches hold
    /// fewer frames than it asks for. Those caches may still hold the few frames that would complete a block with
    /// listed ones; the next drain (a smaller request's, or once they hold as many frames as asked) frees them.
    ///
    /// Which caches hold frames is read without their locks (<see cref="BuddyAllocator.CpusHoldingFrames"/>), a
    /// filter: a cache that read empty and was refilled meanwhile keeps its frames (the caller's retry may then
    /// refuse, as it would have had that refill come a moment after the drain); one that read full and was emptied
    /// meanwhile is frozen for nothing. Only the caches found holding frames are frozen, so one freeze costs one
    /// barrier and waits for those owners only. The calling CPU's own cache is drained with them when it holds
    /// frames again (an interrupt handler's frees), as the drain of every CPU's cache did.
    /// </summary>
    private bool DrainOtherCpus(int pool, int cpu, ulong frames)
    {
        ulong holders = _buddy.CpusHoldingFrames(pool, cpu, out ulong othersCached);
        if ((holders & ~(1UL << cpu)) == 0)
            return false;
        ulong futile = _buddy._pools[pool].FutileDrainFrames;
        if (futile != 0 && frames >= futile && othersCached < frames)
            return false;
        ulong state = LockPoolWithCachesOf(pool, holders);
        bool drained = false;
        for (int c = 0; c < _buddy._cpus; c++)
            if ((holders & (1UL << c)) != 0)
                drained |= _buddy.DrainCpu(pool, c);
        _buddy._pools[pool].FutileDrainFrames = 0;
        Modified(pool);
        UnlockPoolWithCachesOf(pool, holders, state);
        return drained;
    }

    /// <summary>
    /// After <see cref="DrainOtherCpus"/> and the retry: a request of <paramref name="frames"/> frames still refused
    /// marks the pool (<see cref="Pool.FutileDrainFrames"/>, the smallest such request since the last drain), so
    /// that requests as large skip the drain until one runs again. A hint written without the pool's lock: a lost
    /// update costs at most one drain more or one fewer.
    /// </summary>
    private void NoteDrainOutcome(int pool, ulong frames, MemoryStatus status)
    {
        if (status != MemoryStatus.OutOfMemory)
            return;
        ulong futile = _buddy._pools[pool].FutileDrainFrames;
        if (futile == 0 || frames < futile)
            _buddy._pools[pool].FutileDrainFrames = frames; // an aligned 8-byte store: never torn
    }

    /// <summary>The named-pool case of <see cref="AllocateSlow"/>, under <paramref name="cpu"/>'s cache lock and that pool's lock (<see cref="LockCpuPool"/>).</summary>
    private MemoryStatus AllocateNamedLocked(int pool, Order order, in AllocRequest request, int cpu, out Pfn pfn)
    {
        pfn = Pfn.None;
        MemoryStatus admitted = AdmitNamed(request);
        if (admitted != MemoryStatus.Ok)
            return admitted;
        if (IsRealtime(pool))
            return AllocateRealtimeNamedLocked(pool, order.Value, request, cpu, out pfn);
        if (!request.HasAddressRules)
        {
            // No rule to check, any block of the pool will do. An order with caches comes from the
            // CPU's cache of the pool, refilled from the buddy lists when empty.
            ulong index = TakeHeldLocked(pool, order.Value, cpu, (int)request.Mobility);
            if (index == FreeList.End)
                return MemoryStatus.OutOfMemory;
            _buddy._owners[index] = RecordedOwner(request.Owner);
            _buddy._frames[index] = FrameState.Make(FrameKind.Allocated, order.Value);
            pfn = new Pfn(_basePfn + index);
            return MemoryStatus.Ok;
        }
        MemoryStatus resolved = DmaRules.Resolve(request, order.Pages, out DmaRules rules);
        if (resolved != MemoryStatus.Ok)
            return resolved;
        return AllocateInPoolLocked(pool, order.Value, rules, request.Owner, request.Mobility, cpu, out pfn);
    }

    /// <summary>
    /// The pool-choice path of <see cref="Allocate"/>, kept out of the named-pool fast path's frame. A
    /// request without address rules takes <see cref="DmaRules.None"/> without resolving anything.
    /// </summary>
    private MemoryStatus AllocateByChoice(Order order, in AllocRequest request, out Pfn pfn)
    {
        pfn = Pfn.None;
        DmaRules rules = DmaRules.None;
        if (request.HasAddressRules)
        {
            MemoryStatus resolved = DmaRules.Resolve(request, order.Pages, out rules);
            if (resolved != MemoryStatus.Ok)
                return resolved;
        }
        return WalkPools(order.Value, order.Pages, request, rules, out pfn);
    }

    /// <summary>Marks a <see cref="WalkPools"/> for a page run rather than a buddy block.</summary>
    private const int RunOrder = -1;

    /// <summary>
    /// The one walk over the pools in <see cref="PoolChoice"/> order, for a block of
    /// <paramref name="order"/> or, with <see cref="RunOrder"/>, a run of <paramref name="pages"/>
    /// (<see cref="AllocateRun"/>). Each qualifying pool is tried until one answers anything but
    /// OutOfMemory; that answer is returned. When none had memory, the answer is OutOfMemory if any
    /// qualifying pool holds memory the rules allow, NoPoolSatisfies otherwise
    /// (<see cref="AnyQualifyingMemoryWithin"/>). A pool with no free frame at all is passed over
    /// without being tried (<see cref="HasFreeFrames"/>: it would answer OutOfMemory).
    /// A block request's order is remembered (<see cref="ChoiceMemo"/>, with the rules' window when
    /// it has rules); on a hit the remembered pools are walked without a pass over the pool table,
    /// and only an incomplete entry goes on with the passes after its last pool. Runs are not
    /// remembered. Inlined into its two callers: the call frame between them cost the pool-choice
    /// pair about a tenth (AOT pair bench).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private MemoryStatus WalkPools(int order, ulong pages, in AllocRequest request, in DmaRules rules, out Pfn pfn)
    {
        pfn = Pfn.None;
        bool qualified = false;
        ulong minKey = 0;
        bool remember = false;
        ulong shape = 0;
        if (order != RunOrder)
        {
            // A container's entries carry the accounted form in their owner byte: the fast paths look up plain shapes.
            shape = ChoiceMemo.Shape(order, request) | AccountedShape(request.Owner);
            ChoiceMemo* memo = CpuMemo();
            int slot = memo->Find(shape, request, _poolGeneration);
            if (slot < 0)
                remember = true;
            else
            {
                int count = memo->Count(slot);
                qualified = count > 0;
                for (int i = 0; i < count; i++)
                {
                    int pool = memo->PoolAt(slot, i);
                    if (!HasFreeFrames(pool, order))
                        continue;
                    MemoryStatus status = AllocateInQualifyingPool(pool, order, pages, request, rules, out pfn);
                    if (status != MemoryStatus.OutOfMemory)
                        return status;
                }
                if (memo->Complete(slot))
                    return qualified && AnyQualifyingMemoryWithin(request, rules, pages) ? MemoryStatus.OutOfMemory : MemoryStatus.NoPoolSatisfies;
                minKey = memo->LastKey(slot) + 1;
            }
        }
        for (int pool = PoolChoice.Next(ref this, request, rules, pages, minKey, out ulong key); pool >= 0;
             pool = PoolChoice.Next(ref this, request, rules, pages, minKey, out key))
        {
            qualified = true;
            minKey = key + 1;
            if (order != RunOrder && !HasFreeFrames(pool, order))
                continue;
            MemoryStatus status = AllocateInQualifyingPool(pool, order, pages, request, rules, out pfn);
            if (status != MemoryStatus.OutOfMemory)
            {
                // Remembered only on success, so a refused request leaves the metadata as it was.
                if (status == MemoryStatus.Ok && remember)
                    Remember(shape, order, request, rules);
                return status;
            }
        }
        return qualified && AnyQualifyingMemoryWithin(request, rules, pages) ? MemoryStatus.OutOfMemory : MemoryStatus.NoPoolSatisfies;
    }

    /// <summary>
    /// One pool of the walk, under its lock: the pool was found without the lock (a snapshot of the pool
    /// table), so it is checked again under it (live and qualifying: a pool destroyed or replaced meanwhile
    /// answers OutOfMemory and the walk goes on), then asked for a block or, with <see cref="RunOrder"/>, a run.
    /// </summary>
    private MemoryStatus AllocateInQualifyingPool(int pool, int order, ulong pages, in AllocRequest request, in DmaRules rules, out Pfn pfn)
    {
        int cpu = CurrentCpu();
        MemoryStatus status = AllocateInQualifyingPoolOnce(pool, order, pages, request, rules, cpu, out pfn);
        ulong frames = order == RunOrder ? pages : 1UL << order;
        if (status == MemoryStatus.OutOfMemory && DrainOtherCpus(pool, cpu, frames))
        {
            status = AllocateInQualifyingPoolOnce(pool, order, pages, request, rules, cpu, out pfn);
            NoteDrainOutcome(pool, frames, status);
        }
        return status;
    }

    private MemoryStatus AllocateInQualifyingPoolOnce(int pool, int order, ulong pages, in AllocRequest request, in DmaRules rules, int cpu, out Pfn pfn)
    {
        pfn = Pfn.None;
        ulong state = LockCpuPool(pool, cpu);
        MemoryStatus status = MemoryStatus.OutOfMemory;
        if (PoolChoice.Qualifies(ref _buddy._pools[pool], request, rules, pages))
            status = order == RunOrder
                ? AllocateRunInPoolLocked(pool, pages, rules, request.Owner, request.Mobility, cpu, out pfn)
                : AllocateInPoolLocked(pool, order, rules, request.Owner, request.Mobility, cpu, out pfn);
        UnlockCpuPool(pool, cpu, state);
        return status;
    }

    /// <summary>Writes the calling CPU's <see cref="ChoiceMemo"/> entry of a block request: its first <see cref="ChoiceMemo.Ranked"/> qualifying pools in order.</summary>
    private void Remember(ulong shape, int order, in AllocRequest request, in DmaRules rules)
    {
        ChoiceMemo* memo = CpuMemo();
        int slot = memo->Begin(shape, request, rules, _poolGeneration);
        ulong minKey = 0;
        ulong pages = 1UL << order;
        for (int pool = PoolChoice.Next(ref this, request, rules, pages, minKey, out ulong key); ;
             pool = PoolChoice.Next(ref this, request, rules, pages, minKey, out key))
        {
            if (pool < 0)
            {
                memo->Finish(slot);
                return;
            }
            if (!memo->Add(slot, pool, key, Implies(pool, rules, pages)))
                return;
            minKey = key + 1;
        }
    }

    /// <summary>
    /// False when the pool certainly has no block of <paramref name="order"/>: no cached frame on any CPU (a
    /// drain could merge them into one) and no listed block of that order or above. A snapshot, without locks:
    /// the pool is asked under its lock.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool HasFreeFrames(int pool, int order)
    {
        return _buddy.HasListedAtLeast(pool, order) || _buddy.AnyCached(pool);
    }

    /// <summary>Checks that a request may use the pool it names.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private MemoryStatus AdmitNamed(in AllocRequest request)
    {
        if (!IsLive(request.Pool))
            return MemoryStatus.NoSuchPool;
        ref PoolProperties props = ref _buddy._pools[request.Pool.Value].Properties;
        if (!props.AllowsOwner(request.Owner))
            return MemoryStatus.OwnerRefused;
        if (!props.Accepts(request.Mobility))
            return MemoryStatus.PropertiesMismatch;
        return MemoryStatus.Ok;
    }

    /// <summary>True when the pool implies <paramref name="rules"/> for blocks of <paramref name="pages"/> frames: every such block it can hand out obeys them (<see cref="DmaRules.ImpliedBy"/>; its frames lie in its window).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Implies(int pool, in DmaRules rules, ulong pages)
    {
        ref PoolProperties props = ref _buddy._pools[pool].Properties;
        return rules.ImpliedBy(props.WindowStartPfn, props.WindowEndPfn, pages);
    }

    /// <summary>One pool, resolved rules: search (in <paramref name="mobility"/>'s lists first), carve, mark (state and <paramref name="owner"/>), then check the result on the way out.</summary>
    private MemoryStatus AllocateInPoolLocked(int pool, int order, in DmaRules rules, byte owner, MobilityClass mobility, int cpu, out Pfn pfn)
    {
        int cls = (int)mobility;
        pfn = Pfn.None;
        _buddy.CountPoolProbe();
        ulong pages = 1UL << order;
        ulong index;
        bool held; // a cached frame: its page block's held count already covers it
        if (Implies(pool, rules, pages))
        {
            // Natural alignment already meets the alignment, and a boundary of at least the block
            // size (Resolve refused smaller ones) is never crossed by an aligned block. So every
            // frame of the pool fits, cached ones included.
            index = TakeHeldLocked(pool, order, cpu, cls);
            if (index == FreeList.End)
                return MemoryStatus.OutOfMemory;
            held = true;
        }
        else
        {
            // An order-0 request may take a cached frame that obeys the rules (checked again on
            // the way out like any result). Otherwise the search walks the buddy lists as they
            // are. Only a larger block can need the cache drained first (its frames may merge into
            // a fitting block); an order-0 search has seen every cached frame already, so its
            // refusal leaves the cache as it was.
            index = order == 0 && _buddy.CacheServes(pool, mobility) ? TakeCachedFittingLocked(pool, rules, cpu) : FreeList.End;
            held = index != FreeList.End;
            if (index == FreeList.End)
            {
                index = _buddy.FindFit(pool, order, rules, _basePfn, cls);
                if (index == FreeList.End && order > 0 && _buddy.DrainCpu(pool, cpu))
                    index = _buddy.FindFit(pool, order, rules, _basePfn, cls);
                if (index == FreeList.End)
                    return MemoryStatus.OutOfMemory;
                _buddy.CarveRange(pool, index, index + pages);
            }
        }
        _buddy._owners[index] = RecordedOwner(owner);
        _buddy._frames[index] = FrameState.Make(FrameKind.Allocated, order);
        if (!held)
            _buddy.AddHeld(index, pages, 1);
        ulong result = _basePfn + index;
        if (!rules.Admits(result, pages) || _buddy.PoolOfFrame(index) != pool)
        {
            // The search broke its own rules: give the block back and report, never hand it out.
            _buddy._owners[index] = FrameOwner.None;
            _buddy.AddHeld(index, pages, -1);
            _buddy.FreeMerging(pool, index, order);
            return MemoryStatus.Corruption;
        }
        pfn = new Pfn(result);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// The first block of at least <paramref name="order"/> on the pool's lists, split down (see
    /// <see cref="BuddyAllocator.TakeFirst"/>); when there is none and the pool's cache holds frames,
    /// the cache is drained (its frames may merge into a big enough block) and the lists tried again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong TakeFirstOrDrainLocked(int pool, int order, int cpu, int cls)
    {
        ulong index = _buddy.TakeFirst(pool, order, cls);
        return index != FreeList.End ? index : TakeFirstAfterDrainLocked(pool, order, cpu, cls);
    }

    /// <summary>The lists had no block of <paramref name="order"/>: drain <paramref name="cpu"/>'s cache of the pool and try once more (End if the cache was empty).</summary>
    private ulong TakeFirstAfterDrainLocked(int pool, int order, int cpu, int cls)
    {
        return _buddy.DrainCpu(pool, cpu) ? _buddy.TakeFirst(pool, order, cls) : FreeList.End;
    }

    /// <summary>
    /// A block of <paramref name="order"/> for a rule-free request, counted in its page blocks' held counts: for
    /// order 0 <see cref="TakeCachedLocked"/>; for an order with caches (<see cref="FrameCache.SlotOfOrder"/>) of
    /// the class the pool's caches serve, the newest block of <paramref name="cpu"/>'s cache of that order,
    /// refilled from the lists when empty; otherwise, or when the lists have no block of the order to refill
    /// with, the first listed block after draining the CPU's caches if needed (<see cref="TakeFirstOrDrainLocked"/>).
    /// End when the pool has none.
    /// </summary>
    private ulong TakeHeldLocked(int pool, int order, int cpu, int cls)
    {
        if (order == 0)
            return TakeCachedLocked(pool, cpu, cls);
        FrameCache* cache = _buddy.CacheFor(pool, cpu, order);
        if (cache != null && cache->High != 0 && _buddy.CacheServes(pool, (MobilityClass)cls) &&
            (cache->Count != 0 || _buddy.Refill(pool, cache, order) != 0))
            return cache->Pop();
        ulong index = TakeFirstOrDrainLocked(pool, order, cpu, cls);
        if (index != FreeList.End)
            _buddy.AddHeld(index, 1UL << order, 1);
        return index;
    }

    /// <summary>
    /// An order-0 frame from the pool's cache, refilled from the buddy lists when empty; End when the
    /// pool has none. A pool too small for a cache (<see cref="FrameCache.HighFor"/>) takes the frame
    /// straight from its lists, as a plain buddy allocator would. Either way the returned frame is
    /// counted in its page block's held count, as a cached frame is. A class other than the one the
    /// cache serves takes its frame from its own lists (stealing if it must).
    /// </summary>
    private ulong TakeCachedLocked(int pool, int cpu, int cls)
    {
        FrameCache* cache = _buddy.CacheOf(pool, cpu);
        if (cache->High == 0 || !_buddy.CacheServes(pool, (MobilityClass)cls))
        {
            ulong index = TakeFirstOrDrainLocked(pool, 0, cpu, cls);
            if (index != FreeList.End)
                _buddy.AddHeldOne(index, 1);
            return index;
        }
        // An empty list: the CPU's caches of larger orders may hold the frames (drained, then refilled from them).
        if (cache->Count == 0 && _buddy.Refill(pool, cache, 0) == 0 && (!_buddy.DrainCpu(pool, cpu) || _buddy.Refill(pool, cache, 0) == 0))
            return FreeList.End;
        return cache->Pop();
    }

    /// <summary>
    /// The most recently cached frame of the pool that obeys <paramref name="rules"/> as an order-0
    /// block, removed from the cache (the top entry takes its slot); End when none does. O(cache).
    /// </summary>
    private ulong TakeCachedFittingLocked(int pool, in DmaRules rules, int cpu)
    {
        FrameCache* cache = _buddy.CacheOf(pool, cpu);
        for (int i = cache->Count - 1; i >= 0; i--)
        {
            ulong index = cache->At(i);
            if (rules.Admits(_basePfn + index, 1))
            {
                cache->RemoveAt(i);
                return index;
            }
        }
        return FreeList.End;
    }

    /// <summary>
    /// Frees a block returned by <see cref="Allocate"/> with the same order, on behalf of
    /// <paramref name="owner"/>, which must be the owner the block was allocated as. Refused, with
    /// nothing changed: a frame outside every pool (OutsideEveryPool), a free frame (AlreadyFree:
    /// freed twice or never handed out, the allocator cannot tell which), a frame that is not the
    /// head of an allocated block (NotAllocated), a block of another owner (NotOwner, whatever the
    /// order), the wrong order (WrongOrder), a piece of a run (RunFreedAsBlock).
    /// This is <see cref="Free"/>'s body: a container's block records the accounted form of its owner, which the fast
    /// paths' compare never matches (<see cref="FrameOwner.Frees"/>), so its free reaches the slow path, which takes
    /// its pages off the container's counts (<see cref="TakeOffContainerLocked"/>).
    /// </summary>
    /// <remarks>
    /// Inlined into callers with the fast paths only: a larger block goes to <see cref="FreeBlock"/>; a frame whose byte says "allocated,
    /// order 0" (the check that refuses double frees) and whose owner byte is the caller's is marked
    /// Cached, its owner byte cleared, and pushed on its pool's frame cache when the cache is below its
    /// high mark (never, in a pool too small to have a cache) and the frame's page block is of the
    /// class the cache serves.
    /// Anything else goes to <see cref="FreeSlow"/>.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal MemoryStatus FreeUnaccounted(Pfn pfn, Order order, byte owner)
    {
        if (order.Value != 0)
            return _maxCpus == 1 && order.Value >= _buddy._pageblockOrder ? FreeWholeOneCpu(pfn, order.Value, owner) : FreeBlock(pfn, order, owner);
        ulong index = pfn.Value - _basePfn;
        if (index < _buddy._spanPages)
        {
            int pool = _buddy.PoolOfFrame(index);
            // One copy of the push for an instance of one CPU and one for several (see ParkFrame).
            if ((uint)pool < (uint)_poolCapacity &&
                (_maxCpus == 1 ? ParkFrame(index, pool, owner, true, out MemoryStatus parked) : ParkFrame(index, pool, owner, false, out parked)))
                return parked;
        }
        return FreeSlow(pfn, order, owner);
    }

    /// <summary>
    /// The order-0 push of <see cref="FreeUnaccounted"/>, for frame <paramref name="index"/> of <paramref name="pool"/>
    /// (its page block's pool read without a lock): inside the calling CPU's section on its frame cache
    /// (<see cref="LockCache"/>), when the cache is below its high mark, the owner byte is <paramref name="owner"/>'s,
    /// the page block is still the pool's and of the class the cache serves and the frame is claimed from
    /// "allocated, order 0" (<see cref="ClaimFrame"/>: what refuses a double free), the frame is parked with its
    /// owner byte cleared. False, nothing changed, otherwise; true with <paramref name="status"/> also when the
    /// call is nested in the CPU's own lock-free section (<see cref="FreeBypassingCache"/> answered).
    /// <paramref name="oneCpu"/> as for <see cref="TakeCachedFrame"/>: with one CPU nothing else runs between the
    /// page-block read and the push, so the pool is not read again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool ParkFrame(ulong index, int pool, byte owner, bool oneCpu, out MemoryStatus status)
    {
        status = MemoryStatus.Ok;
        int cpu = oneCpu ? 0 : CurrentCpu();
        ulong state = oneCpu ? 0 : LockCache(pool, cpu);
        if (!oneCpu && state == NestedEntry)
        {
            status = FreeBypassingCache(index, pool, 0, owner);
            return true;
        }
        FrameCache* cache = oneCpu ? _buddy._caches + pool : _buddy.CacheOf(pool, cpu); // one CPU: one cache a pool
        // Only a frame of a page block of the class the caches serve is parked (read under the cache
        // lock: a restyle of its page block holds the pool's lock, see BuddyAllocator.Restyle).
        if (cache->Count < cache->High && FrameOwner.Frees(_buddy._owners[index], owner) && (oneCpu || _buddy.PoolOfFrame(index) == pool) &&
            _buddy.CacheServes(pool, _buddy._pageblocks[index >> _buddy._pageblockOrder].Mobility) &&
            ClaimFrame(index, oneCpu))
        {
            _buddy._owners[index] = FrameOwner.None;
            cache->Push(index);
            if (!oneCpu)
                UnlockCache(pool, cpu, state);
            return true;
        }
        if (!oneCpu)
            UnlockCache(pool, cpu, state);
        return false;
    }

    /// <summary>
    /// A block of order &gt; 0: when its head reads "allocated, this order" and its owner byte is the
    /// caller's, it is parked in the calling CPU's cache of its order and pool when that order has caches,
    /// the cache is below its high mark and the block's page block is of the class the caches serve
    /// (claimed first, <see cref="ClaimBlock"/>; held counts unchanged), as the order-0 fast path parks a
    /// frame; otherwise (a full cache included) its owner is cleared, its page blocks' held counts dropped,
    /// and it is freed with merging under the pool's lock (an order with caches claimed first here too).
    /// Anything else goes to <see cref="FreeSlow"/>, which refuses it. The free half of <see cref="AllocateBlock"/>'s trimmed path.
    /// </summary>
    private MemoryStatus FreeBlock(Pfn pfn, Order order, byte owner)
    {
        ulong index = pfn.Value - _basePfn;
        ref BuddyAllocator b = ref _buddy;
        if ((uint)order.Value <= (uint)b._maxOrder && index < b._spanPages)
        {
            int pool = b.PoolOfFrame(index);
            if ((uint)pool < (uint)_poolCapacity)
            {
                int slot = FrameCache.SlotOfOrder(order.Value);
                int cpu = CurrentCpu();
                FrameCache* cache = slot >= 0 ? b.BlockCacheOf(pool, cpu, slot) : null;
                // The count and high mark read without the lock are snapshots (the high mark changes only with the
                // pool's present frames, the count only by this CPU or a drain); a pool without a cache of the order,
                // and a cache read full, free under the pool's lock alone, claiming first: what the section below does
                // for a full cache, without entering it (a run of frees, the bulk shape, mostly finds it full).
                if (cache != null && cache->Count < cache->High)
                {
                    ulong cacheState = LockCache(pool, cpu);
                    if (cacheState == NestedEntry)
                        return FreeBypassingCache(index, pool, order.Value, owner);
                    if (cache->Count < cache->High && FrameOwner.Frees(b._owners[index], owner) && b.PoolOfFrame(index) == pool &&
                        b.CacheServes(pool, b._pageblocks[index >> b._pageblockOrder].Mobility) &&
                        ClaimBlock(index, order.Value))
                    {
                        b._owners[index] = FrameOwner.None;
                        cache->Push(index);
                        UnlockCache(pool, cpu, cacheState);
                        return MemoryStatus.Ok;
                    }
                    UnlockCache(pool, cpu, cacheState);
                    // A full cache (or a block it does not take) frees to the lists below, the cache left as it
                    // is: a run of frees (the bulk shape) then costs what it cost without the cache, where
                    // draining a batch at every free past the high mark cost a second lock and the drain.
                }
                ulong state = LockPool(pool);
                // A realtime pool's blocks free on its counted path (FreeSlow, then FreeRealtimeLocked).
                if (b._frames[index] == FrameState.Make(FrameKind.Allocated, order.Value) && FrameOwner.Frees(b._owners[index], owner) && b.PoolOfFrame(index) == pool &&
                    !IsRealtime(pool) && (cache == null || ClaimBlock(index, order.Value)))
                {
                    b._owners[index] = FrameOwner.None;
                    b.AddHeld(index, 1UL << order.Value, -1);
                    b.FreeMerging(pool, index, order.Value);
                    UnlockPool(pool, state);
                    return MemoryStatus.Ok;
                }
                UnlockPool(pool, state);
            }
        }
        return FreeSlow(pfn, order, owner);
    }

    /// <summary>
    /// Every case of <see cref="Free"/>, the fast ones included (reached when the frame cache is full or the pool has none):
    /// under the lock of the frame's pool (found without it, then checked again under it: an allocated frame's page
    /// block never moves, and a free one that moved meanwhile is looked up again). A frame in no pool is refused
    /// without a lock: such frames never change.
    /// </summary>
    private MemoryStatus FreeSlow(Pfn pfn, Order order, byte owner)
    {
        if ((uint)order.Value > (uint)_buddy._maxOrder)
            return MemoryStatus.InvalidOrder;
        ulong index = pfn.Value - _basePfn;
        if (pfn.Value < _basePfn || index >= _buddy._spanPages)
            return MemoryStatus.OutsideEveryPool;
        while (true)
        {
            int pool = _buddy.PoolOfFrame(index);
            if ((uint)pool >= (uint)_poolCapacity)
                return Diagnose(index, _buddy._frames[index], order.Value, FrameKind.Allocated, owner);
            int cpu = CurrentCpu();
            ulong lockState = LockCpuPool(pool, cpu);
            if (_buddy.PoolOfFrame(index) == pool)
            {
                MemoryStatus status = FreeLocked(index, order, owner, cpu);
                UnlockCpuPool(pool, cpu, lockState);
                return status;
            }
            UnlockCpuPool(pool, cpu, lockState);
        }
    }

    /// <summary>
    /// The checks and the free of <see cref="FreeSlow"/>, under <paramref name="cpu"/>'s cache lock and the lock of
    /// the frame's pool. An order-0 frame of a pool with caches may at the same time be freed by another CPU
    /// to its own cache, holding no lock of this pool (the fast path of <see cref="Free"/>): both change its byte from
    /// "allocated" to "cached" with one atomic compare-exchange (<see cref="FrameState.TryChange"/>), so exactly
    /// one of them wins and the other is refused. Every other frame change happens under the pool's lock.
    /// </summary>
    private MemoryStatus FreeLocked(ulong index, Order order, byte owner, int cpu)
    {
        byte state = _buddy._frames[index];
        byte recorded = _buddy._owners[index];
        if (state != FrameState.Make(FrameKind.Allocated, order.Value) || !FrameOwner.Frees(recorded, ExpectedOwner(owner)))
            return Diagnose(index, state, order.Value, FrameKind.Allocated, owner);
        int pool = _buddy.PoolOfFrame(index);
        // A block of an order with caches is claimed first, whichever way it is freed below: another CPU's fast
        // path may be freeing it at the same time to its own cache (and it may take the cache branch when
        // this one does not: the page block's class is read without the pool's lock there).
        FrameCache* cache = _buddy.CacheFor(pool, cpu, order.Value);
        if (cache != null && !ClaimBlock(index, order.Value))
            return Diagnose(index, _buddy._frames[index], order.Value, FrameKind.Allocated, owner);
        // A container's block (its owner byte in the accounted form, which only the container's own free matches
        // above) comes off its counts in this section, whichever way it is freed below.
        TakeOffContainerLocked(recorded, pool, index, order.Pages);
        if (IsRealtime(pool))
        {
            FreeRealtimeLocked(pool, index, order.Value, cpu);
            return MemoryStatus.Ok;
        }
        if (cache != null && cache->High != 0 && _buddy.CacheServes(pool, _buddy._pageblocks[index >> _buddy._pageblockOrder].Mobility))
        {
            // Parked un-merged in this CPU's cache of the pool (still held by its page blocks); a full
            // cache first drains its oldest batch back to the lists. A pool without a cache frees below.
            _buddy._owners[index] = FrameOwner.None;
            if (cache->Count >= cache->High)
                _buddy.DrainOldest(pool, cache, cache->BatchSize, order.Value);
            cache->Push(index);
            return MemoryStatus.Ok;
        }
        _buddy._owners[index] = FrameOwner.None;
        _buddy.AddHeld(index, order.Pages, -1);
        _buddy.FreeMerging(pool, index, order.Value);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// An allocation of a cached order nested in the calling CPU's own lock-free section on its cache of
    /// <paramref name="pool"/> (<see cref="NestedEntry"/>: an interrupt handler that interrupted a pop or a push):
    /// it touches no cache and no cache lock (a drain may hold this CPU's cache lock and be waiting for the
    /// interrupted section), only the pool's lock: the first listed block of the order, split down, of the pool's
    /// class for a realtime pool and of the request's otherwise. A named pool is admitted as <see cref="AdmitNamed"/>
    /// admits it; a remembered one must still be of pool table <paramref name="generation"/>. OutOfMemory when
    /// nothing is listed: a nested call drains no cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private MemoryStatus AllocateBypassingCache(int order, int pool, bool named, uint generation, in AllocRequest request, out Pfn pfn)
    {
        // Reached before the fast paths' admission: a container's call is accounted around the same bypass.
        if (IsAccountedOwner(request.Owner))
            return AllocateAccounted(new Order(order), request, pool, named, generation, out pfn);
        return AllocateBypassingCacheCore(order, pool, named, generation, request, out pfn);
    }

    /// <summary><see cref="AllocateBypassingCache"/> for any owner, unaccounted: the owner byte recorded as <see cref="RecordedOwner"/> says.</summary>
    private MemoryStatus AllocateBypassingCacheCore(int order, int pool, bool named, uint generation, in AllocRequest request, out Pfn pfn)
    {
        pfn = Pfn.None;
        ulong state = LockPool(pool);
        MemoryStatus status = named ? AdmitNamed(request) : _poolGeneration == generation ? MemoryStatus.Ok : MemoryStatus.OutOfMemory;
        if (status == MemoryStatus.Ok)
        {
            int cls = IsRealtime(pool) ? (int)_buddy._cacheClasses[pool] : (int)request.Mobility;
            ulong index = _buddy.TakeFirst(pool, order, cls);
            if (index == FreeList.End)
                status = MemoryStatus.OutOfMemory;
            else
            {
                _buddy._frames[index] = FrameState.Make(FrameKind.Allocated, order);
                _buddy._owners[index] = RecordedOwner(request.Owner);
                _buddy.AddHeld(index, 1UL << order, 1);
                pfn = new Pfn(_basePfn + index);
            }
        }
        UnlockPool(pool, state);
        return status;
    }

    /// <summary>
    /// A free nested in the calling CPU's own lock-free section on its cache of <paramref name="pool"/>
    /// (<see cref="NestedEntry"/>), as <see cref="AllocateBypassingCache"/>: under the pool's lock alone, the block
    /// is checked as <see cref="FreeLocked"/> checks it, claimed (another CPU may be freeing it to its cache), and
    /// freed to the lists with merging; refused, nothing changed, otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private MemoryStatus FreeBypassingCache(ulong index, int pool, int order, byte owner)
    {
        ulong state = LockPool(pool);
        MemoryStatus status;
        byte recorded = _buddy._owners[index];
        if (_buddy.PoolOfFrame(index) == pool && _buddy._frames[index] == FrameState.Make(FrameKind.Allocated, order) &&
            FrameOwner.Frees(recorded, ExpectedOwner(owner)) && ClaimBlock(index, order))
        {
            TakeOffContainerLocked(recorded, pool, index, 1UL << order);
            _buddy._owners[index] = FrameOwner.None;
            _buddy.AddHeld(index, 1UL << order, -1);
            _buddy.FreeMerging(pool, index, order);
            status = MemoryStatus.Ok;
        }
        else
            status = Diagnose(index, _buddy._frames[index], order, FrameKind.Allocated, owner);
        UnlockPool(pool, state);
        return status;
    }

    /// <summary>
    /// Why a frame cannot be freed by <paramref name="owner"/> as a block of <paramref name="kind"/>
    /// and <paramref name="order"/>. The head of another owner's block or run is NotOwner before
    /// anything else, so a wrong owner learns nothing of the block's order or length.
    /// </summary>
    private MemoryStatus Diagnose(ulong index, byte state, int order, FrameKind kind, byte owner)
    {
        FrameKind actual = FrameState.KindOf(state);
        if (actual == FrameKind.Absent || _buddy.PoolOfFrame(index) == PoolId.None.Value)
            return MemoryStatus.OutsideEveryPool;
        if ((actual == FrameKind.Allocated || actual == FrameKind.RunFirst) && !FrameOwner.Frees(_buddy._owners[index], ExpectedOwner(owner)))
            return MemoryStatus.NotOwner;
        if (actual == FrameKind.Free || actual == FrameKind.Cached)
            return MemoryStatus.AlreadyFree;
        if (actual == FrameKind.Tail)
            return _buddy.FreeHeadContaining(index, out _) != FreeList.End ? MemoryStatus.AlreadyFree : MemoryStatus.NotAllocated;
        if (actual == FrameKind.Allocated)
            return kind == FrameKind.Allocated ? MemoryStatus.WrongOrder : MemoryStatus.BlockFreedAsRun;
        if (actual == FrameKind.RunFirst || actual == FrameKind.RunNext)
            return kind == FrameKind.Allocated ? MemoryStatus.RunFreedAsBlock : (actual == FrameKind.RunNext ? MemoryStatus.NotAllocated : MemoryStatus.WrongRunLength);
        return MemoryStatus.Corruption;
    }

    /// <summary>
    /// On the failure path of pool choice: whether any page block inside the rules' address range
    /// holds present memory of a pool that qualifies for the request. When none does, the request
    /// cannot be met however much is freed (its window lies over holes, reservations or only other
    /// pools' memory: <c>dma 12</c> asks for frame 0, which no pool holds), and the answer is
    /// NoPoolSatisfies rather than OutOfMemory. Page blocks change pools only by explicit moves, so
    /// the answer holds until pools change. Walks the page blocks of the range: a cost paid only
    /// when the allocation has already failed.
    /// </summary>
    private bool AnyQualifyingMemoryWithin(in AllocRequest request, in DmaRules rules, ulong pages)
    {
        if (rules.EndPfn <= _basePfn)
            return false;
        ulong low = rules.LowPfn > _basePfn ? rules.LowPfn - _basePfn : 0;
        ulong end = rules.EndPfn - _basePfn;
        if (end > _buddy._spanPages)
            end = _buddy._spanPages;
        if (low >= end)
            return false;
        int pbo = _buddy._pageblockOrder;
        ulong pbPages = 1UL << pbo;
        for (ulong pb = low >> pbo, last = (end - 1) >> pbo; pb <= last; pb++)
        {
            PageblockInfo info = _buddy._pageblocks[pb];
            if (info.Present == 0 || !PoolChoice.Qualifies(ref _buddy._pools[info.Pool], request, rules, pages))
                continue;
            if (info.Present == pbPages)
                return true;
            // A page block with holes: only its present frames inside the range count.
            ulong from = pb << pbo > low ? pb << pbo : low;
            ulong to = (pb + 1) << pbo < end ? (pb + 1) << pbo : end;
            for (ulong f = from; f < to; f++)
            {
                if (FrameState.KindOf(_buddy._frames[f]) != FrameKind.Absent)
                    return true;
            }
        }
        return false;
    }
}
