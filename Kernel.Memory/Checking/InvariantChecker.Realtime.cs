namespace PoolKernel.Memory;

/// <summary>
/// The realtime pools' part of the bounded checker (<see cref="PhysicalMemory.Check"/>, docs/realtime.md
/// "Administration"). A realtime pool promises that no realtime operation waits on a non-realtime path for longer
/// than a bounded section, so its invariants are checked in sections: each takes the table lock and the pool's
/// locks with all its caches' (<see cref="PhysicalMemory.LockPoolWithCaches"/>), looks at no more than
/// <see cref="PhysicalMemory.AdminSectionSteps"/> steps (page-block table entries, frames, list nodes, a CPU's
/// caches), records the section (<see cref="PhysicalMemory.NoteRealtimeHold"/>) and lets go.
///
/// Consistency: the pool's modification generation (<see cref="Pool.Modifications"/>, bumped under its lock by
/// every change) is read in the first section; a later section that finds it moved starts the pool's check again,
/// at most <see cref="RealtimeRestarts"/> times, after which the pool is "busy, not checked"
/// (<see cref="InvariantReport.NotChecked"/>): neither clean nor broken. A realtime pool has no caches
/// (<see cref="BuddyAllocator.CacheHighFor"/>), so no lock-free cache push or pop changes it between sections
/// either: a clean generation means the sections saw one state, and a Cached frame in it is a breach.
///
/// What is checked, with a clean generation: every page block of the pool (present and held counts, blocks
/// aligned, contiguous, merged, owner bytes, free-list nodes of frames that head no free block, the index links of
/// the page block), every free list (nodes, links, counts equal to the free heads seen, the non-empty mask),
/// every CPU's caches of the pool (none: high marks and counts 0), no Cached frame, and the counters (free frames
/// on the lists, present frames, page blocks, no lent page block).
/// </summary>
public static unsafe partial class InvariantChecker
{
    /// <summary>Times a realtime pool's check starts again when the pool changed under it before it is reported busy.</summary>
    public const int RealtimeRestarts = 3;

    /// <summary>Where a realtime pool's check is between sections.</summary>
    private struct RealtimeCursor
    {
        public int Phase; // 0 page blocks, 1 free lists, 2 caches, 3 counters, 4 done
        public ulong Pageblock;
        public ulong Carry; // a block larger than a page block covers the pool's page blocks up to here
        public int Slot;
        public ulong Node, Walked, Prev;
        public int Cpu;
        public ulong Present, Blocks, Free;
    }

    /// <summary>
    /// Checks realtime pool slot <paramref name="pool"/> in bounded sections (above). <paramref name="busy"/>: the pool
    /// changed under the check more than <see cref="RealtimeRestarts"/> times, or stopped being a live realtime pool
    /// meanwhile; the report is then Ok and means "not checked". Called with no lock held.
    /// </summary>
    internal static InvariantReport CheckRealtimePool(ref PhysicalMemory pm, int pool, out bool busy)
    {
        ref BuddyAllocator b = ref pm._buddy;
        busy = false;
        int stride = b._listStride;
        ulong* heads = stackalloc ulong[stride];
        ulong budget = pm.AdminSectionSteps;
        RealtimeCursor cur = default;
        uint generation = 0;
        int restarts = -1;
        while (true)
        {
            ulong table = pm._tableLock.Acquire();
            pm.LockPoolWithCaches(pool);
            InvariantReport report = default;
            ulong steps = 0;
            bool gone = b._pools[pool].Live == 0 || !pm.IsRealtime(pool);
            if (!gone && (restarts < 0 || b._pools[pool].Modifications != generation))
            {
                restarts++;
                generation = b._pools[pool].Modifications;
                cur = default;
                cur.Carry = ulong.MaxValue;
                for (int i = 0; i < stride; i++)
                    heads[i] = 0;
            }
            if (!gone && restarts <= RealtimeRestarts)
                report = RealtimeSection(ref pm, pool, ref cur, heads, budget, ref steps);
            pm.UnlockPoolWithCaches(pool, 0);
            pm._tableLock.Release(table);
            pm.NoteRealtimeHold(steps);
            if (gone || restarts > RealtimeRestarts)
            {
                busy = true;
                return default;
            }
            if (!report.IsOk || cur.Phase == 4)
                return report;
        }
    }

