using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// What a pool is: where its memory may come from and who may allocate from it.
/// A "DMA32 zone on node 1" is a pool whose window is [16 MiB, 4 GiB) and whose node mask is 1 &lt;&lt; 1.
/// Fields marked "later" are carried by the model now and get behaviour in later issues.
/// </summary>
public struct PoolProperties
{
    public PoolName Name;
    /// <summary>Nodes whose memory the pool may hold (bit n = node n).</summary>
    public ulong NodeMask;
    /// <summary>CPUs the pool serves (per-CPU caches and CPU-local choice: later).</summary>
    public ulong CpuMask;
    /// <summary>Lowest physical address of the pool's window (inclusive).</summary>
    public PhysAddr WindowLow;
    /// <summary>One past the highest physical address of the pool's window (exclusive); 0 means no upper limit.</summary>
    public PhysAddr WindowHigh;
    public PoolFlags Flags;
    /// <summary>Higher priority pools are tried first by constraint requests.</summary>
    public byte Priority;
    /// <summary>The owner the pool belongs to (quotas: later).</summary>
    public byte Owner;
    /// <summary>Owners allowed to allocate (bit n = owner n). Enforced now.</summary>
    public ulong OwnerMask;
    /// <summary>Guaranteed size in pages: moves and destruction never take the pool below it.</summary>
    public ulong MinimumPages;
    /// <summary>Largest size in pages; 0 means unlimited.</summary>
    public ulong MaximumPages;
    /// <summary>Mobility classes the pool accepts.</summary>
    public MobilityMask AcceptedMobility;

    /// <summary>The exclusive upper end of the window as a frame number (no limit = all 52-bit physical space).</summary>
    public readonly ulong WindowEndPfn
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get { return WindowHigh.Value == 0 ? Pfn.Limit : WindowHigh.Value >> Pfn.PageShift; }
    }

    public readonly ulong WindowStartPfn { [MethodImpl(MethodImplOptions.AggressiveInlining)] get { return WindowLow.FrameUp.Value; } }

    /// <summary>A pool anyone may use, on every node, anywhere in memory, with no size limits.</summary>
    public static PoolProperties Open(string name)
    {
        PoolProperties p = default;
        p.Name = PoolName.From(name);
        p.NodeMask = ulong.MaxValue;
        p.CpuMask = ulong.MaxValue;
        p.OwnerMask = ulong.MaxValue;
        p.AcceptedMobility = MobilityMask.All;
        return p;
    }

    /// <summary>True when a page block starting at <paramref name="startPfn"/> of <paramref name="pages"/> frames on <paramref name="node"/> fits these properties.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Admits(ulong startPfn, ulong pages, int node)
    {
        return startPfn >= WindowStartPfn && startPfn + pages <= WindowEndPfn && ((NodeMask >> node) & 1) != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool AllowsOwner(byte owner)
    {
        return owner < 64 && ((OwnerMask >> owner) & 1) != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Accepts(MobilityClass mobility)
    {
        return (((uint)AcceptedMobility >> (int)mobility) & 1) != 0;
    }
}
