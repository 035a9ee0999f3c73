using System.Runtime.InteropServices;

namespace PoolKernel.Memory;

/// <summary>
/// A <see cref="SpinLock"/> alone on a 64-byte cache line: the lock of one (pool, CPU) frame cache
/// (<see cref="BuddyAllocator._cacheLocks"/>), so that CPUs taking their own caches' locks never
/// write a line another CPU's lock shares.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct CacheLock
{
    public SpinLock Lock;
}
