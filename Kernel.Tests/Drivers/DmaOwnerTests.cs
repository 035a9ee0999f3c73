using System.Runtime.InteropServices;
using PoolKernel.Drivers.Dma;
using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using PoolKernel.Tests.Policy;
using Xunit;

namespace PoolKernel.Tests.Drivers;

/// <summary>
/// Drivers as containers (issue 17; docs/drivers.md "Drivers as containers"): every buffer of a shared
/// DMA pool is allocated and freed as its driver's container, charged to it and limited by its quota;
/// one driver's container cannot free another's buffer; releasing an owner gives back everything it
/// left, and its container is then destroyed empty with the checker clean.
/// </summary>
public unsafe class DmaOwnerTests : IDisposable
{
    private const ulong KiB = 1024, MiB = 1024 * KiB;
    private const byte Kernel = 0, DmaOwner = 2, Ide = 63, Virtio = 62;
    private readonly HostPhysicalMemory _host = QemuMaps.Boot("pc", 512 * MiB, 1);
    private readonly void* _table = NativeMemory.AlignedAlloc((nuint)PhysicalMemory.ContainerTableBytes, 64);
    private readonly DmaPoolManager _dma;
    private PhysicalMemory* Pm => _host.Memory;

    public DmaOwnerTests()
    {
        Assert.Equal(MemoryStatus.Ok, _host.InitStatus);
        Assert.Equal(MemoryStatus.Ok, Pm->AttachContainers(_table, PhysicalMemory.ContainerTableBytes, Kernel));
        _dma = new DmaPoolManager(Pm, _host.FrameMemory(new Pfn(0)), DmaOwner);
    }

    public void Dispose()
    {
        _host.Dispose();
        NativeMemory.AlignedFree(_table);
    }

    private ulong Held(byte owner)
    {
        Assert.Equal(MemoryStatus.Ok, Pm->GetContainerUsage(Kernel, owner, out ContainerUsage u));
        return u.HeldPages;
    }

    private void Container(string name, byte owner, ulong quotaPages)
        => Assert.Equal(MemoryStatus.Ok, Pm->CreateContainer(ContainerSpec.Of(PoolName.From(name), owner, quotaPages)));

    [Fact]
    public void TwoDriversInOneSharedPool_EachChargedItsOwnBuffers_TheQuotaRefusesOverIt()
    {
        Container("ata-piix", Ide, 24);
        Container("virtio-blk", Virtio, 64);
        var ide = new DmaDevice("ata-piix", 32, boundary: 64 * KiB);
        var virtio = new DmaDevice("virtio-blk", 44, alignment: 4096);
        Assert.Equal(DmaStatus.Ok, _dma.Attach(ide, 1 * MiB, out DmaPool pool, Ide));
        Assert.Equal(DmaStatus.Ok, _dma.Attach(virtio, 1 * MiB, out DmaPool shared, Virtio));
        Assert.Same(pool, shared);
        Assert.Equal(Ide, pool.OwnerOf(0));
        Assert.Equal(Virtio, pool.OwnerOf(1));

        Assert.Equal(DmaStatus.Ok, pool.Allocate(ide, 64 * KiB, out DmaBuffer a));
        Assert.Equal(DmaStatus.Ok, pool.Allocate(virtio, 3 * 4096, out DmaBuffer b));
        Assert.Equal(16UL, Held(Ide));
        Assert.Equal(3UL, Held(Virtio));
        Assert.Equal(Ide, Pm->OwnerOf(new Pfn(a.Physical >> 12)));
        Assert.Equal(Virtio, Pm->OwnerOf(new Pfn(b.Physical >> 12)));

        // 16 + 16 > 24: refused as the quota's, nothing changed (the metadata, the counts, the pool's buffers).
        byte[] before = _host.Snapshot();
        int outstanding = pool.OutstandingBuffers;
        Assert.Equal(DmaStatus.QuotaExceeded, pool.Allocate(ide, 64 * KiB, out DmaBuffer refused));
        Assert.False(refused.IsValid);
        Assert.True(before.AsSpan().SequenceEqual(_host.Snapshot()), "a refused DMA allocation changed the metadata");
        Assert.Equal(outstanding, pool.OutstandingBuffers);
        Assert.Equal(16UL, Held(Ide));
        Assert.Equal("over the driver's container quota", DmaStatusText.Describe(DmaStatus.QuotaExceeded));
        Assert.Equal(DmaStatus.Ok, pool.Allocate(ide, 32 * KiB, out DmaBuffer c));
        Assert.Equal(24UL, Held(Ide));

        Assert.Null(_dma.Check(out int pools, out int buffers, out _, out _));
        Assert.Equal((1, 3), (pools, buffers));
        // The buffers go back as their own owners: each container's count falls to zero.
        Assert.Equal(DmaStatus.Ok, a.Release());
        Assert.Equal(DmaStatus.Ok, c.Release());
        Assert.Equal(DmaStatus.Ok, b.Release());
        Assert.Equal(0UL, Held(Ide));
        Assert.Equal(0UL, Held(Virtio));
        MemoryAssert.Consistent(Pm);
    }

