using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PoolKernel.Memory;

/// <summary>
/// A <see cref="SpinLock"/> alone on a 64-byte cache line (the arrays of them start on a line: the metadata
/// layout aligns every array to 64 bytes): the lock of one (pool, CPU) frame cache
/// (<see cref="BuddyAllocator._cacheLocks"/>) and the lock of one pool (<see cref="PhysicalMemory._poolLocks"/>),
/// so that CPUs taking the locks of different caches or pools never write a line another lock shares
/// (before, the pool locks were 24-byte SpinLocks side by side: pools 0-1 and 2, and so on, shared lines).
/// Forwards the SpinLock operations, so an element is used as the lock itself.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct CacheLock
{
    public SpinLock Lock;

    /// <summary><see cref="SpinLock.Acquire"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Acquire() { return Lock.Acquire(); }

    /// <summary><see cref="SpinLock.Release"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Release(ulong state) { Lock.Release(state); }

    /// <summary><see cref="SpinLock.ReleaseInner"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ReleaseInner() { Lock.ReleaseInner(); }

    /// <summary><see cref="SpinLock.IsHeld"/>.</summary>
    public bool IsHeld => Lock.IsHeld;

    /// <summary><see cref="SpinLock.SetInterruptHooks"/>.</summary>
    public unsafe void SetInterruptHooks(delegate*<ulong> saveAndDisable, delegate*<ulong, void> restore) { Lock.SetInterruptHooks(saveAndDisable, restore); }
}
