using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// A physical frame number: the index of a 4 KiB frame (physical address >> 12).
/// All conversions between frames, addresses and orders live here and in
/// <see cref="PhysAddr"/> and <see cref="Order"/>.
/// </summary>
public readonly struct Pfn
{
    /// <summary>log2 of the frame size: frames are 4 KiB (x86-64 base pages).</summary>
    public const int PageShift = 12;

    /// <summary>Bytes in one frame, derived from <see cref="PageShift"/>.</summary>
    public const ulong PageSize = 1UL << PageShift;

    /// <summary>Bits of a physical address: the x86-64 architectural maximum (CPUID 0x80000008 reports at most 52).</summary>
    public const int AddressBits = 52;

    /// <summary>Frames below 2^<see cref="AddressBits"/> bytes: no frame number reaches it. Set-up leaves RAM at or above it unused.</summary>
    public const ulong Limit = 1UL << (AddressBits - PageShift);

    /// <summary>The sentinel "no frame" (never a real frame: it would be at 2^76 bytes).</summary>
    public static Pfn None
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return new Pfn(ulong.MaxValue); }
    }

    public readonly ulong Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Pfn(ulong value) { Value = value; }

    public bool IsNone
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return Value == ulong.MaxValue; }
    }

    /// <summary>The physical address of the first byte of this frame.</summary>
    public PhysAddr Address
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return new PhysAddr(Value << PageShift); }
    }

    /// <summary>True when this frame can head a block of <paramref name="order"/> (natural alignment).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsAlignedTo(Order order) { return (Value & (order.Pages - 1)) == 0; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Pfn Plus(ulong pages) { return new Pfn(Value + pages); }

    public static bool operator ==(Pfn a, Pfn b) { return a.Value == b.Value; }
    public static bool operator !=(Pfn a, Pfn b) { return a.Value != b.Value; }
    public static bool operator <(Pfn a, Pfn b) { return a.Value < b.Value; }
    public static bool operator >(Pfn a, Pfn b) { return a.Value > b.Value; }
    public static bool operator <=(Pfn a, Pfn b) { return a.Value <= b.Value; }
    public static bool operator >=(Pfn a, Pfn b) { return a.Value >= b.Value; }

}
