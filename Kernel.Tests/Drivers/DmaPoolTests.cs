using PoolKernel.Drivers.Dma;
using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using Xunit;

namespace PoolKernel.Tests.Drivers;

/// <summary>The driver-facing DMA API: pools by device rules, sharing, growth, buffers, give-back.</summary>
public unsafe class DmaPoolTests : IDisposable
{
    private const ulong KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
    private readonly HostPhysicalMemory _host = QemuMaps.Boot("pc", 6 * GiB, 2);
    /// <summary>The owner the DMA pools allocate and free as (the kernel uses Owners.Dma).</summary>
    private const byte DmaOwner = 2;
    private readonly DmaPoolManager _dma;

    public DmaPoolTests()
    {
        _dma = new DmaPoolManager(_host.Memory, _host.FrameMemory(new Pfn(0)), DmaOwner);
    }

    public void Dispose() => _host.Dispose();

    private ulong FreePages => _host.Memory->GetTotals().FreePages;

    private static void Ok(DmaStatus status) => Assert.Equal(DmaStatus.Ok, status);

    [Fact]
    public void Device32Bit_GetsAPoolBelow4GiB_AndBuffersTheKernelCanWrite()
    {
        var nic = new DmaDevice("rtl8139", 32, alignment: 16);
        Ok(_dma.Attach(nic, 1 * MiB, out DmaPool pool));
        Assert.Equal(32, pool.AddressBits);
        Ok(pool.Allocate(nic, 64 * KiB, out DmaBuffer buffer));
        Assert.True(buffer.Physical + buffer.Length <= 4 * GiB);
        Assert.True(nic.Admits(buffer.Physical, buffer.Length));
        buffer.Fill(0xA5);
        Assert.Equal(0xA5, _host.FrameMemory(new Pfn(buffer.Physical >> 12))[100]);
        Ok(buffer.Release());
        MemoryAssert.Consistent(_host.Memory);
    }

    [Fact]
    public void CompatibleDevices_ShareAPool_StricterOneGetsItsOwn()
    {
        var virtio = new DmaDevice("virtio-blk", 44, alignment: 4096);
        var ide = new DmaDevice("piix-ide", 32, boundary: 64 * KiB);
        var floppy = new DmaDevice("floppy", 24, boundary: 64 * KiB);
        Ok(_dma.Attach(ide, 1 * MiB, out DmaPool idePool));
        Ok(_dma.Attach(virtio, 1 * MiB, out DmaPool virtioPool));
        Ok(_dma.Attach(floppy, 64 * KiB, out DmaPool floppyPool));
        Assert.Same(idePool, virtioPool);
        Assert.NotSame(idePool, floppyPool);
        Assert.Equal(2, idePool.UserCount);
        Assert.Equal(24, floppyPool.AddressBits);
        Ok(floppyPool.Allocate(floppy, 18 * KiB, out DmaBuffer track));
        Assert.True(track.Physical + track.Length <= 16 * MiB, $"floppy buffer at {track.Physical:x}");
        Ok(track.Release());
        // The 32-bit pool was grown from dma32, not from the ISA memory below 16 MiB.
        _host.Memory->GetPoolProperties(idePool.Id, out PoolProperties props);
        Ok(idePool.Allocate(ide, 60 * KiB, out DmaBuffer b));
        Assert.True(b.Physical >= 16 * MiB);
        Ok(b.Release());
        Assert.Equal(0UL, props.WindowLow.Value);
        Assert.Equal(4 * GiB, props.WindowHigh.Value);
        MemoryAssert.Consistent(_host.Memory);
    }

    [Theory]
    [InlineData(64 * KiB, 60 * KiB)]
    [InlineData(64 * KiB, 64 * KiB)]
    [InlineData(4 * GiB, 1 * MiB)]
    public void Buffers_NeverCrossTheBoundary(ulong boundary, ulong size)
    {
        var device = new DmaDevice("dev", 32, boundary: boundary);
        Ok(_dma.Attach(device, 8 * MiB, out DmaPool pool));
        var held = new List<DmaBuffer>();
        for (int i = 0; i < 64; i++)
        {
            Ok(pool.Allocate(device, size, out DmaBuffer b));
            Assert.Equal(b.Physical / boundary, (b.Physical + size - 1) / boundary);
            held.Add(b);
        }
        foreach (var b in held)
            Ok(b.Release());
        MemoryAssert.Consistent(_host.Memory);
    }

    [Fact]
    public void Alignment_AndLargestPiece_AreHonoured()
    {
        var device = new DmaDevice("aligned", 32, alignment: 64 * KiB, maxContiguous: 128 * KiB);
        Ok(_dma.Attach(device, 1 * MiB, out DmaPool pool));
        Ok(pool.Allocate(device, 4 * KiB, out DmaBuffer a));
        Assert.Equal(0UL, a.Physical % (64 * KiB));
        Assert.Equal(DmaStatus.TooLarge, pool.Allocate(device, 256 * KiB, out _));
        Ok(a.Release());
    }

