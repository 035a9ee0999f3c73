using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>What the container tests share: a spec built from its parts, and a container's usage read by the supervisor (owner 0).</summary>
public static unsafe class ContainerHelpers
{
    /// <summary>Container <paramref name="name"/> as <paramref name="owner"/> with a quota and a guarantee in pages; <paramref name="pools"/>, when given, the only pools it may take from.</summary>
    public static ContainerSpec Spec(string name, byte owner, ulong quota, ulong guarantee = 0, params PoolId[] pools)
    {
        ContainerSpec s = ContainerSpec.Of(PoolName.From(name), owner, quota);
        s.GuaranteePages = guarantee;
        if (pools.Length > 0)
        {
            s.Pools = default;
            foreach (PoolId p in pools)
                s.Pools.Add(p);
        }
        return s;
    }

    /// <summary>Container <paramref name="owner"/>'s usage as the supervisor (owner 0) reads it; the read must succeed.</summary>
    public static ContainerUsage Usage(PhysicalMemory* pm, byte owner)
    {
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerUsage(0, owner, out ContainerUsage u));
        return u;
    }
}
