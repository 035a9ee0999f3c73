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
///
/// A cache lock's line also holds the two words of the lock-free own-cache path (docs/smp.md, "A lock-free own
/// cache"): <see cref="Active"/>, which the cache's own CPU raises around each pop or push it makes without the
/// lock, and <see cref="Frozen"/>, which a party holding the lock raises to keep the owner out of the cache
/// (PhysicalMemory.Locks.cs). A pool lock leaves both 0.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct CacheLock
{
    public SpinLock Lock;
    /// <summary>
    /// 1 while the cache's own CPU is inside a lock-free section on the cache (between its store of 1 and its
    /// release store of 0); 0 otherwise. Written by that CPU only (plain and release stores); read by it, and by a
    /// holder of <see cref="Lock"/> that has raised <see cref="Frozen"/> and waits for it to be 0.
    /// </summary>
    internal int Active;
    /// <summary>
    /// 1 while a holder of <see cref="Lock"/> (a drain, the checker, any LockAll) keeps the owner out of the cache:
    /// the owner that reads it 1 takes <see cref="Lock"/> instead. Written only by a holder of <see cref="Lock"/>.
    /// </summary>
    internal int Frozen;

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
