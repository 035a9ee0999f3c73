namespace PoolKernel.Memory;

/// <summary>
/// How fragmented a pool's free memory is: the score proactive compaction acts on and Linux's
/// external fragmentation index (the shell's <c>fragindex</c>). Both read the buddy lists only
/// (frames in the frame cache are left out, as Linux leaves out per-CPU pages).
/// </summary>
public unsafe partial struct PhysicalMemory
{
    /// <summary>
    /// Per mille of the pool's listed free frames that lie in blocks below the page-block order, so
    /// cannot serve a page-block request; 0 when the pool has less than a page block free (no
    /// compaction could make one) or no such pool. Compared with <see cref="ProactiveThreshold"/>.
    /// </summary>
    public int FragmentationScore(PoolId id)
    {
        if (!IsLive(id))
            return 0;
        ulong free = _buddy._pools[id.Value].FreePages;
        if (free < PageblockPages)
            return 0;
        ulong small = 0;
        for (int o = 0; o < _buddy._pageblockOrder; o++)
            small += _buddy.ListedBlocks(id.Value, o) << o;
        return (int)(small * 1000 / free);
    }

    /// <summary>
    /// Linux's external fragmentation index of the pool for <paramref name="order"/>, in thousandths:
    /// -1000 when a free block of the order is listed (the request would succeed); otherwise
    /// 1000 - (1000 + free frames * 1000 / 2^order) / free blocks: towards 0 a failure would be for
    /// want of memory, towards 1000 for fragmentation. 0 with no free block at all, or no such pool/order.
    /// </summary>
    public int FragmentationIndex(PoolId id, int order)
    {
        if (!IsLive(id) || (uint)order > (uint)_buddy._maxOrder)
            return 0;
        ulong blocks = 0, suitable = 0;
        ulong free = _buddy._pools[id.Value].FreePages;
        for (int o = 0; o <= _buddy._maxOrder; o++)
        {
            ulong n = _buddy.ListedBlocks(id.Value, o);
            blocks += n;
            if (o >= order)
                suitable += n;
        }
        if (blocks == 0)
            return 0;
        if (suitable != 0)
            return -1000;
        return (int)(1000 - (1000 + free * 1000 / (1UL << order)) / blocks);
    }

    /// <summary>
    /// <see cref="FragmentationScore"/> for <see cref="CompactIfFragmented"/> (the table lock held): read under the pool's
    /// own lock, so its counters agree with its lists; a realtime pool's, which is never locked here, as a snapshot.
    /// </summary>
    private int FragmentationScoreForPass(int pool)
    {
        if (IsRealtime(pool))
            return FragmentationScore(new PoolId((byte)pool));
        ulong state = LockPool(pool);
        int score = FragmentationScore(new PoolId((byte)pool));
        UnlockPool(pool, state);
        return score;
    }
}
