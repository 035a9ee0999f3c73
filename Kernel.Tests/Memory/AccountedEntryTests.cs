using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The public entries test no owner for accounting (issue 17, docs/containers.md "What accounting costs"): an owner
/// that is not a container is served by the fast paths, a container's every call misses them (the pools' fast owner
/// masks, the remembered choices' owner form, the accounted form of its owner bytes) and is accounted on a slow path.
/// Shown in every entry shape by the locks a call takes (two CPUs with the process-wide barrier: an own-cache hit takes
/// none, a slow path takes its CPU's cache lock and the pool's), by the container's counts and by the owner bytes,
/// including when the container is created while the caches and the memo are warm for its owner number, and after it
/// is destroyed (the owner served fast again).
/// </summary>
public unsafe class AccountedEntryTests
{
    private const ulong MiB = 1UL << 20;
    private const byte Kernel = 0, Plain = 5, Web = 10;
    private const int CachedPoolPageblocks = 16;

    [ThreadStatic]
    private static int t_locksTaken;
    private static ulong CountLock() { t_locksTaken++; return 0; }
    private static void Restore(ulong state) { }

    /// <summary>q35, 256 MiB, one node, two CPUs with the barrier (lock-free own caches), locks counted, a container table, and a pool of its own big enough for caches.</summary>
    private sealed class Machine : ContainerMachine
    {
        public readonly PoolId Cached;

        public Machine() : base(Boot())
        {
            PoolProperties props = PoolProperties.Open("acct-cached");
            props.Flags = PoolFlags.Reserved;
            Assert.Equal(MemoryStatus.Ok, Pm->CreatePool(props, MemoryAssert.FindPool(Pm, "node0-dma32"), CachedPoolPageblocks, out Cached));
            Assert.True(Pm->_buddy.CacheOf(Cached.Value, 0)->High > 0);
        }

        private static HostPhysicalMemory Boot()
        {
            HostCpus.Enter(0);
            MemoryConfig config = HostCpus.Config(2);
            config.SaveAndDisableInterrupts = &CountLock;
            config.RestoreInterrupts = &Restore;
            return QemuMaps.Boot("q35", 256 * MiB, 1, config);
        }
    }

    /// <summary>An entry shape: a block of an order, named or by pool choice, or a run of pages.</summary>
    private readonly record struct Shape(string Name, int Order, bool Named, ulong RunPages)
    {
        public ulong Pages => RunPages != 0 ? RunPages : 1UL << Order;
        /// <summary>A shape an own-cache hit serves (order 0 and the block-cache orders, named or by choice).</summary>
        public bool Fast => RunPages == 0;
    }

    private static readonly Shape[] Shapes =
    {
        new("order 0 named", 0, true, 0),
        new("order 0 by choice", 0, false, 0),
        new("order 3 named", 3, true, 0),
        new("order 3 by choice", 3, false, 0),
        new("order 2 named", 2, true, 0),
        new("run named", 0, true, 5),
        new("run by choice", 0, false, 5),
    };

    private static AllocRequest RequestOf(Machine m, Shape s, byte owner)
    {
        AllocRequest r = s.Named ? AllocRequest.InPool(m.Cached) : AllocRequest.Any;
        r.Owner = owner;
        return r;
    }

    private static MemoryStatus Allocate(Machine m, Shape s, byte owner, out Pfn pfn)
    {
        AllocRequest r = RequestOf(m, s, owner);
        return s.RunPages != 0 ? m.Pm->AllocateRun(s.RunPages, r, out pfn) : m.Pm->Allocate(new Order(s.Order), r, out pfn);
    }

    private static MemoryStatus Free(Machine m, Shape s, Pfn pfn, byte owner)
    {
        return s.RunPages != 0 ? m.Pm->FreeRun(pfn, s.RunPages, owner) : m.Pm->Free(pfn, new Order(s.Order), owner);
    }

