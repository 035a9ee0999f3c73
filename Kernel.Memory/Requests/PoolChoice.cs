using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The pool-choice rule for a request that names no pool. A pool qualifies when it is live, not
/// Reserved or Realtime (those serve only requests that name them: a realtime pool's lock is never held
/// by a pool-choice search, docs/realtime.md), allows the request's owner,
/// accepts its mobility class, its window overlaps the request's address rules by at least the
/// block, and (with NodeStrict) it covers the preferred node. Qualifying pools are tried in this
/// order, each key breaking ties of the one before:
///   1. priority, highest first;
///   2. node distance from the preferred node (SLIT, nearest node of the pool's mask), nearest first;
///   3. fallback tier: Dma-flagged pools come last for requests that carry no address limit;
///   4. window top, highest first (keep scarce low memory for the requests that need it; 32 KiB granularity);
///   5. pool id.
/// There are no global zone lists: the order is computed from the properties on each call.
/// </summary>
public static unsafe class PoolChoice
{
    /// <summary>
    /// The best qualifying pool whose sort key is at least <paramref name="minKey"/>, or -1; its key
    /// in <paramref name="key"/>. Callers walk the order by passing the last key + 1: the first call
    /// (minKey 0) gives the best pool, and a pool is re-examined only when the one before it had no
    /// fitting block. One pass over the live slots a step, no sorting and no scratch memory: the
    /// common case (the first pool has memory) costs a single pass.
    /// </summary>
    public static int Next(ref PhysicalMemory pm, in AllocRequest request, in DmaRules rules, ulong pages, ulong minKey, out ulong key)
    {
        bool limited = request.HasAddressRules;
        int limit = pm._poolLimit;
        int best = -1;
        key = ulong.MaxValue;
        for (int id = 0; id < limit; id++)
        {
            if (!Qualifies(ref pm._buddy._pools[id], request, rules, pages))
                continue;
            ulong k = SortKey(ref pm, request, limited, id);
            if (k >= minKey && k <= key)
            {
                key = k;
                best = id;
            }
        }
        return best;
    }

    /// <summary>
    /// Writes every qualifying pool, best first, into <paramref name="candidates"/> (room for
    /// <see cref="PhysicalMemory.PoolCapacity"/> ids) and returns how many: the whole order at once,
    /// for reports and tests.
    /// </summary>
    public static int Rank(ref PhysicalMemory pm, in AllocRequest request, in DmaRules rules, ulong pages, byte* candidates)
    {
        int n = 0;
        ulong minKey = 0;
        for (int id = Next(ref pm, request, rules, pages, minKey, out ulong key); id >= 0; id = Next(ref pm, request, rules, pages, minKey, out key))
        {
            candidates[n++] = (byte)id;
            minKey = key + 1;
        }
        return n;
    }

    /// <summary>The qualification half of the rule (see the type's summary).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Qualifies(ref Pool pool, in AllocRequest request, in DmaRules rules, ulong pages)
    {
        if (pool.Live == 0 || (pool.Properties.Flags & (PoolFlags.Reserved | PoolFlags.Realtime)) != 0)
            return false;
        if (!pool.Properties.AllowsOwner(request.Owner) || !pool.Properties.Accepts(request.Mobility))
            return false;
        ulong lo = pool.Properties.WindowStartPfn > rules.LowPfn ? pool.Properties.WindowStartPfn : rules.LowPfn;
        ulong hi = pool.Properties.WindowEndPfn < rules.EndPfn ? pool.Properties.WindowEndPfn : rules.EndPfn;
        if (hi <= lo || hi - lo < pages)
            return false;
        return (request.Flags & RequestFlags.NodeStrict) == 0 ||
            (request.PreferredNode < 64 && ((pool.Properties.NodeMask >> request.PreferredNode) & 1) != 0);
    }

    /// <summary>
    /// The rule as one number, smaller = tried first: bits 56-63 inverted priority, 47-55 node
    /// distance, 46 fallback tier, 8-45 distance of the window top from the top of the 52-bit
    /// space in 32 KiB units (higher window first), 0-7 pool id.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SortKey(ref PhysicalMemory pm, in AllocRequest request, bool limited, int id)
    {
        ref PoolProperties p = ref pm._buddy._pools[id].Properties;
        ulong tier = !limited && (p.Flags & PoolFlags.Dma) != 0 ? 1UL : 0UL;
        ulong distance = (ulong)Distance(ref pm, request.PreferredNode, p.NodeMask);
        ulong windowGap = (DmaRules.NoLimitPfn - p.WindowEndPfn) >> 3;
        ulong inverse = (uint)(255 - p.Priority);
        return (inverse << 56) | (distance << 47) | (tier << 46) | ((windowGap & ((1UL << 38) - 1)) << 8) | (uint)id;
    }

    /// <summary>Distance from <paramref name="node"/> to the nearest node of <paramref name="mask"/> (0 with no preference).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Distance(ref PhysicalMemory pm, byte node, ulong mask)
    {
        if (node == AllocRequest.NoNode || node >= pm._nodeCount)
            return 0;
        int best = 256;
        for (int other = 0; other < pm._nodeCount; other++)
        {
            if (((mask >> other) & 1) == 0)
                continue;
            int d = pm._distances[node * pm._nodeCount + other];
            if (d < best)
                best = d;
        }
        return best;
    }
}
