using System.Xml.Linq;
using SkiaSharp;
using Xunit;

namespace PoolKernel.Tests.Sim;

/// <summary>
/// Kernel.Sim's pictures (--picture FILE.svg|.png, and --dump FILE for a live kernel's dump): the
/// files exist whole, the SVG is XML with one legend entry per pool and one colour per pool that every
/// page block of that pool wears, the PNG decodes to the picture's size; bad dumps write nothing.
/// </summary>
public sealed class PictureTests : IDisposable
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private readonly string _dir = Directory.CreateTempSubdirectory("pk-pic-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Shape = { "--machine", "q35", "--memory", "3G", "--nodes", "2", "--cmdline", "pool=dma32:64M hugepages=4" };

    /// <summary>Pool ids and names from a pools report.</summary>
    private static List<(int Id, string Name)> Pools(List<string> report)
        => report.Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(f => (int.Parse(f[0]), f[1])).ToList();

    /// <summary>Checks an SVG picture against the pools it should show; returns the document.</summary>
    public static XDocument AssertPicture(string path, List<(int Id, string Name)> pools, int nodes, int reservations)
    {
        XDocument doc = XDocument.Load(path);
        Assert.Equal(Svg + "svg", doc.Root!.Name);
        var legend = doc.Descendants(Svg + "g").Where(g => (string)g.Attribute("class") == "legend-entry").ToList();
        Assert.Equal(pools.Select(p => p.Id), legend.Select(g => (int)g.Attribute("data-pool")!));
        for (int i = 0; i < pools.Count; i++)
            Assert.StartsWith($"{pools[i].Id} {pools[i].Name}: ", legend[i].Element(Svg + "text")!.Value);
        var colour = legend.ToDictionary(g => (int)g.Attribute("data-pool")!, g => (string)g.Element(Svg + "rect")!.Attribute("fill")!);
        Assert.Equal(pools.Count, colour.Values.Distinct().Count());
        var blocks = doc.Descendants(Svg + "rect").Where(r => (string)r.Attribute("class") == "block").ToList();
        Assert.NotEmpty(blocks);
        foreach (var b in blocks)
            Assert.Equal(colour[(int)b.Attribute("data-pool")!], (string)b.Attribute("fill"));
        // Every pool with memory has blocks; every node has a band.
        foreach (var (id, _) in pools)
            Assert.Contains(blocks, b => (int)b.Attribute("data-pool")! == id);
        Assert.Equal(nodes, doc.Descendants(Svg + "rect").Count(r => (string)r.Attribute("class") == "band"));
        Assert.Equal(reservations, doc.Descendants(Svg + "rect").Count(r => (string)r.Attribute("class") == "reservation"));
        return doc;
    }

    [Fact]
    public void Svg_FromTheSimulator_LegendIsThePools_OneColourEach()
    {
        string path = Path.Combine(_dir, "q35.svg");
        SimRun run = SimRun.Of(Shape.Concat(new[] { "--report", "pools,dump", "--picture", path }).ToArray());
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"sim: picture written to {path}", run.Output);
        var pools = Pools(run.Report("pools"));
        Assert.Equal(new[] { "node0-dma", "node0-dma32", "node1-dma32", "node1-normal", "dma32", "huge2m" }, pools.Select(p => p.Name));
        XDocument doc = AssertPicture(path, pools, 2, run.Report("dump").Count(l => l.StartsWith("reservation ")));
        // q35 -m 3G: 2 GiB below the PCI hole, 1 GiB above 4 GiB: a hole strip between them.
        Assert.Contains(doc.Descendants(Svg + "rect"), r => (string)r.Attribute("class") == "hole");
        Assert.Empty(Directory.GetFiles(_dir, ".*"));
    }

    [Fact]
    public void Png_FromTheSimulator_DecodesToThePicturesSize()
    {
        string path = Path.Combine(_dir, "q35.png");
        SimRun run = SimRun.Of(Shape.Concat(new[] { "--picture", path }).ToArray());
        Assert.True(run.ExitCode == 0, run.ToString());
        int pools = Pools(run.Report("pools")).Count;
        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        using SKBitmap bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        Assert.Equal(1400, bitmap.Width);
        Assert.Equal(140 + 110 * 2 + 22 * pools, bitmap.Height);
        // Not blank: the pools' colours are in it.
        Assert.True(Enumerable.Range(0, bitmap.Width).Select(x => bitmap.GetPixel(x, 120)).Distinct().Count() > 3);
    }

    /// <summary>A dump saved from a serial log (other lines around it) draws the same picture as the simulator's own.</summary>
    [Fact]
    public void Dump_FromASavedLog_DrawsTheSamePicture()
    {
        SimRun sim = SimRun.Of(Shape.Concat(new[] { "--report", "pools,dump", "--picture", Path.Combine(_dir, "sim.svg") }).ToArray());
        string log = Path.Combine(_dir, "serial.log");
        File.WriteAllText(log, "PoolKernel - generic physical memory pools, in C#\r\npk> dump\r\n" + string.Join("\r\n", sim.Report("dump")) + "\r\npk> halt\r\n");
        string path = Path.Combine(_dir, "live.svg");
        SimRun run = SimRun.Of("--dump", log, "--picture", path);
        Assert.True(run.ExitCode == 0, run.ToString());
        var pools = Pools(sim.Report("pools"));
        XDocument live = AssertPicture(path, pools, 2, sim.Report("dump").Count(l => l.StartsWith("reservation ")));
        XDocument own = XDocument.Load(Path.Combine(_dir, "sim.svg"));
        Assert.Equal(own.Descendants(Svg + "g").Single(g => (string)g.Attribute("id") == "blocks").ToString(),
            live.Descendants(Svg + "g").Single(g => (string)g.Attribute("id") == "blocks").ToString());
    }

    [Theory]
    [InlineData("no dump here\n", "no complete dump block")]
    [InlineData("=== POOLKERNEL DUMP BEGIN v1 ===\nnodes=1\npool id=0 name=x nodemask=0x1\n=== POOLKERNEL DUMP END ===\n", "line 3: malformed dump line")]
    [InlineData("=== POOLKERNEL DUMP BEGIN v1 ===\nnodes=1\nblocks start=0x200 node=0 pool=0 present=512 inuse=1,2\n=== POOLKERNEL DUMP END ===\n", "line 3: malformed dump line (present= and inuse= differ in length)")]
    [InlineData("=== POOLKERNEL DUMP BEGIN v1 ===\nnodes=1\n=== POOLKERNEL DUMP END ===\n", "lists no pools")]
    public void BadDump_OneLine_NoFile(string text, string message)
    {
        string log = Path.Combine(_dir, "bad.log");
        File.WriteAllText(log, text);
        string path = Path.Combine(_dir, "out.svg");
        SimRun run = SimRun.Of("--dump", log, "--picture", path);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Output);
        Assert.Contains(message, run.Error);
        Assert.False(File.Exists(path));
    }

    [Theory]
    [InlineData("out.jpg", "the name must end in .svg or .png")]
    [InlineData("no-such-dir/out.svg", "no directory")]
    public void BadPicturePath_RefusedBeforeAnythingRuns(string name, string message)
    {
        SimRun run = SimRun.Of(Shape.Concat(new[] { "--picture", Path.Combine(_dir, name) }).ToArray());
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Output);
        Assert.Contains(message, run.Error);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }
}
