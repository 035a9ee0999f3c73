using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The buddy allocators of all pools, sharing one frame-state array and one page-block table.
/// Frames are addressed by index relative to the span base, which is aligned to the larger of
/// the largest block and the page block, so the buddy of index i at order k is i ^ 2^k.
/// Buddies merge only when both are free heads of the same order in the same pool; below the
/// page-block order they share a page block and so a pool, above it the page blocks are compared.
/// Contract for every method: the caller holds the locks of what it touches (the pool's lock for its
/// lists and counters, a cache's lock for that cache: PhysicalMemory.Locks.cs), and the arguments were
/// validated (these are internal steps, not entry points).
/// </summary>
public unsafe partial struct BuddyAllocator
{
    /// <summary>One byte per frame of the span (<see cref="FrameState"/>).</summary>
    internal byte* _frames;
    /// <summary>One byte per frame of the span (<see cref="FrameOwner"/>): the owner of an allocated head, else None.</summary>
    internal byte* _owners;
    internal PageblockInfo* _pageblocks;
    /// <summary>Pool p's list of slot s is _lists[p * _listStride + s] (<see cref="SlotOf"/>: by order and mobility class).</summary>
    internal FreeList* _lists;
    internal Pool* _pools;
    /// <summary>Order-0 frame caches, one a (pool slot, CPU): pool p's cache of CPU c is _caches[p * _cpus + c] (<see cref="CacheOf(int, int)"/>).</summary>
    internal FrameCache* _caches;
    /// <summary>
    /// Block caches of orders 1, 2, 3 and 9, four a (pool slot, CPU): pool p's cache of CPU c in slot s
    /// (<see cref="FrameCache.SlotOfOrder"/>) is the <see cref="FrameCache.BlockBytes"/> at index (p * _cpus + c) * 4 + s
    /// (<see cref="BlockCacheOf"/>). Guarded, with the order-0 cache of the same (pool, CPU), by that pair's lock in
    /// <see cref="_cacheLocks"/>.
    /// </summary>
    internal byte* _blockCaches;
    /// <summary>
    /// One lock a (pool slot, CPU), laid out as <see cref="_caches"/>, each on a cache line of its own with the
    /// cache's active and frozen words (<see cref="CacheLock"/>). Lock (p, c) guards cache (p, c) against everyone but
    /// CPU c's lock-free sections: CPU c pops and pushes its own cache without it (lock-free mode) or under it (several
    /// CPUs without a process-wide barrier), and takes it for refill and drain with the pool's lock; another CPU
    /// takes it, freezes the cache and waits CPU c out before touching the cache (PhysicalMemory.Locks.cs). Order:
    /// every cache lock of every pool before any pool lock.
    /// </summary>
    internal CacheLock* _cacheLocks;
    /// <summary>CPUs the caches are kept for (<see cref="MemoryConfig.MaxCpus"/>).</summary>
    internal int _cpus;
    /// <summary>The free-list links, a node for every pair of frames (<see cref="NodeTable"/>).</summary>
    internal NodeTable _nodes;
    internal ulong _spanPages;
    internal int _maxOrder;
    internal int _pageblockOrder;
    internal int _listStride;
    /// <summary>The fail-fast hook of the contract checks (<see cref="Contract"/>); unused where they are not compiled.</summary>
    internal delegate*<ContractBreach, void> _onBrokenContract;
    /// <summary>Where <see cref="FindFit"/> counts the list nodes it visits (<see cref="MemoryConfig.FitVisits"/>); null: not counted.</summary>
    internal ulong* _fitVisits;
    /// <summary>Where allocation counts the pools it tries (<see cref="MemoryConfig.PoolProbes"/>); null: not counted.</summary>
    internal ulong* _poolProbes;
    /// <summary>Page blocks with free frames on class lists, by pool, class and held count (<see cref="PageblockIndex"/>).</summary>
    internal PageblockIndex _index;
    /// <summary>Per pool slot: the one mobility class its frame cache serves (<see cref="CacheClassFor"/>).</summary>
    internal MobilityClass* _cacheClasses;
    /// <summary>
    /// One bit a page block (<see cref="LeftCacheClass"/>): set when a steal steered it away from its pool's cache class
    /// in an instance of several CPUs (<see cref="Restyle"/>), where other CPUs' caches may keep frames of it; cleared
    /// when it is steered back to the cache class, claimed or moved wholly free, or its pool's caches are all drained
    /// (then no cache holds a frame of it).
    /// </summary>
    internal ulong* _leftCacheClass;
    /// <summary><see cref="MemoryConfig.OneMobilityClass"/>: <see cref="TakeFirst"/> serves every class as the pool's cache class.</summary>
    internal bool _oneClass;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int PoolOfFrame(ulong index) { return _pageblocks[index >> _pageblockOrder].Pool; }

