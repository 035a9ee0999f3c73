using System.Threading;

namespace PoolKernel.Memory;

/// <summary>
/// Which locks administration takes over realtime pools (docs/realtime.md, "Administration"). A realtime pool
/// promises that no realtime operation waits on a lock held by a non-realtime path for longer than a bounded
/// section, so every administrative path takes, of the realtime pools' locks, only those of the pools it acts
/// on (<see cref="LockAllButRealtimeAnd"/>): compaction and the balloon none; creation from a range the realtime
/// pools owning page blocks of the range; destruction the pool and the homes its page blocks go to; a container
/// the pools whose owner mask it changes. Paths that only read a realtime pool (the checker, InvariantChecker.Realtime.cs)
/// take its lock in sections of at most <see cref="AdminSectionSteps"/> steps, and every such section is
/// recorded (<see cref="NoteRealtimeHold"/>): the longest is what <see cref="RealtimeAdminHoldMax"/> reads.
/// Same order as <see cref="LockAll"/> (the table lock, the slots' caches in ascending slot order, frozen with one barrier,
/// then their pools in ascending slot order), skipping the realtime slots not asked for. Which slots are realtime cannot change meanwhile: a pool's flags
/// and liveness change only under the table lock, held throughout.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// The most steps (frames, page-block table entries, list nodes or cache entries looked at) a non-realtime
    /// path processes while it holds a realtime pool's lock: 2^MaxOrder + 2^(MaxOrder - PageblockOrder) + 1 at
    /// most (<see cref="AdminSectionBound"/>), so that the largest block of the pool and the page blocks under it
    /// are looked at in one section; 1027 at the default configuration (M = 10, P = 9: 1024 + 2 + 1), whatever the memory size.
    /// </summary>
    public ulong AdminSectionSteps { get { return AdminSectionBound(_buddy._maxOrder, _buddy._pageblockOrder); } }

    /// <summary>The section bound for <paramref name="maxOrder"/> and <paramref name="pageblockOrder"/> (<see cref="AdminSectionSteps"/>).</summary>
    public static ulong AdminSectionBound(int maxOrder, int pageblockOrder)
    {
        ulong h = maxOrder > pageblockOrder ? 1UL << (maxOrder - pageblockOrder) : 1UL;
        return (1UL << maxOrder) + h + 1;
    }

    /// <summary>
    /// The longest section, in steps, that a non-realtime path held a realtime pool's lock since
    /// <see cref="ResetRealtimeAdminHold"/> (a snapshot). In every build; written with one compare-exchange a section.
    /// </summary>
    public ulong RealtimeAdminHoldMax { get { return (ulong)(uint)Volatile.Read(ref _rtAdminHoldMax); } }

    /// <summary>Zeroes <see cref="RealtimeAdminHoldMax"/> (tests, the shell).</summary>
    public void ResetRealtimeAdminHold() { Volatile.Write(ref _rtAdminHoldMax, 0); }

    /// <summary>Records a section of <paramref name="steps"/> steps held over a realtime pool's lock by a non-realtime path.</summary>
    internal void NoteRealtimeHold(ulong steps)
    {
        int value = steps > int.MaxValue ? int.MaxValue : (int)steps;
        int seen = Volatile.Read(ref _rtAdminHoldMax);
        while (value > seen)
        {
            int was = Interlocked.CompareExchange(ref _rtAdminHoldMax, value, seen);
            if (was == seen)
                return;
            seen = was;
        }
    }

    /// <summary>
    /// Bumps pool slot <paramref name="pool"/>'s modification generation (<see cref="Pool.Modifications"/>) when it is a
    /// realtime pool, the only pools the checker reads in sections (another pool's stays as it is, so an allocation
    /// and its free leave its metadata as they found it); under its lock.
    /// </summary>
    internal void Modified(int pool)
    {
        if (IsRealtime(pool))
            _buddy._pools[pool].Modifications++;
    }

    /// <summary>The table lock and every non-realtime pool's locks with its caches'; returns the interrupt state to hand back.</summary>
    public ulong LockAllButRealtime()
    {
        PoolSet none = default;
        return LockAllButRealtimeAnd(in none, out _);
    }

    /// <summary>Releases what <see cref="LockAllButRealtime"/> took (its holder changes no pool's flags or liveness, so the slots skipped are the realtime ones still).</summary>
    public void UnlockAllButRealtime(ulong state)
    {
        PoolSet skipped = default;
        for (int p = 0; p < _poolCapacity; p++)
            if (IsRealtime(p))
                skipped.Add(new PoolId((byte)p));
        UnlockAllBut(in skipped, state);
    }

    /// <summary>
    /// The table lock, every non-realtime pool's locks with its caches', and those of the realtime slots in
    /// <paramref name="realtime"/> (other slots in it ignored), in ascending slot order. <paramref name="skipped"/>: the
    /// slots whose locks were not taken, to hand to <see cref="UnlockAllBut"/> (a holder that opens a realtime pool
    /// in a slot it locked, or closes one, changes what <see cref="IsRealtime"/> says of it meanwhile).
    /// </summary>
    internal ulong LockAllButRealtimeAnd(in PoolSet realtime, out PoolSet skipped)
    {
        skipped = default;
        ulong state = _tableLock.Acquire();
        for (int p = 0; p < _poolCapacity; p++)
        {
            if (!IsRealtime(p) || realtime.Contains(p))
                LockCachesOf(p); // interrupts are already off: the state to restore is the table lock's
            else
                skipped.Add(new PoolId((byte)p));
        }
        if (_lockFreeCaches)
        {
            for (int p = 0; p < _poolCapacity; p++)
                if (!skipped.Contains(p))
                    FreezeCachesLocked(p);
            FreezeBarrier();
            for (int p = 0; p < _poolCapacity; p++)
                if (!skipped.Contains(p))
                    AwaitCachesFrozen(p);
        }
        for (int p = 0; p < _poolCapacity; p++)
            if (!skipped.Contains(p))
                _poolLocks[p].Acquire();
        return state;
    }

    /// <summary>Releases the pool locks of every slot but those in <paramref name="skipped"/>, then the table lock (what <see cref="LockAllButRealtimeAnd"/> took).</summary>
    internal void UnlockAllBut(in PoolSet skipped, ulong state)
    {
        for (int p = _poolCapacity - 1; p >= 0; p--)
            if (!skipped.Contains(p))
                _poolLocks[p].ReleaseInner();
        for (int p = _poolCapacity - 1; p >= 0; p--)
            if (!skipped.Contains(p))
                UnlockCachesOf(p, false, 0);
        _tableLock.Release(state);
    }

    /// <summary>Adds to <paramref name="set"/> the realtime pool that owns page block <paramref name="pb"/>, if it is one (a snapshot without its lock).</summary>
    private void AddIfRealtime(ref PoolSet set, ulong pb)
    {
        byte pool = _buddy._pageblocks[pb].Pool;
        if (pool < _poolCapacity && IsRealtime(pool))
            set.Add(new PoolId(pool));
    }
}
