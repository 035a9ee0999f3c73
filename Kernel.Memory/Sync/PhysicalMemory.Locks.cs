using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The locks of an instance (docs/smp.md, "Locks"): one a pool slot (<see cref="_poolLocks"/>: what each
/// guards is stated there), one a (pool slot, CPU) frame cache (<see cref="BuddyAllocator._cacheLocks"/>)
/// and the pool table's (<see cref="_tableLock"/>).
///
/// Order, the one rule that keeps them deadlock-free: the table lock first; then pool slot by pool slot in
/// ascending number, and within a slot its caches' locks in CPU order before the pool's own lock. Every
/// path that holds more than one lock takes them in that order (a CPU's slow path: its cache, then the
/// pool, <see cref="LockCpuPool"/>; two pools: <see cref="LockTwo"/>; all of them: <see cref="LockAll"/>),
/// so a holder only ever waits for a lock ranked above every lock it holds, and the "waits for" relation
/// cannot close a cycle. Allocation and free hold one pool's locks at a time (a walk over pools releases
/// each before trying the next; a drain of other CPUs' caches releases the CPU's pair first).
///
/// Each lock turns interrupts off while held (<see cref="MemoryConfig.SaveAndDisableInterrupts"/>), so an
/// interrupt handler may allocate: the code it interrupted cannot be holding a lock on that CPU.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// Takes pool slot <paramref name="pool"/>'s lock alone (the order &gt; 0 fast paths, which touch no cache);
    /// returns the interrupt state for <see cref="UnlockPool"/>. None in an instance of one CPU, as <see cref="LockCache"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong LockPool(int pool) { return _maxCpus == 1 ? 0 : _poolLocks[pool].Acquire(); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void UnlockPool(int pool, ulong state)
    {
        if (_maxCpus != 1)
            _poolLocks[pool].Release(state);
    }

    /// <summary>
    /// Takes CPU <paramref name="cpu"/>'s cache lock of <paramref name="pool"/> alone: that cache's fast paths.
    /// An instance of one CPU (<see cref="MemoryConfig.MaxCpus"/> = 1) takes none: its one CPU is the only
    /// caller (the kernel calls with interrupts off; host callers serialise their calls, as before the locks),
    /// and no other CPU's path reaches its cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong LockCache(int pool, int cpu) { return _maxCpus == 1 ? 0 : _buddy.CacheLockOf(pool, cpu)->Acquire(); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void UnlockCache(int pool, int cpu, ulong state)
    {
        if (_maxCpus != 1)
            _buddy.CacheLockOf(pool, cpu)->Release(state);
    }

    /// <summary>
    /// Claims order-0 frame <paramref name="index"/> for a free: "allocated, order 0" to "cached", false when it
    /// is not that. With several CPUs one atomic compare-exchange (<see cref="FrameState.TryChange"/>: two CPUs
    /// freeing the frame at once hold different cache locks); with one, a plain check and store.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ClaimFrame(ulong index) { return ClaimBlock(index, 0); }

    /// <summary>
    /// Claims the head of a block of <paramref name="order"/> for a free, as <see cref="ClaimFrame"/> does a frame:
    /// "allocated, that order" to "cached, that order". Every free of an order that has per-CPU caches
    /// (<see cref="FrameCache.SlotOfOrder"/>) claims first, whichever way it then goes, because another CPU may be
    /// freeing the same block to its own cache holding only that cache's lock.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ClaimBlock(ulong index, int order)
    {
        byte allocated = FrameState.Make(FrameKind.Allocated, order), cached = FrameState.Make(FrameKind.Cached, order);
        if (_maxCpus != 1)
            return FrameState.TryChange(_buddy._frames, index, allocated, cached);
        if (_buddy._frames[index] != allocated)
            return false;
        _buddy._frames[index] = cached;
        return true;
    }

    /// <summary>CPU <paramref name="cpu"/>'s cache lock of <paramref name="pool"/>, then the pool's lock: a slow path that may refill or drain that cache.</summary>
    internal ulong LockCpuPool(int pool, int cpu)
    {
        ulong state = _buddy.CacheLockOf(pool, cpu)->Acquire();
        _poolLocks[pool].Acquire();
        return state;
    }

    internal void UnlockCpuPool(int pool, int cpu, ulong state)
    {
        _poolLocks[pool].ReleaseInner();
        _buddy.CacheLockOf(pool, cpu)->Release(state);
    }

    /// <summary>Every CPU's cache lock of <paramref name="pool"/> in CPU order, then the pool's lock: the pool and all its caches stand still.</summary>
    internal ulong LockPoolWithCaches(int pool)
    {
        ulong state = _buddy.CacheLockOf(pool, 0)->Acquire();
        for (int c = 1; c < _buddy._cpus; c++)
            _buddy.CacheLockOf(pool, c)->Acquire();
        _poolLocks[pool].Acquire();
        return state;
    }

    internal void UnlockPoolWithCaches(int pool, ulong state)
    {
        _poolLocks[pool].ReleaseInner();
        for (int c = _buddy._cpus - 1; c >= 1; c--)
            _buddy.CacheLockOf(pool, c)->ReleaseInner();
        _buddy.CacheLockOf(pool, 0)->Release(state);
    }

    /// <summary>
    /// True while some CPU holds pool <paramref name="pool"/>'s lock or one of its caches' (a snapshot, as
    /// <see cref="SpinLock.IsHeld"/>): for a holder of <see cref="LockPoolWithCaches"/> that let go, to see whether
    /// another CPU waiting for them got in (compaction between its sections).
    /// </summary>
    internal bool PoolOrCacheLockHeld(int pool)
    {
        if (_poolLocks[pool].IsHeld)
            return true;
        for (int c = 0; c < _buddy._cpus; c++)
            if (_buddy.CacheLockOf(pool, c)->IsHeld)
                return true;
        return false;
    }

    /// <summary>Pools <paramref name="a"/> and <paramref name="b"/> (maybe equal) with all their caches (<see cref="LockPoolWithCaches"/>), lower slot first.</summary>
    internal ulong LockTwo(int a, int b)
    {
        int low = a < b ? a : b, high = a < b ? b : a;
        ulong state = LockPoolWithCaches(low);
        if (low != high)
            LockPoolWithCaches(high);
        return state;
    }

    /// <summary>Releases what <see cref="LockTwo"/> took, in reverse order.</summary>
    internal void UnlockTwo(int a, int b, ulong state)
    {
        int low = a < b ? a : b, high = a < b ? b : a;
        if (low != high)
            UnlockPoolWithCaches(high, 0);
        UnlockPoolWithCaches(low, state);
    }

    /// <summary>
    /// Takes the table lock and every pool slot's locks (its caches', then its own) in ascending slot order:
    /// nothing in the instance changes until <see cref="UnlockAll"/>. For the invariant checker and for reports
    /// that walk every pool (the read methods of PhysicalMemory.Stats.cs take no lock: each is a snapshot,
    /// exact under this one). Returns the interrupt state to hand back.
    /// </summary>
    public ulong LockAll()
    {
        ulong state = _tableLock.Acquire();
        for (int p = 0; p < _poolCapacity; p++)
            LockPoolWithCaches(p); // interrupts are already off: the state to restore is the table lock's
        return state;
    }

    /// <summary>Releases what <see cref="LockAll"/> took.</summary>
    public void UnlockAll(ulong state)
    {
        for (int p = _poolCapacity - 1; p >= 0; p--)
        {
            _poolLocks[p].ReleaseInner();
            for (int c = _buddy._cpus - 1; c >= 0; c--)
                _buddy.CacheLockOf(p, c)->ReleaseInner();
        }
        _tableLock.Release(state);
    }

    /// <summary>The calling CPU's number (<see cref="MemoryConfig.CurrentCpu"/>); 0 without the hook.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int CurrentCpu()
    {
        if (_currentCpu == null || _maxCpus == 1)
            return 0; // one CPU: no hook call on the fast paths
        int cpu = _currentCpu();
        return (uint)cpu < (uint)_maxCpus ? cpu : FailCpu(cpu);
    }

    /// <summary>
    /// A CPU number outside 0..MaxCpus - 1: the caller's hook broke its contract. Reported where contracts are
    /// compiled; otherwise (and if the hook returns) CPU 0's state is used, which stays within the metadata.
    /// </summary>
    private int FailCpu(int cpu)
    {
        Contract.Expect(false, _buddy._onBrokenContract, ContractCode.CpuOutOfRange, -1, (ulong)(uint)cpu, (ulong)(uint)_maxCpus, (ulong)(uint)cpu);
        return 0;
    }

    /// <summary>The calling CPU's remembered pool choices.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ChoiceMemo* CpuMemo() { return _memos + CurrentCpu(); }
}