    [Fact]
    public void PoolGrows_WhenItRunsOut_AndShrinksAwayOnDetach()
    {
        ulong before = FreePages;
        var disk = new DmaDevice("disk", 32);
        Ok(_dma.Attach(disk, 1, out DmaPool pool));
        pool.GetSize(out ulong present, out _);
        Assert.Equal(512UL, present);   // one page block
        var held = new List<DmaBuffer>();
        for (int i = 0; i < 8; i++)
        {
            Ok(pool.Allocate(disk, 1 * MiB, out DmaBuffer b));
            held.Add(b);
        }
        Assert.True(pool.GrowCount > 0);
        Assert.Equal(DmaStatus.InUse, _dma.Detach(pool, "disk"));
        foreach (var b in held)
            Ok(b.Release());
        Ok(_dma.Detach(pool, "disk"));
        Assert.Equal(0, _dma.Count);
        Assert.Equal(before, FreePages);
        Assert.True(MemoryAssert.FindPool(_host.Memory, "dma32-n0").IsNone);
        MemoryAssert.Consistent(_host.Memory);
    }

    private static int s_lockSaves, s_lockRestores;

    private static ulong CountSave()
    {
        s_lockSaves++;
        return 0;
    }

    private static void CountRestore(ulong state) => s_lockRestores++;

