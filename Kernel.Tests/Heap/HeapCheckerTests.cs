using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using Xunit;

namespace PoolKernel.Tests.Heap;

/// <summary>The heap checker finds deliberately broken state and names the invariant.</summary>
public unsafe class HeapCheckerTests
{
    private const ulong MiB = 1UL << 20;

    private static void Expect(HostHeap h, HeapInvariant code)
    {
        HeapCheckReport r = h.Heap->Check();
        Assert.True(r.Code == code, $"expected {code}, got {HostHeap.Describe(r)}");
    }

    [Fact]
    public void RunBitsThatDisagreeWithThePoolsAreReported()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        byte* small = (byte*)heap->Alloc(64, 0, 0);
        byte* big = (byte*)heap->Alloc(3 * Pfn.PageSize, 0, 0);
        h.Consistent();
        ulong slabIndex = h.PfnOf(small).Value - h.Memory->BasePfn.Value;
        ulong runIndex = h.PfnOf(big).Value - h.Memory->BasePfn.Value;

        // A slab head marked as a run: Free's fast path would refuse its cells to the slow path, the checker names it.
        heap->_runs[slabIndex >> 6] ^= 1UL << (int)(slabIndex & 63);
        Expect(h, HeapInvariant.RunBitWrong);
        heap->_runs[slabIndex >> 6] ^= 1UL << (int)(slabIndex & 63);
        // A run head without its bit: the fast path would read the run's first bytes as a slab header.
        heap->_runs[runIndex >> 6] ^= 1UL << (int)(runIndex & 63);
        Expect(h, HeapInvariant.RunBitWrong);
        heap->_runs[runIndex >> 6] ^= 1UL << (int)(runIndex & 63);
        // A run bit on a frame the heap does not hold.
        ulong stray = runIndex + 1;
        heap->_runs[stray >> 6] ^= 1UL << (int)(stray & 63);
        Expect(h, HeapInvariant.RunBitWrong);
        heap->_runs[stray >> 6] ^= 1UL << (int)(stray & 63);
        h.Consistent();

        Assert.Equal(HeapStatus.Ok, heap->Free(big));
        Assert.Equal(HeapStatus.Ok, heap->Free(small));
        h.Consistent();
    }

    [Fact]
    public void BrokenSlabsAreReportedByName()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        byte* a = (byte*)heap->Alloc(64, 0, 0);
        byte* b = (byte*)heap->Alloc(64, 0, 0);
        heap->Free(a);
        SlabHeader* slab = (SlabHeader*)((ulong)a & ~(Pfn.PageSize - 1));
        h.Consistent();

        // a is the free-list head; its link points at the next free cell.
        ushort link = *(ushort*)a;
        *(ushort*)a = 3;
        Expect(h, HeapInvariant.FreeListOutOfRange);
        *(ushort*)a = (ushort)(b - (byte*)slab);
        Expect(h, HeapInvariant.FreeListCellInUse);
        *(ushort*)a = link;
        h.Consistent();

        slab->FreeCount++;
        Expect(h, HeapInvariant.FreeCountMismatch);
        slab->FreeCount -= 2;
        Expect(h, HeapInvariant.FreeListTooLong);
        slab->FreeCount++;

        SlabHeader.SetBit(slab->InUse, slab->Capacity - 1);
        Expect(h, HeapInvariant.FreeListCellInUse);
        SlabHeader.ClearBit(slab->InUse, slab->Capacity - 1);
        SlabHeader.SetBit(slab->InUse, SlabHeader.MaxObjects - 1);
        Expect(h, HeapInvariant.InUseCountMismatch);
        SlabHeader.ClearBit(slab->InUse, SlabHeader.MaxObjects - 1);

        slab->Node = 1;
        Expect(h, HeapInvariant.SlabWrongNode);
        slab->Node = 0;
        slab->ObjectSize = 80;
        Expect(h, HeapInvariant.SlabGeometry);
        slab->ObjectSize = 64;
        slab->List = SlabHeader.OnNoList;
        Expect(h, HeapInvariant.ListMembership);
        slab->List = SlabHeader.OnPartialList;
        slab->Check ^= 1;
        Expect(h, HeapInvariant.SlabHeaderBroken);
        slab->Check ^= 1;
        h.Consistent();

        // The pools take the slab's page back behind the heap's back.
        Assert.Equal(MemoryStatus.Ok, h.Memory->Free(h.PfnOf(slab), new Order(slab->Order), MemoryAssert.DefaultOwner));
        Expect(h, HeapInvariant.HeldPageNotAllocated);
    }

    [Fact]
    public void ASlabPageFreedByAnotherOwnerIsRefusedAndOneHandedToAnotherOwnerIsReported()
    {
        const byte heapOwner = 1, shell = 3;
        using var h = new HostHeap(QemuMaps.Boot("pc", 128 * MiB, 1), heapOwner);
        KernelHeap* heap = h.Heap;
        byte* a = (byte*)heap->Alloc(64, 0, 0);
        SlabHeader* slab = (SlabHeader*)((ulong)a & ~(Pfn.PageSize - 1));
        Pfn page = h.PfnOf(slab);
        Assert.Equal(heapOwner, h.Memory->OwnerOf(page));

        // Another owner cannot take the heap's page (the shell's `free PFN 0` of issue 10): nothing changes.
        MemoryAssert.Refused(h.Host, MemoryStatus.NotOwner, () => h.Memory->Free(page, new Order(slab->Order), shell));
        h.Consistent();

        // Taken back with the heap's own owner behind its back and handed to another owner: the checker says whose it is.
        Assert.Equal(MemoryStatus.Ok, h.Memory->Free(page, new Order(slab->Order), heapOwner));
        AllocRequest request = AllocRequest.InPool(h.Memory->PoolOf(page));
        request.Owner = shell;
        Assert.Equal(MemoryStatus.Ok, h.Memory->Allocate(new Order(0), request, out Pfn again));
        Assert.Equal(page, again);
        HeapCheckReport r = heap->Check();
        Assert.Equal(HeapInvariant.HeldPageOfOtherOwner, r.Code);
        Assert.Equal((ulong)heapOwner, r.Expected);
        Assert.Equal((ulong)shell, r.Actual);
    }
}

