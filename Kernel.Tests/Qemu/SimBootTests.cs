using PoolKernel.Tests.Sim;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Kernel.Sim against the kernel (issue 20): for the same machine and command line, the simulator's
/// boot lines, pools table and reservations are the kernel's. The loader-placed ranges (kernel image,
/// command line) come from the boot being compared, through --describe, as docs/sim.md says; every
/// other number is computed by the simulator. The simulator's pools table is the kernel's `pools boot`
/// (the table as set-up left it, before the heap, drivers and shell held anything) line for line,
/// every column; the live `pools` differs from it only in `free kB`, which never exceeds present.
/// </summary>
public class SimBootTests
{
    private readonly ITestOutputHelper _output;

    public SimBootTests(ITestOutputHelper output) => _output = output;

    [Theory]
    [InlineData("pc", "128M", 1, "")]
    [InlineData("q35", "1G", 2, "pool=dma32:64M")]
    [InlineData("pc", "3G", 3, "pool=rt:32M@1 hugepages=1:4")]
    [InlineData("q35", "6G", 4, "hugepages=16 memmap=16M$0x20000000")]
    [InlineData("pc", "2G", 1, "numa=fake=4 mem=1G kernelcore=256M")]
    public void PoolsTable_IsTheKernels(string machine, string memory, int nodes, string commandLine)
    {
        string line = (commandLine + " run=\"pools boot;pools;dump;halt\"").Trim();
        QemuResult result = new QemuBoot { Machine = machine, Memory = memory, Nodes = nodes, KernelCommandLine = line }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        string[] console = result.Lines;
        List<string> kernelBootPools = Between(console, "pk> pools boot", "pk> pools");
        List<string> kernelPools = Between(console, "pk> pools", "pk> dump");
        List<string> kernelReservations = console.Where(l => l.StartsWith("reservation ")).ToList();
        Assert.NotEmpty(kernelReservations);

        string describe = Path.Combine(Path.GetTempPath(), $"pk-sim-describe-{Guid.NewGuid():N}.txt");
        File.WriteAllLines(describe, kernelReservations);
        SimRun sim;
        try
        {
            sim = SimRun.Of("--machine", machine, "--memory", memory, "--nodes", nodes.ToString(), "--cpus", Math.Max(1, nodes).ToString(),
                "--cmdline", line, "--describe", describe, "--report", "pools,dump");
        }
        finally
        {
            File.Delete(describe);
        }
        _output.WriteLine(sim.ToString());
        Assert.True(sim.ExitCode == 0, sim.ToString());

        // The boot lines about memory (map repairs, command-line outcomes, the pools summary) appear in the kernel's log, in order.
        int at = 0;
        foreach (string bootLine in sim.Lines.Where(l => l.Length > 0 && !l.StartsWith("sim: ") && !l.StartsWith("pk> ")).TakeWhile(l => !l.StartsWith(" id name")))
        {
            int found = Array.IndexOf(console, bootLine, at);
            Assert.True(found >= 0, $"kernel log lacks, after line {at}: '{bootLine}'");
            at = found + 1;
        }

        List<string> simPools = sim.Report("pools");
        Assert.Equal(kernelBootPools, simPools);
        Assert.Equal(kernelPools.Count, simPools.Count);
        for (int i = 0; i < kernelPools.Count; i++)
        {
            Assert.Equal(MaskFree(kernelPools[i]), MaskFree(simPools[i]));
            if (i > 0)
                Assert.True(Column(kernelPools[i], 2) <= Column(kernelPools[i], 3), kernelPools[i]);
        }
        Assert.Equal(kernelReservations, sim.Report("dump").Where(l => l.StartsWith("reservation ")).ToList());
    }

    /// <summary>A live kernel's dump, saved from the serial console, drawn by Kernel.Sim --dump: the kernel's pools, nodes, reservations, and the heap's pages in use.</summary>
    [Fact]
    public void LiveDump_Picture_ShowsTheKernelsPools()
    {
        QemuResult result = new QemuBoot { Machine = "q35", Memory = "1G", Nodes = 2, KernelCommandLine = "pool=dma32:64M run=\"pools;dump;halt\"" }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        string dir = Directory.CreateTempSubdirectory("pk-live-").FullName;
        try
        {
            string log = Path.Combine(dir, "serial.log");
            File.WriteAllText(log, result.Console);
            string svg = Path.Combine(dir, "live.svg");
            SimRun run = SimRun.Of("--dump", log, "--picture", svg);
            Assert.True(run.ExitCode == 0, run.ToString());
            Assert.Equal($"sim: picture of {log} written to {svg}\n", run.Output);
            var pools = Between(result.Lines, "pk> pools", "pk> dump").Skip(1)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(f => (int.Parse(f[0]), f[1])).ToList();
            var doc = PictureTests.AssertPicture(svg, pools, 2, result.Lines.Count(l => l.StartsWith("reservation ")));
            // The kernel's heap holds pages by now: some page blocks are drawn partly in use.
            Assert.Contains(doc.Descendants(System.Xml.Linq.XName.Get("rect", "http://www.w3.org/2000/svg")), r => (string)r.Attribute("class") == "use");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static List<string> Between(string[] lines, string from, string to)
    {
        int start = Array.IndexOf(lines, from) + 1;
        int end = Array.IndexOf(lines, to, start);
        Assert.True(start > 0 && end > start, $"no '{from}' ... '{to}' in the log");
        return lines[start..end].ToList();
    }

    /// <summary>The pools line with its `free kB` column (11 characters before the 12 of `pageblocks`) blanked.</summary>
    private static string MaskFree(string poolsLine) => poolsLine.Length < 23 ? poolsLine : poolsLine[..^23] + new string('.', 11) + poolsLine[^12..];

    private static ulong Column(string poolsLine, int fromEnd) => ulong.Parse(poolsLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^fromEnd]);
}
