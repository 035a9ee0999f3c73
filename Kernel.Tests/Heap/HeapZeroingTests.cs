using System.Runtime.InteropServices;
using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Heap;

/// <summary>
/// The heap's zeroing (docs/heap.md, "Zeroing"): the portable routine and the host's routine zero exactly
/// their range at odd lengths and alignments; the inline cell routine covers every class size; the routine
/// set with SetZeroing is what zeroes page runs and cells above the inline limit, and nothing else; heaps
/// with either routine hand out zeroed objects when memory is reused dirty.
/// </summary>
public unsafe class HeapZeroingTests
{
    private const ulong MiB = 1UL << 20;
    private const int Guard = 32;
    private const byte Dirty = 0xA5;

    /// <summary>Zeroes [offset, offset + length) of a dirty buffer with <paramref name="zero"/>; asserts that range is zero and the rest untouched.</summary>
    private static void AssertZeroesExactly(delegate*<byte*, ulong, void> zero, string name, int offset, int length)
    {
        int total = Guard + offset + length + Guard;
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)total, 64);
        try
        {
            new Span<byte>(buffer, total).Fill(Dirty);
            zero(buffer + Guard + offset, (ulong)length);
            for (int i = 0; i < total; i++)
            {
                bool inside = i >= Guard + offset && i < Guard + offset + length;
                Assert.True(buffer[i] == (inside ? 0 : Dirty), $"{name}: offset {offset} length {length}: byte {i - Guard - offset} is 0x{buffer[i]:x2}");
            }
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    public static IEnumerable<object[]> Lengths() =>
        new[] { 0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 255, 256, 257, 1000, 4095, 4096, 4097, 9000 }
            .Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Lengths))]
    public void PortableAndHostRoutinesZeroExactlyTheirRangeAtEveryAlignment(int length)
    {
        for (int offset = 0; offset < 17; offset++)
        {
            AssertZeroesExactly(&HeapZeroing.Portable, "portable", offset, length);
            AssertZeroesExactly(&HostHeap.Zero, "host", offset, length);
        }
    }

    private static void CellRoutine(byte* at, ulong bytes) => HeapZeroing.Cell(at, (uint)bytes);

    [Fact]
    public void CellRoutineZeroesEveryClassSizeExactly()
    {
        for (int c = 0; c < SizeClasses.Count; c++)
            AssertZeroesExactly(&CellRoutine, $"cell class {c}", 0, (int)SizeClasses.SizeOf(c));
        AssertZeroesExactly(&CellRoutine, "slab header", 0, SlabHeader.Bytes);
    }

    private static ulong s_calls;
    private static ulong s_bytes;

    private static void CountingZero(byte* at, ulong bytes)
    {
        s_calls++;
        s_bytes += bytes;
        HeapZeroing.Portable(at, bytes);
    }

    [Fact]
    public void TheRoutineSetZeroesRunsAndLargeCellsOnly()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        heap->SetZeroing(&CountingZero);
        s_calls = 0;
        s_bytes = 0;
        for (int c = 0; c < SizeClasses.Count; c++)
        {
            uint size = SizeClasses.SizeOf(c);
            ulong calls = s_calls, bytes = s_bytes;
            byte* p = (byte*)heap->Alloc(size, 0, 0);
            Assert.True(p != null);
            bool routine = size > HeapZeroing.InlineCellLimit;
            Assert.Equal(routine ? calls + 1 : calls, s_calls);
            Assert.Equal(routine ? bytes + size : bytes, s_bytes);
            Assert.Equal(HeapStatus.Ok, heap->Free(p));
        }
        ulong before = s_calls;
        byte* run = (byte*)heap->Alloc(3 * Pfn.PageSize + 1, 0, 0);
        Assert.True(run != null);
        Assert.Equal(before + 1, s_calls);
        Assert.Equal(HeapStatus.Ok, heap->Free(run));
        h.Consistent();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReusedDirtyMemoryComesBackZeroedWithEitherRoutine(bool portable)
    {
        using var h = new HostHeap(QemuMaps.Boot("pc", 128 * MiB, 1), portableZeroing: portable);
        KernelHeap* heap = h.Heap;
        ulong[] sizes = { 1, 16, 24, 32, 100, 256, 257, 1000, 2048, 2049, 3 * Pfn.PageSize + 8, 5 * Pfn.PageSize };
        for (int round = 0; round < 3; round++)
        {
            var objects = new List<(nint P, ulong Size)>();
            foreach (ulong size in sizes)
            {
                for (int i = 0; i < 3; i++)
                {
                    byte* p = (byte*)heap->Alloc(size, 0, 0);
                    Assert.True(p != null, $"alloc {size}");
                    Assert.Equal(HeapStatus.Ok, heap->Describe(p, out HeapObjectInfo info));
                    for (ulong b = 0; b < info.Size; b++)
                        Assert.True(p[b] == 0, $"round {round}: {size}-byte object not zeroed at {b} (portable {portable})");
                    new Span<byte>(p, (int)info.Size).Fill(0xFF);
                    objects.Add(((nint)p, size));
                }
            }
            foreach ((nint p, ulong _) in objects)
                Assert.Equal(HeapStatus.Ok, heap->Free((void*)p));
            h.Consistent();
        }
    }

    [Fact]
    public void PairsOnAnEmptyClassReuseOneCellAndKeepTheSlabCached()
    {
        using var h = HostHeap.Boot("pc", 128 * MiB, 1);
        KernelHeap* heap = h.Heap;
        void* first = heap->Alloc(32, 0, 0);
        Assert.Equal(HeapStatus.Ok, heap->Free(first));
        ulong free = h.FreePages;
        for (int i = 0; i < 1000; i++)
        {
            void* p = heap->Alloc(32, 16, 0);
            Assert.True(p == first, $"pair {i}: 0x{(ulong)p:x} instead of 0x{(ulong)first:x}");
            Assert.Equal(HeapStatus.Ok, heap->Free(p));
            Assert.Equal(HeapStatus.DoubleFree, heap->Free(p));
        }
        Assert.Equal(free, h.FreePages);
        Assert.Equal(HeapStatus.Ok, heap->GetClassStats(SizeClasses.ForSize(32), out HeapClassStats s));
        Assert.Equal(1UL, s.Slabs);
        Assert.Equal(0UL, s.ObjectsInUse);
        Assert.Equal(1000UL, heap->GetTotals().RefusedFrees);
        h.Consistent();
    }
}