/// <summary>What a collector needs: any pointer resolved to its object, one mark bit per object.</summary>
public unsafe class HeapCollectorSupportTests
{
    private const ulong MiB = 1UL << 20;

    [Fact]
    public void InteriorPointersResolveAndMarksAreSetClearedAndDroppedOnFree()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        byte* small = (byte*)heap->Alloc(100, 0, 0);
        byte* big = (byte*)heap->Alloc(3 * Pfn.PageSize, 0, 0);
        Assert.Equal(HeapStatus.Ok, heap->Describe(small + 57, out HeapObjectInfo info));
        Assert.True(info.Start == small && info.Size == 112 && info.Allocated);
        Assert.Equal(HeapStatus.Ok, heap->Describe(big + 2 * Pfn.PageSize + 5, out info));
        Assert.True(info.Start == big && info.Size == 3 * Pfn.PageSize && info.Class == KernelHeap.LargeClass);
        // The cell after `small` is free: described, not allocated. The header is not an object.
        Assert.Equal(HeapStatus.Ok, heap->Describe(small + 112, out info));
        Assert.False(info.Allocated);
        Assert.Equal(HeapStatus.InteriorPointer, heap->Describe((void*)((ulong)small & ~(Pfn.PageSize - 1)), out _));

        Assert.Equal(HeapStatus.Ok, heap->Mark(small, out bool was));
        Assert.False(was);
        Assert.Equal(HeapStatus.Ok, heap->Mark(small, out was));
        Assert.True(was);
        Assert.Equal(HeapStatus.Ok, heap->Mark(big, out was));
        Assert.False(was);
        Assert.Equal(HeapStatus.Ok, heap->Mark(big, out was));
        Assert.True(was);
        Assert.Equal(HeapStatus.InvalidArgument, heap->Mark(small + 112, out _));
        Assert.Equal(HeapStatus.InteriorPointer, heap->Mark(small + 1, out _));
        heap->ClearMarks();
        Assert.Equal(HeapStatus.Ok, heap->Mark(small, out was));
        Assert.False(was);
        Assert.Equal(HeapStatus.Ok, heap->Mark(big, out was));
        Assert.False(was);
        // Freeing drops the mark: the next object in the same cell starts unmarked.
        heap->Free(small);
        heap->Free(big);
        Assert.True(heap->Alloc(100, 0, 0) == small);
        Assert.Equal(HeapStatus.Ok, heap->Mark(small, out was));
        Assert.False(was);
        h.Consistent();
    }
}
