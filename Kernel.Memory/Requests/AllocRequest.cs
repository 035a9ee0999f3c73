using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>Request options.</summary>
[System.Flags]
public enum RequestFlags : byte
{
    None = 0,
    /// <summary>Only pools on <see cref="AllocRequest.PreferredNode"/> qualify (no remote fallback).</summary>
    NodeStrict = 1 << 0,
}

/// <summary>
/// What an allocation asks for. Either names a pool (<see cref="Pool"/>) or leaves it
/// <see cref="PoolId.None"/> and lets pool choice pick one from the constraints. Constraints apply
/// in both cases. The zero value of every field means "no constraint"; start from
/// <see cref="Any"/> or <see cref="InPool"/> (a default(AllocRequest) names pool 0).
/// </summary>
public struct AllocRequest
{
    /// <summary>The pool to allocate from, or None to choose by constraints.</summary>
    public PoolId Pool;
    /// <summary>Lowest acceptable physical address of the first byte (inclusive).</summary>
    public PhysAddr Lowest;
    /// <summary>Highest acceptable physical address of the last byte (inclusive); 0 = no limit.</summary>
    public PhysAddr Highest;
    /// <summary>Device address width: the block must lie below 2^bits. 0 = no limit; else 12..63.</summary>
    public byte DmaAddressBits;
    /// <summary>Alignment of the first byte in bytes (power of two); 0 = the block's natural alignment.</summary>
    public ulong Alignment;
    /// <summary>The block must not cross a multiple of this many bytes (power of two); 0 = no boundary.</summary>
    public ulong Boundary;
    /// <summary>Node to allocate near; <see cref="NoNode"/> = no preference.</summary>
    public byte PreferredNode;
    /// <summary>The allocating owner (0..63); pools refuse owners outside their owner mask.</summary>
    public byte Owner;
    public MobilityClass Mobility;
    public RequestFlags Flags;

    public const byte NoNode = 0xFF;

    /// <summary>No constraints; pool chosen by the pool-choice rule.</summary>
    public static AllocRequest Any
    {
        get
        {
            AllocRequest r = default;
            r.Pool = PoolId.None;
            r.PreferredNode = NoNode;
            return r;
        }
    }

    /// <summary>From the named pool, no further constraints.</summary>
    public static AllocRequest InPool(PoolId pool)
    {
        AllocRequest r = Any;
        r.Pool = pool;
        return r;
    }

    /// <summary>A device that can address only <paramref name="bits"/> bits (24 for ISA DMA, 32 for DMA32).</summary>
    public static AllocRequest Dma(byte bits)
    {
        AllocRequest r = Any;
        r.DmaAddressBits = bits;
        return r;
    }

    /// <summary>True when any address, alignment or boundary constraint is set (fast path test).</summary>
    public readonly bool HasAddressRules
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return (Lowest.Value | Highest.Value | DmaAddressBits | Alignment | Boundary) != 0; }
    }
}
