using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The encoding of a frame's owner byte, kept beside its <see cref="FrameState"/> byte: who
/// allocated the block (the <see cref="AllocRequest.Owner"/> of the request, 0..63, the bits of
/// <see cref="PoolProperties.OwnerMask"/>). Only the head of an allocated block (Allocated) or of a
/// run (RunFirst) carries an owner; every other frame (free, cached, absent, tail, a run's later
/// pieces) holds <see cref="None"/>. <see cref="PhysicalMemory.Free"/> and
/// <see cref="PhysicalMemory.FreeRun"/> compare the freeing owner with it. Kernel.Memory knows only
/// the numbers; what each owner is, the kernel says in one place.
/// A live container's blocks and runs record its owner in the accounted form, owner | <see cref="Accounted"/>
/// (0x80..0xBF), every other owner's in the plain form: the frees' fast paths compare the byte read signed
/// with the caller's owner read unsigned (<see cref="Frees"/>), so no caller's byte ever matches an accounted
/// form there, and a container's free misses them and is accounted on the slow path (docs/containers.md,
/// "What accounting costs").
/// </summary>
public static class FrameOwner
{
    /// <summary>Owner ids are below this: one bit each in a pool's 64-bit owner mask.</summary>
    public const int Count = 64;

    /// <summary>The named sentinel "no owner": every frame that is not the head of an allocated block or run.</summary>
    public const byte None = 0xFF;

    /// <summary>
    /// The named sentinel "lent to the hypervisor": the head of a page block the balloon took
    /// (<see cref="PhysicalMemory.InflatePageblock"/>), an Allocated block of the page-block order.
    /// Not a valid owner, so no <see cref="PhysicalMemory.Free"/> can name it: only
    /// <see cref="PhysicalMemory.DeflatePageblock"/> gives the block back.
    /// </summary>
    public const byte Balloon = 0xFE;

    /// <summary>
    /// The bit of a head's owner byte that marks the accounted form: set exactly while the owner is a live
    /// container (<see cref="PhysicalMemory.IsContainer"/>), on every block and run it holds.
    /// </summary>
    public const byte Accounted = 0x80;

    /// <summary>The owner a head's byte records, plain or in the accounted form; the sentinels as they are.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte OwnerOf(byte recorded) { return IsAccountedForm(recorded) ? (byte)(recorded & (Count - 1)) : recorded; }

    /// <summary>True for a byte in the accounted form (an owner 0..63 with <see cref="Accounted"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsAccountedForm(byte recorded) { return (recorded & 0xC0) == Accounted; }

    /// <summary>
    /// True when a head recording <paramref name="recorded"/> may be freed by a caller whose expected byte is
    /// <paramref name="expected"/>: the byte read signed equals it. An owner read unsigned (0..255, what the fast
    /// paths pass) matches only a plain form; the accounted form reads negative and matches only
    /// (sbyte)(owner | <see cref="Accounted"/>), which the slow paths pass for a container
    /// (PhysicalMemory.ExpectedOwner). The same instructions as a byte compare (a sign- instead of a zero-extending load).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Frees(byte recorded, int expected) { return (sbyte)recorded == expected; }

    /// <summary>True for an owner id a block can record (0..63).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsValid(byte owner) { return owner < Count; }
}
