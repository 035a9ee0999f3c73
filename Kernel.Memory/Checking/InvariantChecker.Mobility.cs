namespace PoolKernel.Memory;

/// <summary>Step 9 of the checker: grouping by mobility (docs/antifrag.md).</summary>
public static unsafe partial class InvariantChecker
{
    /// <summary>
    /// Every page block is filed in the cheapest-block index exactly where its pool, class and held
    /// count put it (<see cref="PageblockIndex.Key"/>) or nowhere; each bucket's links agree both ways
    /// and hold only page blocks that belong there, as many as are counted; each bucket mask bit says
    /// whether the bucket is empty; every page block's class is one its pool accepts (a pool accepting none excepted), and a realtime pool's its cache class; every frame-cache entry lies in a page block of the class its cache serves.
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

        // With several CPUs' caches a page block may be restyled while another CPU's cache holds one of
        // its frames (BuddyAllocator.Restyle): the rule holds exactly in an instance of one CPU.
        if (b._cpus != 1)
            return default;
        for (int pool = 0; pool < pm._poolCapacity; pool++)
        {
            if (butRealtime && pm.IsRealtime(pool))
                continue;
            for (int slot = -1; slot < FrameCache.BlockSlots; slot++)
            {
                int order = slot < 0 ? 0 : FrameCache.OrderOfSlot(slot);
                FrameCache* cache = b.CacheFor(pool, 0, order);
                for (int i = 0; i < cache->Count; i++)
                {
                    ulong frame = cache->At(i);
                    if (frame < b._spanPages && !b.CacheServes(pool, b._pageblocks[frame >> pbo].Mobility))
                        return InvariantReport.Broken(InvariantCode.CachedFrameOfAnotherClass, pm._basePfn + frame, pool, order,
                            (ulong)b._cacheClasses[pool], (ulong)b._pageblocks[frame >> pbo].Mobility);
                }
            }
        }
        return default;
    }
}
