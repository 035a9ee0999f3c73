using System.Numerics;
using System.Runtime.InteropServices;

namespace PoolKernel.Bench;

/// <summary>
/// The baseline: a classic buddy allocator in the shape of Linux around 2007 (2.6.2x): a 64-byte
/// descriptor per frame (`struct page`: flags, order, zone, list links), zones DMA/DMA32/Normal,
/// one free list per order per zone, allocation that falls back from the highest allowed zone
/// downwards, and (unless built without) a per-CPU list of order-0 frames in front of each zone's
/// buddy (`struct per_cpu_pages`, the hot list), sized as Linux sized it. One CPU, so one list per
/// zone. Written for the comparison, not for use: no validation of frees, no counters.
/// </summary>
/// <remarks>
/// Locking: built for one CPU (the default) nothing here takes a lock. Built for several
/// (<c>cpus</c> &gt; 1, the thread benchmarks), each CPU (a thread, numbered by <see cref="HostCpus"/>)
/// has its own per-CPU list in front of each zone and the zone lock is taken where Linux took it:
/// where the per-CPU list meets the buddy, once per batch (<c>rmqueue_bulk</c>, <c>free_pages_bulk</c>:
/// <see cref="Refill"/>, <see cref="Drain"/>), and around a non-cached allocation or free (the
/// order &gt; 0 paths of <see cref="Allocate"/> and <see cref="Free"/>, and every path of the plain
/// buddy). The per-CPU list itself was guarded by disabling interrupts on its own CPU: here only
/// its own thread touches it. The lock is the pool allocator's <see cref="SpinLock"/>, lock for lock.
/// </remarks>
public sealed unsafe class ClassicBuddy : IDisposable
{
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private struct Page
    {
        public ulong Flags;   // Buddy bit 0: the head of a block on a buddy free list
        public long Next;     // free-list or per-CPU-list links (page->lru)
        public long Prev;
        public int Order;
        public int Zone;
        public int RefCount;
    }

    /// <summary>
    /// Linux's <c>struct per_cpu_pages</c> for one zone and one CPU, the hot list (2.6.2x). Frees
    /// push at <see cref="Head"/> and allocations pop there (LIFO, cache-hot); a drain returns the
    /// coldest frames, from <see cref="Tail"/>, to the buddy. The cold list (for __GFP_COLD
    /// requests) is not modelled: no benchmark request is cold.
    /// </summary>
    private struct PerCpuPages
    {
        public long Count;
        /// <summary>Drain when <see cref="Count"/> reaches this: 6 * batch.</summary>
        public long High;
        /// <summary>Frames a refill takes from the buddy and a drain gives back: max(1, batch).</summary>
        public long Batch;
        public long Head;
        public long Tail;
    }

    private const int ProtRead = 1, ProtWrite = 2;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;
    private const int MadvHugepage = 14;

    [DllImport("libc", SetLastError = true)]
    private static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc")]
    private static extern int munmap(void* addr, nuint length);

    [DllImport("libc")]
    private static extern int madvise(void* addr, nuint length, int advice);

    private const ulong BuddyFlag = 1;
    public const int Zones = 3;
    public const int MaxOrder = 10;
    private const long None = -1;

    private readonly Page* _pages;
    private readonly long* _heads;   // [zone][order]
    private readonly long* _counts;
    /// <summary>One per zone and CPU (zone z's list of CPU c at z * cpus + c); null when built without per-CPU lists.</summary>
    private readonly PerCpuPages* _pcp;
    /// <summary>CPUs the lists are kept for; above 1 the zone locks are taken.</summary>
    private readonly int _cpus;
    /// <summary>One per zone (Linux's <c>zone->lock</c>): guards the zone's buddy lists and counts; taken only when <see cref="_cpus"/> &gt; 1.</summary>
    private readonly PoolKernel.Memory.SpinLock* _zoneLocks;
    private readonly ulong _frames;
    private readonly nuint _pagesBytes;