    /// <summary>Links the free block (index, order) into its pool's list, without merging.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Link(int pool, ulong index, int order)
    {
        CheckBlock(pool, index, order);
        int slot = SlotOfBlock(index, order);
        _frames[index] = FrameState.Make(FrameKind.Free, order);
        ListAt(pool, slot)->Push(_nodes, index);
        _pools[pool].FreePages += 1UL << order;
        _pools[pool].ListedSlots |= 1UL << slot;
    }

    /// <summary>Unlinks a free block from its pool's list; its head byte is the caller's to rewrite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Unlink(int pool, ulong index, int order)
    {
        CheckBlock(pool, index, order);
        CheckListedHead(pool, index, order);
        int slot = SlotOfBlock(index, order);
        FreeList* list = ListAt(pool, slot);
        list->Remove(_nodes, index);
        _pools[pool].FreePages -= 1UL << order;
        if (list->Head == FreeList.End)
            _pools[pool].ListedSlots &= ~(1UL << slot);
    }

    /// <summary>
    /// Frees the block (index, order) of <paramref name="pool"/>, merging with free buddies of the
    /// same pool as far as <see cref="_maxOrder"/>. The block's frames must be in no list and its
    /// tails must read Tail. Below the page-block order the buddies share a page block and so a class's
    /// lists; from it up the lists are shared (<see cref="SlotOf"/>). Returns the merges made (the realtime
    /// path counts them as steps, Kernel.Memory/Realtime). A block of at least the page-block order takes
    /// <see cref="FreeMergingWhole"/>, any other <see cref="FreeMergingBelow"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int FreeMerging(int pool, ulong index, int order)
    {
        // Dispatched at the call site: a test inside one function paid its whole prologue first (about 20 instructions
        // of the bulk order-9 free, ilc).
        return order >= _pageblockOrder ? FreeMergingWhole(pool, index, order) : FreeMergingBelow(pool, index, order);
    }

