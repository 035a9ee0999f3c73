using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// Realtime pools (<see cref="PoolFlags.Realtime"/>, docs/realtime.md): allocation and free of every order
/// in a bounded number of steps (<see cref="RealtimeSteps.Bound"/>), independent of memory size. What makes
/// the path bounded:
/// <list type="bullet">
/// <item>one class: every page block of a realtime pool is of the pool's cache class (set when a page block
/// moves in, checked by the checker), and the path allocates only that class whatever the request says, so
/// a block is found with one count of trailing zeros in the non-empty-order mask and never by stealing
/// (which walks page blocks);</item>
/// <item>batches: a refill takes at most <see cref="RealtimeSteps.Batch"/> frames (one block of them when one is listed), a
/// free finding the cache full frees its frame past the cache, and an allocation above
/// order 0 that finds no block drains only its own CPU's cache (at most <see cref="FrameCache.Capacity"/>
/// frames), never the other CPUs' and never compaction;</item>
/// <item>locks: the path holds its CPU's cache lock and the pool's lock. Pool choice never picks a realtime
/// pool (<see cref="PoolChoice"/>), compaction passes it over, the balloon and container pressure never
/// take from it, and no move gives its page blocks to a pool of lower priority
/// (<see cref="MemoryStatus.RealtimeProtected"/>), so the pool's lock is held by realtime paths, by its resizing
/// one page block a step, and by administration only in bounded sections or when it acts on the pool
/// (<see cref="AdminSectionSteps"/>, PhysicalMemory.RealtimeLocks.cs: docs/realtime.md, "Administration").</item>
/// </list>
/// Every step is counted in the calling CPU's <see cref="RealtimeSteps"/>. Every method of the path here is
/// <see cref="MethodImplOptions.AggressiveOptimization"/>: ilc compiles all code optimized anyway, but under a
/// tiering JIT (the host build) a method called fewer than its call-count threshold, such as the drain of an
/// allocation above order 0 that finds no block, would run unoptimized tier-0 code for the life of the process,
/// and that rare branch is the worst case (docs/realtime.md, "Latency on the host").
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>True when pool slot <paramref name="pool"/> holds a realtime pool (a snapshot without its lock).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsRealtime(int pool) { return (_buddy._pools[pool].Properties.Flags & PoolFlags.Realtime) != 0; }

    /// <summary>
    /// Allocates a block of 2^order frames from realtime pool <paramref name="id"/> as <paramref name="owner"/>
    /// in a bounded number of steps, counted in the calling CPU's <see cref="RealtimeSteps"/>. Refused, nothing
    /// changed: InvalidOrder, NoSuchPool, OwnerRefused, PropertiesMismatch (not a realtime pool). OutOfMemory
    /// when the pool has no block of the order (after draining this CPU's cache for an order above 0).
    /// A container's owner is accounted as by <see cref="Allocate"/>, whose slow path runs the same steps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public MemoryStatus AllocateRealtime(PoolId id, Order order, byte owner, out Pfn pfn)
    {
        AllocRequest request = AllocRequest.InPool(id);
        request.Owner = owner;
        if (IsAccountedOwner(owner) && id.Value < _poolCapacity && IsRealtime(id.Value))
            return AllocateAccounted(order, request, -1, false, 0, out pfn);
        pfn = Pfn.None;
        if ((uint)order.Value > (uint)_buddy._maxOrder)
            return MemoryStatus.InvalidOrder;
        if (id.Value >= _poolCapacity)
            return MemoryStatus.NoSuchPool;
        int pool = id.Value;
        int cpu = CurrentCpu();
        ulong state = LockCpuPool(pool, cpu);
        MemoryStatus status = AdmitNamed(request);
        if (status == MemoryStatus.Ok && !IsRealtime(pool))
            status = MemoryStatus.PropertiesMismatch;
        if (status == MemoryStatus.Ok)
            status = AllocateRealtimeLocked(pool, order.Value, owner, cpu, out pfn);
        UnlockCpuPool(pool, cpu, state);
        return status;
    }

    /// <summary>
    /// Frees a block of a realtime pool (<see cref="Free"/>'s contract and refusals) through the slow path,
    /// whose realtime branch counts its steps (<see cref="FreeRealtimeLocked"/>) and which takes a container's
    /// block off its counts. A block of another pool is freed as <see cref="Free"/> frees it.
    /// </summary>
    public MemoryStatus FreeRealtime(Pfn pfn, Order order, byte owner)
    {
        return FreeSlow(pfn, order, owner);
    }

    /// <summary>CPU <paramref name="cpu"/>'s realtime step counts (a snapshot); zeros for a CPU outside the instance.</summary>
    public RealtimeSteps GetRealtimeSteps(int cpu)
    {
        return (uint)cpu < (uint)_maxCpus ? _rtSteps[cpu] : default;
    }

    /// <summary>The step bound of this instance's realtime path (<see cref="RealtimeSteps.Bound"/>).</summary>
    public ulong RealtimeStepBound { get { return RealtimeSteps.Bound(_buddy._maxOrder, _buddy._pageblockOrder); } }

    /// <summary>Zeroes CPU <paramref name="cpu"/>'s realtime step counts (rtbench, tests); only that CPU writes them otherwise.</summary>
    public void ResetRealtimeSteps(int cpu)
    {
        if ((uint)cpu < (uint)_maxCpus)
            _rtSteps[cpu] = default;
    }

    /// <summary>
    /// The realtime allocation: under <paramref name="cpu"/>'s cache lock and realtime pool
    /// <paramref name="pool"/>'s lock, the request admitted. Order 0 pops this CPU's cache, refilled by at most
    /// <see cref="RealtimeSteps.Batch"/> frames when empty (<see cref="RefillCountedLocked"/>; a pool too small for a cache takes from its lists); a larger order takes the
    /// first listed block of at least the order, and when there is none drains this CPU's cache and takes
    /// once more. The block is marked allocated as <paramref name="owner"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal MemoryStatus AllocateRealtimeLocked(int pool, int order, byte owner, int cpu, out Pfn pfn)
    {
        pfn = Pfn.None;
        ulong steps = 0;
        int cls = (int)_buddy._cacheClasses[pool];
        FrameCache* cache = _buddy.CacheOf(pool, cpu);
        ulong index;
        if (order == 0 && cache->High != 0)
        {
            steps++;
            if (cache->Count == 0)
                RefillCountedLocked(pool, cache, cls, ref steps);
            index = cache->Count != 0 ? cache->Pop() : FreeList.End;
        }
        else
        {
            index = TakeCountedLocked(pool, order, cls, ref steps);
            if (index == FreeList.End && cache->Count != 0)
            {
                Modified(pool);
                DrainOldestCountedLocked(pool, cache, cache->Count, ref steps);
                index = TakeCountedLocked(pool, order, cls, ref steps);
            }
            if (index != FreeList.End)
                steps += HeldCountedLocked(index, order, 1);
        }
        _rtSteps[cpu].Record(steps);
        if (index == FreeList.End)
            return MemoryStatus.OutOfMemory;
        Modified(pool);
        _buddy._owners[index] = RecordedOwner(owner);
        _buddy._frames[index] = FrameState.Make(FrameKind.Allocated, order);
        pfn = new Pfn(_basePfn + index);
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// The realtime free of a checked block (allocated, of this order, owned by the caller, claimed when order 0)
    /// of realtime pool <paramref name="pool"/>, under <paramref name="cpu"/>'s cache lock and the pool's lock: an
    /// order-0 frame is parked in this CPU's cache when it has room; a larger block, a frame of a pool without a
    /// cache or a frame finding the cache full is freed with merging, the cache left as it is (as
    /// <see cref="Free"/> leaves a full cache of any pool). Why not drain the cache's oldest entries to make room:
    /// they are the coldest lines of the pool's metadata, each with its own merges, and that drain (a batch of
    /// them, then the rest slid down) was the slowest realtime free on the host, where the frame being freed has
    /// its lines warm from the checks just made (docs/realtime.md, "Latency on the host").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void FreeRealtimeLocked(int pool, ulong index, int order, int cpu)
    {
        Modified(pool);
        ulong steps = 1;
        _buddy._owners[index] = FrameOwner.None;
        FrameCache* cache = _buddy.CacheOf(pool, cpu);
        if (order == 0 && cache->Count < cache->High)
            cache->Push(index);
        else
        {
            steps += HeldCountedLocked(index, order, -1);
            steps += (ulong)_buddy.FreeMerging(pool, index, order);
        }
        _rtSteps[cpu].Record(steps);
    }

    /// <summary>
    /// <see cref="BuddyAllocator.TakeFirst"/> of class <paramref name="cls"/>, counted: one step for the mask, and
    /// when it shows a list, one for the pop and one for each half pushed back (the split from the order found
    /// down to <paramref name="order"/>). An empty mask answers End without stealing: every page block of a
    /// realtime pool is of the class, so no other class's page block could be stolen.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private ulong TakeCountedLocked(int pool, int order, int cls, ref ulong steps)
    {
        steps++;
        ulong listed = _buddy.ClassView(_buddy._pools[pool].ListedSlots, cls) >> order;
        if (listed == 0)
            return FreeList.End;
        steps += 1 + (ulong)System.Numerics.BitOperations.TrailingZeroCount(listed);
        return _buddy.TakeFirst(pool, order, cls);
    }

    /// <summary>
    /// <see cref="BuddyAllocator.Refill"/> with the realtime batch (<see cref="RealtimeSteps.Batch"/>, at most the
    /// pool's), counted step by step: kept beside it rather than in it so the refill of every other pool pays no
    /// counting. When a block of at least the batch's order is listed (and the batch is a power of two with room for
    /// it) the batch is one block of that order, taken whole: the mask, one pop and its split, one step an entry,
    /// its frames' bytes on one line and one page block's held count changed once. Otherwise (the mask said no) a
    /// take a frame (the mask, the pop and the split of each) and half the batch swapped to pop in list order. Why
    /// the block first, although frames listed below its order are then left listed: the frame-by-frame batch chases four list heads, each a dependent load of a line no
    /// recent operation touched, and the frames' bytes and page blocks are four more lines; that refill was the
    /// slowest realtime allocation on the host (docs/realtime.md, "Latency on the host").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RefillCountedLocked(int pool, FrameCache* cache, int cls, ref ulong steps)
    {
        int start = cache->Count;
        int n = 0;
        int batch = cache->BatchSize < RealtimeSteps.Batch ? cache->BatchSize : RealtimeSteps.Batch;
        int b = System.Numerics.BitOperations.Log2((uint)batch);
        if (batch == 1 << b && b < _buddy._pageblockOrder && start + batch <= cache->High)
        {
            ulong head = TakeCountedLocked(pool, b, cls, ref steps);
            if (head != FreeList.End)
            {
                steps += 1 + (ulong)batch;
                _buddy.CacheBlock(cache, head, batch);
                return;
            }
        }
        while (n < batch && cache->Count < cache->High)
        {
            ulong index = TakeCountedLocked(pool, 0, cls, ref steps);
            if (index == FreeList.End)
                break;
            _buddy._frames[index] = FrameState.Make(FrameKind.Cached, 0);
            _buddy.AddHeldOne(index, 1);
            cache->Push(index);
            n++;
        }
        steps += (ulong)(n / 2);
        cache->Reverse(start, start + n);
    }

    /// <summary><see cref="BuddyAllocator.DrainOldest"/>, counted: each drained frame 1 + its merges, then each entry slid down.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void DrainOldestCountedLocked(int pool, FrameCache* cache, int n, ref ulong steps)
    {
        if (n > cache->Count)
            n = cache->Count;
        for (int i = 0; i < n; i++)
        {
            ulong index = cache->At(i);
            _buddy.AddHeldOne(index, -1);
            steps += 1 + (ulong)_buddy.FreeMerging(pool, index, 0);
        }
        steps += (ulong)(cache->Count - n);
        cache->DropOldest(n);
    }

    /// <summary><see cref="BuddyAllocator.AddHeld"/> of a block of <paramref name="order"/>; returns its steps (the page blocks it touches).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private ulong HeldCountedLocked(ulong index, int order, int sign)
    {
        _buddy.AddHeld(index, 1UL << order, sign);
        int above = order - _buddy._pageblockOrder;
        return above > 0 ? 1UL << above : 1UL;
    }

    /// <summary>
    /// A request naming realtime pool <paramref name="pool"/> through <see cref="Allocate"/> (slow path, admitted,
    /// under the same locks): without address rules, or with rules every block of the pool obeys (the pool's
    /// window inside the rules' and natural alignment), it is <see cref="AllocateRealtimeLocked"/>; rules that
    /// would need a search of the lists are refused (PropertiesMismatch): a search is not bounded.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private MemoryStatus AllocateRealtimeNamedLocked(int pool, int order, in AllocRequest request, int cpu, out Pfn pfn)
    {
        pfn = Pfn.None;
        if (request.HasAddressRules)
        {
            MemoryStatus resolved = DmaRules.Resolve(request, 1UL << order, out DmaRules rules);
            if (resolved != MemoryStatus.Ok)
                return resolved;
            if (!Implies(pool, rules, 1UL << order))
                return MemoryStatus.PropertiesMismatch;
        }
        return AllocateRealtimeLocked(pool, order, request.Owner, cpu, out pfn);
    }
}
