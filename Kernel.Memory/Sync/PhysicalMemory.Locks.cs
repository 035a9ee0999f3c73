using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The locks of an instance (docs/smp.md, "Locks"): one a pool slot (<see cref="_poolLocks"/>: what each
/// guards is stated there) and the pool table's (<see cref="_tableLock"/>).
///
/// Order, the one rule that keeps them deadlock-free: the table lock before any pool lock, and pool locks
/// in ascending slot number. Every path that holds more than one lock takes them in that order (two pools:
/// <see cref="LockTwo"/>; all of them: <see cref="LockAll"/>), and a path holding a pool lock never waits
/// for the table lock or a lower pool. So the "waits for" relation between lock holders only ever points
/// from a lower rank to a higher one and cannot close a cycle. Allocation and free take one pool lock at a
/// time (a walk over pools releases each before trying the next).
///
/// Each lock turns interrupts off while held (<see cref="MemoryConfig.SaveAndDisableInterrupts"/>), so an
/// interrupt handler may allocate: the code it interrupted cannot be holding a lock on that CPU.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>Takes pool slot <paramref name="pool"/>'s lock; returns the interrupt state for <see cref="UnlockPool"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong LockPool(int pool) { return _poolLocks[pool].Acquire(); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void UnlockPool(int pool, ulong state) { _poolLocks[pool].Release(state); }

    /// <summary>Takes the locks of pools <paramref name="a"/> and <paramref name="b"/> (maybe equal), lower slot first.</summary>
    internal void LockTwo(int a, int b, out ulong stateLow, out ulong stateHigh)
    {
        int low = a < b ? a : b, high = a < b ? b : a;
        stateLow = _poolLocks[low].Acquire();
        stateHigh = low == high ? 0 : _poolLocks[high].Acquire();
    }

    /// <summary>Releases what <see cref="LockTwo"/> took, in reverse order.</summary>
    internal void UnlockTwo(int a, int b, ulong stateLow, ulong stateHigh)
    {
        int low = a < b ? a : b, high = a < b ? b : a;
        if (low != high)
            _poolLocks[high].Release(stateHigh);
        _poolLocks[low].Release(stateLow);
    }

    /// <summary>
    /// Takes the table lock and every pool slot's lock in ascending order: nothing in the instance changes
    /// until <see cref="UnlockAll"/>. For the invariant checker and for reports that walk every pool (the
    /// read methods of PhysicalMemory.Stats.cs take no lock: each is a snapshot, exact under this one).
    /// Returns the interrupt state to hand back.
    /// </summary>
    public ulong LockAll()
    {
        ulong state = _tableLock.Acquire();
        for (int p = 0; p < _poolCapacity; p++)
            _poolLocks[p].Acquire(); // interrupts are already off: the state to restore is the table lock's
        return state;
    }

    /// <summary>Releases what <see cref="LockAll"/> took.</summary>
    public void UnlockAll(ulong state)
    {
        for (int p = _poolCapacity - 1; p >= 0; p--)
            _poolLocks[p].Release(0);
        _tableLock.Release(state);
    }

    /// <summary>The calling CPU's number (<see cref="MemoryConfig.CurrentCpu"/>); 0 without the hook.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int CurrentCpu()
    {
        if (_currentCpu == null)
            return 0;
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
