using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The header at the start of every slab (a buddy block of 2^order frames holding cells of one
/// size class). Cells start at <see cref="FirstOffset"/> (the header rounded up to the class's
/// alignment) and follow each other at <see cref="ObjectSize"/>; what is left at the end is slack.
/// Free cells are chained through their first two bytes (the offset of the next free cell, 0 at
/// the end: offset 0 is the header, never a cell), so the free list costs no metadata; the in-use
/// bits make a double free an O(1) refusal; the mark bits are for the collector (cleared when the
/// slab is made, not used by the heap itself).
/// </summary>
public unsafe struct SlabHeader
{
    /// <summary>At most this many cells a slab: the in-use and mark bitmaps are 4 x 64 bits.</summary>
    public const int MaxObjects = 256;

    /// <summary>"PKHEAPSL": XORed with the header's own address, so a copied or stale header does not pass.</summary>
    public const ulong Magic = 0x504B48454150534CUL;

    /// <summary>Values of <see cref="List"/>.</summary>
    public const byte OnNoList = 0, OnPartialList = 1;

    /// <summary>Magic ^ address of this header.</summary>
    public ulong Check;
    /// <summary>Links on the partial list of (Node, Class).</summary>
    public SlabHeader* Next;
    public SlabHeader* Prev;
    public ushort ObjectSize;
    public ushort FirstOffset;
    public ushort Capacity;
    public ushort FreeCount;
    /// <summary>Offset of the first free cell from the slab start; 0 = none.</summary>
    public ushort FreeHead;
    public byte Class;
    /// <summary>The node of the slab's frames (its page block's node); the slab lives on that node's list.</summary>
    public byte Node;
    public byte Order;
    /// <summary><see cref="OnNoList"/> (full) or <see cref="OnPartialList"/>.</summary>
    public byte List;
    public fixed ulong InUse[MaxObjects / 64];
    public fixed ulong Marks[MaxObjects / 64];

    /// <summary>Bytes the header takes, rounded to 16 (the smallest cell alignment).</summary>
    public const int Bytes = 112;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong CheckWord(SlabHeader* slab) { return Magic ^ (ulong)slab; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TestBit(ulong* bits, int i) { return (bits[i >> 6] & (1UL << (i & 63))) != 0; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetBit(ulong* bits, int i) { bits[i >> 6] |= 1UL << (i & 63); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ClearBit(ulong* bits, int i) { bits[i >> 6] &= ~(1UL << (i & 63)); }
}
