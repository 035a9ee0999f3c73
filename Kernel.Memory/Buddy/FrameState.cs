using System.Runtime.CompilerServices;
using System.Threading;

namespace PoolKernel.Memory;

/// <summary>
/// The encoding of a frame's metadata byte: kind in the top 3 bits, block order in the low 5
/// (orders up to <see cref="Order.Limit"/> = 20 fit). One byte a frame keeps the metadata budget.
/// </summary>
public static unsafe class FrameState
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

    /// <summary>
    /// Changes frame <paramref name="index"/>'s byte from <paramref name="from"/> to <paramref name="to"/> atomically:
    /// false, with nothing written, when it is not <paramref name="from"/>. Of two CPUs changing the same byte at
    /// once exactly one succeeds (a double free from two CPUs is refused once). A compare-exchange of the aligned
    /// 32-bit word that holds the byte (the kernel's core library has no byte form), retried when only a
    /// neighbour's byte changed meanwhile; a plain byte store by another CPU is atomic on x86, so it is either
    /// seen or makes the exchange fail. <paramref name="frames"/> is 4-byte aligned (the metadata's 64) and its
    /// array is padded to 64 bytes, so the word never leaves it.
    /// </summary>
    public static bool TryChange(byte* frames, ulong index, byte from, byte to)
    {
        byte* at = frames + index;
        int* word = (int*)((ulong)at & ~3UL);
        int shift = (int)(((ulong)at & 3) * 8);
        while (true)
        {
            int old = Volatile.Read(ref *word);
            if ((byte)(old >> shift) != from)
                return false;
            int changed = (old & ~(0xFF << shift)) | (to << shift);
            if (Interlocked.CompareExchange(ref *word, changed, old) == old)
                return true;
        }
    }
}