    /// <summary><see cref="FreeMerging"/> of a block below the page-block order, merged as far as its buddies allow (through the page-block order and up).</summary>
    private int FreeMergingBelow(int pool, ulong index, int order)
    {
        int from = order;
        // Everything the loop reads is loaded once into locals: stores through the byte pointers
        // could alias this struct, so the compilers would reload each field after every store.
        byte* frames = _frames;
        ulong span = _spanPages;
        int max = _maxOrder;
        int pbo = _pageblockOrder;
        FreeList* lists = ListAt(pool, 0);
        FreeList* classLists = lists + (int)_pageblocks[index >> pbo].Mobility * pbo;
        FreeList* sharedLists = lists + 2 * pbo;
        NodeTable nodes = _nodes;
        ulong freed = 0;
        ulong emptied = 0;
        while (order < max)
        {
            ulong buddy = index ^ (1UL << order);
            if (buddy >= span)
                break;
            // From the page-block order up the buddy is whole page blocks, free only if the first of them holds no
            // frame: that dense 8-byte entry answers most of these tests without the buddy's frame byte, a cold
            // line of its own for every 2 MiB (the bulk order-9 free, docs/memory-bench.md).
            if (order >= pbo && (_pageblocks[buddy >> pbo].Held != 0 || _pageblocks[buddy >> pbo].Pool != pool))
                break;
            if (frames[buddy] != FrameState.Make(FrameKind.Free, order))
                break;
            CheckBlock(pool, buddy, order);
            CheckListedHead(pool, buddy, order);
            FreeList* list = (order < pbo ? classLists : sharedLists) + order;
            list->Remove(nodes, buddy);
            freed += 1UL << order;
            if (list->Head == FreeList.End)
                emptied |= 1UL << (int)(list - lists);
            frames[buddy] = FrameState.Tail;
            frames[index] = FrameState.Tail;
            index &= buddy;
            order++;
        }
        CheckBlock(pool, index, order);
        frames[index] = FrameState.Make(FrameKind.Free, order);
        FreeList* into = (order < pbo ? classLists : sharedLists) + order;
        into->Push(nodes, index);
        ref Pool p = ref _pools[pool];
        p.FreePages = p.FreePages - freed + (1UL << order);
        p.ListedSlots = (p.ListedSlots & ~emptied) | (1UL << (int)(into - lists));
        return order - from;
    }

    /// <summary>
    /// <see cref="FreeMerging"/> of a block of at least the page-block order: whole page blocks, whose buddies are
    /// whole page blocks too and whose lists are the shared ones (slot 2 * PageblockOrder + order), so no class
    /// list, no page-block class and no slot arithmetic beyond one shift: the general loop's set-up of lists it
    /// never uses here cost the bulk order-9 free 27 of its 163 instructions (issue 12, callgrind of the ilc
    /// harness, docs/memory-bench.md). Same contract and result as <see cref="FreeMerging"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int FreeMergingWhole(int pool, ulong index, int order) { return FreeMergingWholeInline(pool, index, order); }

    /// <summary>
    /// <see cref="FreeMergingWhole"/>'s body, inlined into the one-CPU whole-block free (PhysicalMemory.Whole.cs), which
    /// then shares one prologue and one load of the fields with it (a call cost that free about 25 of its instructions).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int FreeMergingWholeInline(int pool, ulong index, int order)
    {
        int from = order;
        // Fields in locals, as in FreeMerging: the byte stores below could alias them.
        byte* frames = _frames;
        PageblockInfo* pageblocks = _pageblocks;
        ulong span = _spanPages;
        int max = _maxOrder;
        int pbo = _pageblockOrder;
        int shared = 2 * pbo;
        FreeList* lists = ListAt(pool, shared);
        NodeTable nodes = _nodes;
        ulong freed = 0;
        ulong emptied = 0;
        while (order < max)
        {
            ulong buddy = index ^ (1UL << order);
            if (buddy >= span)
                break;
            // The buddy's first page block holds no frame and is of this pool before its frame byte is read (as FreeMergingBelow does).
            PageblockInfo* first = pageblocks + (buddy >> pbo);
            if (first->Held != 0 || first->Pool != pool || frames[buddy] != FrameState.Make(FrameKind.Free, order))
                break;
            CheckBlock(pool, buddy, order);
            CheckListedHead(pool, buddy, order);
            FreeList* list = lists + order;
            list->Remove(nodes, buddy);
            freed += 1UL << order;
            if (list->Head == FreeList.End)
                emptied |= 1UL << order;
            frames[buddy] = FrameState.Tail;
            frames[index] = FrameState.Tail;
            index &= buddy;
            order++;
        }
        CheckBlock(pool, index, order);
        frames[index] = FrameState.Make(FrameKind.Free, order);
        lists[order].Push(nodes, index);
        ref Pool p = ref _pools[pool];
        p.FreePages = p.FreePages - freed + (1UL << order);
        p.ListedSlots = (p.ListedSlots & ~(emptied << shared)) | (1UL << (shared + order));
        return order - from;
    }

