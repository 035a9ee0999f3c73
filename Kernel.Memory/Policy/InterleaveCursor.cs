namespace PoolKernel.Memory;

/// <summary>
/// Where an interleaving context is in its round: the node to start the next search from and, for
/// weighted interleave, the node in use and how many of its weight are left (Linux's il_prev and
/// il_weight). The zero value starts a round at the lowest node of the mask. One step per
/// allocation, whether or not that allocation then succeeds on the node (as in Linux).
/// </summary>
public struct InterleaveCursor
{
    /// <summary>Node number the next search for a node starts at (wrapping).</summary>
    public byte Next;
    /// <summary>The node weighted interleave is using.</summary>
    public byte Current;
    /// <summary>Allocations left for <see cref="Current"/> in this round (weighted interleave).</summary>
    public byte Left;

    /// <summary>The next node of <paramref name="mask"/> for plain interleave, or -1 for an empty mask.</summary>
    public int Step(ulong mask)
    {
        int node = NumaPolicy.NextIn(mask, Next);
        if (node >= 0)
            Next = (byte)(node + 1 == NodeDistances.MaxNodes ? 0 : node + 1);
        return node;
    }

    /// <summary>
    /// The next node of <paramref name="mask"/> for weighted interleave: <see cref="Current"/> while it
    /// has weight left and is still in the mask, else the next node of the mask with its full weight
    /// from <paramref name="policy"/> (a node of the mask without a weight counts 1). -1 for an empty mask.
    /// </summary>
    public int StepWeighted(ulong mask, in NumaPolicy policy)
    {
        if (Left == 0 || ((mask >> Current) & 1) == 0)
        {
            int node = Step(mask);
            if (node < 0)
                return -1;
            Current = (byte)node;
            byte weight = policy.Weight(node);
            Left = weight == 0 ? (byte)1 : weight;
        }
        Left--;
        return Current;
    }
}
