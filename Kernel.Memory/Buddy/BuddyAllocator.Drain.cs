using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>Giving a batch of cached order-0 frames back to the buddy lists (the drain of <see cref="FrameCache"/>).</summary>
public unsafe partial struct BuddyAllocator
{
    /// <summary>
    /// Frees the <paramref name="n"/> oldest entries of <paramref name="pool"/>'s order-0 <paramref name="cache"/> (each the head
    /// of a Cached order-0 frame of the pool, counted in its page block's held count) to the lists with merging, and drops
    /// them from the cache's count of held frames; the caller drops the entries. Entries that are consecutive frames, in
    /// ascending or descending order, as a run of frees in address order leaves them (the bulk shape: half of the memory
    /// freed frame by frame), are given back as the largest aligned blocks the run holds (<see cref="PieceOrder"/>): one
    /// held-count change and one <see cref="FreeMerging"/> a block, where frame by frame each frame took both and every
    /// other one merged with the frame before it (an unlink and a link more). The result is the same: every free buddy merged.
    /// Each block is aligned and smaller than a page block (a cache holds at most <see cref="FrameCache.Capacity"/> frames),
    /// so it lies in one page block and one class's lists.
    /// </summary>
    internal void FreeCachedFrames(int pool, FrameCache* cache, int n)
    {
        int i = 0;
        while (i < n)
        {
            ulong first = cache->At(i);
            int j = i + 1;
            // The run's direction from its second entry; a single frame is a run of one.
            if (j < n)
            {
                ulong next = cache->At(j);
                if (next == first + 1)
                {
                    while (j + 1 < n && cache->At(j + 1) == next + 1)
                        next = cache->At(++j);
                    j++;
                }
                else if (next == first - 1)
                {
                    while (j + 1 < n && cache->At(j + 1) == next - 1)
                        next = cache->At(++j);
                    first = next;
                    j++;
                }
            }
            FreeFrameRun(pool, first, first + (ulong)(j - i));
            i = j;
        }
    }

    /// <summary>Frees the Cached order-0 frames [<paramref name="start"/>, <paramref name="end"/>) of <paramref name="pool"/> as the largest aligned blocks they hold, each with merging.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void FreeFrameRun(int pool, ulong start, ulong end)
    {
        while (start < end)
        {
            int o = PieceOrder(start, end);
            ulong pages = 1UL << o;
            for (ulong f = start + 1; f < start + pages; f++)
                _frames[f] = FrameState.Tail;
            if (o == 0)
                AddHeldOne(start, -1);
            else
                AddHeld(start, pages, -1);
            FreeMerging(pool, start, o);
            start += pages;
        }
    }
}