    /// <summary>
    /// Takes the first block of at least <paramref name="order"/> that class <paramref name="cls"/>
    /// allocates from and splits it down, returning the upper halves to the lists. Returns the
    /// block's index (its head byte is the caller's to set) or <see cref="FreeList.End"/> when the
    /// pool has no free block of that order at all. The first non-empty list is found with one count
    /// of trailing zeros in the class's view of <see cref="Pool.ListedSlots"/> (its own lists, then
    /// the shared lists of whole free page blocks, smallest first), not by reading the list heads in
    /// turn. A whole page block split below the page-block order is claimed: steered to the class
    /// before its pieces are listed. When neither has a block, one of another class's page blocks is
    /// stolen (<see cref="TakeStolen"/>). With grouping off (<see cref="_oneClass"/>) the pool's cache class
    /// stands for <paramref name="cls"/>. A block of at least the page-block order, which every class takes from
    /// the shared lists, takes <see cref="TakeFirstWhole"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong TakeFirst(int pool, int order, int cls)
    {
        if (order >= _pageblockOrder)
            return TakeFirstWhole(pool, order);
        if (_oneClass)
            cls = (int)_cacheClasses[pool];
        ref Pool p = ref _pools[pool];
        int pbo = _pageblockOrder;
        ulong listed = ClassViewFrom(p.ListedSlots, cls, order);
        if (listed == 0)
            return order < pbo ? TakeStolen(pool, order, cls) : FreeList.End;
        // Fields in locals, as in FreeMerging: the byte stores below could alias them.
        int o = order + System.Numerics.BitOperations.TrailingZeroCount(listed);
        byte* frames = _frames;
        FreeList* lists = ListAt(pool, 0);
        FreeList* classLists = lists + cls * pbo;
        FreeList* sharedLists = lists + 2 * pbo;
        NodeTable nodes = _nodes;
        FreeList* from = (o < pbo ? classLists : sharedLists) + o;
        ulong index = from->Head;
        CheckListedHead(pool, index, o);
        from->PopHead(nodes, index);
        ulong mask = p.ListedSlots;
        if (from->Head == FreeList.End)
            mask &= ~(1UL << (int)(from - lists));
        if (o >= pbo && order < pbo)
        {
            _pageblocks[index >> pbo].Mobility = (MobilityClass)cls; // claimed whole: free, so in no index bucket
            ForgetLeftCacheClass(index >> pbo); // and in no cache
        }
        while (o > order)
        {
            o--;
            ulong half = index + (1UL << o);
            CheckBlock(pool, half, o);
            frames[half] = FrameState.Make(FrameKind.Free, o);
            FreeList* into = (o < pbo ? classLists : sharedLists) + o;
            into->Push(nodes, half);
            mask |= 1UL << (int)(into - lists);
        }
        p.FreePages -= 1UL << order;
        p.ListedSlots = mask;
        return index;
    }

    /// <summary>
    /// <see cref="TakeFirst"/> for a block of at least the page-block order: every class takes such blocks from the
    /// shared lists (slots 2 * PageblockOrder + order and up, the highest of the pool), whole free page blocks in no
    /// class's index bucket, so there is no class view, no claim and no steal; the halves split off go back to the
    /// shared lists. Same contract and result as <see cref="TakeFirst"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong TakeFirstWhole(int pool, int order)
    {
        ref Pool p = ref _pools[pool];
        int shared = 2 * _pageblockOrder;
        ulong mask = p.ListedSlots;
        ulong listed = mask >> (shared + order);
        if (listed == 0)
            return FreeList.End;
        // Fields in locals, as in FreeMerging: the byte stores below could alias them.
        int o = order + System.Numerics.BitOperations.TrailingZeroCount(listed);
        byte* frames = _frames;
        FreeList* lists = ListAt(pool, shared);
        NodeTable nodes = _nodes;
        FreeList* from = lists + o;
        ulong index = from->Head;
        CheckListedHead(pool, index, o);
        from->PopHead(nodes, index);
        if (from->Head == FreeList.End)
            mask &= ~(1UL << (shared + o));
        while (o > order)
        {
            o--;
            ulong half = index + (1UL << o);
            CheckBlock(pool, half, o);
            frames[half] = FrameState.Make(FrameKind.Free, o);
            lists[o].Push(nodes, half);
            mask |= 1UL << (shared + o);
        }
        p.FreePages -= 1UL << order;
        p.ListedSlots = mask;
        return index;
    }

