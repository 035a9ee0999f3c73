using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// Reads the layout ilc (NativeAOT) emits for a type, for the collector. The MethodTable starts with
/// its flags (a uint: the low 16 bits are the component size when <see cref="HasComponentSizeFlag"/>
/// is set) and the base size (a uint: bytes of an instance with no elements, header word included).
/// When <see cref="HasPointersFlag"/> is set, the GC descriptor grows downwards from the MethodTable:
/// the word just before it is the series count N. N &gt; 0: N series of two words each below it
/// (size, then start offset from the reference), the size stored minus the base size so that adding
/// the object's size gives the bytes the series covers (an array of references then covers its
/// elements). N &lt; 0: an array of structs with references: one start offset (the first element)
/// and -N items of (references, bytes to skip) as two 32-bit halves, item 0 in the word below the
/// offset and the next ones below it, repeated over every element. The same format as CoreCLR's
/// gcdesc.h; Kernel/Runtime/CoreLib/MethodTable.cs has the flags the runtime reads.
/// </summary>
public static unsafe class GcLayout
{
    public const uint HasPointersFlag = 0x01000000;
    public const uint HasComponentSizeFlag = 0x80000000;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool HasPointers(byte* type) => (*(uint*)type & HasPointersFlag) != 0;

    /// <summary>Bytes of the object whose reference is <paramref name="obj"/>, header included: base size plus components x component size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ObjectBytes(byte* obj)
    {
        byte* type = *(byte**)obj;
        uint flags = *(uint*)type;
        ulong size = *(uint*)(type + 4);
        if ((flags & HasComponentSizeFlag) != 0)
            size += (ulong)(ushort)flags * *(uint*)(obj + 8);
        return size;
    }

    /// <summary>The series count N stored just before the MethodTable (negative: repeating series).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long SeriesCount(byte* type) => *(long*)(type - 8);

    /// <summary>Series <paramref name="i"/> (0 = the one nearest the count) of an object of <paramref name="objectBytes"/>: its start offset and the bytes it covers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Series(byte* type, long i, out ulong start, out ulong bytes, ulong objectBytes)
    {
        ulong* series = (ulong*)(type - 8) - 2 * (i + 1);
        bytes = series[0] + objectBytes;
        start = series[1];
    }

    /// <summary>The offset of the first element of a repeating series (the word below the count).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong RepeatStart(byte* type) => *(ulong*)(type - 16);

    /// <summary>Item <paramref name="i"/> (0, -1, -2 ...) of a repeating series: references, then bytes skipped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RepeatItem(byte* type, long i, out uint pointers, out uint skip)
    {
        uint* item = (uint*)(type - 24 + i * 8);
        pointers = item[0];
        skip = item[1];
    }
}
