using PoolKernel.Sim;
using SkiaSharp;
using Xunit;

namespace PoolKernel.Tests.Sim;

/// <summary>Kernel.Sim --bench-charts (build.ps1 bench's last step): every X with a baseline_X is charted, whatever keys the benchmarks add.</summary>
public sealed class BenchChartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pk-charts-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Pairs_AreEveryKeyWithABaseline_NewKeysIncluded()
    {
        var pairs = BenchCharts.Pairs("""
            { "order0_pair_ns": 11, "baseline_order0_pair_ns": 14, "order0_pair_pool_choice_ns": 31,
              "baseline_dma32_pair_ns": 15, "threads4_pair_ns": 40, "baseline_threads4_pair_ns": 90,
              "setup_64g_ms": 7, "baseline_setup_64g_ms": 9, "churn_success_ns": "NaN", "baseline_churn_success_ns": 3 }
            """, "test");
        Assert.Equal(new[]
        {
            new BenchCharts.Pair("order0_pair_ns", 11, 14, "ns"),
            new BenchCharts.Pair("threads4_pair_ns", 40, 90, "ns"),
            new BenchCharts.Pair("setup_64g_ms", 7, 9, "ms"),
        }, pairs);
    }

    [Fact]
    public void WriteAll_OnePngPerSummaryAndUnit_Decodable()
    {
        File.WriteAllText(Path.Combine(_dir, "summary.json"), """{ "a_ns": 1, "baseline_a_ns": 2, "b_ms": 3, "baseline_b_ms": 4 }""");
        File.WriteAllText(Path.Combine(_dir, "summary-aot.json"), """{ "a_ns": 1.5, "baseline_a_ns": 2.5 }""");
        SimRun run = SimRun.Of("--bench-charts", _dir);
        Assert.True(run.ExitCode == 0, run.ToString());
        string[] expected = { "summary-aot.png", "summary-ms.png", "summary-ns.png" };
        Assert.Equal(expected, Directory.GetFiles(_dir, "*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (string name in expected)
        {
            Assert.Contains($"sim: chart written to {Path.Combine(_dir, name)}", run.Output);
            using SKBitmap bitmap = SKBitmap.Decode(Path.Combine(_dir, name));
            Assert.Equal((640, 560), (bitmap.Width, bitmap.Height));
        }
    }

    [Fact]
    public void BadSummary_OneLine_NoChartAtAll()
    {
        File.WriteAllText(Path.Combine(_dir, "summary.json"), """{ "a_ns": 1, "baseline_a_ns": 2 }""");
        File.WriteAllText(Path.Combine(_dir, "summary-aot.json"), "{ not json");
        SimRun run = SimRun.Of("--bench-charts", _dir);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Output);
        Assert.Contains("summary-aot.json: not JSON", run.Error);
        Assert.Empty(Directory.GetFiles(_dir, "*.png"));
    }
}
