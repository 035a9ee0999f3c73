using System.Globalization;
using System.Text.Json;

namespace PoolKernel.Sim;

/// <summary>
/// Charts of the benchmark summaries (build.ps1 bench): for every summary*.json in a directory,
/// a PNG beside it with one pair of bars for every key X that has a baseline_X (ours against the
/// classic buddy baseline), grouped by unit (the key's last part: ns, ms, ...; one file per unit).
/// Keys are paired by name alone, so pairs that benchmarks add later are charted without a change
/// here; keys without a baseline and values that are not numbers (a missing result) are left out.
/// </summary>
public static class BenchCharts
{
    public sealed record Pair(string Key, double Ours, double Baseline, string Unit);

    public static List<Pair> Pairs(string json, string source)
    {
        Dictionary<string, double> values = new();
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SimError($"{source}: not a JSON object of numbers");
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Number)
                    values[p.Name] = p.Value.GetDouble();
        }
        catch (JsonException e)
        {
            throw new SimError($"{source}: not JSON ({e.Message})");
        }
        var pairs = new List<Pair>();
        foreach (var (key, ours) in values)
        {
            if (key.StartsWith("baseline_", StringComparison.Ordinal) || !values.TryGetValue("baseline_" + key, out double baseline))
                continue;
            int underscore = key.LastIndexOf('_');
            pairs.Add(new Pair(key, ours, baseline, underscore < 0 ? "" : key[(underscore + 1)..]));
        }
        return pairs;
    }

    /// <summary>Writes the charts of every summary*.json in <paramref name="dir"/>; returns the files written.</summary>
    public static List<string> WriteAll(string dir)
    {
        if (!Directory.Exists(dir))
            throw new SimError($"--bench-charts {dir}: no such directory");
        var summaries = Directory.GetFiles(dir, "summary*.json").OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (summaries.Count == 0)
            throw new SimError($"--bench-charts {dir}: no summary*.json (run build.ps1 bench first)");
        // Read everything first: a bad summary writes no chart at all.
        var charts = summaries.Select(f => (File: f, Pairs: Pairs(File.ReadAllText(f), f))).ToList();
        var written = new List<string>();
        foreach (var (file, pairs) in charts)
        {
            foreach (var unit in pairs.GroupBy(p => p.Unit))
            {
                string name = Path.GetFileNameWithoutExtension(file) + (pairs.Select(p => p.Unit).Distinct().Count() == 1 ? "" : "-" + unit.Key) + ".png";
                string path = Path.Combine(dir, name);
                Write(path, $"{Path.GetFileName(file)}: ours vs the baseline buddy ({unit.Key}, lower is faster)", unit.ToList());
                written.Add(path);
            }
        }
        return written;
    }

    private static void Write(string path, string title, List<Pair> pairs)
    {
        var plot = new ScottPlot.Plot();
        plot.Title(title, 14);
        var ours = new List<ScottPlot.Bar>();
        var baseline = new List<ScottPlot.Bar>();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < pairs.Count; i++)
        {
            double x = i * 3;
            ours.Add(new ScottPlot.Bar { Position = x, Value = pairs[i].Ours, FillColor = ScottPlot.Color.FromHex("#1f77b4"), Label = Format(pairs[i].Ours) });
            baseline.Add(new ScottPlot.Bar { Position = x + 1, Value = pairs[i].Baseline, FillColor = ScottPlot.Color.FromHex("#ff7f0e"), Label = Format(pairs[i].Baseline) });
            ticks.AddMajor(x + 0.5, Trim(pairs[i].Key, pairs[i].Unit));
        }
        var a = plot.Add.Bars(ours);
        a.ValueLabelStyle.FontSize = 10;
        var b = plot.Add.Bars(baseline);
        b.ValueLabelStyle.FontSize = 10;
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.TickLabelStyle.Rotation = -30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleRight;
        plot.Axes.Bottom.MinimumSize = 110;
        plot.Axes.Left.Label.Text = pairs[0].Unit;
        plot.Axes.Margins(bottom: 0);
        plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = "PoolKernel pools", FillColor = ScottPlot.Color.FromHex("#1f77b4") });
        plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = "baseline buddy", FillColor = ScottPlot.Color.FromHex("#ff7f0e") });
        plot.Legend.Alignment = ScottPlot.Alignment.UpperLeft;
        plot.ShowLegend();
        string temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "." + Path.GetFileName(path) + ".tmp" + Environment.ProcessId);
        try
        {
            plot.SavePng(temp, Math.Max(640, 140 * pairs.Count + 200), 560);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    private static string Trim(string key, string unit) => unit.Length > 0 && key.EndsWith("_" + unit, StringComparison.Ordinal) ? key[..^(unit.Length + 1)] : key;

    private static string Format(double v) => v.ToString(v >= 100 ? "0" : "0.##", CultureInfo.InvariantCulture);
}
