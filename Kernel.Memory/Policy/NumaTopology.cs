using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// What policies need of the machine: how many nodes, which have memory a policy may use, and the
/// distances between them (the instance's SLIT copy, which lives as long as its metadata). Taken
/// from a <see cref="PhysicalMemory"/> by <see cref="Of"/>; a node has memory when some page block
/// on it holds present frames of a live pool that serves requests by choice (not Reserved). Pools
/// move page blocks between them but never between nodes, so the answer holds until pools are
/// created or destroyed; callers take it again then.
/// </summary>
public unsafe struct NumaTopology
{
    public int NodeCount;
    /// <summary>Bit n: node n has memory pool choice may use.</summary>
    public ulong MemoryNodes;
    private byte* _distances;

    /// <summary>The topology of <paramref name="pm"/> (walks its page blocks: a set-up cost).</summary>
    public static NumaTopology Of(ref PhysicalMemory pm)
    {
        NumaTopology t = default;
        t.NodeCount = pm._nodeCount;
        t._distances = pm._distances;
        ulong blocks = (pm._buddy._spanPages + (1UL << pm._buddy._pageblockOrder) - 1) >> pm._buddy._pageblockOrder;
        for (ulong pb = 0; pb < blocks; pb++)
        {
            PageblockInfo info = pm._buddy._pageblocks[pb];
            if (info.Present == 0 || info.Pool >= pm._poolLimit)
                continue;
            ref Pool pool = ref pm._buddy._pools[info.Pool];
            if (pool.Live != 0 && (pool.Properties.Flags & PoolFlags.Reserved) == 0 && info.Node < NodeDistances.MaxNodes)
                t.MemoryNodes |= 1UL << info.Node;
        }
        return t;
    }

    /// <summary>SLIT distance from <paramref name="from"/> to <paramref name="to"/> (both below <see cref="NodeCount"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int Distance(int from, int to)
    {
        return _distances[from * NodeCount + to];
    }

    /// <summary>
    /// The same topology reading its distances from <paramref name="table"/>, a copy of this one's
    /// (NodeCount x NodeCount bytes, row-major): a node's replica of the table (<see cref="Replication"/>).
    /// </summary>
    public readonly NumaTopology WithDistances(byte* table)
    {
        NumaTopology t = this;
        t._distances = table;
        return t;
    }

    /// <summary>Copies the distance table (NodeCount x NodeCount bytes) to <paramref name="into"/>.</summary>
    public readonly void CopyDistances(byte* into)
    {
        for (int i = 0; i < NodeCount * NodeCount; i++)
            into[i] = _distances[i];
    }

    /// <summary>Every node below <see cref="NodeCount"/> as a mask.</summary>
    public readonly ulong AllNodes { get { return NodeCount >= NodeDistances.MaxNodes ? ulong.MaxValue : (1UL << NodeCount) - 1; } }

    /// <summary>
    /// The node of <paramref name="mask"/> nearest to <paramref name="from"/> (ties: the lower node
    /// number, but <paramref name="from"/> itself first), or -1 for an empty mask.
    /// </summary>
    public readonly int Nearest(int from, ulong mask)
    {
        int best = -1;
        int bestDistance = int.MaxValue;
        for (ulong m = mask; m != 0; m &= m - 1)
        {
            int node = System.Numerics.BitOperations.TrailingZeroCount(m);
            int d = node == from ? -1 : Distance(from, node);
            if (d < bestDistance)
            {
                bestDistance = d;
                best = node;
            }
        }
        return best;
    }
}