    /// <summary>
    /// Finds, in the pool's lists of order &gt;= <paramref name="order"/>, a block that contains an
    /// aligned sub-block of that order obeying <paramref name="rules"/>; returns the sub-block's
    /// index or End. The lists of order &gt;= the rules' alignment (capped at the max order) are
    /// walked first, smallest first: every block there is aligned (the span base is aligned to the
    /// largest block), so when the rules' window covers the pool the first listed block fits and
    /// the search is O(MaxOrder). Only when none of them fits are the smaller lists walked, where a
    /// block fits only if it happens to start aligned. Walking those first made an aligned fill
    /// quadratic: each carve leaves a small unaligned piece of every order below the alignment,
    /// and every later search walked them all again (issue 12). Cost otherwise: the length of the
    /// lists it walks (slow path only); each node visited counts in <see cref="MemoryConfig.FitVisits"/>.
    /// </summary>
    /// Class <paramref name="cls"/>'s lists (and the shared ones) are searched first, then the other
    /// classes' (a ruled request takes a fitting block where there is one rather than fail).
    internal ulong FindFit(int pool, int order, in DmaRules rules, ulong basePfn, int cls)
    {
        ulong index = FindFitFor(pool, order, rules, basePfn, cls);
        // The other classes' own lists only: the shared lists above were walked already.
        for (int c = 0; c < ClassCount && index == FreeList.End && order < _pageblockOrder; c++)
            if (c != cls)
                index = FindFitIn(pool, order, order, _pageblockOrder - 1, rules, basePfn, c);
        return index;
    }

    /// <summary><see cref="FindFit"/> in the lists class <paramref name="cls"/> allocates from.</summary>
    private ulong FindFitFor(int pool, int order, in DmaRules rules, ulong basePfn, int cls)
    {
        int alignOrder = System.Numerics.BitOperations.Log2(rules.AlignPages);
        int aligned = alignOrder < order ? order : alignOrder < _maxOrder ? alignOrder : _maxOrder;
        ulong index = FindFitIn(pool, order, aligned, _maxOrder, rules, basePfn, cls);
        return index != FreeList.End || aligned == order ? index : FindFitIn(pool, order, order, aligned - 1, rules, basePfn, cls);
    }

    /// <summary><see cref="FindFit"/> over the lists of orders <paramref name="from"/>..<paramref name="to"/>, each walked from its head.</summary>
    private ulong FindFitIn(int pool, int order, int from, int to, in DmaRules rules, ulong basePfn, int cls)
    {
        ulong pages = 1UL << order;
        for (int o = from; o <= to; o++)
        {
            FreeList* list = ListOf(pool, o, cls);
            ulong size = 1UL << o;
            for (ulong b = list->Head; b != FreeList.End; b = _nodes.Of(b)->NextIndex)
            {
                CountFitVisit();
                ulong pfn = rules.FirstFit(basePfn + b, basePfn + b + size, pages, pages);
                if (pfn != FreeList.End)
                    return pfn - basePfn;
            }
        }
        return FreeList.End;
    }

    /// <summary>Counts one free-list node visited by <see cref="FindFit"/>, where contract checks are compiled and a counter was given.</summary>
    [Conditional("MEMORY_CONTRACTS")]
    private void CountFitVisit()
    {
        if (_fitVisits != null)
            (*_fitVisits)++;
    }

    /// <summary>Counts one pool tried by an allocation, where contract checks are compiled and a counter was given.</summary>
    [Conditional("MEMORY_CONTRACTS")]
    internal void CountPoolProbe()
    {
        if (_poolProbes != null)
            (*_poolProbes)++;
    }

