using BenchmarkDotNet.Attributes;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>Set-up of a QEMU `pc` 64 GiB two-node map: metadata initialisation and free lists.</summary>
public unsafe class SetupBenchmarks
{
    private HostPhysicalMemory _host;

    [GlobalSetup]
    public void Setup() => _host = PairBenchmarks.Host(QemuMaps.Build("pc", 64UL << 30, 2));

    [GlobalCleanup]
    public void Cleanup() => _host.Dispose();

    [Benchmark(Description = "setup_64g")]
    public void Setup64G() => _host.Initialize();

    /// <summary>Metadata bytes per present 4 KiB page for the 64 GiB map (not timed).</summary>
    public static double MetadataBytesPerPage()
    {
        using var host = PairBenchmarks.Host(QemuMaps.Build("pc", 64UL << 30, 2));
        return (double)host.MetadataBytes / host.Memory->GetTotals().PresentPages;
    }
}
