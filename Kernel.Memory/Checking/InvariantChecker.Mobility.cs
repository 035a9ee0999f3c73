namespace PoolKernel.Memory;

/// <summary>Step 9 of the checker: grouping by mobility (docs/antifrag.md).</summary>
public static unsafe partial class InvariantChecker
{
    /// <summary>
    /// Every page block is filed in the cheapest-block index exactly where its pool, class and held
    /// count put it (<see cref="PageblockIndex.Key"/>) or nowhere; each bucket's links agree both ways
    /// and hold only page blocks that belong there, as many as are counted; each bucket mask bit says
    /// whether the bucket is empty; every page block's class is one its pool accepts (a pool accepting none excepted), and a realtime pool's its cache class; every entry of every CPU's caches
    /// (order 0 and the block caches) lies in page blocks of the class its caches serve, but in a page block a steal steered away
    /// from that class while other CPUs' caches could keep its frames (<see cref="BuddyAllocator.LeftCacheClass"/>).
    /// O(page blocks + cache entries).
    /// </summary>
    private static InvariantReport CheckMobility(ref PhysicalMemory pm, bool butRealtime)
    {
        ref BuddyAllocator b = ref pm._buddy;
        ref PageblockIndex index = ref b._index;
        int pbo = b._pageblockOrder;
        ulong filed = 0;
        for (ulong pb = 0; pb < pm._pageblockCount; pb++)
        {
            int key = b.IndexKeyOf(pb);
            ulong pfn = pm._basePfn + (pb << pbo);
            PageblockInfo info = b._pageblocks[pb];
            if ((int)info.Mobility >= BuddyAllocator.ClassCount)
                return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pfn, info.Pool, 0, BuddyAllocator.ClassCount - 1, (ulong)info.Mobility);
            if (info.Present != 0 && info.Pool < pm._poolCapacity && (b._pools[info.Pool].Properties.AcceptedMobility != 0) &&
                !b._pools[info.Pool].Properties.Accepts(info.Mobility))
                return InvariantReport.Broken(InvariantCode.PageblockClassRefused, pfn, info.Pool, 0, (ulong)b._pools[info.Pool].Properties.AcceptedMobility, (ulong)info.Mobility);
            if (info.Present != 0 && info.Pool < pm._poolCapacity && pm.IsRealtime(info.Pool) && info.Mobility != b._cacheClasses[info.Pool])
                return InvariantReport.Broken(InvariantCode.RealtimeClassMixed, pfn, info.Pool, 0, (ulong)b._cacheClasses[info.Pool], (ulong)info.Mobility);
            if (butRealtime && IsRealtimeSlot(ref pm, info.Pool))
                continue; // filed by its held count, which changes under the realtime pool's lock alone
            if (key < 0)
            {
                if (index.Next(pb) != PageblockIndex.None || index.Prev(pb) != PageblockIndex.None)
                    return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pfn, info.Pool, 0, ulong.MaxValue, index.Next(pb));
                continue;
            }
            filed++;
            uint prev = index.Prev(pb);
            if (prev == PageblockIndex.None)
            {
                uint head = *index.HeadOf(info.Pool, (int)info.Mobility, key);
                if (head != pb)
                    return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pfn, info.Pool, key, pb, head);
            }
            else if (prev >= pm._pageblockCount || index.Next(prev) != pb)
                return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pfn, info.Pool, key, pb, prev);
            uint next = index.Next(pb);
            if (next != PageblockIndex.None && (next >= pm._pageblockCount || index.Prev(next) != pb))
                return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pfn, info.Pool, key, pb, next);
        }
        // Each bucket: its members belong there (with the per-page-block checks above, a member
        // reached from a head is filed where it should be) and the mask says which are not empty.
        ulong walked = 0;
        for (int pool = 0; pool < pm._poolCapacity; pool++)
            for (int cls = 0; cls < BuddyAllocator.ClassCount && !(butRealtime && pm.IsRealtime(pool)); cls++)
                for (int bucket = 0; bucket < index._buckets; bucket++)
                {
                    uint head = *index.HeadOf(pool, cls, bucket);
                    ulong bit = (index.Mask(pool, cls) >> bucket) & 1;
                    if (bit != (head != PageblockIndex.None ? 1UL : 0UL))
                        return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, 0, pool, bucket, head != PageblockIndex.None ? 1UL : 0UL, bit);
                    for (uint pb = head; pb != PageblockIndex.None; pb = index.Next(pb))
                    {
                        if (pb >= pm._pageblockCount || walked > pm._pageblockCount)
                            return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, 0, pool, bucket, pm._pageblockCount, pb);
                        PageblockInfo info = b._pageblocks[pb];
                        if (info.Pool != pool || (int)info.Mobility != cls || b.IndexKeyOf(pb) != bucket)
                            return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pm._basePfn + ((ulong)pb << pbo), pool, bucket,
                                (ulong)bucket, (ulong)(uint)b.IndexKeyOf(pb));
                        walked++;
                    }
                }
        if (walked != filed)
            return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, 0, PoolId.None.Value, 0, filed, walked);

        // Every CPU's caches of every live pool, every order: each page block an entry covers (one, or several for a
        // block above the page-block order) is of the class the caches serve, or was steered away from it by a steal
        // while other CPUs' caches could keep its frames (BuddyAllocator.Restyle, LeftCacheClass). Entries were
        // checked as heads of Cached blocks of their pool and order (step 4). O(cache entries).
        for (int pool = 0; pool < pm._poolCapacity; pool++)
        {
            if (b._pools[pool].Live == 0 || (butRealtime && pm.IsRealtime(pool)))
                continue;
            for (int cpu = 0; cpu < b._cpus; cpu++)
                for (int slot = -1; slot < FrameCache.BlockSlots; slot++)
                {
                    int order = slot < 0 ? 0 : FrameCache.OrderOfSlot(slot);
                    FrameCache* cache = b.CacheFor(pool, cpu, order);
                    for (int i = 0; i < cache->Count; i++)
                    {
                        ulong frame = cache->At(i);
                        ulong last = order > pbo ? frame + (1UL << order) - 1 : frame;
                        for (ulong pb = frame >> pbo; last < b._spanPages && pb <= last >> pbo; pb++)
                            if (!b.CacheServes(pool, b._pageblocks[pb].Mobility) && !b.LeftCacheClass(pb))
                                return InvariantReport.Broken(InvariantCode.CachedFrameOfAnotherClass, pm._basePfn + (pb > frame >> pbo ? pb << pbo : frame),
                                    pool, order, (ulong)b._cacheClasses[pool], (ulong)b._pageblocks[pb].Mobility);
                    }
                }
        }
        return default;
    }
}
