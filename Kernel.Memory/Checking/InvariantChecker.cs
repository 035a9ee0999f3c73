using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The structural checker, part of the product (tests call it after every step; the kernel shell
/// can call it). It walks every frame once and every free list once: O(span + free blocks), no
/// allocation, a few KiB of stack. It checks, in this order:
///   1. page blocks: owned by a live pool iff they hold present frames; inside the owner's window and nodes;
///   2. blocks: each block head is aligned to its order, covers only Tail frames of present memory
///      in page blocks of one pool; no two free buddies of one pool are left unmerged; page-block
///      Present and Held counts match the frames;
///   3. free lists: each node is a free head of that pool and order, links agree both ways, and the
///      list count equals both the walked length and the free heads seen in step 2 (so no block is
///      on two lists and none is missing);
///   4. caches, one a (pool, CPU, order: 0 and the block caches of 1, 2, 3, 9): each entry is the head of a
///      Cached block of the cache's order and pool, no entry twice, high mark as the pool's present frames
///      give it (<see cref="FrameCache.HighFor(ulong, int, int)"/>) and count within it, and the frames of the
///      Cached blocks seen in step 2 are exactly the entries' (so a cached block is on exactly one cache, with
///      its order, and on no free list: a list node that is Cached fails step 3);
///   5. pool counters (FreePages = frames on the lists; a pool's free frames are those plus its
///      cached ones) and the conservation of present frames;
///   6. remembered pool choices (<see cref="ChoiceMemo"/>) of the current generation name live pools, and a pool
///      marked as implying an entry's rules does (its window inside them, alignment at most the entry's blocks');
///      a CPU's last request found (<see cref="ChoiceMemo.FindRequest"/>) names the entry a lookup of it finds;
///   7. owners (<see cref="FrameOwner"/>): the head of every allocated block and run carries an owner
///      0..63 or, for a page block lent to the hypervisor, <see cref="FrameOwner.Balloon"/>; every other
///      frame the sentinel None;
///   8. free-list nodes (<see cref="NodeTable"/>) of frames holding no free head read None, None;
///   9. containers (<see cref="Container"/>): the pages each holds per the frames equal its counts;
///  10. mobility (InvariantChecker.Mobility.cs): the cheapest-block index files exactly the page blocks
///      it should, in the right bucket, and every CPU's cached blocks lie in page blocks of their caches' class
///      (but a page block a steal took from that class on several CPUs).
/// Step 3 also checks each pool's non-empty-list mask (<see cref="Pool.ListedSlots"/>); lists are by
/// slot (order and mobility class, <see cref="BuddyAllocator.SlotOf"/>), each free block on the slot of
/// its order and page block's class. Step 2 also counts lent page blocks (each one whole page block, in
/// a pool the balloon may take from) and step 5 compares them with <see cref="Pool.BalloonedPages"/>
/// and the pool's guarantee.
/// The first broken invariant is reported with the numbers that disagree.
/// </summary>
public static unsafe partial class InvariantChecker
{
    public static InvariantReport Check(ref PhysicalMemory pm) { return Check(ref pm, false); }

    /// <summary>
    /// The checker; with <paramref name="butRealtime"/>, every invariant but the realtime pools' own, for a
    /// caller that holds every lock but theirs (<see cref="PhysicalMemory.LockAllButRealtime"/>): a realtime pool's
    /// frames, lists, caches, counters, owner bytes, free-list nodes and index entries are left to
    /// <see cref="CheckRealtimePool"/>. What spans pools still holds over all of them: each page block's
    /// pool is live and admits it, and the present frames of every page block, a realtime pool's included, add
    /// up to the instance's (a realtime page block's pool and present count change only in a move, which holds a
    /// non-realtime pool's lock or the table lock). Containers that a live realtime pool admits are compared with
    /// the frames only by the full checker (their pages there move under the realtime pools' locks alone).
    /// </summary>
    internal static InvariantReport Check(ref PhysicalMemory pm, bool butRealtime)
    {
        ref BuddyAllocator b = ref pm._buddy;
        int pbo = b._pageblockOrder;
        ulong pbPages = 1UL << pbo;
        int lists = pm._poolCapacity * b._listStride;
        ulong* heads = stackalloc ulong[lists];
        ulong* poolPresent = stackalloc ulong[PoolId.MaxIds];
        ulong* poolBlocks = stackalloc ulong[PoolId.MaxIds];
        ulong* poolCached = stackalloc ulong[PoolId.MaxIds];
        ulong* poolBallooned = stackalloc ulong[PoolId.MaxIds];
        for (int i = 0; i < lists; i++)
            heads[i] = 0;
        for (int i = 0; i < pm._poolCapacity; i++)
        {
            poolPresent[i] = 0;
            poolBlocks[i] = 0;
            poolCached[i] = 0;
            poolBallooned[i] = 0;
        }

        // 1 and 2: page blocks and blocks, one page block at a time.
        ulong present = 0;
        ulong p = 0;
        ulong carryPb = ulong.MaxValue; // a block larger than a page block covers page blocks up to here
        for (ulong pb = 0; pb < pm._pageblockCount; pb++)
        {
            PageblockInfo info = b._pageblocks[pb];
            ulong start = pb << pbo, end = start + pbPages;
            ulong pfn = pm._basePfn + start;
            if (info.Present != 0)
            {
                if (info.Pool >= pm._poolCapacity || b._pools[info.Pool].Live == 0)
                    return InvariantReport.Broken(InvariantCode.PageblockOwnership, pfn, info.Pool, 0, 1, 0);
                if (!b._pools[info.Pool].Properties.Admits(pfn, pbPages, info.Node))
                    return InvariantReport.Broken(InvariantCode.PageblockOutsideWindow, pfn, info.Pool, 0, 0, 0);
                poolPresent[info.Pool] += info.Present;
                poolBlocks[info.Pool]++;
            }
            else if (info.Pool != PoolId.None.Value)
                return InvariantReport.Broken(InvariantCode.PageblockOwnership, pfn, info.Pool, 0, 0, 1);
            present += info.Present;
            if (butRealtime && IsRealtimeSlot(ref pm, info.Pool))
                continue;

            if (carryPb != ulong.MaxValue && pb <= carryPb)
            {
                // Inside a large block checked from its head: the page block must be whole and uniform.
                continue;
            }
            carryPb = ulong.MaxValue;
            ulong seenPresent = 0, seenHeld = 0;
            p = start;
            while (p < end)
            {
                byte s = b._frames[p];
                FrameKind kind = FrameState.KindOf(s);
                if (kind == FrameKind.Absent)
                {
                    p++;
                    continue;
                }
                if (kind == FrameKind.Tail)
                    return InvariantReport.Broken(InvariantCode.OrphanTail, pm._basePfn + p, info.Pool, 0, 0, 0);
                if (kind > FrameKind.Cached)
                    return InvariantReport.Broken(InvariantCode.UnknownFrameKind, pm._basePfn + p, info.Pool, 0, 0, (ulong)kind);
                if (kind == FrameKind.Isolated)
                    return InvariantReport.Broken(InvariantCode.IsolatedLeft, pm._basePfn + p, info.Pool, FrameState.OrderOf(s), 0, 0);
                if (kind == FrameKind.Cached)
                {
                    // Free but in no list: a block of an order with caches (0, or a block-cache slot), held like an
                    // allocated block and checked as one below, neither in use nor a buddy candidate.
                    int cachedOrder = FrameState.OrderOf(s);
                    if (cachedOrder != 0 && FrameCache.SlotOfOrder(cachedOrder) < 0)
                        return InvariantReport.Broken(InvariantCode.CacheBadEntry, pm._basePfn + p, info.Pool, cachedOrder, 0, (ulong)cachedOrder);
                    poolCached[info.Pool] += 1UL << cachedOrder;
                    if (cachedOrder == 0)
                    {
                        seenPresent++;
                        seenHeld++;
                        p++;
                        continue;
                    }
                }
                int order = FrameState.OrderOf(s);
                ulong size = 1UL << order;
                if (order > b._maxOrder || (p & (size - 1)) != 0)
                    return InvariantReport.Broken(InvariantCode.BlockMisaligned, pm._basePfn + p, info.Pool, order, 0, p & (size - 1));
                if (p + size > b._spanPages)
                    return InvariantReport.Broken(InvariantCode.BlockNotContiguous, pm._basePfn + p, info.Pool, order, b._spanPages, p + size);
                ulong notTail = FirstNotTail(b._frames, p + 1, p + size);
                if (notTail != p + size)
                    return InvariantReport.Broken(InvariantCode.BlockNotContiguous, pm._basePfn + notTail, info.Pool, order, FrameState.Tail, b._frames[notTail]);
                bool allocated = kind != FrameKind.Free;
                if (kind == FrameKind.Allocated && b._owners[p] == FrameOwner.Balloon)
                {
                    if (order != pbo)
                        return InvariantReport.Broken(InvariantCode.BalloonBlockBad, pm._basePfn + p, info.Pool, order, (ulong)pbo, (ulong)order);
                    if (!PhysicalMemory.MayBalloon(b._pools[info.Pool].Properties))
                        return InvariantReport.Broken(InvariantCode.BalloonBlockBad, pm._basePfn + p, info.Pool, order, 0, (ulong)b._pools[info.Pool].Properties.Flags);
                    poolBallooned[info.Pool] += size;
                }
                if (size > pbPages)
                {
                    for (ulong q = pb; q < pb + (size >> pbo); q++)
                    {
                        PageblockInfo other = b._pageblocks[q];
                        if (other.Pool != info.Pool)
                            return InvariantReport.Broken(InvariantCode.BlockCrossesPools, pm._basePfn + p, info.Pool, order, info.Pool, other.Pool);
                        if (other.Present != pbPages)
                            return InvariantReport.Broken(InvariantCode.PageblockPresentCount, pm._basePfn + (q << pbo), info.Pool, order, pbPages, other.Present);
                        if (other.Held != (allocated ? pbPages : 0))
                            return InvariantReport.Broken(InvariantCode.PageblockHeldCount, pm._basePfn + (q << pbo), info.Pool, order, allocated ? pbPages : 0, other.Held);
                    }
                    carryPb = pb + (size >> pbo) - 1;
                }
                else
                {
                    seenPresent += size;
                    if (allocated)
                        seenHeld += size;
                }
                if (!allocated)
                {
                    heads[info.Pool * b._listStride + b.SlotOf(order, (int)info.Mobility)]++;
                    if (order < b._maxOrder)
                    {
                        ulong buddy = p ^ size;
                        if (buddy < b._spanPages && b._frames[buddy] == FrameState.Make(FrameKind.Free, order) &&
                            b._pageblocks[buddy >> pbo].Pool == info.Pool)
                            return InvariantReport.Broken(InvariantCode.UnmergedBuddies, pm._basePfn + p, info.Pool, order, 0, pm._basePfn + buddy);
                    }
                }
                p += size;
            }
            if (carryPb == ulong.MaxValue)
            {
                if (seenPresent != info.Present)
                    return InvariantReport.Broken(InvariantCode.PageblockPresentCount, pm._basePfn + start, info.Pool, 0, info.Present, seenPresent);
                if (seenHeld != info.Held)
                    return InvariantReport.Broken(InvariantCode.PageblockHeldCount, pm._basePfn + start, info.Pool, 0, info.Held, seenHeld);
            }
        }

        // 3, 4 and 5: free lists, caches and pool counters.
        for (int pool = 0; pool < pm._poolCapacity; pool++)
        {
            ref Pool pl = ref b._pools[pool];
            if (pl.Live == 0)
            {
                for (int cpu = 0; cpu < b._cpus; cpu++)
                {
                    for (int slot = -1; slot < FrameCache.BlockSlots; slot++)
                    {
                        int order = slot < 0 ? 0 : FrameCache.OrderOfSlot(slot);
                        FrameCache* cache = b.CacheFor(pool, cpu, order);
                        if (cache->Count != 0)
                            return InvariantReport.Broken(InvariantCode.CacheCount, 0, pool, order, 0, (ulong)cache->Count);
                        if (cache->High != 0)
                            return InvariantReport.Broken(InvariantCode.CacheAboveHigh, 0, pool, order, 0, (ulong)(uint)cache->High);
                    }
                }
                continue;
            }
            if (butRealtime && pm.IsRealtime(pool))
                continue;
            InvariantReport cacheReport = CheckCaches(ref pm, pool, poolCached[pool]);
            if (!cacheReport.IsOk)
                return cacheReport;
            if (pool >= pm._poolLimit)
                return InvariantReport.Broken(InvariantCode.PoolCounters, 0, pool, 0, (ulong)pm._poolLimit, (ulong)pool);
            ulong free = 0;
            for (int slot = 0; slot < b._listStride; slot++)
            {
                int order = b.OrderOfSlot(slot);
                FreeList* list = b.ListAt(pool, slot);
                ulong expected = heads[pool * b._listStride + slot];
                ulong walked = 0, prev = FreeList.End;
                for (ulong n = list->Head; n != FreeList.End; n = b._nodes.Of(n)->NextIndex)
                {
                    if (n >= b._spanPages || b._frames[n] != FrameState.Make(FrameKind.Free, order) || (int)b.PoolOfFrame(n) != pool ||
                        b.SlotOfBlock(n, order) != slot)
                        return InvariantReport.Broken(InvariantCode.FreeListBadNode, n < b._spanPages ? pm._basePfn + n : n, pool, order, 0, 0);
                    FreeNode* node = b._nodes.Of(n);
                    if (node->PrevIndex != prev)
                        return InvariantReport.Broken(InvariantCode.FreeListBadLink, pm._basePfn + n, pool, order, prev, node->PrevIndex);
                    prev = n;
                    if (++walked > expected)
                        return InvariantReport.Broken(InvariantCode.FreeListCount, pm._basePfn + n, pool, order, expected, walked);
                }
                if (walked != expected || list->Count != expected)
                    return InvariantReport.Broken(InvariantCode.FreeListCount, 0, pool, order, expected, list->Count != expected ? list->Count : walked);
                ulong listedBit = (pl.ListedSlots >> slot) & 1;
                if (listedBit != (expected != 0 ? 1UL : 0UL))
                    return InvariantReport.Broken(InvariantCode.ListedOrdersMask, 0, pool, slot, expected != 0 ? 1UL : 0UL, listedBit);
                free += expected << order;
            }
            if ((pl.ListedSlots >> b._listStride) != 0)
                return InvariantReport.Broken(InvariantCode.ListedOrdersMask, 0, pool, b._listStride, 0, pl.ListedSlots >> b._listStride);
            if (pl.FreePages != free)
                return InvariantReport.Broken(InvariantCode.PoolCounters, 0, pool, 0, free, pl.FreePages);
            if (pl.PresentPages != poolPresent[pool])
                return InvariantReport.Broken(InvariantCode.PoolCounters, 0, pool, 0, poolPresent[pool], pl.PresentPages);
            if (pl.Pageblocks != poolBlocks[pool])
                return InvariantReport.Broken(InvariantCode.PoolCounters, 0, pool, 0, poolBlocks[pool], pl.Pageblocks);
            if (pl.BalloonedPages != poolBallooned[pool])
                return InvariantReport.Broken(InvariantCode.BalloonCount, 0, pool, 0, poolBallooned[pool], pl.BalloonedPages);
            if (pl.BalloonedPages != 0 && pl.PresentPages - pl.BalloonedPages < pl.Properties.MinimumPages)
                return InvariantReport.Broken(InvariantCode.BalloonCount, 0, pool, 1, pl.Properties.MinimumPages, pl.PresentPages - pl.BalloonedPages);
        }
        if (present != pm._presentPages)
            return InvariantReport.Broken(InvariantCode.PresentNotConserved, 0, PoolId.None.Value, 0, pm._presentPages, present);

        // 6: remembered pool choices of the current generation name live pools.
        // Every CPU's memo (each written by its CPU without a lock, a new entry's generation last: one being
        // written reads as outdated; pools are destroyed only under every lock, which the checker holds).
        for (int cpu = 0; cpu < pm._maxCpus; cpu++)
        {
            ChoiceMemo* memo = pm._memos + cpu;
            // The last request found is served from its slot without the entry's key being compared: it must be that entry's request.
            if (memo->LastRequest(pm._poolGeneration, out AllocRequest last, out int lastOrder, out int lastSlot) &&
                ((uint)lastSlot >= (uint)ChoiceMemo.Entries || memo->Find(ChoiceMemo.Shape(lastOrder, last), last, pm._poolGeneration) != lastSlot))
                return InvariantReport.Broken(InvariantCode.ChoiceMemoLastRequest, 0, PoolId.None.Value, lastOrder, (ulong)cpu, (ulong)(uint)lastSlot);
            for (int slot = 0; slot < ChoiceMemo.Entries; slot++)
            {
                memo->Entry(slot, out uint generation, out _);
                if (generation != pm._poolGeneration)
                    continue;
                // The fast paths look up plain shapes: an entry of a container's must carry the accounted form (and only such an entry).
                byte memoOwner = (byte)(memo->ShapeOf(slot) >> 16);
                if (FrameOwner.IsAccountedForm(memoOwner) != pm.IsContainer(FrameOwner.OwnerOf(memoOwner)))
                    return InvariantReport.Broken(InvariantCode.AccountedOwnerForm, 0, PoolId.None.Value, 2, (ulong)(memoOwner ^ FrameOwner.Accounted), memoOwner);
                for (int i = 0; i < memo->Count(slot); i++)
                {
                    int memoPool = memo->PoolAt(slot, i);
                    if ((uint)memoPool >= (uint)pm._poolCapacity || b._pools[memoPool].Live == 0)
                        return InvariantReport.Broken(InvariantCode.ChoiceMemoStale, 0, memoPool, 0, (ulong)slot, generation);
                    // The fast path hands out any block of an implied pool unchecked (PhysicalMemory.Allocate.cs).
                    ref PoolProperties props = ref b._pools[memoPool].Properties;
                    DmaRules rules = memo->Rules(slot);
                    int memoOrder = memo->OrderOf(slot);
                    if (memo->Implied(slot, i) && !rules.ImpliedBy(props.WindowStartPfn, props.WindowEndPfn, 1UL << memoOrder))
                        return InvariantReport.Broken(InvariantCode.ChoiceMemoNotImplied, 0, memoPool, memoOrder, rules.LowPfn, props.WindowStartPfn);
                }
            }
        }

        // 7: owner bytes.
        InvariantReport owners = CheckOwners(ref pm, butRealtime);
        if (!owners.IsOk)
            return owners;

        // 8: free-list nodes of no listed block.
        InvariantReport idle = CheckIdleNodes(ref pm, butRealtime);
        if (!idle.IsOk)
            return idle;

        // 9: containers' accounting against the frames (InvariantChecker.Containers.cs).
        InvariantReport containers = CheckContainers(ref pm, butRealtime);
        if (!containers.IsOk)
            return containers;

        // 10: the cheapest-block index and the cache's class.
        return CheckMobility(ref pm, butRealtime);
    }

    /// <summary>True when <paramref name="pool"/> is a slot of the table holding a realtime pool.</summary>
    private static bool IsRealtimeSlot(ref PhysicalMemory pm, int pool)
    {
        return (uint)pool < (uint)pm._poolCapacity && pm.IsRealtime(pool);
    }

    /// <summary>True when frame <paramref name="i"/> lies in a page block of a realtime pool (with <paramref name="butRealtime"/>): left to the realtime check.</summary>
    private static bool SkipFrame(ref PhysicalMemory pm, bool butRealtime, ulong i)
    {
        return butRealtime && IsRealtimeSlot(ref pm, pm._buddy._pageblocks[i >> pm._buddy._pageblockOrder].Pool);
    }

    /// <summary>
    /// Step 8: a node of the <see cref="NodeTable"/> whose pair of frames holds no free head reads None, None, as set-up and unlinking leave it. (Nodes of free
    /// heads were checked with their lists; frames with no memory may have no node.) The report
    /// names the pair's first frame, Actual: the node's two links as one number.
    /// </summary>
    private static InvariantReport CheckIdleNodes(ref PhysicalMemory pm, bool butRealtime)
    {
        ref BuddyAllocator b = ref pm._buddy;
        ulong step = 1UL << NodeTable.Shift;
        ulong chunkPages = 1UL << NodeTable.ChunkOrder;
        for (ulong chunk = 0; chunk << NodeTable.ChunkOrder < b._spanPages; chunk++)
        {
            ulong start = chunk << NodeTable.ChunkOrder;
            ulong end = start + chunkPages < b._spanPages ? start + chunkPages : b._spanPages;
            FreeNode* node = b._nodes.Of(start);
            for (ulong i = start; i < end; i += step, node++)
            {
                // Absent is the byte 0 and a free head the kind 2 in the top bits (FrameState).
                byte first = b._frames[i], second = b._frames[i + 1];
                if ((first | second) == 0 || FrameState.KindOf(first) == FrameKind.Free || FrameState.KindOf(second) == FrameKind.Free ||
                    SkipFrame(ref pm, butRealtime, i))
                    continue;
                if (*(ulong*)node != ulong.MaxValue)
                    return InvariantReport.Broken(InvariantCode.IdleNodeLinked, pm._basePfn + i, b.PoolOfFrame(i), 0, ulong.MaxValue,
                        ((ulong)node->Next << 32) | node->Prev);
            }
        }
        return default;
    }

    /// <summary>
    /// Step 7: allocated heads (Allocated, RunFirst) carry an owner 0..63, every other frame
    /// <see cref="FrameOwner.None"/>. The report names the frame, Expected = the sentinel for a frame
    /// that must have none (else <see cref="FrameOwner.Count"/>, the bound), Actual = the byte found.
    /// </summary>
    private static InvariantReport CheckOwners(ref PhysicalMemory pm, bool butRealtime)
    {
        ref BuddyAllocator b = ref pm._buddy;
        for (ulong i = 0; i < b._spanPages; i++)
        {
            if (SkipFrame(ref pm, butRealtime, i))
                continue;
            byte owner = b._owners[i];
            FrameKind kind = FrameState.KindOf(b._frames[i]);
            bool owned = kind == FrameKind.Allocated || kind == FrameKind.RunFirst;
            bool lent = kind == FrameKind.Allocated && owner == FrameOwner.Balloon;
            if (owned ? !FrameOwner.IsValid(FrameOwner.OwnerOf(owner)) && !lent : owner != FrameOwner.None)
                return InvariantReport.Broken(InvariantCode.FrameOwnerBad, pm._basePfn + i, b.PoolOfFrame(i), FrameState.OrderOf(b._frames[i]),
                    owned ? (ulong)FrameOwner.Count : FrameOwner.None, owner);
        }
        return default;
    }

    /// <summary>
    /// One pool's caches, one a (CPU, order): each high mark sized to the pool's present frames for its order
    /// (<see cref="FrameCache.HighFor(ulong, int, int)"/>) and each count within it; the frames of all entries
    /// of all CPUs and orders together equal to the frames of Cached heads of the pool the frame walk saw
    /// (<paramref name="seen"/>), so every cached block is in some CPU's cache; every entry the head of a Cached
    /// block of the cache's order in a page block of the pool; no entry twice, within a cache or across two
    /// CPUs' caches of one order (pairwise, no scratch memory: O((CPUs x Capacity)^2), 64 K comparisons a pool
    /// at 4 CPUs); a head is in caches of its own order only, so no block is counted twice or with another order.
    /// </summary>
    private static InvariantReport CheckCaches(ref PhysicalMemory pm, int pool, ulong seen)
    {
        ref BuddyAllocator b = ref pm._buddy;
        ulong total = 0;
        for (int slot = -1; slot < FrameCache.BlockSlots; slot++)
        {
            int order = slot < 0 ? 0 : FrameCache.OrderOfSlot(slot);
            int high = b.CacheHighFor(pool, order);
            for (int cpu = 0; cpu < b._cpus; cpu++)
            {
                FrameCache* cache = b.CacheFor(pool, cpu, order);
                InvariantReport own = CheckCache(ref pm, pool, order, high, cache);
                if (!own.IsOk)
                    return own;
                int count = cache->Count;
                total += (ulong)(uint)count << order;
                for (int i = 0; i < count; i++)
                {
                    ulong n = cache->At(i);
                    for (int other = cpu + 1; other < b._cpus; other++)
                    {
                        FrameCache* second = b.CacheFor(pool, other, order);
                        for (int j = 0; j < second->Count; j++)
                            if (second->At(j) == n)
                                return InvariantReport.Broken(InvariantCode.CacheDuplicate, pm._basePfn + n, pool, order, (ulong)cpu, (ulong)other);
                    }
                }
            }
        }
        if (total != seen)
            return InvariantReport.Broken(InvariantCode.CacheCount, 0, pool, 0, seen, total);
        return default;
    }

    /// <summary>
    /// One cache of <paramref name="pool"/> of order <paramref name="order"/> on its own: its high mark equal to
    /// <paramref name="high"/> and its count within it, each entry the head of a Cached block of that order in a page
    /// block of the pool, no entry twice. The checks across CPUs' caches and the count of cached frames are the caller's.
    /// </summary>
    private static InvariantReport CheckCache(ref PhysicalMemory pm, int pool, int order, int high, FrameCache* cache)
    {
        ref BuddyAllocator b = ref pm._buddy;
        int count = cache->Count;
        if (cache->High != high)
            return InvariantReport.Broken(InvariantCode.CacheAboveHigh, 0, pool, order, (ulong)(uint)high, (ulong)(uint)cache->High);
        if ((uint)count > (uint)high)
            return InvariantReport.Broken(InvariantCode.CacheAboveHigh, 0, pool, order, (ulong)(uint)high, (ulong)(uint)count);
        byte cached = FrameState.Make(FrameKind.Cached, order);
        for (int i = 0; i < count; i++)
        {
            ulong n = cache->At(i);
            if (n >= b._spanPages || b._frames[n] != cached || b.PoolOfFrame(n) != pool)
                return InvariantReport.Broken(InvariantCode.CacheBadEntry, n < b._spanPages ? pm._basePfn + n : n, pool, order,
                    cached, n < b._spanPages ? b._frames[n] : 0UL);
            for (int j = i + 1; j < count; j++)
                if (cache->At(j) == n)
                    return InvariantReport.Broken(InvariantCode.CacheDuplicate, pm._basePfn + n, pool, order, (ulong)i, (ulong)j);
        }
        return default;
    }

    /// <summary>The first index in [from, end) whose byte is not Tail, or end; eight bytes at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong FirstNotTail(byte* frames, ulong from, ulong end)
    {
        const ulong TailWord = FrameState.Tail * 0x0101010101010101UL;
        ulong t = from;
        while (t < end && (t & 7) != 0)
        {
            if (frames[t] != FrameState.Tail)
                return t;
            t++;
        }
        while (end - t >= 8 && *(ulong*)(frames + t) == TailWord)
            t += 8;
        while (t < end)
        {
            if (frames[t] != FrameState.Tail)
                return t;
            t++;
        }
        return end;
    }
}
