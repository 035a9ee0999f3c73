using PoolKernel.Memory;
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
        Assert.Equal(MemoryStatus.Ok, h.Memory->Free(h.PfnOf(slab), new Order(slab->Order)));
        Expect(h, HeapInvariant.HeldPageNotAllocated);
    }
}
