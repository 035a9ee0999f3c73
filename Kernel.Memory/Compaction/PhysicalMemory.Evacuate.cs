namespace PoolKernel.Memory;

/// <summary>
/// One compaction pass over a pool: page blocks of the movable and reclaimable classes are emptied,
/// cheapest first (the cheapest-block index, <see cref="PageblockIndex"/>), by moving each allocated
/// block through its owner's <see cref="FrameMover"/> into a page block of the same class at least as
/// full as the one being emptied (so frames only ever move towards fuller page blocks, and the pass
/// ends: each move raises the sum of the squares of the held counts). A page block holding any block
/// that cannot move (no mover, declined, part of a run, or in an unmovable page block) is passed over
/// before anything of it moves. A pass holds the pool's locks one page block at a time (<see cref="CompactPool"/>).
/// docs/antifrag.md.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>How emptying one page block ended.</summary>
    private enum Evacuation : byte
    {
        Emptied,
        NoTarget,
        Declined,
    }

    /// <summary>
    /// Where targets are being taken from: a page block and the first frame of it that may still head a
    /// free block; and the last search that found none (order and least held count asked for): the pass
    /// only takes free blocks from targets, so a request of at least that order needing at least that
    /// fullness would find none either and is answered without a search. Kept across sections: blocks other
    /// CPUs free between sections are then not used by this pass (the next one finds them), and a cursor page
    /// block is checked again before use (<see cref="TargetFits"/>: its pool, class and fullness may have changed).
    /// </summary>
    private struct TargetCursor
    {
        public ulong Pageblock;
        public ulong Scan;
        public int FailedOrder;
        public uint FailedMinHeld;
    }

    /// <summary>What one section of a pass (<see cref="CompactSection"/>) found.</summary>
    private enum Section : byte
    {
        /// <summary>A candidate was looked at (emptied or passed over): the walk goes on in the same bucket.</summary>
        Next,
        /// <summary>The bucket has no page block at the walk's position: the walk goes on with the next bucket.</summary>
        BucketDone,
        /// <summary>The pool lists a free block of the order asked for: the pass ends.</summary>
        Satisfied,
    }

    /// <summary>
    /// The pass (see the type), with the table lock held (the pool stays live and keeps its properties) and no
    /// lock of the pool: it takes the pool's locks with its caches' (<see cref="LockPoolWithCaches"/>) for one
    /// section at a time, so the pool's other users wait for one page block at most, never for the pass. The first
    /// section drains the pool's caches and looks whether the order is already there; each of the others takes
    /// the next candidate afresh from the index (<see cref="CompactSection"/>): what other CPUs allocated and freed
    /// between sections is seen, a candidate that changed is judged as it is now. Until the pool lists a free
    /// block of <paramref name="order"/> (never, for an order above the max), every whole page block of the
    /// movable, then the reclaimable, then the unmovable class, lowest bucket first. Adds what it did to
    /// <paramref name="result"/>.
    /// </summary>
    private void CompactPool(int pool, int order, ref CompactionResult result)
    {
        // A realtime pool is never compacted (its page blocks are of one class, and nothing may stall it).
        if (IsRealtime(pool))
        {
            result.Stop = CompactionStop.NoCandidates;
            return;
        }
        ulong state = LockPoolWithCaches(pool);
        _buddy.Drain(pool);
        bool satisfied = Satisfied(pool, order);
        // Termination whatever other CPUs do between sections: a class's walk looks at no more candidates than
        // the pool could file in every bucket (alone, a walk meets a page block at most once a bucket).
        ulong budget = _buddy._pools[pool].Pageblocks * (ulong)_buddy._index._buckets;
        UnlockPoolWithCaches(pool, state);
        StepTaken();
        if (satisfied)
        {
            result.Stop = CompactionStop.Satisfied;
            return;
        }
        result.Stop = CompactionStop.NoCandidates;
        bool noTarget = false;
        for (int i = 0; i < SourceClasses; i++)
        {
            int c = SourceClass(i);
            TargetCursor cursor;
            cursor.Pageblock = FreeList.End;
            cursor.Scan = 0;
            cursor.FailedOrder = int.MaxValue;
            cursor.FailedMinHeld = 0;
            ulong looked = 0;
            for (int bucket = 0; bucket < _buddy._index._buckets && looked < budget; bucket++)
            {
                // Position in the bucket: an emptied page block leaves it (the next one takes its
                // place), a passed-over one stays (the position moves on).
                ulong position = 0;
                for (; looked < budget; looked++)
                {
                    state = LockPoolWithCaches(pool);
                    Section found = CompactSection(pool, c, bucket, order, ref position, ref cursor, ref noTarget, ref result);
                    UnlockPoolWithCaches(pool, state);
                    StepTaken();
                    Breathe(pool);
                    if (found == Section.Satisfied)
                    {
                        result.Stop = CompactionStop.Satisfied;
                        return;
                    }
                    if (found == Section.BucketDone)
                        break;
                }
            }
        }
        if (noTarget && result.Stop == CompactionStop.NoCandidates)
            result.Stop = CompactionStop.NoTarget;
    }

    /// <summary>
    /// Reads of the pool's locks a pass makes between two sections while no other CPU takes one
    /// (<see cref="Breathe"/>). A CPU spinning for one of them sees it free within a few reads; without this wait the
    /// pass, which takes them again at once, wins nearly every time (the locks are not fair), and a CPU allocating
    /// from the pool got in about once a pass (docs/antifrag.md, "Compaction while the other CPUs stress"). The cost
    /// with nobody waiting: this many reads a candidate page block, in an instance of several CPUs only.
    /// </summary>
    private const int BreathReads = 64;

    /// <summary>
    /// Between two sections, with several CPUs: waits until another CPU holds one of the pool's locks (it was
    /// waiting: the next section waits for it in turn) or <see cref="BreathReads"/> reads found none held.
    /// </summary>
    private void Breathe(int pool)
    {
        if (_maxCpus == 1)
            return;
        for (int i = 0; i < BreathReads; i++)
        {
            if (PoolOrCacheLockHeld(pool))
                return;
        }
    }

    /// <summary>
    /// One section of <see cref="CompactPool"/>, under the pool's lock and its caches' (nothing of the pool changes
    /// meanwhile): the page block at <paramref name="position"/> of class <paramref name="cls"/>'s bucket, as it is
    /// now, emptied if it is whole and every block in it may move (<see cref="Evacuable"/>, asked now: a block
    /// allocated or pinned since the last section keeps the page block), else passed over (the position moves
    /// on). A page block emptied part-way (no target, a declined move) keeps what it still holds, and what moved
    /// stays moved, towards fuller page blocks.
    /// </summary>
    private Section CompactSection(int pool, int cls, int bucket, int order, ref ulong position, ref TargetCursor cursor,
        ref bool noTarget, ref CompactionResult result)
    {
        ulong pb = NthFiled(pool, cls, bucket, position);
        if (pb == FreeList.End)
            return Section.BucketDone;
        result.PageblocksScanned++;
        if (_buddy._pageblocks[pb].Present != PageblockPages || !Evacuable(pb))
        {
            position++;
            return Section.Next;
        }
        Evacuation outcome = Evacuate(pool, pb, ref cursor, ref result);
        if (outcome != Evacuation.Emptied)
        {
            // Passed over: a later candidate may hold only blocks small enough for the holes that are left.
            if (outcome == Evacuation.NoTarget)
                noTarget = true;
            else
                result.Stop = CompactionStop.MoverDeclined;
            position++;
            return Section.Next;
        }
        result.PageblocksFreed++;
        return Satisfied(pool, order) ? Section.Satisfied : Section.Next;
    }

    /// <summary>Classes whose page blocks a pass empties: movable, reclaimable, then unmovable (<see cref="SourceClass"/>).</summary>
    private const int SourceClasses = 3;

    /// <summary>
    /// The <paramref name="i"/>-th class a pass takes page blocks from: movable and reclaimable page blocks
    /// first; then the unmovable ones, of which only those whose every block has a mover qualify
    /// (<see cref="Evacuable"/>: their unmovable frames were freed, the movable ones compaction put
    /// into their holes remain).
    /// </summary>
    private static int SourceClass(int i)
    {
        return i == 0 ? (int)MobilityClass.Movable : i == 1 ? (int)MobilityClass.Reclaimable : (int)MobilityClass.Unmovable;
    }

    /// <summary>True when the pool lists a free block of <paramref name="order"/> or more (false for an order above the max).</summary>
    private bool Satisfied(int pool, int order)
    {
        return order <= _buddy._maxOrder && _buddy.HasListedAtLeast(pool, order);
    }

    /// <summary>The page block at <paramref name="position"/> of an index bucket, or End.</summary>
    private ulong NthFiled(int pool, int cls, int bucket, ulong position)
    {
        uint pb = *_buddy._index.HeadOf(pool, cls, bucket);
        for (ulong i = 0; i < position && pb != PageblockIndex.None; i++)
            pb = _buddy._index.Next(pb);
        return pb == PageblockIndex.None ? FreeList.End : pb;
    }

    /// <summary>
    /// True when every allocated block of page block <paramref name="pb"/> may move: a plain allocated
    /// block (never a piece of a run, never a cached or isolated frame) whose owner registered a mover
    /// that allows it. Changes nothing.
    /// </summary>
    private bool Evacuable(ulong pb)
    {
        int pbo = _buddy._pageblockOrder;
        ulong start = pb << pbo, end = start + PageblockPages;
        for (ulong p = start; p < end; )
        {
            byte s = _buddy._frames[p];
            FrameKind kind = FrameState.KindOf(s);
            int order = FrameState.OrderOf(s);
            if (kind == FrameKind.Absent || kind == FrameKind.Tail)
            {
                p++;
                continue;
            }
            if (kind == FrameKind.Allocated)
            {
                byte owner = FrameOwner.OwnerOf(_buddy._owners[p]); // a container's block: its owner's mover
                if (!FrameOwner.IsValid(owner) || !_movers[owner].IsRegistered ||
                    !_movers[owner].CanMove(_movers[owner].Context, new Pfn(_basePfn + p), order))
                    return false;
            }
            else if (kind != FrameKind.Free)
                return false;
            p += 1UL << (order < pbo ? order : pbo);
        }
        return true;
    }

    /// <summary>
    /// Moves every allocated block out of page block <paramref name="pb"/> (checked
    /// <see cref="Evacuable"/>), in address order. Each move: a target block of the same order is
    /// taken from a page block of the same class at least as full as this one was
    /// (<see cref="TakeTarget"/>), marked allocated to the same owner, the owner's mover copies and
    /// remaps, and the source is freed. A move the mover declines gives the target back and ends the
    /// page block (what moved stays moved); so does a missing target.
    /// </summary>
    private Evacuation Evacuate(int pool, ulong pb, ref TargetCursor cursor, ref CompactionResult result)
    {
        ref BuddyAllocator b = ref _buddy;
        int pbo = b._pageblockOrder;
        int cls = (int)b._pageblocks[pb].Mobility;
        uint minHeld = b._pageblocks[pb].Held;
        ulong start = pb << pbo, end = start + PageblockPages;
        for (ulong p = start; p < end; )
        {
            if (!b.AllocatedHeadAt(p, out int order, out ulong step))
            {
                p += step;
                continue;
            }
            byte owner = b._owners[p]; // recorded as it is: a container's target in the accounted form too
            ulong pages = 1UL << order;
            ulong target = TakeTarget(pool, cls, order, pb, minHeld, ref cursor);
            if (target == FreeList.End)
                return Evacuation.NoTarget;
            b._frames[target] = FrameState.Make(FrameKind.Allocated, order);
            b._owners[target] = owner;
            b.AddHeld(target, pages, 1);
            FrameMover mover = _movers[FrameOwner.OwnerOf(owner)];
            if (!mover.Move(mover.Context, new Pfn(_basePfn + p), new Pfn(_basePfn + target), order))
            {
                b._owners[target] = FrameOwner.None;
                b.AddHeld(target, pages, -1);
                b.FreeMerging(pool, target, order);
                return Evacuation.Declined;
            }
            b._owners[p] = FrameOwner.None;
            b.AddHeld(p, pages, -1);
            b.FreeMerging(pool, p, order);
            result.BlocksMoved++;
            result.PagesMoved += pages;
            p += pages;
        }
        return Evacuation.Emptied;
    }

    /// <summary>
    /// A free block of exactly <paramref name="order"/>, carved from a free block of a page block of
    /// class <paramref name="cls"/> in <paramref name="pool"/> other than <paramref name="exclude"/>
    /// holding at least <paramref name="minHeld"/> frames (the rest of the carved block is listed again,
    /// as a run's tail is); End when there is none. Its head byte is the caller's to set. The cursor's page
    /// block is used while it has room; otherwise the index is searched fullest bucket first.
    /// </summary>
    private ulong TakeTarget(int pool, int cls, int order, ulong exclude, uint minHeld, ref TargetCursor cursor)
    {
        ref BuddyAllocator b = ref _buddy;
        if (cursor.Pageblock != FreeList.End && !TargetFits(pool, cls, cursor.Pageblock, exclude, minHeld))
            cursor.Pageblock = FreeList.End;
        ulong head = cursor.Pageblock != FreeList.End ? FreeHeadIn(cursor.Pageblock, order, ref cursor.Scan) : FreeList.End;
        if (head == FreeList.End)
        {
            cursor.Pageblock = FreeList.End;
            if (order >= cursor.FailedOrder && minHeld >= cursor.FailedMinHeld)
                return FreeList.End;
            // The holes of unmovable page blocks first: a pass never empties one that holds an
            // unmovable frame, so its free frames serve no large request anyway; then the class's own
            // (for an unmovable page block left with only movable frames: the movable class's).
            head = SearchTarget(pool, (int)MobilityClass.Unmovable, order, exclude, minHeld, ref cursor);
            if (head == FreeList.End)
                head = SearchTarget(pool, cls == (int)MobilityClass.Unmovable ? (int)MobilityClass.Movable : cls, order, exclude, minHeld, ref cursor);
            if (head == FreeList.End)
            {
                cursor.FailedOrder = order;
                cursor.FailedMinHeld = minHeld;
                return FreeList.End;
            }
        }
        int headOrder = FrameState.OrderOf(b._frames[head]);
        b.Unlink(pool, head, headOrder);
        b._frames[head] = FrameState.Tail;
        // The pieces given back each have their buddy inside the taken block: no merge possible.
        b.LinkPieces(pool, head + (1UL << order), head + (1UL << headOrder));
        return head;
    }

    /// <summary>
    /// The first free head of <paramref name="order"/> or more in a page block of class <paramref name="tcls"/>
    /// that may take moved blocks (<see cref="TargetFits"/>), fullest bucket first; the cursor is set to it.
    /// End when there is none.
    /// </summary>
    private ulong SearchTarget(int pool, int tcls, int order, ulong exclude, uint minHeld, ref TargetCursor cursor)
    {
        ref BuddyAllocator b = ref _buddy;
        for (int bucket = b._index._buckets - 1; bucket >= 0; bucket--)
        {
            if (((b._index.Mask(pool, tcls) >> bucket) & 1) == 0)
                continue;
            for (uint pb = *b._index.HeadOf(pool, tcls, bucket); pb != PageblockIndex.None; pb = b._index.Next(pb))
            {
                if (!TargetFits(pool, tcls, pb, exclude, minHeld))
                    continue;
                ulong scan = (ulong)pb << b._pageblockOrder;
                ulong head = FreeHeadIn(pb, order, ref scan);
                if (head != FreeList.End)
                {
                    cursor.Pageblock = pb;
                    cursor.Scan = scan;
                    return head;
                }
            }
        }
        return FreeList.End;
    }

    /// <summary>
    /// Page block <paramref name="pb"/> may take blocks moved out of a page block of class <paramref name="cls"/>:
    /// same pool, of that class or unmovable, or movable when the source is unmovable (see <see cref="TakeTarget"/>),
    /// not the one being emptied, at least as full.
    /// </summary>
    private bool TargetFits(int pool, int cls, ulong pb, ulong exclude, uint minHeld)
    {
        PageblockInfo info = _buddy._pageblocks[pb];
        bool classFits = (int)info.Mobility == cls || info.Mobility == MobilityClass.Unmovable
            || (cls == (int)MobilityClass.Unmovable && info.Mobility == MobilityClass.Movable);
        return pb != exclude && info.Pool == pool && classFits && info.Held >= minHeld;
    }

    /// <summary>
    /// The first free head of order <paramref name="order"/> or more (and below the page-block order)
    /// in page block <paramref name="pb"/> from <paramref name="scan"/> on; End when none. Moves
    /// <paramref name="scan"/> past frames that head no free block (a target page block only loses free
    /// blocks during a pass, so they are never worth reading again).
    /// </summary>
    private ulong FreeHeadIn(ulong pb, int order, ref ulong scan)
    {
        int pbo = _buddy._pageblockOrder;
        ulong end = (pb + 1) << pbo;
        if (scan < pb << pbo || scan >= end)
            scan = pb << pbo;
        bool leading = true;
        for (ulong p = scan; p < end; )
        {
            byte s = _buddy._frames[p];
            FrameKind kind = FrameState.KindOf(s);
            int o = FrameState.OrderOf(s);
            ulong step = kind == FrameKind.Absent || kind == FrameKind.Tail ? 1UL : 1UL << (o < pbo ? o : pbo);
            if (kind == FrameKind.Free)
            {
                leading = false;
                if (o >= order && o < pbo)
                    return p;
            }
            else if (leading)
                scan = p + step;
            p += step;
        }
        return FreeList.End;
    }
}