    private static ulong Held(PhysicalMemory* pm, byte owner)
    {
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerUsage(Kernel, owner, out ContainerUsage u));
        return u.HeldPages;
    }

    /// <summary>A pair of <paramref name="owner"/> in shape <paramref name="s"/>, twice (the first warms caches and memo); the locks the second took.</summary>
    private static int WarmPairLocks(Machine m, Shape s, byte owner)
    {
        Assert.Equal(MemoryStatus.Ok, Allocate(m, s, owner, out Pfn warm));
        Assert.Equal(MemoryStatus.Ok, Free(m, s, warm, owner));
        t_locksTaken = 0;
        Assert.Equal(MemoryStatus.Ok, Allocate(m, s, owner, out Pfn pfn));
        Assert.Equal(MemoryStatus.Ok, Free(m, s, pfn, owner));
        return t_locksTaken;
    }

    /// <summary>
    /// Container <paramref name="owner"/>'s pair in shape <paramref name="s"/> after a warm-up pair: allocated, it is
    /// counted (held = its pages) and its head records the accounted form; the allocation and the free each took a
    /// lock (a slow path: no fast path served it); freed, the count is back to 0. The checker is clean after each step.
    /// </summary>
    private static void AssertAccountedPair(Machine m, Shape s, byte owner)
    {
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, Allocate(m, s, owner, out Pfn warm));
        Assert.Equal(MemoryStatus.Ok, Free(m, s, warm, owner));
        t_locksTaken = 0;
        Assert.Equal(MemoryStatus.Ok, Allocate(m, s, owner, out Pfn pfn));
        Assert.True(t_locksTaken > 0, $"{s.Name}: the container's allocation took no lock (a fast path served it)");
        Assert.Equal(s.Pages, Held(pm, owner));
        Assert.Equal(owner, pm->OwnerOf(pfn));
        Assert.Equal((byte)(owner | FrameOwner.Accounted), pm->_buddy._owners[pfn.Value - pm->_basePfn]);
        MemoryAssert.Consistent(pm);
        t_locksTaken = 0;
        Assert.Equal(MemoryStatus.Ok, Free(m, s, pfn, owner));
        Assert.True(t_locksTaken > 0, $"{s.Name}: the container's free took no lock (a fast path served it)");
        Assert.Equal(0UL, Held(pm, owner));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// Every entry shape: a plain owner's warm pair of a cached shape takes no lock at all (the fast paths, the same as
    /// before containers), a container's takes the slow path both ways and is counted exactly. Fails on main, whose
    /// public entries sent a container's call through the same fast paths (no lock) after their owner test.
    /// </summary>
    [Fact]
    public void EveryEntryShape_AContainersCallsTakeTheAccountedSlowPath_APlainOwnersTheFastPath()
    {
        using var m = new Machine();
        Assert.Equal(MemoryStatus.Ok, m.Pm->CreateContainer(ContainerSpec.Of(PoolName.From("web"), Web, 4096)));
        foreach (Shape s in Shapes)
        {
            int plainLocks = WarmPairLocks(m, s, Plain);
            if (s.Fast)
                Assert.True(plainLocks == 0, $"{s.Name}: a plain owner's warm pair took {plainLocks} locks");
            AssertAccountedPair(m, s, Web);
        }
        Assert.Equal(MemoryStatus.Ok, m.Pm->DestroyContainer(Web));
        MemoryAssert.Consistent(m.Pm);
    }

    /// <summary>
    /// Owner Web makes pairs of every shape as a plain owner (its frames in the caches, its pool choices remembered with
    /// the plain owner byte), then becomes a container: from its first call every shape is accounted and the quota holds
    /// (the 17th order-0 frame of a quota of 16 is refused as the quota, named or by choice, nothing changed). Destroyed,
    /// it is a plain owner again: its warm pairs take no lock and record the plain owner byte.
    /// </summary>
    [Fact]
    public void AContainerCreatedWhileItsOwnerIsWarmInCachesAndMemo_IsAccountedFromItsFirstCall_AndServedFastAgainAfterDestroy()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        foreach (Shape s in Shapes)
        {
            int locks = WarmPairLocks(m, s, Web);
            if (s.Fast)
                Assert.True(locks == 0, $"{s.Name}: warm pair as a plain owner took {locks} locks");
        }

        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(ContainerSpec.Of(PoolName.From("web"), Web, 16)));
        MemoryAssert.Consistent(pm);
        foreach (Shape s in Shapes)
        {
            t_locksTaken = 0;
            Assert.Equal(MemoryStatus.Ok, Allocate(m, s, Web, out Pfn first));
            Assert.True(t_locksTaken > 0, $"{s.Name}: the first call as a container took no lock");
            Assert.Equal(s.Pages, Held(pm, Web));
            Assert.Equal(MemoryStatus.Ok, Free(m, s, first, Web));
            Assert.Equal(0UL, Held(pm, Web));
            MemoryAssert.Consistent(pm);
        }
        var frames = new List<Pfn>();
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(MemoryStatus.Ok, Allocate(m, Shapes[i % 2], Web, out Pfn f));
            frames.Add(f);
        }
        MemoryAssert.Refused(m.Host, MemoryStatus.QuotaExceeded, () => Allocate(m, Shapes[0], Web, out _));
        MemoryAssert.Refused(m.Host, MemoryStatus.QuotaExceeded, () => Allocate(m, Shapes[1], Web, out _));
        foreach (Pfn f in frames)
            Assert.Equal(MemoryStatus.Ok, pm->Free(f, new Order(0), Web));
        Assert.Equal(0UL, Held(pm, Web));

        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        MemoryAssert.Consistent(pm);
        foreach (Shape s in Shapes)
        {
            int locks = WarmPairLocks(m, s, Web);
            if (s.Fast)
                Assert.True(locks == 0, $"{s.Name}: warm pair after destroy took {locks} locks");
            Assert.Equal(MemoryStatus.Ok, Allocate(m, s, Web, out Pfn pfn));
            Assert.Equal(Web, pm->_buddy._owners[pfn.Value - pm->_basePfn]);
            Assert.Equal(MemoryStatus.Ok, Free(m, s, pfn, Web));
        }
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// A call nested in the calling CPU's own section on its cache (an interrupt handler's: the cache's Active word
    /// already up) bypasses the cache for a container too, and is accounted: held while allocated, 0 once freed.
    /// </summary>
    [Fact]
    public void ANestedCallOfAContainer_BypassesTheCache_AndIsAccounted()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(ContainerSpec.Of(PoolName.From("web"), Web, 64)));
        foreach (int order in new[] { 0, 3 })
        {
            Shape s = new("nested", order, true, 0);
            Assert.Equal(MemoryStatus.Ok, Allocate(m, s, Web, out Pfn warm));
            Assert.Equal(MemoryStatus.Ok, Free(m, s, warm, Web));
            CacheLock* l = pm->_buddy.CacheLockOf(m.Cached.Value, 0);
            ulong cached = pm->_buddy.CpuCachedCount(m.Cached.Value, 0);
            l->Active = 1;
            Assert.Equal(MemoryStatus.Ok, Allocate(m, s, Web, out Pfn pfn));
            Assert.Equal(1UL << order, Held(pm, Web));
            Assert.Equal(MemoryStatus.Ok, Free(m, s, pfn, Web));
            l->Active = 0;
            Assert.Equal(0UL, Held(pm, Web));
            Assert.Equal(cached, pm->_buddy.CpuCachedCount(m.Cached.Value, 0));
            MemoryAssert.Consistent(pm);
        }
    }

    /// <summary>
    /// No caller's owner byte frees a container's block but the container's: not the accounted form itself
    /// (owner | 0x80, which the blocks record), nor the sentinels; a plain owner's block is not freed by its
    /// owner's accounted form either. Each refused NotOwner, nothing changed.
    /// </summary>
    [Fact]
    public void TheAccountedFormAsACallersOwner_FreesNothing()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(ContainerSpec.Of(PoolName.From("web"), Web, 64)));
        foreach (Shape s in new[] { Shapes[0], Shapes[2], Shapes[5] })
        {
            Assert.Equal(MemoryStatus.Ok, Allocate(m, s, Web, out Pfn mine));
            Assert.Equal(MemoryStatus.Ok, Allocate(m, s, Plain, out Pfn plain));
            foreach (byte forged in new[] { (byte)(Web | FrameOwner.Accounted), FrameOwner.None, FrameOwner.Balloon, (byte)(Web | 0x40) })
                MemoryAssert.Refused(m.Host, MemoryStatus.NotOwner, () => Free(m, s, mine, forged));
            MemoryAssert.Refused(m.Host, MemoryStatus.NotOwner, () => Free(m, s, plain, (byte)(Plain | FrameOwner.Accounted)));
            Assert.Equal(MemoryStatus.Ok, Free(m, s, mine, Web));
            Assert.Equal(MemoryStatus.Ok, Free(m, s, plain, Plain));
        }
        Assert.Equal(0UL, Held(pm, Web));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// The balloon's sentinel (<see cref="FrameOwner.Balloon"/>, 0xFE) as a caller's owner frees no page block lent to
    /// the hypervisor: the free's compare reads the byte signed (-2), which no owner read unsigned equals, and the slow
    /// path's expected byte for 0xFE is 254. Fails on main, whose byte compare matched the sentinel and freed the lent
    /// page block through the pool-lock fast path (a lent block back on the lists, the pool's ballooned count wrong).
    /// </summary>
    [Fact]
    public void TheBalloonsSentinelAsACallersOwner_FreesNoLentPageblock()
    {
        using var host = QemuMaps.Boot("pc", 256 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolProperties props = PoolProperties.Open("guest");
        props.Flags = PoolFlags.Elastic;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(props, MemoryAssert.FindPool(pm, "node0-dma32"), 1, out PoolId elastic));
        Assert.Equal(MemoryStatus.Ok, pm->InflatePageblock(out Pfn start, out PoolId from));
        Assert.Equal(elastic, from);
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(start, new Order(pm->PageblockOrder), FrameOwner.Balloon));
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(start, new Order(0), FrameOwner.Balloon));
        Assert.Equal(MemoryStatus.Ok, pm->DeflatePageblock(start));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// The checker names what would let a fast path serve a container (<see cref="InvariantCode.AccountedOwnerForm"/>):
    /// a pool's fast owner mask that still admits it (order 1), a container's head in the plain form (order 0), a
    /// remembered choice of the current generation with a container's plain owner byte (order 2).
    /// </summary>
    [Fact]
    public void TheCheckerFindsAFastPathThatCouldServeAContainer()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), RequestOf(m, Shapes[1], Web), out Pfn plainFrame));
        Assert.Equal(MemoryStatus.Ok, pm->Free(plainFrame, new Order(0), Web));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(ContainerSpec.Of(PoolName.From("web"), Web, 64)));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), RequestOf(m, Shapes[0], Web), out Pfn frame));
        MemoryAssert.Consistent(pm);

        ref Pool pool = ref pm->_buddy._pools[m.Cached.Value];
        pool.UnaccountedOwners |= 1UL << Web;
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.AccountedOwnerForm, r.Code);
        Assert.Equal(1, r.Order);
        pool.UnaccountedOwners &= ~(1UL << Web);
        MemoryAssert.Consistent(pm);

        ulong index = frame.Value - pm->_basePfn;
        pm->_buddy._owners[index] = Web;
        r = pm->Check();
        Assert.Equal(InvariantCode.AccountedOwnerForm, r.Code);
        Assert.Equal(0, r.Order);
        pm->_buddy._owners[index] = (byte)(Web | FrameOwner.Accounted);
        MemoryAssert.Consistent(pm);

        // A plain entry of Web's, written in the current generation as if the creation had not outdated it.
        uint before = pm->_poolGeneration;
        pm->_poolGeneration = before - 1;
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), RequestOf(m, Shapes[1], Web), out Pfn again));
        Assert.Equal(MemoryStatus.Ok, pm->Free(again, new Order(0), Web));
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(ContainerSpec.Of(PoolName.From("web"), Web, 64)));
        uint created = pm->_poolGeneration;
        pm->_poolGeneration = before; // the destroy and the creation each bumped it once: back to the entry's
        r = pm->Check();
        Assert.Equal(InvariantCode.AccountedOwnerForm, r.Code);
        Assert.Equal(2, r.Order);
        pm->_poolGeneration = created;
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        MemoryAssert.Consistent(pm);
    }
}
