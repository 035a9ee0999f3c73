using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The one-CPU copies of the block paths for blocks of at least the page-block order (whole page blocks: the order-9
/// pair and the bulk and random order-9 shapes of issue 12), as <see cref="TakeCachedFrame"/> and <see cref="ParkFrame"/>
/// have one for order 0. With one CPU (<see cref="MemoryConfig.MaxCpus"/> = 1) nothing else runs between a read and
/// the write that depends on it: there is no lock, no section on a cache, no nested entry and no claim to make, a
/// pool generation read at the start is still the current one at the end, and a block's page-block entry read once
/// answers for the pool, the class and the held count. Each check the general paths make is made once.
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// <see cref="AllocateBlock"/> for an instance of one CPU and a block of at least the page-block order (the caller
    /// checked both): the same pool (named and admitting the request, or by pool choice the first remembered pool
    /// with free frames when it implies the request's rules, <see cref="RememberedFirst"/>), the same block (the
    /// newest of the CPU's cache of the order for an unmovable request, else the first listed block of at least the
    /// order, split down, <see cref="BuddyAllocator.TakeFirstWhole"/>), the same head, owner and held counts; anything
    /// else (an order above the largest, nothing listed so a drain may be needed, no memo entry, a refusal, a
    /// realtime pool's lists) goes to <see cref="AllocateMissed"/>, which decides every case again.
    /// </summary>
    private MemoryStatus AllocateWholeOneCpu(int order, in AllocRequest request, out Pfn pfn)
    {
        ref BuddyAllocator b = ref _buddy;
        int pool = request.Pool.Value;
        if ((uint)order <= (uint)b._maxOrder)
        {
            int shift = 2 * b._pageblockOrder + order; // the shared list of the order in ListedSlots; above it, larger orders
            ulong listed = 0;
            if (pool < _poolCapacity)
            {
                ref Pool p = ref b._pools[pool];
                if (p.Live == 0 || !p.AllowsUnaccounted(request.Owner) || !p.Properties.Accepts(request.Mobility))
                    pool = -1;
                else
                    listed = p.ListedSlots >> shift;
            }
            else if (request.Pool.IsNone)
            {
                // The walk's first remembered pool with free frames (FirstWithFrames), its listed mask kept: HasFreeFrames
                // is a listed block of the order or above, or any block in the pool's caches (a drain may merge them).
                ChoiceMemo* memo = _memos; // CPU 0's
                int slot = memo->Find(ChoiceMemo.Shape(order, request), request, _poolGeneration);
                pool = -1;
                if (slot >= 0)
                {
                    int count = memo->Count(slot);
                    for (int i = 0; i < count; i++)
                    {
                        int candidate = memo->PoolAt(slot, i);
                        listed = b._pools[candidate].ListedSlots >> shift;
                        if (listed != 0 || b.AnyCached(candidate))
                        {
                            if (memo->Implied(slot, i))
                                pool = candidate;
                            break;
                        }
                    }
                }
            }
            else
                pool = -1;
            if (pool >= 0)
            {
                int cacheSlot = FrameCache.SlotOfOrder(order);
                if (cacheSlot >= 0 && request.Mobility == MobilityClass.Unmovable)
                {
                    FrameCache* cache = b.BlockCacheOf(pool, 0, cacheSlot);
                    if (cache->Count != 0)
                    {
                        b.CountPoolProbe();
                        ulong cached = cache->Pop();
                        b._owners[cached] = request.Owner;
                        b._frames[cached] = FrameState.Make(FrameKind.Allocated, order);
                        pfn = new Pfn(_basePfn + cached);
                        return MemoryStatus.Ok;
                    }
                }
                // A realtime pool allocates its own class only, on its counted path (AllocateNamedLocked).
                if (listed != 0 && !IsRealtime(pool))
                {
                    b.CountPoolProbe();
                    ulong index = b.TakeFirstWhole(pool, order);
                    b._frames[index] = FrameState.Make(FrameKind.Allocated, order);
                    b._owners[index] = request.Owner;
                    b.AddHeldWhole(index, order, 1);
                    pfn = new Pfn(_basePfn + index);
                    return MemoryStatus.Ok;
                }
            }
        }
        MemoryStatus status = AllocateMissed(new Order(order), request, out Pfn slowPfn);
        pfn = slowPfn;
        return status;
    }

    /// <summary>
    /// <see cref="FreeBlock"/> for an instance of one CPU and a block of at least the page-block order (the caller
    /// checked both): when the head reads "allocated, this order", its owner byte is <paramref name="owner"/>'s and
    /// its page block is in a pool, the block is parked in the CPU's cache of its order and pool when that order has
    /// caches, the cache is below its high mark and the page block is of the class the caches serve (head "cached",
    /// owner cleared, held counts unchanged); otherwise, outside a realtime pool, its owner is cleared, its page
    /// blocks' held counts dropped and it is freed with merging (<see cref="BuddyAllocator.FreeMergingWholeInline"/>).
    /// Anything else goes to <see cref="FreeSlow"/>, which refuses it with nothing changed or frees it on the counted path.
    /// </summary>
    private MemoryStatus FreeWholeOneCpu(Pfn pfn, int order, byte owner)
    {
        ref BuddyAllocator b = ref _buddy;
        ulong index = pfn.Value - _basePfn;
        if ((uint)order <= (uint)b._maxOrder && index < b._spanPages)
        {
            PageblockInfo* entry = b._pageblocks + (index >> b._pageblockOrder);
            int pool = entry->Pool;
            if ((uint)pool < (uint)_poolCapacity && b._frames[index] == FrameState.Make(FrameKind.Allocated, order) &&
                FrameOwner.Frees(b._owners[index], owner))
            {
                int cacheSlot = FrameCache.SlotOfOrder(order);
                if (cacheSlot >= 0)
                {
                    FrameCache* cache = b.BlockCacheOf(pool, 0, cacheSlot);
                    if (cache->Count < cache->High && b.CacheServes(pool, entry->Mobility))
                    {
                        b._frames[index] = FrameState.Make(FrameKind.Cached, order);
                        b._owners[index] = FrameOwner.None;
                        cache->Push(index);
                        return MemoryStatus.Ok;
                    }
                }
                // A realtime pool's blocks free on its counted path (FreeSlow, then FreeRealtimeLocked).
                if (!IsRealtime(pool))
                {
                    b._owners[index] = FrameOwner.None;
                    b.AddHeldWhole(index, order, -1);
                    b.FreeMergingWholeInline(pool, index, order);
                    return MemoryStatus.Ok;
                }
            }
        }
        return FreeSlow(pfn, new Order(order), owner);
    }
}
