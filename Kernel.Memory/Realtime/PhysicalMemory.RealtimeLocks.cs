namespace PoolKernel.Memory;

/// <summary>
/// Every lock but the realtime pools' (docs/realtime.md, locks): for passes over the pools that never touch a
/// realtime pool (compaction of a pool, which passes realtime pools over; balloon inflation, which never lends
/// from them), so that they do not hold a realtime pool's lock, for as long as they run, against the bounded
/// realtime path. Same order as <see cref="LockAll"/> (the table lock, then each slot's caches and pool in
/// ascending slot order), skipping realtime slots. Which slots are realtime cannot change meanwhile: a pool's
/// flags and liveness change only under the table lock, held throughout.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>The table lock and every non-realtime pool's locks with its caches'; returns the interrupt state to hand back.</summary>
    internal ulong LockAllButRealtime()
    {
        ulong state = _tableLock.Acquire();
        for (int p = 0; p < _poolCapacity; p++)
            if (!IsRealtime(p))
                LockPoolWithCaches(p); // interrupts are already off: the state to restore is the table lock's
        return state;
    }

    /// <summary>Releases what <see cref="LockAllButRealtime"/> took.</summary>
    internal void UnlockAllButRealtime(ulong state)
    {
        for (int p = _poolCapacity - 1; p >= 0; p--)
        {
            if (IsRealtime(p))
                continue;
            _poolLocks[p].ReleaseInner();
            for (int c = _buddy._cpus - 1; c >= 0; c--)
                _buddy.CacheLockOf(p, c)->ReleaseInner();
        }
        _tableLock.Release(state);
    }
}
