using System.Globalization;
using System.Text;

namespace PoolKernel.Sim;

/// <summary>
/// What a picture of physical memory shows, computed once for both renderers (SVG and PNG):
/// the address axis, one band per node, page blocks coloured by pool with their use, holes and
/// reservations, and the legend. Built from a <see cref="DumpState"/> (a live kernel's dump, or
/// the simulator's own). The axis is piecewise: page blocks in address order at an equal width,
/// each gap between runs of RAM (a hole) drawn as a narrow marked strip with its size, so 16 MiB
/// of DMA memory stays visible next to 6 GiB and the 4 GiB PCI hole costs no width.
/// </summary>
public sealed class PictureModel
{
    public const double Width = 1400, BandHeight = 70, Left = 90, Top = 50, HoleWidth = 14;

    public sealed record PoolEntry(int Id, string Name, string Colour, string DarkColour, string Label);
    /// <summary>A run of neighbouring page blocks with the same pool, node and use, as one rectangle; Use is in use / present.</summary>
    public sealed record Span(double X, double W, int Node, int Pool, double Use, ulong StartPfn, ulong EndPfn, uint Present, uint InUse);
    public sealed record Hole(double X, ulong Start, ulong End);
    public sealed record Mark(double X, double W, string Name, ulong Start, ulong End);
    public sealed record Tick(double X, string Label);

    public string Title { get; init; } = "";
    public int Nodes { get; init; }
    public List<PoolEntry> Pools { get; } = new();
    public List<Span> Spans { get; } = new();
    public List<Hole> Holes { get; } = new();
    public List<Mark> Reservations { get; } = new();
    public List<Tick> Ticks { get; } = new();

    public double Height => Top + Nodes * BandHeight + 60 + 18 * (Pools.Count + 2);
    public double AxisY => Top + Nodes * BandHeight;
    public double BandY(int node) => Top + node * BandHeight;

    public static PictureModel FromSimulation(Simulation sim, string title)
        => FromDump(DumpState.Parse(sim.Report("dump").Split('\n'), "simulator dump"), title);

    public static PictureModel FromDump(DumpState d, string title)
    {
        ulong blockPages = 1UL << d.PageblockOrder;
        var blocks = d.Blocks.OrderBy(b => b.StartPfn).ToList();
        var model = new PictureModel { Title = title, Nodes = Math.Max(d.Nodes, blocks.Max(b => b.Node) + 1) };

        // Colours: hues a golden angle apart, so every pool differs from every other however many there are.
        for (int i = 0; i < d.Pools.Count; i++)
        {
            var p = d.Pools[i];
            double hue = (i * 137.508) % 360;
            model.Pools.Add(new PoolEntry(p.Id, p.Name, Hsl(hue, 0.60, 0.72), Hsl(hue, 0.65, 0.38), Label(p)));
        }

        // The piecewise axis: runs of contiguous blocks, a hole strip between runs.
        int runs = 1;
        for (int i = 1; i < blocks.Count; i++)
            if (blocks[i].StartPfn != blocks[i - 1].StartPfn + blockPages)
                runs++;
        double perBlock = (Width - Left - 20 - HoleWidth * (runs - 1 + (blocks[0].StartPfn != 0 ? 1 : 0))) / blocks.Count;
        double x = Left;
        if (blocks[0].StartPfn != 0)
        {
            model.Holes.Add(new Hole(x, 0, blocks[0].StartPfn << 12));
            x += HoleWidth;
        }
        var xOfBlock = new Dictionary<ulong, double>();
        for (int i = 0; i < blocks.Count; i++)
        {
            var b = blocks[i];
            if (i == 0 || b.StartPfn != blocks[i - 1].StartPfn + blockPages)
            {
                if (i > 0)
                {
                    model.Holes.Add(new Hole(x, (blocks[i - 1].StartPfn + blockPages) << 12, b.StartPfn << 12));
                    x += HoleWidth;
                }
                model.Ticks.Add(new Tick(x, "0x" + (b.StartPfn << 12).ToString("x", CultureInfo.InvariantCulture)));
            }
            else if (x - model.Ticks[^1].X >= 160)
            {
                // Inside a long run of RAM: an address every 160 units or so.
                model.Ticks.Add(new Tick(x, "0x" + (b.StartPfn << 12).ToString("x", CultureInfo.InvariantCulture)));
            }
            xOfBlock[b.StartPfn] = x;
            double use = b.Present == 0 ? 0 : (double)b.InUse / b.Present;
            var last = model.Spans.Count > 0 ? model.Spans[^1] : null;
            if (last != null && last.EndPfn == b.StartPfn && last.Pool == b.Pool && last.Node == b.Node && last.Present == b.Present && last.InUse == b.InUse)
                model.Spans[^1] = last with { W = last.W + perBlock, EndPfn = b.StartPfn + blockPages };
            else
                model.Spans.Add(new Span(x, perBlock, b.Node, b.Pool, use, b.StartPfn, b.StartPfn + blockPages, b.Present, b.InUse));
            x += perBlock;
        }

        // Reservations: where their first and last byte fall on the axis (inside a hole: at the hole's strip).
        foreach (var r in d.Reservations)
        {
            double x0 = XOf(r.Base >> 12, blocks, xOfBlock, blockPages, perBlock, model.Holes);
            double x1 = XOf((r.End - 1) >> 12, blocks, xOfBlock, blockPages, perBlock, model.Holes);
            // At least 3 units wide and inside the axis, so a reservation at either end stays visible.
            double w = Math.Max(3, x1 - x0 + perBlock / blockPages);
            x0 = Math.Min(x0, Width - 20 - w);
            model.Reservations.Add(new Mark(x0, w, r.Name, r.Base, r.End));
        }
        return model;
    }

