using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Heap;

/// <summary>
/// Measures what small objects cost beyond the bytes asked for, for the numbers in docs/heap.md:
/// rounding to the class, slab headers and slack, and free cells in partly used slabs.
/// </summary>
public unsafe class HeapOverheadTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public HeapOverheadTests(ITestOutputHelper output) => _output = output;

    public static IEnumerable<object[]> Workloads() => new[]
    {
        new object[] { "fixed 24 B", 0 },
        new object[] { "uniform 16..256 B", 1 },
        new object[] { "log-uniform 8..2048 B", 2 },
    };

    [Theory]
    [MemberData(nameof(Workloads))]
    public void PerObjectOverheadIsSmall(string name, int workload)
        => SeededRuns.Run(_output, $"heap overhead, {name}", "POOLKERNEL_HEAP_OVERHEAD", 1, 100_000, (seed, count) => Measure(name, workload, seed, count));

    private void Measure(string name, int workload, int seed, int count)
    {
        using var h = HostHeap.Boot("pc", 512 * MiB, 1);
        KernelHeap* heap = h.Heap;
        var rng = new Random(seed);
        ulong asked = 0;
        for (int i = 0; i < count; i++)
        {
            ulong size = workload switch
            {
                0 => 24,
                1 => (ulong)rng.Next(16, 257),
                _ => (ulong)Math.Exp(rng.NextDouble() * (Math.Log(2048) - Math.Log(8)) + Math.Log(8)),
            };
            asked += size;
            Assert.True(heap->Alloc(size, 0, 0) != null);
        }
        h.Consistent();
        HeapTotals t = heap->GetTotals();
        double held = t.PagesHeld * (double)Pfn.PageSize;
        double perObject = (held - asked) / count;
        double rounding = (double)(t.SmallBytesInUse - asked) / count;
        double structure = (double)(t.HeaderBytes + t.SlackBytes) / count;
        double freeCells = (double)t.FreeCellBytes / count;
        _output.WriteLine($"{name}: {count} objects, {asked / (double)count:F1} B asked on average, {t.PagesHeld} pages held");
        _output.WriteLine($"  overhead {perObject:F2} B/object ({100 * (held - asked) / asked:F1}%): rounding {rounding:F2}, header+slack {structure:F2}, free cells {freeCells:F2}");
        Assert.Equal(held - asked, rounding * count + structure * count + freeCells * count, 3);
        // Headers and slack stay within the 1/8 a class may waste.
        Assert.True(structure * count <= held / 8);
    }
}
