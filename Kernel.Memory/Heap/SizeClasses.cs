using System.Numerics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The small-object size classes: 16-byte steps up to 128, then four classes per doubling
/// (160, 192, 224, 256, 320, ... 1792, 2048). A request is rounded up by at most 15 bytes below
/// 128 and by at most 25% above, while 24 classes keep the per-node list table small. Sizes come
/// from the formula, not a table, so there is no static data.
/// </summary>
public static class SizeClasses
{
    public const int Count = 24;
    /// <summary>The largest small object; larger requests are page runs.</summary>
    public const ulong MaxSmall = 2048;
    /// <summary>Classes up to 128 bytes step by 16: 8 classes.</summary>
    private const int LinearClasses = 8;

    /// <summary>Cell size of class <paramref name="cls"/> (0..Count-1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint SizeOf(int cls)
    {
        if (cls < LinearClasses)
            return (uint)(16 * (cls + 1));
        int group = (cls - LinearClasses) >> 2;
        uint step = 32u << group;
        return (128u << group) + step * (uint)(((cls - LinearClasses) & 3) + 1);
    }

    /// <summary>The smallest class whose cells hold <paramref name="size"/> bytes (1..MaxSmall).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ForSize(ulong size)
    {
        if (size <= 128)
            return size == 0 ? 0 : (int)((size - 1) >> 4);
        ulong s = size - 1;
        int log = BitOperations.Log2(s);
        return LinearClasses + ((log - 7) << 2) + (int)((s >> (log - 2)) & 3);
    }

    /// <summary>log2 of the alignment every cell of the class has: the largest power of two dividing its size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int AlignShiftOf(int cls) { return BitOperations.TrailingZeroCount(SizeOf(cls)); }
}
