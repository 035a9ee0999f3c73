using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PoolKernel.Memory;

/// <summary>
/// How the heap zeroes memory. Every object is zeroed on allocation (the runtime needs it), so this
/// is the heap's largest cost per byte. Three routines:
/// <list type="bullet">
/// <item><see cref="Cell"/>: a cell (16..2048 bytes, a multiple of 16, 16-aligned), inline in the
/// allocation fast path: 64-, 32- and 16-byte block stores, which both compilers emit as SIMD stores
/// (SSE2 at least), with no call and no start-up cost.</item>
/// <item>The host's or kernel's routine, set with <see cref="KernelHeap.SetZeroing"/>, for page runs:
/// pure code has no memset, so the glue passes one in (the kernel: <c>rep stos</c>, which the CPU turns
/// into full-line writes; the host: the runtime's vectorised clear).</item>
/// <item><see cref="Portable"/>: the same block stores in a loop, when no routine was set.</item>
/// </list>
/// </summary>
public static unsafe class HeapZeroing
{
    /// <summary>
    /// Cells at most this large are zeroed inline by <see cref="Cell"/>; larger cells go to the
    /// zeroing routine when one is set (its start-up cost is then small next to the bytes).
    /// </summary>
    public const uint InlineCellLimit = 256;

    // Blocks of bytes with no fields: storing `default` through a pointer is one block initialisation
    // of that size, which the compilers unroll into SIMD stores.
    [StructLayout(LayoutKind.Sequential, Size = 16)] private struct Block16 { }
    [StructLayout(LayoutKind.Sequential, Size = 32)] private struct Block32 { }
    [StructLayout(LayoutKind.Sequential, Size = 64)] private struct Block64 { }

    /// <summary>Zeroes a cell: <paramref name="bytes"/> a multiple of 16, <paramref name="at"/> 16-aligned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Cell(byte* at, uint bytes)
    {
        while (bytes >= 64)
        {
            *(Block64*)at = default;
            at += 64;
            bytes -= 64;
        }
        if ((bytes & 32) != 0)
        {
            *(Block32*)at = default;
            at += 32;
        }
        if ((bytes & 16) != 0)
            *(Block16*)at = default;
    }

    /// <summary>
    /// Zeroes <paramref name="bytes"/> bytes at <paramref name="at"/>, any alignment, any length: the
    /// heap's routine when its glue sets none. Unaligned block stores (the compilers emit unaligned
    /// SIMD moves for these structs), then 8-byte and single-byte stores for the tail.
    /// </summary>
    public static void Portable(byte* at, ulong bytes)
    {
        while (bytes >= 64)
        {
            *(Block64*)at = default;
            at += 64;
            bytes -= 64;
        }
        while (bytes >= 8)
        {
            *(ulong*)at = 0;
            at += 8;
            bytes -= 8;
        }
        while (bytes != 0)
        {
            *at = 0;
            at++;
            bytes--;
        }
    }
}