    /// <summary>One section of <see cref="CheckRealtimePool"/>: goes on from <paramref name="cur"/> until the next unit would take the section past <paramref name="budget"/> steps.</summary>
    private static InvariantReport RealtimeSection(ref PhysicalMemory pm, int pool, ref RealtimeCursor cur, ulong* heads, ulong budget, ref ulong steps)
    {
        ref BuddyAllocator b = ref pm._buddy;
        int pbo = b._pageblockOrder;
        ulong pbPages = 1UL << pbo;
        ulong covered = b._maxOrder > pbo ? 1UL << (b._maxOrder - pbo) : 1UL;
        while (cur.Phase == 0)
        {
            if (cur.Pageblock >= pm._pageblockCount)
            {
                cur.Phase = 1;
                break;
            }
            ulong pb = cur.Pageblock;
            PageblockInfo info = b._pageblocks[pb];
            if (info.Pool != pool || (cur.Carry != ulong.MaxValue && pb <= cur.Carry))
            {
                if (steps + 1 > budget)
                    return default;
                steps++;
                cur.Pageblock++;
                continue;
            }
            ulong start = pb << pbo;
            int headOrder = FrameState.OrderOf(b._frames[start]);
            ulong cost = 1 + (headOrder > pbo ? (1UL << headOrder) + covered : pbPages);
            if (steps + cost > budget && steps != 0)
                return default;
            steps += cost;
            InvariantReport r = RealtimePageblock(ref pm, pool, pb, ref cur, heads);
            if (!r.IsOk)
                return r;
            cur.Pageblock++;
        }
        ref Pool pl = ref b._pools[pool];
        while (cur.Phase == 1)
        {
            if (cur.Slot >= b._listStride)
            {
                if ((pl.ListedSlots >> b._listStride) != 0)
                    return InvariantReport.Broken(InvariantCode.ListedOrdersMask, 0, pool, b._listStride, 0, pl.ListedSlots >> b._listStride);
                cur.Phase = 2;
                break;
            }
            int slot = cur.Slot, order = b.OrderOfSlot(slot);
            FreeList* list = b.ListAt(pool, slot);
            ulong expected = heads[slot];
            if (cur.Walked == 0 && cur.Prev == 0)
            {
                cur.Node = list->Head;
                cur.Prev = FreeList.End;
            }
            while (cur.Node != FreeList.End)
            {
                if (steps + 1 > budget)
                    return default;
                steps++;
                ulong n = cur.Node;
                if (n >= b._spanPages || b._frames[n] != FrameState.Make(FrameKind.Free, order) || (int)b.PoolOfFrame(n) != pool ||
                    b.SlotOfBlock(n, order) != slot)
                    return InvariantReport.Broken(InvariantCode.FreeListBadNode, n < b._spanPages ? pm._basePfn + n : n, pool, order, 0, 0);
                FreeNode* node = b._nodes.Of(n);
                if (node->PrevIndex != cur.Prev)
                    return InvariantReport.Broken(InvariantCode.FreeListBadLink, pm._basePfn + n, pool, order, cur.Prev, node->PrevIndex);
                cur.Prev = n;
                if (++cur.Walked > expected)
                    return InvariantReport.Broken(InvariantCode.FreeListCount, pm._basePfn + n, pool, order, expected, cur.Walked);
                cur.Node = node->NextIndex;
            }
            if (cur.Walked != expected || list->Count != expected)
                return InvariantReport.Broken(InvariantCode.FreeListCount, 0, pool, order, expected, list->Count != expected ? list->Count : cur.Walked);
            ulong listedBit = (pl.ListedSlots >> slot) & 1;
            if (listedBit != (expected != 0 ? 1UL : 0UL))
                return InvariantReport.Broken(InvariantCode.ListedOrdersMask, 0, pool, slot, expected != 0 ? 1UL : 0UL, listedBit);
            cur.Free += expected << order;
            cur.Slot++;
            cur.Walked = 0;
            cur.Prev = 0;
        }
        while (cur.Phase == 2)
        {
            if (cur.Cpu >= b._cpus)
            {
                cur.Phase = 3;
                break;
            }
            ulong cost = 1;
            if (steps + cost > budget && steps != 0)
                return default;
            steps += cost;
            InvariantReport r = RealtimeCaches(ref pm, pool, cur.Cpu);
            if (!r.IsOk)
                return r;
            cur.Cpu++;
        }
        if (cur.Phase == 3)
        {
            steps++;
            if (pl.FreePages != cur.Free)
                return InvariantReport.Broken(InvariantCode.PoolCounters, 0, pool, 0, cur.Free, pl.FreePages);
            if (pl.PresentPages != cur.Present)
                return InvariantReport.Broken(InvariantCode.PoolCounters, 0, pool, 0, cur.Present, pl.PresentPages);
            if (pl.Pageblocks != cur.Blocks)
                return InvariantReport.Broken(InvariantCode.PoolCounters, 0, pool, 0, cur.Blocks, pl.Pageblocks);
            if (pl.BalloonedPages != 0)
                return InvariantReport.Broken(InvariantCode.BalloonCount, 0, pool, 0, 0, pl.BalloonedPages);
            cur.Phase = 4;
        }
        return default;
    }

