using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The index of a pool in the pool table. One byte because page-block metadata stores it
/// (8 bytes a page block); so at most <see cref="MaxIds"/> pools in any pool table.
/// </summary>
public readonly struct PoolId
{
    /// <summary>
    /// Ids a byte can name: 0..254, because the 256th byte value is the sentinel <see cref="None"/>.
    /// The upper bound of every pool table's <see cref="MemoryConfig.PoolCapacity"/>.
    /// </summary>
    public const int MaxIds = 255;

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
