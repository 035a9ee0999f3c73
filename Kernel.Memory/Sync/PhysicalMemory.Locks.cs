using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading;

namespace PoolKernel.Memory;

/// <summary>
/// The locks of an instance (docs/smp.md, "Locks"): one a pool slot (<see cref="_poolLocks"/>: what each
/// guards is stated there), one a (pool slot, CPU) frame cache (<see cref="BuddyAllocator._cacheLocks"/>)
/// and the pool table's (<see cref="_tableLock"/>).
///
/// Order, the one rule that keeps them deadlock-free: the table lock first; then cache locks, by pool slot in
/// ascending number and within a slot in CPU order; then pool locks in ascending slot number. Every
/// path that holds more than one lock takes them in that order (a CPU's slow path: its cache, then the
/// pool, <see cref="LockCpuPool"/>; two pools: both pools' caches, then both pools, <see cref="LockTwo"/>; all of
/// them: <see cref="LockAll"/>), so a holder only ever waits for a lock ranked above every lock it holds, and
/// the "waits for" relation cannot close a cycle. Cache locks rank below every pool lock so that a party that
/// freezes caches (lock-free mode, <see cref="FreezeCachesLocked"/>) waits for their owners holding no pool lock.
/// Allocation and free hold one pool's locks at a time (a walk over pools releases each before trying the
/// next; a drain of other CPUs' caches releases the CPU's pair first).
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
    /// <see cref="LockCache"/>'s answer when the calling CPU entered its cache without the lock (lock-free mode, the
    /// cache not frozen): <see cref="UnlockCache"/> then only lowers the cache's <see cref="CacheLock.Active"/> word.
    /// A saved interrupt state (RFLAGS: its upper half is reserved, 0; the host's is 0) is never this value.
    /// </summary>
    internal const ulong LockFreeEntry = ulong.MaxValue;

    /// <summary>
    /// <see cref="LockCache"/>'s answer when the call is nested in the calling CPU's own lock-free section on that
    /// cache (an interrupt handler that interrupted it): the caller must not touch the CPU's cache or take its lock,
    /// and goes to the pool under the pool's lock alone (<see cref="AllocateBypassingCache"/>, <see cref="FreeBypassingCache"/>).
    /// </summary>
    internal const ulong NestedEntry = ulong.MaxValue - 1;

    /// <summary>
    /// Enters CPU <paramref name="cpu"/>'s cache of <paramref name="pool"/> for its fast paths (a pop or a push by
    /// the cache's own CPU); leave with <see cref="UnlockCache"/> and the answer. Three ways:
    /// <list type="bullet">
    /// <item>one CPU (<see cref="MemoryConfig.MaxCpus"/> = 1): nothing (0): its one CPU is the only caller (the kernel
    /// calls with interrupts off; host callers serialise their calls), and no other CPU's path reaches its cache;</item>
    /// <item>lock-free (several CPUs and a <see cref="MemoryConfig.ProcessWideBarrier"/>): a plain store of 1 to the
    /// cache's <see cref="CacheLock.Active"/> word, then a read of its <see cref="CacheLock.Frozen"/> word. Not
    /// frozen: <see cref="LockFreeEntry"/>, no lock and no locked instruction. Frozen (a drain or the checker holds
    /// the lock): Active back to 0 and the lock is taken as in the locked mode, so no CPU waits for a lock with
    /// Active raised. Active already 1: <see cref="NestedEntry"/>. Why the owner and a freezer never both touch the
    /// cache: <see cref="FreezeCachesLocked"/>;</item>
    /// <item>locked (several CPUs, no barrier): the cache's lock, as every other party takes it.</item>
    /// </list>
    /// The lock-free and nested answers leave interrupts as they are: the kernel's callers keep them off around every
    /// call (PhysicalMemoryOwner), and a handler that does interrupt a lock-free section is told so.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong LockCache(int pool, int cpu)
    {
        if (_maxCpus == 1)
            return 0;
        CacheLock* l = _buddy.CacheLockOf(pool, cpu);
        if (_lockFreeCaches)
        {
            if (l->Active != 0)
                return NestedEntry; // only this CPU writes it: a section of its own is under way
            // Volatile accesses: the compiler keeps the store before the read and the cache accesses after the
            // read; the CPU may still let the read pass the store, which the freezer's barrier answers.
            Volatile.Write(ref l->Active, 1);
            if (Volatile.Read(ref l->Frozen) == 0)
                return LockFreeEntry;
            Volatile.Write(ref l->Active, 0);
        }
        return l->Acquire();
    }

    /// <summary>Leaves what <see cref="LockCache"/> entered, given its answer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void UnlockCache(int pool, int cpu, ulong state)
    {
        if (_maxCpus == 1)
            return;
        CacheLock* l = _buddy.CacheLockOf(pool, cpu);
        if (state == LockFreeEntry)
            Volatile.Write(ref l->Active, 0); // a release store: the section's cache writes are seen before it
        else if (state != NestedEntry)
            l->Release(state);
    }

    /// <summary>
    /// Claims order-0 frame <paramref name="index"/> for a free: "allocated, order 0" to "cached", false when it
    /// is not that. With several CPUs one atomic compare-exchange (<see cref="FrameState.TryChange"/>: two CPUs
    /// freeing the frame at once hold different cache locks); with one, a plain check and store.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ClaimFrame(ulong index, bool oneCpu = false) { return ClaimBlock(index, 0, oneCpu); }

    /// <summary>
    /// Claims the head of a block of <paramref name="order"/> for a free, as <see cref="ClaimFrame"/> does a frame:
    /// "allocated, that order" to "cached, that order". Every free of an order that has per-CPU caches
    /// (<see cref="FrameCache.SlotOfOrder"/>) claims first, whichever way it then goes, because another CPU may be
    /// freeing the same block to its own cache holding only that cache's lock.
    /// </summary>
    /// <param name="oneCpu">True when the caller knows the instance has one CPU (a constant at its call site): the
    /// test of <see cref="_maxCpus"/> is then left out.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ClaimBlock(ulong index, int order, bool oneCpu = false)
    {
        byte allocated = FrameState.Make(FrameKind.Allocated, order), cached = FrameState.Make(FrameKind.Cached, order);
        if (!oneCpu && _maxCpus != 1)
            return FrameState.TryChange(_buddy._frames, index, allocated, cached);
        if (_buddy._frames[index] != allocated)
            return false;
        _buddy._frames[index] = cached;
        return true;
    }

    /// <summary>
    /// CPU <paramref name="cpu"/>'s cache lock of <paramref name="pool"/>, then the pool's lock: the CPU's own slow
    /// path that may refill or drain that cache. Not frozen: the cache's own CPU holds the lock, which every party
    /// that freezes the cache takes first, and it is not in a lock-free section of that cache (it is here instead,
    /// and an interrupt handler's nested call goes to the pool's lock alone, <see cref="NestedEntry"/>).
    /// </summary>
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

    /// <summary>Takes every CPU's cache lock of <paramref name="pool"/> in CPU order; returns the first one's interrupt state.</summary>
    private ulong LockCachesOf(int pool)
    {
        ulong state = _buddy.CacheLockOf(pool, 0)->Acquire();
        for (int c = 1; c < _buddy._cpus; c++)
            _buddy.CacheLockOf(pool, c)->Acquire();
        return state;
    }

    /// <summary>
    /// In lock-free mode, raises <see cref="CacheLock.Frozen"/> on every CPU's cache of <paramref name="pool"/>; the
    /// caller holds their locks (<see cref="LockCachesOf"/>) and then calls <see cref="AwaitCachesFrozen"/> (after
    /// one <see cref="MemoryConfig.ProcessWideBarrier"/> for all the pools it froze).
    ///
    /// Why the owner and the freezer never both touch a cache (an asymmetric Dekker handshake, as Linux's
    /// membarrier and .NET's suspension use): the owner stores Active = 1 and then reads Frozen; the freezer
    /// stores Frozen = 1, runs the barrier, then reads Active. The barrier makes every other CPU execute a full
    /// memory barrier at some point P of its own instruction stream while the freezer waits. Whatever the owner
    /// did before P is visible to the freezer after the barrier, and whatever it does after P sees Frozen = 1
    /// (stored before the barrier began). So if the owner read Frozen = 0, that read came before P, and so did its
    /// store of Active = 1, which the freezer then sees and waits out (the owner's release store of 0 comes after
    /// its last cache access); if its store came after P, it reads Frozen = 1 and backs off. The owner pays two
    /// plain stores and a plain read; all the cost of a fence is on the freezer's side, which is rare (drains,
    /// the checker, pool administration).
    /// </summary>
    private void FreezeCachesLocked(int pool)
    {
        for (int c = 0; c < _buddy._cpus; c++)
            Volatile.Write(ref _buddy.CacheLockOf(pool, c)->Frozen, 1);
    }

    /// <summary>Waits until no CPU is in a lock-free section of any of its caches of <paramref name="pool"/> (frozen, the barrier run): none can enter one until they thaw.</summary>
    private void AwaitCachesFrozen(int pool)
    {
        for (int c = 0; c < _buddy._cpus; c++)
        {
            CacheLock* l = _buddy.CacheLockOf(pool, c);
            while (Volatile.Read(ref l->Active) != 0)
            {
            }
        }
    }

    /// <summary>
    /// Lowers the frozen words of <paramref name="pool"/>'s caches (before their locks are released, so an owner that
    /// waited for a lock finds them down) and releases the cache locks in reverse order; the last one puts back
    /// interrupt state <paramref name="state"/> when <paramref name="outer"/> (it was the first lock taken), else
    /// leaves interrupts off.
    /// </summary>
    private void UnlockCachesOf(int pool, bool outer, ulong state)
    {
        for (int c = _buddy._cpus - 1; c >= 0; c--)
        {
            CacheLock* l = _buddy.CacheLockOf(pool, c);
            if (_lockFreeCaches)
                Volatile.Write(ref l->Frozen, FrozenAtRest(c));
            if (c == 0 && outer)
                l->Release(state);
            else
                l->ReleaseInner();
        }
    }

    /// <summary><see cref="FreezeBarrier(ulong)"/> for every CPU's caches.</summary>
    private void FreezeBarrier() { FreezeBarrier(_buddy._cpus == 64 ? ulong.MaxValue : (1UL << _buddy._cpus) - 1); }

    /// <summary>
    /// The barrier between freezing caches and waiting for their owners (<see cref="FreezeCachesLocked"/>), for the
    /// CPUs in <paramref name="cpus"/> whose caches the caller froze, less those that take their caches' locks
    /// (<see cref="_lockedCpus"/>, a plain read after the caller's locked acquisitions of the cache locks: a CPU whose
    /// bit it reads was made one under those locks, before they were last released); none when no CPU is left.
    /// Nothing in the other modes.
    /// </summary>
    private void FreezeBarrier(ulong cpus)
    {
        if (!_lockFreeCaches)
            return;
        cpus &= ~_lockedCpus;
        if (cpus != 0)
            _processWideBarrier(cpus);
    }

    /// <summary>
    /// What CPU <paramref name="cpu"/>'s caches' frozen words read when no one holds their locks: 1 for a CPU that takes
    /// its caches' locks (<see cref="UseLockedCaches"/>), so that its lock-free attempt always backs off to the lock; 0
    /// for the others.
    /// </summary>
    private int FrozenAtRest(int cpu) { return (int)((_lockedCpus >> cpu) & 1); }

    /// <summary>
    /// From now on CPU <paramref name="cpu"/> takes its caches' locks on its own fast paths, as every CPU of an
    /// instance without a barrier does, and no freeze of its caches sends it a barrier (the kernel's realtime CPU,
    /// docs/realtime.md: a drain or the collector on another CPU then never interrupts it with an NMI). How: under
    /// the table lock and every cache lock of the CPU (slots ascending, a subset of the rank order), each of its
    /// caches is frozen, one barrier reaches that CPU alone, it is waited out of every cache, its bit is set in
    /// <see cref="_lockedCpus"/>, and the locks are released with the frozen words left raised
    /// (<see cref="FrozenAtRest"/>). An owner that reads a raised frozen word takes the lock instead of entering, so it
    /// never again enters a cache without its lock; a freezer that reads the bit holds that cache's lock, taken after
    /// these were released, so the bit was set before. Ok, also when the CPU already does or the instance takes every
    /// cache lock anyway (one CPU, or no barrier); InvalidArgument for a CPU the instance has no caches for. Not to
    /// be called with any lock held. A CPU cannot go back: the bit is kept for the instance's life.
    /// </summary>
    public MemoryStatus UseLockedCaches(int cpu)
    {
        if ((uint)cpu >= (uint)_buddy._cpus)
            return MemoryStatus.InvalidArgument;
        if (!_lockFreeCaches || ((_lockedCpus >> cpu) & 1) != 0)
            return MemoryStatus.Ok;
        ulong state = _tableLock.Acquire();
        for (int p = 0; p < _poolCapacity; p++)
        {
            CacheLock* l = _buddy.CacheLockOf(p, cpu);
            l->Acquire(); // interrupts are already off: the state to restore is the table lock's
            Volatile.Write(ref l->Frozen, 1);
        }
        _processWideBarrier(1UL << cpu);
        for (int p = 0; p < _poolCapacity; p++)
        {
            CacheLock* l = _buddy.CacheLockOf(p, cpu);
            while (Volatile.Read(ref l->Active) != 0)
            {
            }
        }
        _lockedCpus |= 1UL << cpu; // before the locks' release stores, which publish it
        for (int p = _poolCapacity - 1; p >= 0; p--)
            _buddy.CacheLockOf(p, cpu)->ReleaseInner();
        _tableLock.Release(state);
        return MemoryStatus.Ok;
    }

    /// <summary>The CPUs that take their caches' locks (<see cref="UseLockedCaches"/>), bit c: CPU c.</summary>
    public ulong LockedCacheCpus => _lockedCpus;

    /// <summary>
    /// Every CPU's cache of <paramref name="pool"/> (locked and, in lock-free mode, frozen and waited out), then the
    /// pool's lock: the pool and all its caches stand still. The wait for the owners comes before the pool's lock,
    /// so no CPU can be waiting for a lock this holds while it waits for that CPU (a nested call goes to a pool's lock).
    /// </summary>
    internal ulong LockPoolWithCaches(int pool)
    {
        ulong state = LockCachesOf(pool);
        if (_lockFreeCaches)
        {
            FreezeCachesLocked(pool);
            FreezeBarrier();
            AwaitCachesFrozen(pool);
        }
        _poolLocks[pool].Acquire();
        return state;
    }

    internal void UnlockPoolWithCaches(int pool, ulong state)
    {
        _poolLocks[pool].ReleaseInner();
        UnlockCachesOf(pool, true, state);
    }

    /// <summary>
    /// As <see cref="LockPoolWithCaches"/>, for the caches of <paramref name="pool"/> of the CPUs in
    /// <paramref name="cpus"/> only (bit c: CPU c; at least one bit, every bit below the instance's CPU count): their
    /// locks in CPU order (a subset of the pool's cache locks in their rank order), frozen, one barrier, their owners
    /// waited out, then the pool's lock. The other CPUs' caches of the pool go on unfrozen and must not be touched.
    /// </summary>
    internal ulong LockPoolWithCachesOf(int pool, ulong cpus)
    {
        ulong state = 0;
        bool first = true;
        for (int c = 0; c < _buddy._cpus; c++)
        {
            if ((cpus & (1UL << c)) == 0)
                continue;
            ulong s = _buddy.CacheLockOf(pool, c)->Acquire();
            if (first)
                state = s;
            first = false;
        }
        if (_lockFreeCaches)
        {
            for (int c = 0; c < _buddy._cpus; c++)
                if ((cpus & (1UL << c)) != 0)
                    Volatile.Write(ref _buddy.CacheLockOf(pool, c)->Frozen, 1);
            FreezeBarrier(cpus);
            for (int c = 0; c < _buddy._cpus; c++)
            {
                CacheLock* l = _buddy.CacheLockOf(pool, c);
                if ((cpus & (1UL << c)) != 0)
                    while (Volatile.Read(ref l->Active) != 0)
                    {
                    }
            }
        }
        _poolLocks[pool].Acquire();
        return state;
    }

    /// <summary>Releases what <see cref="LockPoolWithCachesOf"/> took (the same <paramref name="cpus"/>), frozen words lowered before their locks.</summary>
    internal void UnlockPoolWithCachesOf(int pool, ulong cpus, ulong state)
    {
        _poolLocks[pool].ReleaseInner();
        int lowest = BitOperations.TrailingZeroCount(cpus);
        for (int c = _buddy._cpus - 1; c >= 0; c--)
        {
            if ((cpus & (1UL << c)) == 0)
                continue;
            CacheLock* l = _buddy.CacheLockOf(pool, c);
            if (_lockFreeCaches)
                Volatile.Write(ref l->Frozen, FrozenAtRest(c));
            if (c == lowest)
                l->Release(state);
            else
                l->ReleaseInner();
        }
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

    /// <summary>
    /// Pools <paramref name="a"/> and <paramref name="b"/> (maybe equal) with all their caches, as <see cref="LockPoolWithCaches"/>:
    /// the caches of the lower slot, then of the higher, frozen with one barrier, then the two pool locks, lower first.
    /// </summary>
    internal ulong LockTwo(int a, int b)
    {
        int low = a < b ? a : b, high = a < b ? b : a;
        ulong state = LockCachesOf(low);
        if (low != high)
            LockCachesOf(high);
        if (_lockFreeCaches)
        {
            FreezeCachesLocked(low);
            if (low != high)
                FreezeCachesLocked(high);
            FreezeBarrier();
            AwaitCachesFrozen(low);
            if (low != high)
                AwaitCachesFrozen(high);
        }
        _poolLocks[low].Acquire();
        if (low != high)
            _poolLocks[high].Acquire();
        return state;
    }

    /// <summary>Releases what <see cref="LockTwo"/> took, in reverse order.</summary>
    internal void UnlockTwo(int a, int b, ulong state)
    {
        int low = a < b ? a : b, high = a < b ? b : a;
        if (low != high)
            _poolLocks[high].ReleaseInner();
        _poolLocks[low].ReleaseInner();
        if (low != high)
            UnlockCachesOf(high, false, 0);
        UnlockCachesOf(low, true, state);
    }

    /// <summary>
    /// Takes the table lock, every pool slot's cache locks in ascending slot order, and then every pool lock in
    /// ascending order: nothing in the instance changes until <see cref="UnlockAll"/>. In lock-free mode every
    /// cache is frozen, one barrier runs for all of them, and every owner is waited out before the first pool
    /// lock. For the invariant checker and for reports that walk every pool (the read methods of
    /// PhysicalMemory.Stats.cs take no lock: each is a snapshot, exact under this one). Returns the interrupt
    /// state to hand back.
    /// </summary>
    public ulong LockAll()
    {
        ulong state = _tableLock.Acquire();
        for (int p = 0; p < _poolCapacity; p++)
            LockCachesOf(p); // interrupts are already off: the state to restore is the table lock's
        if (_lockFreeCaches)
        {
            for (int p = 0; p < _poolCapacity; p++)
                FreezeCachesLocked(p);
            FreezeBarrier();
            for (int p = 0; p < _poolCapacity; p++)
                AwaitCachesFrozen(p);
        }
        for (int p = 0; p < _poolCapacity; p++)
            _poolLocks[p].Acquire();
        return state;
    }

    /// <summary>Releases what <see cref="LockAll"/> took.</summary>
    public void UnlockAll(ulong state)
    {
        for (int p = _poolCapacity - 1; p >= 0; p--)
            _poolLocks[p].ReleaseInner();
        for (int p = _poolCapacity - 1; p >= 0; p--)
            UnlockCachesOf(p, false, 0);
        _tableLock.Release(state);
    }

    /// <summary>The calling CPU's number (<see cref="MemoryConfig.CurrentCpu"/>); 0 without the hook.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int CurrentCpu()
    {
        if (_maxCpus == 1 || _currentCpu == null)
            return 0; // one CPU: no hook call on the fast paths (tested first: the word every lock helper reads)
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
