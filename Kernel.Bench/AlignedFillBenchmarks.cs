using BenchmarkDotNet.Attributes;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>
/// Issue 12's aligned fill (<c>aligned_fill_1g_s</c>): 8 KiB blocks at 64 KiB alignment, by pool choice, until
/// 1 GiB of RAM (one pool, at 4 GiB) is full; each iteration starts from a fresh set-up. The rule search
/// once walked every small piece earlier carves had left (quadratic: about 97 s); it is O(MaxOrder) a call now.
/// </summary>
public unsafe class AlignedFillBenchmarks
{
    private const ulong GiB = 1UL << 30;
    private HostPhysicalMemory _host;

    [GlobalSetup]
    public void Setup() => _host = PairBenchmarks.Host(new[] { new MemoryRegion(4 * GiB, GiB, MemoryType.Available, 0) });

    [GlobalCleanup]
    public void Cleanup() => _host.Dispose();

    [IterationSetup]
    public void Reset() => _host.Initialize();

    [Benchmark(Description = "aligned_fill_1g")]
    public ulong AlignedFill1G() => Fill(_host.Memory);

    /// <summary>Fills the memory with aligned 8 KiB blocks; returns how many (1 GiB / 64 KiB when the fill is complete).</summary>
    public static ulong Fill(PhysicalMemory* pm)
    {
        AllocRequest request = AllocRequest.Any;
        request.Alignment = 64 * 1024;
        ulong blocks = 0;
        while (pm->Allocate(new Order(1), request, out _) == MemoryStatus.Ok)
            blocks++;
        if (blocks != GiB / request.Alignment)
            throw new InvalidOperationException($"aligned fill stopped after {blocks} blocks");
        return blocks;
    }

    /// <summary>One fill from a fresh set-up, in seconds (the NativeAOT harness, <see cref="AotPairs"/>).</summary>
    public static double TimeOnce()
    {
        var b = new AlignedFillBenchmarks();
        b.Setup();
        b.Reset();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        Fill(b._host.Memory);
        double s = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
        b.Cleanup();
        return s;
    }
}