    /// <summary>
    /// The head of the free block that contains frame <paramref name="index"/>, or End when the frame
    /// is not inside a free block. O(max order).
    /// </summary>
    internal ulong FreeHeadContaining(ulong index, out int order)
    {
        for (int o = 0; o <= _maxOrder; o++)
        {
            ulong head = index & ~((1UL << o) - 1);
            byte s = _frames[head];
            FrameKind kind = FrameState.KindOf(s);
            if (kind == FrameKind.Tail)
                continue;
            if (kind == FrameKind.Free && FrameState.OrderOf(s) >= o)
            {
                order = FrameState.OrderOf(s);
                return head;
            }
            break;
        }
        order = 0;
        return FreeList.End;
    }

    /// <summary>
    /// One step of a walk over a page block's frames in search of allocated blocks (compaction's evacuation, the
    /// pressure step's migration): true when frame <paramref name="p"/> heads an allocated block, of
    /// <paramref name="order"/>; false otherwise, with how far the walk steps on: a free block's size (capped at the
    /// page block: a free block of a larger order covers it whole), else one frame. Reads only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool AllocatedHeadAt(ulong p, out int order, out ulong step)
    {
        byte s = _frames[p];
        FrameKind kind = FrameState.KindOf(s);
        order = FrameState.OrderOf(s);
        int pbo = _pageblockOrder;
        step = kind == FrameKind.Free ? 1UL << (order < pbo ? order : pbo) : 1;
        return kind == FrameKind.Allocated;
    }

    /// <summary>Links [start, end) as maximal aligned free blocks without merging (see callers for why no merge is possible).</summary>
    internal void LinkPieces(int pool, ulong start, ulong end)
    {
        while (start < end)
        {
            int o = PieceOrder(start, end);
            Link(pool, start, o);
            start += 1UL << o;
        }
    }

    /// <summary>The order of the largest aligned block starting at <paramref name="start"/> that fits before <paramref name="end"/>, capped at the max order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int PieceOrder(ulong start, ulong end)
    {
        int o = start == 0 ? 63 : System.Numerics.BitOperations.TrailingZeroCount(start);
        int fit = System.Numerics.BitOperations.Log2(end - start);
        if (o > fit)
            o = fit;
        if (o > _maxOrder)
            o = _maxOrder;
        return o;
    }

    /// <summary>
    /// Removes every free block overlapping [start, end) from its list and gives back the parts
    /// outside the range. The caller checked that every present frame of the range is free and in
    /// <paramref name="pool"/>; afterwards the range's frames are in no list, their head bytes Tail
    /// (the caller marks the new heads). The parts given back cannot merge: each one's buddy
    /// overlaps the carved range, so plain linking keeps the "free buddies are merged" invariant.
    /// </summary>
    internal void CarveRange(int pool, ulong start, ulong end)
    {
        ulong p = start;
        while (p < end)
        {
            if (FrameState.KindOf(_frames[p]) == FrameKind.Absent)
            {
                p++;
                continue;
            }
            ulong head = FreeHeadContaining(p, out int order);
            ulong headEnd = head + (1UL << order);
            Unlink(pool, head, order);
            _frames[head] = FrameState.Tail;
            if (head < start)
                LinkPieces(pool, head, start);
            if (headEnd > end)
                LinkPieces(pool, end, headEnd);
            p = headEnd;
        }
    }

    /// <summary>
    /// Contract of a block about to be linked or unlinked: order at most the max, index aligned to it and
    /// inside the span, its page block in <paramref name="pool"/>.
    /// </summary>
    [Conditional("MEMORY_CONTRACTS")]
    internal void CheckBlock(int pool, ulong index, int order)
    {
        Contract.Expect(order <= _maxOrder, _onBrokenContract, ContractCode.OrderAboveMax, pool, index, (ulong)_maxOrder, (ulong)order);
        ulong misalignment = index & ((1UL << order) - 1);
        Contract.Expect(misalignment == 0, _onBrokenContract, ContractCode.BlockMisaligned, pool, index, 0, misalignment);
        if (index < _spanPages)
            Contract.Expect(PoolOfFrame(index) == pool, _onBrokenContract, ContractCode.ForeignPageblock, pool, index, (ulong)pool, (ulong)PoolOfFrame(index));
    }

