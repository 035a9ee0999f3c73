using System.Threading;

namespace PoolKernel.Memory;

/// <summary>
/// The atomic counter steps of a container's accounting, on 32-bit page counts (the only width the
/// kernel's core library has an atomic for: <see cref="Interlocked.CompareExchange(ref int, int, int)"/>;
/// so a quota is below 2^31 pages, 8 TiB). They take no lock, so the accounting is independent of
/// whatever lock guards the pools: several CPUs allocating for one container at once each reserve
/// their pages before they allocate, and the sum never passes the quota, even for a moment.
/// </summary>
internal static unsafe class AtomicCount
{
    /// <summary>
    /// Adds <paramref name="delta"/> (&gt; 0) to <paramref name="at"/> unless the sum would pass
    /// <paramref name="limit"/>: true when added. A compare-and-swap loop, never an add-then-undo,
    /// so no other CPU sees a count above the limit.
    /// </summary>
    internal static bool TryReserve(int* at, int delta, int limit)
    {
        while (true)
        {
            int current = Volatile.Read(ref *at);
            if (current > limit - delta)
                return false;
            if (Interlocked.CompareExchange(ref *at, current + delta, current) == current)
                return true;
        }
    }

    /// <summary>Adds <paramref name="delta"/> (either sign) to <paramref name="at"/>.</summary>
    internal static void Add(int* at, int delta)
    {
        while (true)
        {
            int current = Volatile.Read(ref *at);
            if (Interlocked.CompareExchange(ref *at, current + delta, current) == current)
                return;
        }
    }

    /// <summary>Raises <paramref name="at"/> to <paramref name="value"/> when it is below (a peak).</summary>
    internal static void RaiseTo(int* at, int value)
    {
        while (true)
        {
            int current = Volatile.Read(ref *at);
            if (current >= value || Interlocked.CompareExchange(ref *at, value, current) == current)
                return;
        }
    }
}