    /// <summary>
    /// Page block <paramref name="pb"/> of realtime pool <paramref name="pool"/> and, when a block larger than a page
    /// block starts there, the page blocks under it: what steps 2, 7, 8 and 10 of the full checker check of them.
    /// </summary>
    private static InvariantReport RealtimePageblock(ref PhysicalMemory pm, int pool, ulong pb, ref RealtimeCursor cur, ulong* heads)
    {
        ref BuddyAllocator b = ref pm._buddy;
        int pbo = b._pageblockOrder;
        ulong pbPages = 1UL << pbo;
        PageblockInfo info = b._pageblocks[pb];
        ulong start = pb << pbo, end = start + pbPages;
        cur.Present += info.Present;
        cur.Blocks++;
        ulong seenPresent = 0, seenHeld = 0;
        bool large = false;
        ulong p = start;
        while (p < end)
        {
            byte s = b._frames[p];
            FrameKind kind = FrameState.KindOf(s);
            byte owner = b._owners[p];
            if (kind == FrameKind.Absent)
            {
                if (owner != FrameOwner.None)
                    return InvariantReport.Broken(InvariantCode.FrameOwnerBad, pm._basePfn + p, pool, 0, FrameOwner.None, owner);
                p++;
                continue;
            }
            if (kind == FrameKind.Tail)
                return InvariantReport.Broken(InvariantCode.OrphanTail, pm._basePfn + p, pool, 0, 0, 0);
            if (kind > FrameKind.Cached)
                return InvariantReport.Broken(InvariantCode.UnknownFrameKind, pm._basePfn + p, pool, 0, 0, (ulong)kind);
            if (kind == FrameKind.Isolated)
                return InvariantReport.Broken(InvariantCode.IsolatedLeft, pm._basePfn + p, pool, FrameState.OrderOf(s), 0, 0);
            int order = FrameState.OrderOf(s);
            if (kind == FrameKind.Cached) // parked in a cache, which a realtime pool does not have
                return InvariantReport.Broken(InvariantCode.CacheCount, pm._basePfn + p, pool, order, 0, 1);
            ulong size = 1UL << order;
            if (order > b._maxOrder || (p & (size - 1)) != 0)
                return InvariantReport.Broken(InvariantCode.BlockMisaligned, pm._basePfn + p, pool, order, 0, p & (size - 1));
            if (p + size > b._spanPages)
                return InvariantReport.Broken(InvariantCode.BlockNotContiguous, pm._basePfn + p, pool, order, b._spanPages, p + size);
            ulong notTail = FirstNotTail(b._frames, p + 1, p + size);
            if (notTail != p + size)
                return InvariantReport.Broken(InvariantCode.BlockNotContiguous, pm._basePfn + notTail, pool, order, FrameState.Tail, b._frames[notTail]);
            bool owned = kind == FrameKind.Allocated || kind == FrameKind.RunFirst;
            if (owned ? !FrameOwner.IsValid(FrameOwner.OwnerOf(owner)) : owner != FrameOwner.None)
                return InvariantReport.Broken(InvariantCode.FrameOwnerBad, pm._basePfn + p, pool, order, owned ? (ulong)FrameOwner.Count : FrameOwner.None, owner);
            if (owned && FrameOwner.IsAccountedForm(owner) != pm.IsContainer(FrameOwner.OwnerOf(owner)))
                return InvariantReport.Broken(InvariantCode.AccountedOwnerForm, pm._basePfn + p, pool, 0, (ulong)(owner ^ FrameOwner.Accounted), owner);
            for (ulong t = p + 1; t < p + size; t++)
                if (b._owners[t] != FrameOwner.None)
                    return InvariantReport.Broken(InvariantCode.FrameOwnerBad, pm._basePfn + t, pool, 0, FrameOwner.None, b._owners[t]);
            bool allocated = kind != FrameKind.Free;
            if (size > pbPages)
            {
                for (ulong q = pb; q < pb + (size >> pbo); q++)
                {
                    PageblockInfo other = b._pageblocks[q];
                    if (other.Pool != pool)
                        return InvariantReport.Broken(InvariantCode.BlockCrossesPools, pm._basePfn + p, pool, order, (ulong)pool, other.Pool);
                    if (other.Present != pbPages)
                        return InvariantReport.Broken(InvariantCode.PageblockPresentCount, pm._basePfn + (q << pbo), pool, order, pbPages, other.Present);
                    if (other.Held != (allocated ? pbPages : 0))
                        return InvariantReport.Broken(InvariantCode.PageblockHeldCount, pm._basePfn + (q << pbo), pool, order, allocated ? pbPages : 0, other.Held);
                    if (q != pb)
                    {
                        cur.Present += other.Present;
                        cur.Blocks++;
                    }
                }
                cur.Carry = pb + (size >> pbo) - 1;
                large = true;
            }
            else
            {
                seenPresent += size;
                if (allocated)
                    seenHeld += size;
            }
            if (!allocated)
            {
                heads[b.SlotOf(order, (int)info.Mobility)]++;
                if (order < b._maxOrder)
                {
                    ulong buddy = p ^ size;
                    if (buddy < b._spanPages && b._frames[buddy] == FrameState.Make(FrameKind.Free, order) && b._pageblocks[buddy >> pbo].Pool == pool)
                        return InvariantReport.Broken(InvariantCode.UnmergedBuddies, pm._basePfn + p, pool, order, 0, pm._basePfn + buddy);
                }
            }
            p += size;
        }
        if (!large)
        {
            if (seenPresent != info.Present)
                return InvariantReport.Broken(InvariantCode.PageblockPresentCount, pm._basePfn + start, pool, 0, info.Present, seenPresent);
            if (seenHeld != info.Held)
                return InvariantReport.Broken(InvariantCode.PageblockHeldCount, pm._basePfn + start, pool, 0, info.Held, seenHeld);
        }

        // Free-list nodes of frames that head no free block read None, None (step 8), over the page block(s).
        ulong last = large ? (cur.Carry + 1) << pbo : end;
        for (ulong i = start; i < last; i += 1UL << NodeTable.Shift)
        {
            byte first = b._frames[i], second = b._frames[i + 1];
            if ((first | second) == 0 || FrameState.KindOf(first) == FrameKind.Free || FrameState.KindOf(second) == FrameKind.Free)
                continue;
            FreeNode* node = b._nodes.Of(i);
            if (*(ulong*)node != ulong.MaxValue)
                return InvariantReport.Broken(InvariantCode.IdleNodeLinked, pm._basePfn + i, pool, 0, ulong.MaxValue, ((ulong)node->Next << 32) | node->Prev);
        }

        // The index links of each page block covered (step 10: the buckets themselves are the realtime pool's alone).
        ref PageblockIndex index = ref b._index;
        for (ulong q = pb; q <= (large ? cur.Carry : pb); q++)
        {
            ulong pfn = pm._basePfn + (q << pbo);
            PageblockInfo qi = b._pageblocks[q];
            if (qi.Mobility != b._cacheClasses[pool])
                return InvariantReport.Broken(InvariantCode.RealtimeClassMixed, pfn, pool, 0, (ulong)b._cacheClasses[pool], (ulong)qi.Mobility);
            int key = b.IndexKeyOf(q);
            uint prev = index.Prev(q), next = index.Next(q);
            if (key < 0)
            {
                if (next != PageblockIndex.None || prev != PageblockIndex.None)
                    return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pfn, pool, 0, ulong.MaxValue, next);
                continue;
            }
            if (prev == PageblockIndex.None)
            {
                uint head = *index.HeadOf(pool, (int)qi.Mobility, key);
                if (head != q)
                    return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pfn, pool, key, q, head);
            }
            else if (prev >= pm._pageblockCount || index.Next(prev) != q || b._pageblocks[prev].Pool != pool || b.IndexKeyOf(prev) != key)
                return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pfn, pool, key, q, prev);
            if (next != PageblockIndex.None && (next >= pm._pageblockCount || index.Prev(next) != q))
                return InvariantReport.Broken(InvariantCode.PageblockIndexBroken, pfn, pool, key, q, next);
        }
        return default;
    }

    /// <summary>
    /// CPU <paramref name="cpu"/>'s caches of realtime pool <paramref name="pool"/>, every order: none (high mark and
    /// count 0, <see cref="BuddyAllocator.CacheHighFor"/>).
    /// </summary>
    private static InvariantReport RealtimeCaches(ref PhysicalMemory pm, int pool, int cpu)
    {
        ref BuddyAllocator b = ref pm._buddy;
        for (int slot = -1; slot < FrameCache.BlockSlots; slot++)
        {
            int order = slot < 0 ? 0 : FrameCache.OrderOfSlot(slot);
            int high = b.CacheHighFor(pool, order);
            InvariantReport own = CheckCache(ref pm, pool, order, high, b.CacheFor(pool, cpu, order));
            if (!own.IsOk)
                return own;
        }
        return default;
    }
}
