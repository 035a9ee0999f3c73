using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The index of a pool in the pool table. One byte because page-block metadata stores it
/// (8 bytes a page block); so at most <see cref="MaxPools"/> pools.
/// </summary>
public readonly struct PoolId
{
    /// <summary>255 ids; the 256th byte value is the sentinel <see cref="None"/>.</summary>
    public const int MaxPools = 255;

    public readonly byte Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PoolId(byte value) { Value = value; }

    /// <summary>"No pool": unset request field, page block outside every pool, end of iteration.</summary>
    public static PoolId None
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return new PoolId(0xFF); }
    }

    public bool IsNone
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return Value == 0xFF; }
    }

    public static bool operator ==(PoolId a, PoolId b) { return a.Value == b.Value; }
    public static bool operator !=(PoolId a, PoolId b) { return a.Value != b.Value; }
}
