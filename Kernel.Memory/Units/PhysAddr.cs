using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>A physical byte address.</summary>
public readonly struct PhysAddr
{
    public readonly ulong Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PhysAddr(ulong value) { Value = value; }

    /// <summary>The frame containing this address.</summary>
    public Pfn FrameDown
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return new Pfn(Value >> Pfn.PageShift); }
    }

    /// <summary>The first frame that starts at or above this address (saturates at the top of the space).</summary>
    public Pfn FrameUp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            ulong up = Value + (Pfn.PageSize - 1);
            if (up < Value)
                return new Pfn(1UL << (64 - Pfn.PageShift));
            return new Pfn(up >> Pfn.PageShift);
        }
    }

    public static bool operator ==(PhysAddr a, PhysAddr b) { return a.Value == b.Value; }
    public static bool operator !=(PhysAddr a, PhysAddr b) { return a.Value != b.Value; }
    public static bool operator <(PhysAddr a, PhysAddr b) { return a.Value < b.Value; }
    public static bool operator >(PhysAddr a, PhysAddr b) { return a.Value > b.Value; }
    public static bool operator <=(PhysAddr a, PhysAddr b) { return a.Value <= b.Value; }
    public static bool operator >=(PhysAddr a, PhysAddr b) { return a.Value >= b.Value; }

}
