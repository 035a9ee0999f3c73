using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The first pool of the pool-choice order (<see cref="PoolChoice"/>) remembered for the last few
/// request shapes without address rules: (order, preferred node, owner, mobility class, flags).
/// For such a request the order depends only on the pool table (properties and which slots are
/// live) and the node distances, so an entry stays right until a pool is created or destroyed,
/// which bumps <see cref="PhysicalMemory"/>'s pool generation and so outdates every entry at once
/// (refused calls bump nothing: they leave the table as it was). Entries are written only by
/// successful allocations. A hit
/// skips the pass over all live pools; when the remembered pool has no fitting block the walk
/// goes on from the pool after it, exactly as without the memo. Four entries, direct-mapped: the
/// kernel heap asks with a handful of shapes (slab pages and large objects, per node).
/// </summary>
public unsafe struct ChoiceMemo
{
    public const int Entries = 4;

    private fixed ulong _shape[Entries];
    private fixed ulong _key[Entries];
    private fixed uint _generation[Entries];
    private fixed int _pool[Entries];

    /// <summary>The shape of a rule-free request as one number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Shape(int order, in AllocRequest request)
    {
        return (ulong)(uint)order | ((ulong)request.PreferredNode << 8) | ((ulong)request.Owner << 16) |
            ((ulong)request.Mobility << 24) | ((ulong)request.Flags << 32);
    }

    /// <summary>The remembered first pool and its sort key for <paramref name="shape"/> in <paramref name="generation"/>; false when none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool TryGet(ulong shape, uint generation, out int pool, out ulong key)
    {
        int slot = Slot(shape);
        pool = _pool[slot];
        key = _key[slot];
        return _generation[slot] == generation && _shape[slot] == shape;
    }

    /// <summary>Remembers <paramref name="pool"/> (sort key <paramref name="key"/>) as the first choice for <paramref name="shape"/>.</summary>
    public void Set(ulong shape, uint generation, int pool, ulong key)
    {
        int slot = Slot(shape);
        _shape[slot] = shape;
        _key[slot] = key;
        _generation[slot] = generation;
        _pool[slot] = pool;
    }

    /// <summary>Entry <paramref name="slot"/> (0..<see cref="Entries"/> - 1) for the checker: its generation and pool.</summary>
    public readonly void Entry(int slot, out uint generation, out int pool)
    {
        generation = _generation[slot];
        pool = _pool[slot];
    }

    /// <summary>Overwrites entry <paramref name="slot"/>'s pool (tests of the checker).</summary>
    internal void SetPool(int slot, int pool) { _pool[slot] = pool; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Slot(ulong shape)
    {
        return (int)((shape ^ (shape >> 8) ^ (shape >> 16)) & (Entries - 1));
    }
}
