namespace PoolKernel.Memory;

/// <summary>
/// What <see cref="PhysicalMemory.CreateContainer"/> is asked for: a name, the owner number it
/// takes, a quota and a guarantee in pages, and the pools it may allocate from.
/// </summary>
public struct ContainerSpec
{
    public PoolName Name;
    /// <summary>The owner number (0..63) the container is; its blocks carry it. It must hold no block when the container is created.</summary>
    public byte Owner;
    /// <summary>Most pages it may hold over all pools, 1..<see cref="MaxQuotaPages"/>.</summary>
    public ulong QuotaPages;
    /// <summary>Pages always there for it, 0..quota: a pool of its own of this many pages rounded up to whole page blocks (the rounded size must fit the quota).</summary>
    public ulong GuaranteePages;
    /// <summary>The pools it may allocate from, besides its guarantee pool; <see cref="PoolSet.All"/> keeps every pool's owner mask as it is.</summary>
    public PoolSet Pools;

    /// <summary>Quotas are counted in 32-bit atomics (<see cref="AtomicCount"/>).</summary>
    public const ulong MaxQuotaPages = int.MaxValue;

    /// <summary>A container that may use every pool whose owner mask admits its owner number, with no guarantee.</summary>
    public static ContainerSpec Of(PoolName name, byte owner, ulong quotaPages)
    {
        ContainerSpec s = default;
        s.Name = name;
        s.Owner = owner;
        s.QuotaPages = quotaPages;
        s.Pools = PoolSet.All;
        return s;
    }
}