    /// <summary>
    /// Contract of a block about to leave its list (<see cref="FreeList"/>): its byte reads a free head of
    /// <paramref name="order"/>, the list is not empty, and its neighbours link back to it (the head, when
    /// it has no predecessor).
    /// </summary>
    [Conditional("MEMORY_CONTRACTS")]
    internal void CheckListedHead(int pool, ulong index, int order)
    {
        byte expected = FrameState.Make(FrameKind.Free, order);
        Contract.Expect(_frames[index] == expected, _onBrokenContract, ContractCode.NotAFreeHead, pool, index, expected, _frames[index]);
        FreeList* list = ListAt(pool, SlotOfBlock(index, order));
        Contract.Expect(list->Count > 0, _onBrokenContract, ContractCode.ListEmpty, pool, index, 1, list->Count);
        FreeNode* node = _nodes.Of(index);
        ulong back = node->PrevIndex == FreeList.End ? list->Head : _nodes.Of(node->Prev)->NextIndex;
        Contract.Expect(back == index, _onBrokenContract, ContractCode.ListLinkBroken, pool, index, index, back);
        if (node->NextIndex != FreeList.End)
        {
            ulong forward = _nodes.Of(node->Next)->PrevIndex;
            Contract.Expect(forward == index, _onBrokenContract, ContractCode.ListLinkBroken, pool, index, index, forward);
        }
    }

    /// <summary>
    /// Adds (<paramref name="sign"/> = 1) or removes (-1) the frames of block [index, index + pages) to the held counts of the page blocks under it.
    /// A block of a page block or more (aligned, as every block is) covers its page blocks whole, and they go from
    /// wholly free to wholly held or back: filed in the index at neither end (<see cref="PageblockIndex.Key"/>), so
    /// only a smaller block refiles (<see cref="HeldChanged"/>); an order-9 allocation or free skips the index.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void AddHeld(ulong index, ulong pages, int sign)
    {
        ulong pbPages = 1UL << _pageblockOrder;
        if (pages < pbPages)
        {
            ulong pb = index >> _pageblockOrder;
            ushort old = _pageblocks[pb].Held;
            _pageblocks[pb].Held = (ushort)(old + sign * (int)pages);
            HeldChanged(pb, old);
            return;
        }
        // Whole page blocks, all present, going from free to held or back: never in the index. The entries through a
        // local pointer: each store could alias the field, which the compilers reloaded every page block.
        PageblockInfo* entry = _pageblocks + (index >> _pageblockOrder);
        PageblockInfo* end = entry + (pages >> _pageblockOrder);
        ushort delta = (ushort)(sign * (int)pbPages);
        for (; entry < end; entry++)
            entry->Held = (ushort)(entry->Held + delta);
    }

    /// <summary>
    /// <see cref="AddHeld"/> for a block of <paramref name="order"/> at least the page-block order (the caller knows it):
    /// its page blocks go from wholly free to wholly held (<paramref name="sign"/> = 1) or back (-1), in no index bucket
    /// at either end, so only their held counts change. The one-CPU whole-block paths (PhysicalMemory.Whole.cs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void AddHeldWhole(ulong index, int order, int sign)
    {
        int pbo = _pageblockOrder;
        PageblockInfo* entry = _pageblocks + (index >> pbo);
        PageblockInfo* end = entry + (1UL << (order - pbo));
        ushort delta = (ushort)(sign << pbo);
        do
            entry->Held = (ushort)(entry->Held + delta);
        while (++entry < end);
    }
}
