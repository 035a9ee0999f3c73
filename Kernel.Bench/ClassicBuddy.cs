using System.Runtime.InteropServices;

namespace PoolKernel.Bench;

/// <summary>
/// The baseline: a classic buddy allocator in the shape of Linux around 2007 (2.6.2x, before
/// per-CPU lists are counted): a 64-byte descriptor per frame (`struct page`: flags, order, zone,
/// list links), zones DMA/DMA32/Normal, one free list per order per zone, and allocation that
/// falls back from the highest allowed zone downwards. Written for the comparison, not for use.
/// </summary>
public sealed unsafe class ClassicBuddy : IDisposable
{
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private struct Page
    {
        public ulong Flags;   // Buddy bit 0
        public long Next;
        public long Prev;
        public int Order;
        public int Zone;
        public int RefCount;
    }

    private const ulong BuddyFlag = 1;
    private const int Zones = 3;
    public const int MaxOrder = 10;
    private const long None = -1;

    private readonly Page* _pages;
    private readonly long* _heads;   // [zone][order]
    private readonly long* _counts;
    private readonly ulong _frames;

    public ClassicBuddy(ulong frames, (ulong first, ulong end)[] ranges)
    {
        _frames = frames;
        _pages = (Page*)NativeMemory.AlignedAlloc((nuint)(frames * 64), 64);
        _heads = (long*)NativeMemory.Alloc((nuint)(Zones * (MaxOrder + 1) * 8));
        _counts = (long*)NativeMemory.AllocZeroed((nuint)(Zones * (MaxOrder + 1) * 8));
        NativeMemory.Clear(_pages, (nuint)(frames * 64));
        for (int i = 0; i < Zones * (MaxOrder + 1); i++)
            _heads[i] = None;
        for (ulong p = 0; p < frames; p++)
        {
            _pages[p].Zone = ZoneOf(p);
            _pages[p].RefCount = 1; // reserved until freed into the allocator
        }
        foreach (var (first, end) in ranges)
            for (ulong p = first; p < end; p++)
            {
                _pages[p].RefCount = 1;
                Free(p, 0);
            }
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

    /// <summary>Allocates from the highest zone at or below <paramref name="highestZone"/> that has a block (zone fallback).</summary>
    public long Allocate(int order, int highestZone)
    {
        for (int zone = highestZone; zone >= 0; zone--)
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
                _pages[p].RefCount = 1;
                return p;
            }
        }
        return None;
    }

    public void Free(ulong pfn, int order)
    {
        long p = (long)pfn;
        _pages[p].RefCount = 0;
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

    public void Dispose()
    {
        NativeMemory.AlignedFree(_pages);
        NativeMemory.Free(_heads);
        NativeMemory.Free(_counts);
    }
}
