namespace PoolKernel.Memory;

/// <summary>
/// One CPU's count of the steps the realtime path took (docs/realtime.md): a step is one look at the
/// non-empty-order mask, one block popped from or pushed on a free list (a split pushes one half, a
/// merge unlinks one buddy), or one page block's held count changed. Written by its CPU under the pool's lock at the end of every
/// realtime allocation and free; read by tests and the shell (a snapshot). Always counted, in every
/// build: three stores an operation.
/// </summary>
public struct RealtimeSteps
{
    /// <summary>Steps of this CPU's most recent realtime operation.</summary>
    public ulong Last;
    /// <summary>The most steps any of this CPU's realtime operations took since the counts were reset.</summary>
    public ulong Max;
    /// <summary>Realtime operations this CPU made since the counts were reset.</summary>
    public ulong Operations;

    /// <summary>Records one operation of <paramref name="steps"/> steps.</summary>
    internal void Record(ulong steps)
    {
        Last = steps;
        if (steps > Max)
            Max = steps;
        Operations++;
    }

    /// <summary>
    /// The most steps one realtime allocation or free can take, whatever the memory size (docs/realtime.md
    /// derives it). With M = <paramref name="maxOrder"/>, P = <paramref name="pageblockOrder"/> and
    /// H(o) = 2^(o - P) page blocks under a block of order o above P (1 at or below it), an allocation of order o
    /// is the mask, one pop, at most M - o split halves pushed and H(o) held counts; a free is the look, H(o) held
    /// counts and at most M - o merges. The largest of those over every order: an order-0 allocation that splits a
    /// block of the max order, M + 3, or an allocation of the max order, 2 + 2^(M - P), when the page blocks under
    /// it are more than M + 1. (M = 10, P = 9: 13.)
    /// </summary>
    public static ulong Bound(int maxOrder, int pageblockOrder)
    {
        ulong m = (ulong)maxOrder;
        ulong pageblocksUnderMax = maxOrder > pageblockOrder ? 1UL << (maxOrder - pageblockOrder) : 1UL;
        ulong orderZero = m + 3, maxOrderBlock = 2 + pageblocksUnderMax;
        return orderZero > maxOrderBlock ? orderZero : maxOrderBlock;
    }
}
