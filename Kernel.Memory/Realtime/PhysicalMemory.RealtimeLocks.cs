namespace PoolKernel.Memory;

/// <summary>
/// Every lock but the realtime pools' (docs/realtime.md, locks): for passes over the pools that never touch a
/// realtime pool (compaction of a pool, which passes realtime pools over; balloon inflation, which never lends
/// from them), so that they do not hold a realtime pool's lock, for as long as they run, against the bounded
/// realtime path. Same order as <see cref="LockAll"/> (the table lock, the slots' caches, then their pools, in
/// ascending slot order), skipping realtime slots. Which slots are realtime cannot change meanwhile: a pool's
/// flags and liveness change only under the table lock, held throughout.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>The table lock and every non-realtime pool's locks with its caches' (caches frozen as <see cref="LockAll"/> does); returns the interrupt state to hand back.</summary>
    internal ulong LockAllButRealtime()
    {
        ulong state = _tableLock.Acquire();
        for (int p = 0; p < _poolCapacity; p++)
            if (!IsRealtime(p))
                LockCachesOf(p); // interrupts are already off: the state to restore is the table lock's
        if (_lockFreeCaches)
        {
            for (int p = 0; p < _poolCapacity; p++)
                if (!IsRealtime(p))
                    FreezeCachesLocked(p);
            FreezeBarrier();
            for (int p = 0; p < _poolCapacity; p++)
                if (!IsRealtime(p))
                    AwaitCachesFrozen(p);
        }
        for (int p = 0; p < _poolCapacity; p++)
            if (!IsRealtime(p))
                _poolLocks[p].Acquire();
        return state;
    }

    /// <summary>Releases what <see cref="LockAllButRealtime"/> took.</summary>
    internal void UnlockAllButRealtime(ulong state)
    {
        for (int p = _poolCapacity - 1; p >= 0; p--)
            if (!IsRealtime(p))
                _poolLocks[p].ReleaseInner();
        for (int p = _poolCapacity - 1; p >= 0; p--)
            if (!IsRealtime(p))
                UnlockCachesOf(p, false, 0);
        _tableLock.Release(state);
    }
}