    private static double XOf(ulong pfn, List<DumpState.Block> blocks, Dictionary<ulong, double> xOfBlock, ulong blockPages, double perBlock, List<Hole> holes)
    {
        ulong blockStart = pfn & ~(blockPages - 1);
        if (xOfBlock.TryGetValue(blockStart, out double x))
            return x + perBlock * (pfn - blockStart) / blockPages;
        foreach (var h in holes)
            if ((pfn << 12) >= h.Start && (pfn << 12) < h.End)
                return h.X + HoleWidth / 2 - 1;
        return (pfn << 12) < (blocks[0].StartPfn << 12) ? Left : Width - 20;
    }

    private static string Label(DumpState.Pool p)
    {
        var flags = new List<string>();
        if ((p.Flags & 1) != 0) flags.Add("dma");
        if ((p.Flags & 2) != 0) flags.Add("resv");
        if ((p.Flags & 4) != 0) flags.Add("rt");
        if ((p.Flags & 8) != 0) flags.Add("mov");
        if ((p.Flags & 16) != 0) flags.Add("el");
        string nodes = p.NodeMask == ulong.MaxValue ? "any node" : "node " + string.Join(",", Enumerable.Range(0, 64).Where(n => (p.NodeMask & (1UL << n)) != 0));
        string high = p.High == 0 ? "top" : "0x" + p.High.ToString("x", CultureInfo.InvariantCulture);
        return $"{p.Id} {p.Name}: {nodes}, window 0x{p.Low:x}-{high}, {(flags.Count == 0 ? "-" : string.Join(" ", flags))}, prio {p.Priority}, {Size(p.Present * 4096)} present, {Size(p.Free * 4096)} free";
    }

    public static string Size(ulong bytes)
        => bytes >= 1UL << 30 ? $"{bytes / (double)(1UL << 30):0.##} GiB" : bytes >= 1UL << 20 ? $"{bytes / (double)(1UL << 20):0.##} MiB" : $"{bytes >> 10} KiB";

    private static string Hsl(double h, double s, double l)
    {
        double c = (1 - Math.Abs(2 * l - 1)) * s, hp = h / 60, xx = c * (1 - Math.Abs(hp % 2 - 1)), m = l - c / 2;
        (double r, double g, double b) = hp < 1 ? (c, xx, 0.0) : hp < 2 ? (xx, c, 0.0) : hp < 3 ? (0.0, c, xx) : hp < 4 ? (0.0, xx, c) : hp < 5 ? (xx, 0.0, c) : (c, 0.0, xx);
        var sb = new StringBuilder("#");
        foreach (double v in new[] { r + m, g + m, b + m })
            sb.Append(((int)Math.Round(v * 255)).ToString("x2", CultureInfo.InvariantCulture));
        return sb.ToString();
    }
}
