using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Block owners (<see cref="FrameOwner"/>): every allocation path records the request's owner on the
/// head frame; Free and FreeRun by another owner are refused (NotOwner) with nothing changed, for
/// blocks, runs and frames on the cache fast path alike; the right owner frees; a free frame is
/// AlreadyFree whoever asks; the checker's owner step names the frame and the byte.
/// </summary>
public unsafe class OwnerTests
{
    private const ulong MiB = 1UL << 20;
    private const byte Mine = 7, Theirs = 9;

    private static AllocRequest As(AllocRequest request, byte owner)
    {
        request.Owner = owner;
        return request;
    }

    /// <summary>The block's head carries the owner and no other frame of it does.</summary>
    private static void Owned(PhysicalMemory* pm, Pfn head, ulong pages, byte owner)
    {
        Assert.Equal(owner, pm->OwnerOf(head));
        for (ulong i = 1; i < pages; i++)
            Assert.Equal(FrameOwner.None, pm->OwnerOf(head.Plus(i)));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void EveryAllocationPathRecordsTheOwner()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");

        // Slow named path (empty cache: refill), then the cache fast path (warm cache).
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.InPool(dma32), Mine), out Pfn refilled));
        Owned(pm, refilled, 1, Mine);
        Assert.True(pm->GetPoolStats(dma32, out PoolStats s) == MemoryStatus.Ok && s.CachedPages > 0);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.InPool(dma32), Theirs), out Pfn fast));
        Owned(pm, fast, 1, Theirs);
        // Named, larger order, no rules.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(3), As(AllocRequest.InPool(dma32), Mine), out Pfn named));
        Owned(pm, named, 8, Mine);
        // Pool choice.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), As(AllocRequest.Any, Theirs), out Pfn chosen));
        Owned(pm, chosen, 4, Theirs);
        // Address rules (the search path), order 0 and larger.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Dma(24), Mine), out Pfn isa));
        Owned(pm, isa, 1, Mine);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(4), As(AllocRequest.Dma(24), Theirs), out Pfn isa16));
        Owned(pm, isa16, 16, Theirs);
        // Runs: covering block, named pool, and by choice with rules (scan).
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(5, As(AllocRequest.InPool(dma32), Mine), out Pfn run));
        Owned(pm, run, 5, Mine);
        AllocRequest aligned = As(AllocRequest.Any, Theirs);
        aligned.Alignment = 64 * 1024;
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(1000, aligned, out Pfn big));
        Owned(pm, big, 1000, Theirs);
        // Every one frees with its own owner, and the owner byte is cleared.
        Assert.Equal(MemoryStatus.Ok, pm->Free(refilled, new Order(0), Mine));
        Assert.Equal(MemoryStatus.Ok, pm->Free(fast, new Order(0), Theirs));
        Assert.Equal(MemoryStatus.Ok, pm->Free(named, new Order(3), Mine));
        Assert.Equal(MemoryStatus.Ok, pm->Free(chosen, new Order(2), Theirs));
        Assert.Equal(MemoryStatus.Ok, pm->Free(isa, new Order(0), Mine));
        Assert.Equal(MemoryStatus.Ok, pm->Free(isa16, new Order(4), Theirs));
        Assert.Equal(MemoryStatus.Ok, pm->FreeRun(run, 5, Mine));
        Assert.Equal(MemoryStatus.Ok, pm->FreeRun(big, 1000, Theirs));
        foreach (Pfn p in new[] { refilled, fast, named, chosen, isa, isa16, run, big })
            Assert.Equal(FrameOwner.None, pm->OwnerOf(p));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void AFreeByAnotherOwnerIsRefusedWithNothingChanged()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        AllocRequest mine = As(AllocRequest.InPool(dma32), Mine);
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), mine, out Pfn frame));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), mine, out Pfn block));
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(6, mine, out Pfn run));

        // An order-0 frame whose pool cache has room: the inlined fast path must refuse too.
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(frame, new Order(0), Theirs));
        // Another owner learns nothing of the order or length: NotOwner before WrongOrder, WrongRunLength or BlockFreedAsRun.
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(block, new Order(2), Theirs));
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(block, new Order(1), Theirs));
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->FreeRun(block, 4, Theirs));
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->FreeRun(run, 6, Theirs));
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->FreeRun(run, 2, Theirs));
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->FreeRun(run, 0, Theirs));
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(run, new Order(0), Theirs));
        // Owner ids no block can carry are refused the same way.
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(frame, new Order(0), FrameOwner.None));
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->FreeRun(run, 6, 200));
        // Frames inside a block or run keep their own answers (they have no owner).
        MemoryAssert.Refused(host, MemoryStatus.NotAllocated, () => pm->Free(block.Plus(1), new Order(0), Theirs));
        MemoryAssert.Refused(host, MemoryStatus.NotAllocated, () => pm->FreeRun(run.Plus(4), 2, Theirs));

        // The owner frees all three.
        Assert.Equal(MemoryStatus.Ok, pm->Free(frame, new Order(0), Mine));
        Assert.Equal(MemoryStatus.Ok, pm->Free(block, new Order(2), Mine));
        Assert.Equal(MemoryStatus.Ok, pm->FreeRun(run, 6, Mine));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void AFreeByAnotherOwnerIsRefusedWhenTheCacheIsFull()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        AllocRequest mine = As(AllocRequest.InPool(dma32), Mine);
        var frames = new Pfn[FrameCache.Capacity + 1];
        for (int i = 0; i < frames.Length; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), mine, out frames[i]));
        pm->DrainCaches();
        for (int i = 0; i < FrameCache.Capacity; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Free(frames[i], new Order(0), Mine));
        Assert.True(pm->GetPoolStats(dma32, out PoolStats s) == MemoryStatus.Ok && s.CachedPages == (ulong)FrameCache.Capacity);

        // The slow path (which would drain the full cache first) refuses before draining anything.
        Pfn last = frames[FrameCache.Capacity];
        MemoryAssert.Refused(host, MemoryStatus.NotOwner, () => pm->Free(last, new Order(0), Theirs));
        Assert.Equal(MemoryStatus.Ok, pm->Free(last, new Order(0), Mine));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void AFreeOfAFreeFrameSaysItIsFreeNotADoubleFree()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        // Frame 0x2000 (32 MiB) was never handed out: it is inside a free block (or its head).
        Assert.Equal(FrameKind.Free, pm->KindOf(new Pfn(0x2000), out _));
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(new Pfn(0x2000), new Order(0), Mine));
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(new Pfn(0x2001), new Order(0), Theirs));
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->FreeRun(new Pfn(0x2000), 3, Mine));
        Assert.Equal(FailureKind.CallerError, MemoryStatusKinds.KindOf(MemoryStatus.AlreadyFree));
        Assert.Equal(FailureKind.CallerError, MemoryStatusKinds.KindOf(MemoryStatus.NotOwner));
    }

    [Fact]
    public void TheCheckerNamesAFrameWithAWrongOwnerByte()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(1), As(AllocRequest.Any, Mine), out Pfn block));
        ulong head = block.Value - pm->BasePfn.Value;
        byte* owners = pm->_buddy._owners;

        // An allocated head without an owner.
        owners[head] = FrameOwner.None;
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.FrameOwnerBad, r.Code);
        Assert.Equal(block, r.Pfn);
        Assert.Equal((ulong)FrameOwner.Count, r.Expected);
        Assert.Equal((ulong)FrameOwner.None, r.Actual);
        // An owner above 63.
        owners[head] = 64;
        Assert.Equal(InvariantCode.FrameOwnerBad, pm->Check().Code);
        owners[head] = Mine;
        MemoryAssert.Consistent(pm);

        // A tail of the block with an owner.
        owners[head + 1] = Mine;
        r = pm->Check();
        Assert.Equal(InvariantCode.FrameOwnerBad, r.Code);
        Assert.Equal(block.Plus(1), r.Pfn);
        Assert.Equal((ulong)FrameOwner.None, r.Expected);
        Assert.Equal((ulong)Mine, r.Actual);
        owners[head + 1] = FrameOwner.None;

        // A free frame with an owner (what a free that forgot to clear it would leave).
        Assert.Equal(MemoryStatus.Ok, pm->Free(block, new Order(1), Mine));
        owners[head] = Mine;
        r = pm->Check();
        Assert.Equal(InvariantCode.FrameOwnerBad, r.Code);
        Assert.Equal(block, r.Pfn);
        owners[head] = FrameOwner.None;
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void PagesPerOwnerCountBlocksAndWholeRuns()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        ulong* pages = stackalloc ulong[FrameOwner.Count];
        pm->GetOwnerPages(pages);
        for (int o = 0; o < FrameOwner.Count; o++)
            Assert.Equal(0UL, pages[o]);

        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Mine), out Pfn a));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(3), As(AllocRequest.Any, Mine), out Pfn b));
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(1000, As(AllocRequest.Any, Theirs), out Pfn run));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(1), As(AllocRequest.Any, 63), out Pfn last));
        pm->GetOwnerPages(pages);
        Assert.Equal(9UL, pages[Mine]);
        Assert.Equal(1000UL, pages[Theirs]);
        Assert.Equal(2UL, pages[63]);
        Assert.Equal(pm->GetTotals().InUsePages, pages[Mine] + pages[Theirs] + pages[63]);

        Assert.Equal(MemoryStatus.Ok, pm->FreeRun(run, 1000, Theirs));
        Assert.Equal(MemoryStatus.Ok, pm->Free(a, new Order(0), Mine));
        pm->GetOwnerPages(pages);
        Assert.Equal(8UL, pages[Mine]);
        Assert.Equal(0UL, pages[Theirs]);
        Assert.Equal(MemoryStatus.Ok, pm->Free(b, new Order(3), Mine));
        Assert.Equal(MemoryStatus.Ok, pm->Free(last, new Order(1), 63));
        MemoryAssert.Consistent(pm);
    }
}
