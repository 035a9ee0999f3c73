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

    /// <summary>True for an owner id a block can record (0..63).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsValid(byte owner) { return owner < Count; }
}