    [Fact]
    public void ADriversBuffer_IsRefusedToEveryOtherOwnersFree_WithNothingChanged()
    {
        Container("ata-piix", Ide, 64);
        Container("virtio-blk", Virtio, 64);
        var ide = new DmaDevice("ata-piix", 32, boundary: 64 * KiB);
        Assert.Equal(DmaStatus.Ok, _dma.Attach(ide, 1 * MiB, out DmaPool pool, Ide));
        Assert.Equal(DmaStatus.Ok, pool.Allocate(ide, 5 * 4096, out DmaBuffer buffer));
        Pfn first = new Pfn(buffer.Physical >> 12);
        // The other driver's container, the DMA pools' own owner, the kernel: none frees it.
        foreach (byte other in new[] { Virtio, DmaOwner, Kernel })
            MemoryAssert.Refused(_host, MemoryStatus.NotOwner, () => Pm->FreeRun(first, 5, other));
        // The same device name cannot come back as another owner to reach the pool's buffers.
        Assert.Equal(DmaStatus.Foreign, _dma.Attach(ide, 1 * MiB, out DmaPool none, Virtio));
        Assert.Null(none);
        Assert.Equal(1, pool.UserCount);
        Assert.Equal(5UL, Held(Ide));
        Assert.Equal(DmaStatus.Ok, buffer.Release());
        Assert.Equal(0UL, Held(Ide));
        MemoryAssert.Consistent(Pm);
    }

    [Fact]
    public void ReleasingADriversOwner_GivesBackWhatItLeft_ThenItsContainerIsDestroyedEmpty()
    {
        ulong freeBefore = Pm->GetTotals().FreePages;
        Container("ata-piix", Ide, 256);
        Container("virtio-blk", Virtio, 256);
        var ide = new DmaDevice("ata-piix", 32, boundary: 64 * KiB);
        var virtio = new DmaDevice("virtio-blk", 44, alignment: 4096);
        Assert.Equal(DmaStatus.Ok, _dma.Attach(ide, 1 * MiB, out DmaPool pool, Ide));
        Assert.Equal(DmaStatus.Ok, _dma.Attach(virtio, 1 * MiB, out _, Virtio));
        DmaBlockPool prds = pool.CreateBlockPool(ide, 128, 4);
        Assert.Equal(DmaStatus.Ok, prds.Allocate(out _, out _));
        for (int i = 0; i < 5; i++)
            Assert.Equal(DmaStatus.Ok, pool.Allocate(ide, (ulong)(i + 1) * 4096, out _));
        Assert.Equal(DmaStatus.Ok, pool.Allocate(virtio, 8192, out DmaBuffer kept));
        Assert.Equal(16UL, Held(Ide));

        Assert.Null(_dma.Check(out _, out _, out _, out _));
        // The IDE driver "forgot" all of it: the release frees it as its owner, the other driver keeps its buffer.
        Assert.Equal(DmaStatus.Ok, _dma.ReleaseOwner(Ide, out ulong takenBack));
        Assert.Equal(16UL, takenBack);
        Assert.Equal(0UL, Held(Ide));
        Assert.Equal(2UL, Held(Virtio));
        Assert.Equal(1, pool.UserCount);
        Assert.Equal("virtio-blk", pool.User(0));
        Assert.Equal(1, _dma.Count);
        Assert.Equal(MemoryStatus.Ok, Pm->DestroyContainer(Ide));
        MemoryAssert.Consistent(Pm);

        // The last owner's release destroys the pool too: its page blocks go home, every page is back.
        Assert.Equal(DmaStatus.Ok, _dma.ReleaseOwner(Virtio, out takenBack));
        Assert.Equal(2UL, takenBack);
        Assert.False(kept.Pool.HasUser("virtio-blk"));
        Assert.Equal(0, _dma.Count);
        Assert.Equal(MemoryStatus.Ok, Pm->DestroyContainer(Virtio));
        Assert.Equal(freeBefore, Pm->GetTotals().FreePages);
        MemoryAssert.Consistent(Pm);
    }

    /// <summary>
    /// The DMA check (part of the shell's `check`) catches a driver's container whose count disagrees with
    /// its buffers: here another allocation of the container made straight in the DMA pool, behind the
    /// manager's back. Freed again, the check is clean.
    /// </summary>
    [Fact]
    public void Check_FindsAContainerCountingOtherPagesInTheDmaPoolThanItsBuffers()
    {
        Container("ata-piix", Ide, 64);
        var ide = new DmaDevice("ata-piix", 32, boundary: 64 * KiB);
        Assert.Equal(DmaStatus.Ok, _dma.Attach(ide, 1 * MiB, out DmaPool pool, Ide));
        Assert.Equal(DmaStatus.Ok, pool.Allocate(ide, 4096, out DmaBuffer buffer));
        Assert.Null(_dma.Check(out _, out _, out _, out _));
        AllocRequest behind = AllocRequest.InPool(pool.Id);
        behind.Owner = Ide;
        Assert.Equal(MemoryStatus.Ok, Pm->Allocate(new Order(0), behind, out Pfn stray));
        Assert.Equal("a driver's container counts other pages in the DMA pool than its buffers", _dma.Check(out _, out _, out PoolId at, out _));
        Assert.Equal(pool.Id, at);
        Assert.Equal(MemoryStatus.Ok, Pm->Free(stray, new Order(0), Ide));
        Assert.Null(_dma.Check(out _, out _, out _, out _));
        Assert.Equal(DmaStatus.Ok, buffer.Release());
    }
}
