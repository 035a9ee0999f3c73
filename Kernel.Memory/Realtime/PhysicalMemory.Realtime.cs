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
/// <item>no caches: a realtime pool has no per-CPU cache of any order (<see cref="BuddyAllocator.CacheHighFor"/>),
/// so every allocation takes from the lists (the mask, one pop, the split) and every free merges: no refill,
/// no drain, and no frame parked in one CPU's cache where another CPU's allocation cannot reach it within the
/// bound. Why, beside that: the path holds the pool's lock on every call anyway, so a cache saved no lock, and
/// its refill, one allocation in a few thousand, was the slowest realtime operation measured on the host because
/// its code is cold in the instruction cache when it runs (docs/realtime.md, "No caches");</item>
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
    /// when the pool has no block of the order listed.
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
    /// <paramref name="pool"/>'s lock, the request admitted. Takes the first listed block of at least the order
    /// (<see cref="TakeCountedLocked"/>: the mask, the pop, the split) and changes its page blocks' held counts;
    /// the block is marked allocated as <paramref name="owner"/>. OutOfMemory when the mask shows no block: the
    /// pool has no cache to drain, so no frame of it is anywhere but on its lists or allocated.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal MemoryStatus AllocateRealtimeLocked(int pool, int order, byte owner, int cpu, out Pfn pfn)
    {
        pfn = Pfn.None;
        ulong steps = 0;
        ulong index = TakeCountedLocked(pool, order, (int)_buddy._cacheClasses[pool], ref steps);
        if (index != FreeList.End)
            steps += HeldCountedLocked(index, order, 1);
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
    /// of realtime pool <paramref name="pool"/>, under <paramref name="cpu"/>'s cache lock and the pool's lock:
    /// its page blocks' held counts and the free with merging (the pool has no cache to park a frame in).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void FreeRealtimeLocked(int pool, ulong index, int order, int cpu)
    {
        Modified(pool);
        _buddy._owners[index] = FrameOwner.None;
        ulong steps = 1 + HeldCountedLocked(index, order, -1);
        steps += (ulong)_buddy.FreeMerging(pool, index, order);
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
