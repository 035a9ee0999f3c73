using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The encoding of a frame's metadata byte: kind in the top 3 bits, block order in the low 5
/// (orders up to <see cref="Order.Limit"/> = 20 fit). One byte a frame keeps the metadata budget.
/// </summary>
public static class FrameState
{
    private const int KindShift = 5;
    private const byte OrderMask = (1 << KindShift) - 1;

    /// <summary>The byte of an absent frame (all zero, so zeroed metadata means "no memory").</summary>
    public const byte Absent = (byte)FrameKind.Absent << KindShift;

    /// <summary>The byte of a non-head frame.</summary>
    public const byte Tail = (byte)FrameKind.Tail << KindShift;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Make(FrameKind kind, int order) { return (byte)(((int)kind << KindShift) | order); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FrameKind KindOf(byte state) { return (FrameKind)(state >> KindShift); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int OrderOf(byte state) { return state & OrderMask; }
}
