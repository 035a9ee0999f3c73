using System.Globalization;
using System.Security;
using System.Text;

namespace PoolKernel.Sim;

/// <summary>
/// Writes a <see cref="PictureModel"/> as SVG (written here as text: the picture is rectangles and
/// labels, and writing them directly keeps the file small, deterministic and structured, with one
/// element a span of page blocks carrying its pool, node and addresses, and a legend group with one
/// entry a pool, which the tests read back as XML) or PNG (rendered by ScottPlot over SkiaSharp, which
/// brings the raster, fonts and anti-aliasing). A file is written whole or not at all: a temporary
/// file beside it is renamed into place.
/// </summary>
public static class Picture
{
    public static void CheckPath(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext != ".svg" && ext != ".png")
            throw new SimError($"--picture {path}: the name must end in .svg or .png");
        string dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!Directory.Exists(dir))
            throw new SimError($"--picture {path}: no directory {dir}");
    }

    public static void Write(string path, PictureModel model)
    {
        CheckPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)), "." + Path.GetFileName(path) + ".tmp" + Environment.ProcessId);
        try
        {
            if (Path.GetExtension(path).Equals(".svg", StringComparison.OrdinalIgnoreCase))
                File.WriteAllText(temp, Svg(model), new UTF8Encoding(false));
            else
                Png(model, temp);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SimError($"--picture {path}: cannot write it ({e.Message})");
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    private static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    private static string E(string s) => SecurityElement.Escape(s);

    public static string Svg(PictureModel m)
    {
        var s = new StringBuilder();
        s.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{F(PictureModel.Width)}\" height=\"{F(m.Height)}\" viewBox=\"0 0 {F(PictureModel.Width)} {F(m.Height)}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        s.Append($"<title>{E(m.Title)}</title>\n");
        s.Append("<defs><pattern id=\"hatch\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\"><path d=\"M0,4 l4,-4\" stroke=\"#888\" stroke-width=\"1\"/></pattern></defs>\n");
        s.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        s.Append($"<text x=\"{F(PictureModel.Left)}\" y=\"24\" font-size=\"15\">{E(m.Title)}</text>\n");
        s.Append("<g id=\"bands\">\n");
        for (int n = 0; n < m.Nodes; n++)
        {
            s.Append($"<rect class=\"band\" data-node=\"{n}\" x=\"{F(PictureModel.Left)}\" y=\"{F(m.BandY(n) + 4)}\" width=\"{F(PictureModel.Width - PictureModel.Left - 20)}\" height=\"{F(PictureModel.BandHeight - 8)}\" fill=\"#f4f4f4\"/>\n");
            s.Append($"<text x=\"8\" y=\"{F(m.BandY(n) + PictureModel.BandHeight / 2 + 4)}\">node {n}</text>\n");
        }
        s.Append("</g>\n<g id=\"blocks\">\n");
        var colours = m.Pools.ToDictionary(p => p.Id);
        foreach (var sp in m.Spans)
        {
            var p = colours[sp.Pool];
            double y = m.BandY(sp.Node) + 4, h = PictureModel.BandHeight - 8;
            string what = $"{p.Name}: 0x{sp.StartPfn << 12:x}-0x{sp.EndPfn << 12:x}, {sp.InUse} of {sp.Present} frames in use a block";
            s.Append($"<rect class=\"block\" data-pool=\"{sp.Pool}\" data-node=\"{sp.Node}\" x=\"{F(sp.X)}\" y=\"{F(y)}\" width=\"{F(sp.W)}\" height=\"{F(h)}\" fill=\"{p.Colour}\"><title>{E(what)}</title></rect>\n");
            if (sp.Use > 0)
                s.Append($"<rect class=\"use\" data-pool=\"{sp.Pool}\" x=\"{F(sp.X)}\" y=\"{F(y + h * (1 - sp.Use))}\" width=\"{F(sp.W)}\" height=\"{F(h * sp.Use)}\" fill=\"{p.DarkColour}\"/>\n");
        }
        s.Append("</g>\n<g id=\"holes\">\n");
        foreach (var hole in m.Holes)
            s.Append($"<rect class=\"hole\" x=\"{F(hole.X + 2)}\" y=\"{F(PictureModel.Top)}\" width=\"{F(PictureModel.HoleWidth - 4)}\" height=\"{F(m.Nodes * PictureModel.BandHeight)}\" fill=\"url(#hatch)\"><title>{E($"hole 0x{hole.Start:x}-0x{hole.End:x} ({PictureModel.Size(hole.End - hole.Start)}): no RAM the pools hold")}</title></rect>\n");
        s.Append("</g>\n<g id=\"reservations\">\n");
        foreach (var r in m.Reservations)
            s.Append($"<rect class=\"reservation\" x=\"{F(r.X)}\" y=\"{F(m.AxisY + 2)}\" width=\"{F(r.W)}\" height=\"8\" fill=\"#d62728\"><title>{E($"{r.Name} 0x{r.Start:x}-0x{r.End:x}")}</title></rect>\n");
        s.Append("</g>\n<g id=\"axis\">\n");
        s.Append($"<line x1=\"{F(PictureModel.Left)}\" y1=\"{F(m.AxisY)}\" x2=\"{F(PictureModel.Width - 20)}\" y2=\"{F(m.AxisY)}\" stroke=\"black\"/>\n");
        double lastLabel = double.NegativeInfinity;
        foreach (var t in m.Ticks)
        {
            s.Append($"<line x1=\"{F(t.X)}\" y1=\"{F(m.AxisY)}\" x2=\"{F(t.X)}\" y2=\"{F(m.AxisY + 14)}\" stroke=\"black\"/>\n");
            if (t.X - lastLabel < 70)
                continue;
            s.Append($"<text class=\"tick\" x=\"{F(t.X + 2)}\" y=\"{F(m.AxisY + 26)}\" font-size=\"10\">{E(t.Label)}</text>\n");
            lastLabel = t.X;
        }
        s.Append($"<text x=\"{F(PictureModel.Width - 20)}\" y=\"{F(m.AxisY + 40)}\" text-anchor=\"end\" font-size=\"10\">physical address (page blocks at equal width; hatched strips: holes; red: reservations)</text>\n");
        s.Append("</g>\n<g id=\"legend\">\n");
        double ly = m.AxisY + 56;
        foreach (var p in m.Pools)
        {
            s.Append($"<g class=\"legend-entry\" data-pool=\"{p.Id}\"><rect x=\"{F(PictureModel.Left)}\" y=\"{F(ly - 10)}\" width=\"12\" height=\"12\" fill=\"{p.Colour}\"/><rect x=\"{F(PictureModel.Left + 14)}\" y=\"{F(ly - 10)}\" width=\"12\" height=\"12\" fill=\"{p.DarkColour}\"/><text x=\"{F(PictureModel.Left + 32)}\" y=\"{F(ly)}\">{E(p.Label)}</text></g>\n");
            ly += 18;
        }
        s.Append($"<g class=\"legend-key\"><text x=\"{F(PictureModel.Left)}\" y=\"{F(ly)}\">light: free, dark: in use (its height: the share of the block's frames in use)</text></g>\n");
        s.Append("</g>\n</svg>\n");
        return s.ToString();
    }

    private static void Png(PictureModel m, string path)
    {
        var plot = new ScottPlot.Plot();
        plot.Title(m.Title, 14);
        double bottom(int node) => m.Nodes - node - 1;
        var colours = m.Pools.ToDictionary(p => p.Id);
        foreach (var sp in m.Spans)
        {
            var p = colours[sp.Pool];
            double y0 = bottom(sp.Node) + 0.06, y1 = bottom(sp.Node) + 0.94;
            var free = plot.Add.Rectangle(sp.X, sp.X + sp.W, y0, y1);
            free.FillStyle.Color = ScottPlot.Color.FromHex(p.Colour);
            free.LineStyle.Width = 0;
            if (sp.Use > 0)
            {
                var used = plot.Add.Rectangle(sp.X, sp.X + sp.W, y0, y0 + (y1 - y0) * sp.Use);
                used.FillStyle.Color = ScottPlot.Color.FromHex(p.DarkColour);
                used.LineStyle.Width = 0;
            }
        }
        foreach (var h in m.Holes)
        {
            var r = plot.Add.Rectangle(h.X + 2, h.X + PictureModel.HoleWidth - 2, 0, m.Nodes);
            r.FillStyle.Color = ScottPlot.Color.FromHex("#bbbbbb");
            r.FillStyle.HatchColor = ScottPlot.Color.FromHex("#666666");
            r.FillStyle.Hatch = new ScottPlot.Hatches.Striped();
            r.LineStyle.Width = 0;
        }
        foreach (var res in m.Reservations)
        {
            var r = plot.Add.Rectangle(res.X, res.X + res.W, -0.14, -0.02);
            r.FillStyle.Color = ScottPlot.Color.FromHex("#d62728");
            r.LineStyle.Width = 0;
        }
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        double lastLabel = double.NegativeInfinity;
        foreach (var t in m.Ticks)
        {
            ticks.AddMajor(t.X, t.X - lastLabel < 70 ? "" : t.Label);
            if (t.X - lastLabel >= 70)
                lastLabel = t.X;
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.Label.Text = "physical address (page blocks at equal width; hatched: holes; red: reservations)";
        var nodes = new ScottPlot.TickGenerators.NumericManual();
        for (int n = 0; n < m.Nodes; n++)
            nodes.AddMajor(bottom(n) + 0.5, "node " + n);
        plot.Axes.Left.TickGenerator = nodes;
        plot.Axes.SetLimits(PictureModel.Left, PictureModel.Width - 20, -0.2, m.Nodes);
        plot.Grid.IsVisible = false;
        foreach (var p in m.Pools)
            plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = p.Label, FillColor = ScottPlot.Color.FromHex(p.Colour) });
        plot.Legend.Alignment = ScottPlot.Alignment.LowerCenter;
        plot.ShowLegend(ScottPlot.Edge.Bottom);
        plot.SavePng(path, (int)PictureModel.Width, (int)(140 + 110 * m.Nodes + 22 * m.Pools.Count));
    }
}
