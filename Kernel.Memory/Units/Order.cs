using System.Numerics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// A buddy order: a block of order k is 2^k contiguous frames, naturally aligned
/// (its first frame number is a multiple of 2^k).
/// </summary>
public readonly struct Order
{
    /// <summary>
    /// The largest order any configuration may use: 2^20 frames = 4 GiB blocks.
    /// Bounds the per-pool free-list table and the frame-state encoding (5 bits).
    /// </summary>
    public const int Limit = 20;

    public readonly int Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Order(int value) { Value = value; }

    /// <summary>Frames in a block of this order.</summary>
    public ulong Pages
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return 1UL << Value; }
    }

    /// <summary>Bytes in a block of this order.</summary>
    public ulong Bytes
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return Pfn.PageSize << Value; }
    }

    /// <summary>The smallest order whose block holds <paramref name="pages"/> frames (pages &gt;= 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Order Covering(ulong pages)
    {
        return new Order(pages <= 1 ? 0 : 64 - BitOperations.LeadingZeroCount(pages - 1));
    }

    public static bool operator ==(Order a, Order b) { return a.Value == b.Value; }
    public static bool operator !=(Order a, Order b) { return a.Value != b.Value; }
    public static bool operator <(Order a, Order b) { return a.Value < b.Value; }
    public static bool operator >(Order a, Order b) { return a.Value > b.Value; }
    public static bool operator <=(Order a, Order b) { return a.Value <= b.Value; }
    public static bool operator >=(Order a, Order b) { return a.Value >= b.Value; }

}
