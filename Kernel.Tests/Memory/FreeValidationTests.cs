using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>Bad frees are refused with every metadata byte unchanged.</summary>
public unsafe class FreeValidationTests
{
    private const ulong MiB = 1UL << 20;

    [Fact]
    public void DoubleFreeIsRefused()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), AllocRequest.Any, out Pfn pfn));
        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(2), MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(pfn, new Order(2), MemoryAssert.DefaultOwner));
    }

    [Fact]
    public void DoubleFreeOfAFrameNowInsideAMergedBlockIsRefused()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out Pfn a));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.Any, out Pfn b));
        Assert.Equal(MemoryStatus.Ok, pm->Free(a, new Order(0), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Free(b, new Order(0), MemoryAssert.DefaultOwner));
        // b merged with its buddy: it is now a Tail frame inside a free block.
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(b, new Order(0), MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(a, new Order(0), MemoryAssert.DefaultOwner));
    }

    [Fact]
    public void FreeOfANeverAllocatedFrameIsRefused()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(3), AllocRequest.Any, out Pfn pfn));
        // Inside an allocated block but not its head.
        MemoryAssert.Refused(host, MemoryStatus.NotAllocated, () => pm->Free(pfn.Plus(1), new Order(0), MemoryAssert.DefaultOwner));
        // A free frame that was never handed out.
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->Free(new Pfn(0x2000), new Order(0), MemoryAssert.DefaultOwner));
    }

    [Fact]
    public void FreeWithTheWrongOrderIsRefused()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(3), AllocRequest.Any, out Pfn pfn));
        MemoryAssert.Refused(host, MemoryStatus.WrongOrder, () => pm->Free(pfn, new Order(2), MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.WrongOrder, () => pm->Free(pfn, new Order(4), MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.InvalidOrder, () => pm->Free(pfn, new Order(30), MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(3), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void FreeOutsideEveryPoolIsRefused()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        MemoryAssert.Refused(host, MemoryStatus.OutsideEveryPool, () => pm->Free(new Pfn(0xa0), new Order(0), MemoryAssert.DefaultOwner));       // VGA hole
        MemoryAssert.Refused(host, MemoryStatus.OutsideEveryPool, () => pm->Free(new Pfn(0x100000), new Order(0), MemoryAssert.DefaultOwner));   // 4 GiB, past the span
        MemoryAssert.Refused(host, MemoryStatus.OutsideEveryPool, () => pm->Free(new Pfn(ulong.MaxValue - 5), new Order(0), MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.OutsideEveryPool, () => pm->FreeRun(new Pfn(0x7ff0), 4, MemoryAssert.DefaultOwner));           // reserved top of RAM
    }

    [Fact]
    public void RunsAndBlocksAreNotFreedThroughEachOther()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(5, AllocRequest.Any, out Pfn run));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), AllocRequest.Any, out Pfn block));
        MemoryAssert.Refused(host, MemoryStatus.RunFreedAsBlock, () => pm->Free(run, new Order(2), MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.BlockFreedAsRun, () => pm->FreeRun(block, 4, MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.WrongRunLength, () => pm->FreeRun(run, 4, MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.WrongRunLength, () => pm->FreeRun(run, 6, MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.NotAllocated, () => pm->FreeRun(run.Plus(4), 1, MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->FreeRun(run, 5, MemoryAssert.DefaultOwner));
        MemoryAssert.Refused(host, MemoryStatus.AlreadyFree, () => pm->FreeRun(run, 5, MemoryAssert.DefaultOwner));
        Assert.Equal(MemoryStatus.Ok, pm->Free(block, new Order(2), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void StatusKindsSortFailuresIntoThree()
    {
        Assert.Equal(FailureKind.OutOfMemory, MemoryStatusKinds.KindOf(MemoryStatus.OutOfMemory));
        Assert.Equal(FailureKind.NoPoolSatisfies, MemoryStatusKinds.KindOf(MemoryStatus.NoPoolSatisfies));
        Assert.Equal(FailureKind.CallerError, MemoryStatusKinds.KindOf(MemoryStatus.AlreadyFree));
        Assert.Equal(FailureKind.Corruption, MemoryStatusKinds.KindOf(MemoryStatus.Corruption));
    }

    [Fact]
    public void CheckerNamesACorruptedFreeList()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        // An order-4 block (orders 0-3 would come from the CPU's caches, whose blocks' buddies are cached too).
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(4), AllocRequest.Any, out Pfn again));
        // Scribble over the free buddy's node in the metadata's node table (what a stray metadata write would do).
        Pfn buddy = new Pfn(again.Value ^ 16);
        Assert.Equal(FrameKind.Free, pm->KindOf(buddy, out _));
        FreeNode* node = FreeList.NodeOf(pm->_buddy._nodes, buddy.Value - pm->BasePfn.Value);
        node->Next = 12345;
        node->Prev = 12345;
        InvariantReport r = pm->Check();
        Assert.False(r.IsOk);
        Assert.True(r.Code == InvariantCode.FreeListBadNode || r.Code == InvariantCode.FreeListBadLink || r.Code == InvariantCode.FreeListCount,
            MemoryAssert.Describe(r));
    }

    /// <summary>
    /// Issue 12's design change: the free-list links left the free frames for the node table in the
    /// metadata, so a use-after-free that writes all over a free frame no longer breaks the allocator.
    /// On main the same scribble made the checker report a broken free list.
    /// </summary>
    [Fact]
    public void WritesIntoFreeFramesLeaveTheFreeListsWhole()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(4), AllocRequest.Any, out Pfn again));
        Pfn buddy = new Pfn(again.Value ^ 16);
        Assert.Equal(FrameKind.Free, pm->KindOf(buddy, out _));
        for (int at = 0; at < 2 * 4096; at += 8)
            *(ulong*)(host.FrameMemory(buddy) + at) = 12345;
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->Free(again, new Order(4), MemoryAssert.DefaultOwner));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>The pool's non-empty-list mask (issue 12: TakeFirst finds its list by it) is checked against the lists both ways.</summary>
    [Fact]
    public void CheckerNamesAWrongListedOrdersBit()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        ref Pool pool = ref pm->_buddy._pools[dma32.Value];
        int top = pm->MaxOrder;
        int slot = pm->_buddy.SlotOf(top, 0); // the max-order list: shared by the classes
        Assert.NotEqual(0UL, pool.ListedSlots & (1UL << slot));
        pool.ListedSlots &= ~(1UL << slot); // the max-order list is not empty
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.ListedOrdersMask, r.Code);
        Assert.Equal(dma32, r.Pool);
        Assert.Equal(slot, r.Order);
        Assert.Equal(1UL, r.Expected);
        Assert.Equal(0UL, r.Actual);
    }

    /// <summary>A node left linked for frames that hold no free block (an unlink that forgot to clear it) is named with its frame.</summary>
    [Fact]
    public void CheckerNamesALinkedNodeOfAnAllocatedPair()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(1), AllocRequest.Any, out Pfn block));
        MemoryAssert.Consistent(pm);
        FreeList.NodeOf(pm->_buddy._nodes, block.Value - pm->BasePfn.Value)->Next = 7;
        InvariantReport r = pm->Check();
        Assert.Equal(InvariantCode.IdleNodeLinked, r.Code);
        Assert.Equal(block, r.Pfn);
        Assert.Equal((7UL << 32) | FreeNode.None, r.Actual);
    }
}
