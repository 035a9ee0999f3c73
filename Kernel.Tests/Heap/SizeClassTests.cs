using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Heap;

/// <summary>Size classes: the progression, the size-to-class mapping, each class's slab geometry and objects.</summary>
public unsafe class SizeClassTests
{
    private const ulong MiB = 1UL << 20;

    [Fact]
    public void ClassesGrowGeometricallyAndMapEverySize()
    {
        Assert.Equal(16u, SizeClasses.SizeOf(0));
        Assert.Equal((uint)SizeClasses.MaxSmall, SizeClasses.SizeOf(SizeClasses.Count - 1));
        for (int c = 1; c < SizeClasses.Count; c++)
        {
            uint prev = SizeClasses.SizeOf(c - 1), size = SizeClasses.SizeOf(c);
            Assert.True(size > prev);
            // Rounding up wastes at most 15 bytes below 128 and at most 25% above.
            Assert.True(size - prev <= 16 || (size - prev) * 4 <= prev, $"class {c}: {prev} -> {size}");
            Assert.Equal(0u, size % 16);
        }
        for (ulong size = 1; size <= SizeClasses.MaxSmall; size++)
        {
            int c = SizeClasses.ForSize(size);
            Assert.True(SizeClasses.SizeOf(c) >= size, $"size {size} -> class {c}");
            Assert.True(c == 0 || SizeClasses.SizeOf(c - 1) < size, $"size {size} -> class {c} is not the smallest");
        }
        Assert.True(sizeof(SlabHeader) <= SlabHeader.Bytes, $"header {sizeof(SlabHeader)} > {SlabHeader.Bytes}");
    }

    [Fact]
    public void EverySlabWastesAtMostAnEighth()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        for (int c = 0; c < SizeClasses.Count; c++)
        {
            Assert.Equal(HeapStatus.Ok, h.Heap->GetClassStats(c, out HeapClassStats s));
            ulong slab = Pfn.PageSize << s.SlabOrder;
            ulong waste = slab - (ulong)s.ObjectsPerSlab * s.ObjectSize;
            Assert.True(waste * 8 <= slab, $"class {c} ({s.ObjectSize} B, order {s.SlabOrder}): {waste} of {slab} bytes wasted");
            Assert.True(s.ObjectsPerSlab >= 1 && s.ObjectsPerSlab <= SlabHeader.MaxObjects);
        }
    }

    [Fact]
    public void EachClassHandsOutDistinctAlignedZeroedObjectsInsideOneSlab()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        for (int c = 0; c < SizeClasses.Count; c++)
        {
            heap->GetClassStats(c, out HeapClassStats s);
            int count = (int)s.ObjectsPerSlab * 2 + 1;
            var objects = new List<ulong>();
            for (int i = 0; i < count; i++)
            {
                byte* p = (byte*)heap->Alloc(s.ObjectSize, 0, 0);
                Assert.True(p != null, $"class {c} object {i}");
                Assert.Equal(0UL, (ulong)p % s.Alignment);
                for (uint b = 0; b < s.ObjectSize; b++)
                    Assert.Equal(0, p[b]);
                // Dirty it, so a reuse that skipped zeroing would show.
                for (uint b = 0; b < s.ObjectSize; b++)
                    p[b] = 0xA5;
                Assert.Equal(HeapStatus.Ok, heap->Describe(p + s.ObjectSize - 1, out HeapObjectInfo info));
                Assert.True(info.Start == p && info.Size == s.ObjectSize && info.Class == c && info.Allocated);
                ulong slabBytes = Pfn.PageSize << s.SlabOrder;
                ulong rel = (ulong)(p - h.DirectMapBase);
                Assert.Equal(rel / slabBytes, (rel + s.ObjectSize - 1) / slabBytes);
                objects.Add((ulong)p);
            }
            objects.Sort();
            for (int i = 1; i < objects.Count; i++)
                Assert.True(objects[i] - objects[i - 1] >= s.ObjectSize, $"class {c}: objects overlap");
            heap->GetClassStats(c, out s);
            Assert.Equal((ulong)count, s.ObjectsInUse);
            Assert.Equal(3UL, s.Slabs);
            h.Consistent();
            // Freed cells come back zeroed even though they were dirtied.
            foreach (ulong p in objects)
                Assert.Equal(HeapStatus.Ok, heap->Free((void*)p));
            for (int i = 0; i < count; i++)
            {
                byte* p = (byte*)heap->Alloc(s.ObjectSize, 0, 0);
                for (uint b = 0; b < s.ObjectSize; b++)
                    Assert.Equal(0, p[b]);
                heap->Free(p);
            }
            h.Consistent();
        }
    }

    [Fact]
    public void AlignmentPicksAClassWhoseCellsAreAligned()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        var live = new List<nint>();
        for (ulong align = 16; align <= 8192; align <<= 1)
            foreach (ulong size in new ulong[] { 1, 24, 100, 200, 640, 1500, 2048, 3000, 9000 })
            {
                void* p = heap->Alloc(size, align, 0);
                Assert.True(p != null);
                Assert.Equal(0UL, (ulong)((byte*)p - h.DirectMapBase) % align);
                heap->Describe(p, out HeapObjectInfo info);
                Assert.True(info.Size >= size);
                Assert.Equal(size <= 2048 && align <= 2048, info.Class != KernelHeap.LargeClass);
                live.Add((nint)p);
            }
        // Page-order alignment for large objects.
        void* big = heap->Alloc(3 * Pfn.PageSize, 2 * MiB, 0);
        Assert.Equal(0UL, (ulong)((byte*)big - h.DirectMapBase) % (2 * MiB));
        live.Add((nint)big);
        Assert.Equal(HeapStatus.BadAlignment, heap->Alloc(64, 48, 0, out _));
        Assert.Equal(HeapStatus.BadAlignment, heap->Alloc(64, KernelHeap.MaxAlignment * 2, 0, out _));
        h.Consistent();
        foreach (nint p in live)
            Assert.Equal(HeapStatus.Ok, heap->Free((void*)p));
        h.Consistent();
    }
}