    /// <summary>
    /// Given the pools' lock (the kernel passes PhysicalMemoryOwner's), the manager and its pools take
    /// it around every call into the pools: creating, growing and destroying the pool, and each buffer's
    /// allocation and free; every hold is released (interrupt hooks restored once a save) and the lock
    /// is free afterwards, with the pools consistent and every page back.
    /// </summary>
    [Fact]
    public void GivenThePoolsLock_EveryCallIntoThePools_TakesAndReleasesIt()
    {
        var poolsLock = (PoolKernel.Memory.SpinLock*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)sizeof(PoolKernel.Memory.SpinLock));
        try
        {
            poolsLock->SetInterruptHooks(&CountSave, &CountRestore);
            var dma = new DmaPoolManager(_host.Memory, _host.FrameMemory(new Pfn(0)), DmaOwner, null, poolsLock);
            ulong before = FreePages;
            var disk = new DmaDevice("disk", 32);
            Ok(dma.Attach(disk, 1, out DmaPool pool));
            int afterAttach = s_lockSaves;
            Assert.True(afterAttach >= 2, $"attach took the lock {afterAttach} times (donor scan and pool creation expected)");
            var held = new List<DmaBuffer>();
            for (int i = 0; i < 3; i++)
            {
                Ok(pool.Allocate(disk, 1 * MiB, out DmaBuffer b));
                held.Add(b);
            }
            Assert.True(pool.GrowCount > 0);
            int afterAllocate = s_lockSaves;
            Assert.True(afterAllocate - afterAttach >= 4, $"3 allocations with a grow took the lock {afterAllocate - afterAttach} times");
            foreach (var b in held)
                Ok(b.Release());
            Assert.Equal(afterAllocate + 3, s_lockSaves);
            Ok(dma.Detach(pool, "disk"));
            Assert.Equal(afterAllocate + 4, s_lockSaves);
            Assert.Equal(s_lockSaves, s_lockRestores);
            Assert.False(poolsLock->IsHeld);
            Assert.Equal(before, FreePages);
            MemoryAssert.Consistent(_host.Memory);
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(poolsLock);
        }
    }

    private static int s_failFasts;

    /// <summary>Stands in for the kernel's PhysicalMemoryOwner.FailFast (which does not return).</summary>
    private static void CountFailFast() => s_failFasts++;

    [Fact]
    public void FreeThePoolsFindCorrupt_IsCorruption_NotForeign_AndGoesToTheOwnersFailFast()
    {
        var dma = new DmaPoolManager(_host.Memory, _host.FrameMemory(new Pfn(0)), DmaOwner, &CountFailFast);
        var disk = new DmaDevice("disk", 32);
        Ok(dma.Attach(disk, 1 * MiB, out DmaPool pool));
        Ok(pool.Allocate(disk, 8 * KiB, out DmaBuffer buffer));
        // The run's first frame now holds a kind no run can have between calls: the pools'
        // free diagnoses Corruption.
        ulong index = (buffer.Physical >> Pfn.PageShift) - _host.Memory->BasePfn.Value;
        _host.Memory->_buddy._frames[index] = FrameState.Make(FrameKind.Isolated, 1);
        int before = s_failFasts;
        Assert.Equal(DmaStatus.Corruption, pool.Free(ref buffer));
        Assert.Equal(before + 1, s_failFasts);
        Assert.Equal(1, pool.OutstandingBuffers);
    }

    [Fact]
    public void PoolsRefusingTheManagersOwner_IsPoolsRefused_NotTooLarge_StateUnchanged()
    {
        // Owners above 63 are refused by every pool (AllowsOwner): not the driver's mistake, and
        // not a buffer that is too large either.
        var dma = new DmaPoolManager(_host.Memory, _host.FrameMemory(new Pfn(0)), 64);
        var disk = new DmaDevice("disk", 32);
        Ok(dma.Attach(disk, 1 * MiB, out DmaPool pool));
        byte[] before = _host.Snapshot();
        Assert.Equal(DmaStatus.PoolsRefused, pool.Allocate(disk, 8 * KiB, out DmaBuffer buffer));
        Assert.Equal(0UL, buffer.Physical);
        Assert.Equal(0, pool.OutstandingBuffers);
        Assert.True(before.AsSpan().SequenceEqual(_host.Snapshot()), "a refused allocation changed the pools");
        MemoryAssert.Consistent(_host.Memory);
    }

    [Theory]
    [InlineData(MemoryStatus.OutOfMemory, DmaStatus.OutOfMemory)]
    [InlineData(MemoryStatus.NoPoolSatisfies, DmaStatus.NoMatchingMemory)]
    [InlineData(MemoryStatus.InvalidArgument, DmaStatus.InvalidRules)]
    [InlineData(MemoryStatus.ImpossibleRules, DmaStatus.TooLarge)]
    [InlineData(MemoryStatus.Corruption, DmaStatus.Corruption)]
    [InlineData(MemoryStatus.QuotaExceeded, DmaStatus.QuotaExceeded)]
    [InlineData(MemoryStatus.NoSuchPool, DmaStatus.PoolsRefused)]
    [InlineData(MemoryStatus.OwnerRefused, DmaStatus.PoolsRefused)]
    [InlineData(MemoryStatus.PropertiesMismatch, DmaStatus.PoolsRefused)]
    public void PoolAnswers_MapOnlyWhatADriverCanActOn(MemoryStatus answer, DmaStatus expected)
        => Assert.Equal(expected, DmaPool.FromPools(answer));

    [Fact]
    public void DoubleFree_AndForeignBuffers_AreRefused_StateUnchanged()
    {
        var a = new DmaDevice("a", 32);
        var isa = new DmaDevice("isa", 24);
        Ok(_dma.Attach(a, 1 * MiB, out DmaPool poolA));
        Ok(_dma.Attach(isa, 1 * MiB, out DmaPool poolIsa));
        Ok(poolA.Allocate(a, 8 * KiB, out DmaBuffer buffer));
        DmaBuffer copy = buffer;
        Ok(buffer.Release());
        byte[] snapshot = _host.Snapshot();
        Assert.Equal(DmaStatus.DoubleFree, poolA.Free(ref copy));
        Ok(poolIsa.Allocate(isa, 4 * KiB, out DmaBuffer other));
        Assert.Equal(DmaStatus.Foreign, poolA.Free(ref other));
        Assert.Equal(DmaStatus.Foreign, poolIsa.Allocate(a, 4 * KiB, out _));   // "a" is not a user of the ISA pool
        Ok(other.Release());
        Assert.Equal(snapshot, _host.Snapshot());
        MemoryAssert.Consistent(_host.Memory);
    }

    [Fact]
    public void Buffers_AreOwnedByTheDmaOwner_AndAnotherOwnersFreeIsRefused()
    {
        const byte shell = 3;
        var a = new DmaDevice("a", 32);
        Ok(_dma.Attach(a, 1 * MiB, out DmaPool pool));
        Ok(pool.Allocate(a, 12 * KiB, out DmaBuffer buffer));
        Pfn first = new Pfn(buffer.Physical >> Pfn.PageShift);
        Assert.Equal(DmaOwner, _host.Memory->OwnerOf(first));
        MemoryAssert.Refused(_host, MemoryStatus.NotOwner, () => _host.Memory->FreeRun(first, 3, shell));
        MemoryAssert.Refused(_host, MemoryStatus.NotOwner, () => _host.Memory->Free(first, new Order(0), shell));
        Ok(buffer.Release());
        Assert.Equal(FrameOwner.None, _host.Memory->OwnerOf(first));
        MemoryAssert.Consistent(_host.Memory);
    }

    [Fact]
    public void ImpossibleRules_AreRefused()
    {
        Assert.Equal(DmaStatus.InvalidRules, _dma.Attach(new DmaDevice("bad", 8), 0, out _));
        Assert.Equal(DmaStatus.InvalidRules, _dma.Attach(new DmaDevice("bad", 32, boundary: 3000), 0, out _));
        var small = new DmaDevice("small", 32, boundary: 4 * KiB);
        Ok(_dma.Attach(small, 0, out DmaPool pool));
        Assert.Equal(DmaStatus.TooLarge, pool.Allocate(small, 8 * KiB, out _));
    }

    [Fact]
    public void NoMemoryMatches_IsNoMatchingMemory()
    {
        using var host = new HostPhysicalMemory(new[] { new MemoryRegion(64 * MiB, 64 * MiB, MemoryType.Available, 0) });
        var dma = new DmaPoolManager(host.Memory, host.FrameMemory(new Pfn(0)), DmaOwner);
        Assert.Equal(DmaStatus.NoMatchingMemory, dma.Attach(new DmaDevice("isa", 24), 4096, out _));
        Ok(dma.Attach(new DmaDevice("pci", 32), 4096, out _));
    }

    [Fact]
    public void NodeLocalDevice_GetsMemoryOnItsNode()
    {
        var dev = new DmaDevice("nvme-on-node1", 64, node: 1);
        Ok(_dma.Attach(dev, 4 * MiB, out DmaPool pool));
        Assert.Equal(1, pool.Node);
        Ok(pool.Allocate(dev, 1 * MiB, out DmaBuffer b));
        Assert.True(b.Physical >= 3 * GiB, $"{b.Physical:x} is not on node 1 (RAM above the 3 GiB split)");
        Ok(b.Release());
    }

    [Theory]
    [InlineData(32u, 16u, 0UL)]
    [InlineData(48u, 64u, 0UL)]
    [InlineData(16u, 16u, 256UL)]
    [InlineData(100u, 8u, 512UL)]
    public void BlockPool_BlocksAreDistinctAlignedAndNeverCrossTheBoundary(uint size, uint align, ulong boundary)
    {
        var dev = new DmaDevice("rings", 32, boundary: boundary == 0 ? 0 : boundary);
        Ok(_dma.Attach(dev, 1 * MiB, out DmaPool pool));
        DmaBlockPool blocks = pool.CreateBlockPool(dev, size, align);
        var seen = new HashSet<ulong>();
        for (int i = 0; i < 300; i++)
        {
            Ok(blocks.Allocate(out ulong physical, out byte* pointer));
            Assert.True(seen.Add(physical));
            Assert.Equal(0UL, physical % Math.Max(align, 16u));
            if (boundary != 0)
                Assert.Equal(physical / boundary, (physical + size - 1) / boundary);
            Assert.Equal(0, pointer[size - 1]);
            pointer[0] = 0xFF;
        }
        Assert.Equal(300, blocks.BlocksInUse);
        foreach (ulong p in seen)
            Ok(blocks.Free(p));
        Ok(blocks.Release());
        MemoryAssert.Consistent(_host.Memory);
    }

    [Fact]
    public void BlockPool_Exhaustion_DoubleFree_Foreign()
    {
        var dev = new DmaDevice("desc", 32);
        Ok(_dma.Attach(dev, 1 * MiB, out DmaPool pool));
        DmaBlockPool blocks = pool.CreateBlockPool(dev, 1024, 1024);
        blocks.PageLimit = 1;
        Ok(blocks.Allocate(out ulong first, out _));
        for (int i = 1; i < 4; i++)
            Ok(blocks.Allocate(out _, out _));
        Assert.Equal(DmaStatus.OutOfMemory, blocks.Allocate(out _, out _));
        Ok(blocks.Free(first));
        Assert.Equal(DmaStatus.DoubleFree, blocks.Free(first));
        Assert.Equal(DmaStatus.Foreign, blocks.Free(first + 8));
        Assert.Equal(DmaStatus.Foreign, blocks.Free(0x1234000));
        Assert.Equal(3, blocks.BlocksInUse);
        Assert.Equal(DmaStatus.InUse, blocks.Release());
    }

    [Theory]
    [InlineData(24, 0UL, 0UL, 0xFFF000UL, 4096UL, true)]
    [InlineData(24, 0UL, 0UL, 0xFFF000UL, 8192UL, false)]
    [InlineData(32, 0x10000UL, 0UL, 0x1F000UL, 0x1000UL, true)]
    [InlineData(32, 0x10000UL, 0UL, 0x1F000UL, 0x2000UL, false)]
    [InlineData(64, 0UL, 4096UL, 0x1000UL, 16UL, true)]
    [InlineData(64, 0UL, 4096UL, 0x1010UL, 16UL, false)]
    [InlineData(32, 0x100000000UL, 0UL, 0xFFFFF000UL, 0x2000UL, false)]
    public void Admits_IsTheOneRuleCheck(byte bits, ulong boundary, ulong align, ulong physical, ulong length, bool expected)
    {
        var device = new DmaDevice("d", bits, boundary, align);
        Assert.Equal(expected, device.Admits(physical, length));
    }
}