    /// <summary>Frames the ranges gave at construction (what a full free must give back).</summary>
    public ulong PresentFrames { get; }

    /// <param name="frames">Descriptors to allocate (frame numbers 0 to frames - 1).</param>
    /// <param name="ranges">Free frame ranges [first, end); each frame is freed once into the buddy.</param>
    /// <param name="perCpuLists">
    /// Put a per-CPU order-0 list in front of each zone (the Linux 2.6.2x shape, the default
    /// baseline); false gives the plain buddy, the second baseline (<c>baseline_nopcp_*</c>).
    /// </param>
    /// <param name="cpus">CPUs (threads, <see cref="HostCpus"/>) that allocate at once: a per-CPU list each, and zone locks when more than 1.</param>
    public ClassicBuddy(ulong frames, (ulong first, ulong end)[] ranges, bool perCpuLists = true, int cpus = 1)
    {
        _frames = frames;
        _cpus = cpus;
        _zoneLocks = (PoolKernel.Memory.SpinLock*)NativeMemory.AllocZeroed((nuint)(Zones * sizeof(PoolKernel.Memory.SpinLock)));
        // The descriptors on transparent 2 MiB pages, as Linux maps its `struct page` array (the
        // x86-64 vmemmap) and as the pool allocator's simulated memory is backed (HostPhysicalMemory).
        _pagesBytes = (nuint)(frames * 64);
        _pages = (Page*)mmap(null, _pagesBytes, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (_pages == (Page*)-1)
            throw new InvalidOperationException("mmap of the baseline's page descriptors failed");
        madvise(_pages, _pagesBytes, MadvHugepage);
        _heads = (long*)NativeMemory.Alloc((nuint)(Zones * (MaxOrder + 1) * 8));
        _counts = (long*)NativeMemory.AllocZeroed((nuint)(Zones * (MaxOrder + 1) * 8));
        for (int i = 0; i < Zones * (MaxOrder + 1); i++)
            _heads[i] = None;
        for (ulong p = 0; p < frames; p++)
        {
            _pages[p].Zone = ZoneOf(p);
            _pages[p].RefCount = 1; // reserved until freed into the allocator
        }
        // Set-up frees straight into the buddy: the per-CPU lists start empty.
        Span<ulong> present = stackalloc ulong[Zones];
        foreach (var (first, end) in ranges)
            for (ulong p = first; p < end; p++)
            {
                _pages[p].RefCount = 0;
                FreeToBuddy((long)p, 0);
                present[ZoneOf(p)]++;
                PresentFrames++;
            }
        if (perCpuLists)
        {
            _pcp = (PerCpuPages*)NativeMemory.AllocZeroed((nuint)(Zones * cpus * sizeof(PerCpuPages)));
            for (int zone = 0; zone < Zones; zone++)
            {
                long batch = ZoneBatchSize(present[zone]);
                for (int cpu = 0; cpu < cpus; cpu++)
                {
                    PerCpuPages* pcp = _pcp + zone * cpus + cpu;
                    pcp->High = 6 * batch;
                    pcp->Batch = Math.Max(1, batch);
                    pcp->Head = None;
                    pcp->Tail = None;
                }
            }
        }
    }

    /// <summary>
    /// Linux's <c>zone_batchsize</c> (2.6.2x): about a thousandth of the zone, at most 512 KiB
    /// (128 frames), divided by 4 (the high mark multiplies it back), at least 1, then clamped
    /// down to 2^n - 1 (a power of two aliased badly in the caches): 31 for every zone of 512 MiB
    /// or more, 0 for the 16 MiB DMA zone (whose list then holds nothing: high 0, batch 1).
    /// </summary>
    public static long ZoneBatchSize(ulong presentPages)
    {
        long batch = (long)Math.Min(presentPages / 1024, 512 * 1024 / 4096);
        batch /= 4;
        if (batch < 1)
            batch = 1;
        int fls = BitOperations.Log2((ulong)(batch + batch / 2)) + 1;
        return (1L << (fls - 1)) - 1;
    }

    /// <summary>Whether per-CPU lists are in front of the buddy.</summary>
    public bool HasPerCpuLists => _pcp != null;

    /// <summary>The per-CPU list's high mark and batch of a zone (0, 0 without per-CPU lists).</summary>
    public (long High, long Batch) PerCpuSizing(int zone) => _pcp == null ? (0, 0) : (_pcp[zone * _cpus].High, _pcp[zone * _cpus].Batch);

    /// <summary>The running CPU's list of <paramref name="zone"/>.</summary>
    private PerCpuPages* PerCpuOf(int zone) => _pcp + zone * _cpus + (_cpus == 1 ? 0 : HostCpus.Current());

    private ulong LockZone(int zone) => _cpus == 1 ? 0 : _zoneLocks[zone].Acquire();

    private void UnlockZone(int zone, ulong state)
    {
        if (_cpus != 1)
            _zoneLocks[zone].Release(state);
    }

    private static int ZoneOf(ulong pfn) => pfn < (16UL << 8) ? 0 : pfn < (4UL << 18) ? 1 : 2;

    private void Push(int zone, int order, long p)
    {
        long* head = _heads + zone * (MaxOrder + 1) + order;
        _pages[p].Next = *head;
        _pages[p].Prev = None;
        if (*head != None)
            _pages[*head].Prev = p;
        *head = p;
        _pages[p].Flags |= BuddyFlag;
        _pages[p].Order = order;
        _counts[zone * (MaxOrder + 1) + order]++;
    }

    private void Unlink(int zone, int order, long p)
    {
        long next = _pages[p].Next, prev = _pages[p].Prev;
        if (prev == None)
            _heads[zone * (MaxOrder + 1) + order] = next;
        else
            _pages[prev].Next = next;
        if (next != None)
            _pages[next].Prev = prev;
        _pages[p].Flags &= ~BuddyFlag;
        _counts[zone * (MaxOrder + 1) + order]--;
    }

    /// <summary>
    /// Allocates from the highest zone at or below <paramref name="highestZone"/> that has a block
    /// (zone fallback). Order 0 goes through the zone's per-CPU list when there is one
    /// (<c>buffered_rmqueue</c>). Returns the frame number, or -1.
    /// </summary>
    public long Allocate(int order, int highestZone)
    {
        for (int zone = highestZone; zone >= 0; zone--)
        {
            long p;
            if (order == 0 && _pcp != null)
                p = AllocateFromPerCpu(zone);
            else
            {
                ulong state = LockZone(zone);
                p = AllocateFromBuddy(order, zone);
                UnlockZone(zone, state);
            }
            if (p != None)
            {
                _pages[p].RefCount = 1;
                return p;
            }
        }
        return None;
    }

    /// <summary>Pops the hot end of the zone's per-CPU list, refilling it with a batch from the buddy when empty.</summary>
    private long AllocateFromPerCpu(int zone)
    {
        PerCpuPages* pcp = PerCpuOf(zone);
        if (pcp->Count == 0)
        {
            ulong state = LockZone(zone);
            Refill(zone, pcp);
            UnlockZone(zone, state);
            if (pcp->Count == 0)
                return None;
        }
        long p = pcp->Head;
        long next = _pages[p].Next;
        pcp->Head = next;
        if (next == None)
            pcp->Tail = None;
        else
            _pages[next].Prev = None;
        pcp->Count--;
        return p;
    }

    /// <summary>
    /// <c>rmqueue_bulk</c> into an empty list: up to a batch of order-0 frames from the zone's
    /// buddy, kept in the order the buddy gave them (the first at the hot end, so a split block
    /// is handed out in address order); fewer when the zone runs out.
    /// </summary>
    private void Refill(int zone, PerCpuPages* pcp)
    {
        for (long i = 0; i < pcp->Batch; i++)
        {
            long p = AllocateFromBuddy(0, zone);
            if (p == None)
                break;
            _pages[p].Next = None;
            _pages[p].Prev = pcp->Tail;
            if (pcp->Tail == None)
                pcp->Head = p;
            else
                _pages[pcp->Tail].Next = p;
            pcp->Tail = p;
            pcp->Count++;
        }
    }

    private long AllocateFromBuddy(int order, int zone)
    {
        for (int o = order; o <= MaxOrder; o++)
        {
            long p = _heads[zone * (MaxOrder + 1) + o];
            if (p == None)
                continue;
            Unlink(zone, o, p);
            while (o > order)
            {
                o--;
                Push(zone, o, p + (1L << o));
            }
            return p;
        }
        return None;
    }

    /// <summary>
    /// Frees a block. Order 0 with per-CPU lists (<c>free_hot_cold_page</c>, hot): pushed on the
    /// hot end of its zone's list; when the list reaches its high mark, a batch of the coldest
    /// frames goes back to the buddy. Anything else merges into the buddy at once.
    /// </summary>
    public void Free(ulong pfn, int order)
    {
        long p = (long)pfn;
        _pages[p].RefCount = 0;
        if (order == 0 && _pcp != null)
            FreeToPerCpu(p);
        else
        {
            int zone = _pages[p].Zone;
            ulong state = LockZone(zone);
            FreeToBuddy(p, order);
            UnlockZone(zone, state);
        }
    }

    private void FreeToPerCpu(long p)
    {
        int zone = _pages[p].Zone;
        PerCpuPages* pcp = PerCpuOf(zone);
        long head = pcp->Head;
        _pages[p].Next = head;
        _pages[p].Prev = None;
        if (head == None)
            pcp->Tail = p;
        else
            _pages[head].Prev = p;
        pcp->Head = p;
        if (++pcp->Count >= pcp->High)
        {
            ulong state = LockZone(zone);
            Drain(zone, pcp);
            UnlockZone(zone, state);
        }
    }

    /// <summary><c>free_pages_bulk</c>: a batch of frames from the cold end back to the zone's buddy.</summary>
    private void Drain(int zone, PerCpuPages* pcp)
    {
        for (long i = 0; i < pcp->Batch && pcp->Tail != None; i++)
        {
            long p = pcp->Tail;
            long prev = _pages[p].Prev;
            pcp->Tail = prev;
            if (prev == None)
                pcp->Head = None;
            else
                _pages[prev].Next = None;
            pcp->Count--;
            FreeToBuddy(p, 0);
        }
    }

    private void FreeToBuddy(long p, int order)
    {
        int zone = _pages[p].Zone;
        while (order < MaxOrder)
        {
            long buddy = p ^ (1L << order);
            if ((ulong)buddy >= _frames)
                break;
            ref Page b = ref _pages[buddy];
            if ((b.Flags & BuddyFlag) == 0 || b.Order != order || b.Zone != zone)
                break;
            Unlink(zone, order, buddy);
            p &= buddy;
            order++;
        }
        Push(zone, order, p);
    }

    /// <summary>
    /// The conservation check (not timed): walks every buddy free list and per-CPU list, checks
    /// their links, flags, zones and counts (a per-CPU count equals its list's length and stays
    /// below the high mark; a block is aligned to its order and inside the descriptors), and
    /// throws, naming the values, unless the free frames found equal <paramref name="expectedFree"/>.
    /// Returns the frames on per-CPU lists.
    /// </summary>
    public ulong CheckFree(ulong expectedFree)
    {
        ulong free = 0, cached = 0;
        for (int zone = 0; zone < Zones; zone++)
        {
            for (int order = 0; order <= MaxOrder; order++)
            {
                long n = 0, prev = None;
                for (long p = _heads[zone * (MaxOrder + 1) + order]; p != None; prev = p, p = _pages[p].Next)
                {
                    if ((ulong)p >= _frames || (p & ((1L << order) - 1)) != 0 || (_pages[p].Flags & BuddyFlag) == 0 ||
                        _pages[p].Order != order || _pages[p].Zone != zone || _pages[p].Prev != prev || _pages[p].RefCount != 0)
                        throw new InvalidOperationException($"ClassicBuddy: bad free block {p} on zone {zone} order {order} list (prev {prev})");
                    n++;
                    free += 1UL << order;
                }
                if (n != _counts[zone * (MaxOrder + 1) + order])
                    throw new InvalidOperationException($"ClassicBuddy: zone {zone} order {order} list holds {n} blocks, count says {_counts[zone * (MaxOrder + 1) + order]}");
            }
            for (int cpu = 0; _pcp != null && cpu < _cpus; cpu++)
            {
            PerCpuPages* pcp = _pcp + zone * _cpus + cpu;
            long length = 0, last = None;
            for (long p = pcp->Head; p != None; last = p, p = _pages[p].Next)
            {
                if ((ulong)p >= _frames || (_pages[p].Flags & BuddyFlag) != 0 || _pages[p].Zone != zone || _pages[p].Prev != last || _pages[p].RefCount != 0)
                    throw new InvalidOperationException($"ClassicBuddy: bad frame {p} on zone {zone}'s per-CPU list (prev {last})");
                length++;
            }
            if (length != pcp->Count || last != pcp->Tail || pcp->Count >= Math.Max(pcp->High, 1))
                throw new InvalidOperationException($"ClassicBuddy: zone {zone}'s per-CPU list holds {length} frames ending at {last}, count {pcp->Count}, tail {pcp->Tail}, high {pcp->High}");
            free += (ulong)length;
            cached += (ulong)length;
            }
        }
        if (free != expectedFree)
            throw new InvalidOperationException($"ClassicBuddy: {free} frames free ({cached} on per-CPU lists), expected {expectedFree}");
        return cached;
    }

    /// <summary>
    /// A seeded random sequence of allocations (orders 0-3, any zone limit) and frees, then every
    /// block freed, checked with <see cref="CheckFree"/> after each phase: frames are neither lost
    /// nor duplicated through the per-CPU lists' refills and drains. Run once in the bulk benchmarks' set-up.
    /// </summary>
    public void CheckConservation(int seed, int operations)
    {
        var random = new Random(seed);
        var held = new List<(long Pfn, int Order)>();
        ulong heldFrames = 0;
        for (int i = 0; i < operations; i++)
        {
            if (held.Count == 0 || random.Next(100) < 55)
            {
                int order = random.Next(4) == 0 ? random.Next(1, 4) : 0;
                long p = Allocate(order, random.Next(Zones));
                if (p == None)
                    continue;
                if ((p & ((1L << order) - 1)) != 0)
                    throw new InvalidOperationException($"ClassicBuddy (seed {seed}): order-{order} block at {p} is not aligned");
                held.Add((p, order));
                heldFrames += 1UL << order;
            }
            else
            {
                int k = random.Next(held.Count);
                (long p, int order) = held[k];
                held[k] = held[^1];
                held.RemoveAt(held.Count - 1);
                Free((ulong)p, order);
                heldFrames -= 1UL << order;
            }
        }
        CheckFree(PresentFrames - heldFrames);
        foreach ((long p, int order) in held)
            Free((ulong)p, order);
        CheckFree(PresentFrames);
    }

    public void Dispose()
    {
        munmap(_pages, _pagesBytes);
        NativeMemory.Free(_heads);
        NativeMemory.Free(_counts);
        if (_pcp != null)
            NativeMemory.Free(_pcp);
        NativeMemory.Free(_zoneLocks);
    }
}
