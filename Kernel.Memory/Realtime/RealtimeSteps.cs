namespace PoolKernel.Memory;

/// <summary>
/// One CPU's count of the steps the realtime path took (docs/realtime.md): a step is one look at the
/// non-empty-order mask, one block popped from or pushed on a free list (a split pushes one half, a
/// merge unlinks one buddy), one page block's held count changed, or one cache entry moved (refilled,
/// drained, slid down or swapped). Written by its CPU under the pool's lock at the end of every
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

    /// <summary>
    /// Frames a realtime refill takes: 4, not the pool's batch (up to <see cref="FrameCache.Batch"/>, 16). A refill
    /// takes one block of this many frames when the lists hold one of at least that order (one pop and its split);
    /// only a pool with no such block left takes it a frame at a time, each frame up to MaxOrder + 2 list steps, so
    /// the batch is what an order-0 allocation's worst case is made of; at 4 it is about a quarter of the pool's,
    /// still amortised over four operations.
    /// </summary>
    public const int Batch = 4;

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
    /// derives it). With M = <paramref name="maxOrder"/>, P = <paramref name="pageblockOrder"/>,
    /// C = <see cref="FrameCache.Capacity"/>, B = <see cref="Batch"/> and H = 2^(M - P) (1 when
    /// M = P), the larger of:
    /// an allocation above order 0 that finds no block, drains a full cache and takes again:
    /// 1 + C (1 + M) + 1 + (1 + M) + H; an order-0 allocation that refills an empty cache and finds no block of
    /// the batch's order (the mask), so takes it a frame at a time: 1 + 1 + B (2 + M) + 1 + B / 2. (A refill with
    /// a block, 1 + (2 + M) + 1 + B, and every free, at most 1 + H + M, are less than either.)
    /// (M = 10, P = 9: 1 + 693 + 1 + 11 + 2 = 708.)
    /// </summary>
    public static ulong Bound(int maxOrder, int pageblockOrder)
    {
        ulong m = (ulong)maxOrder;
        ulong c = FrameCache.Capacity, b = Batch;
        ulong h = maxOrder > pageblockOrder ? 1UL << (maxOrder - pageblockOrder) : 1UL;
        ulong above = 1 + c * (1 + m) + 1 + (1 + m) + h;
        ulong refill = 1 + 1 + b * (2 + m) + 1 + b / 2;
        return above > refill ? above : refill;
    }
}
