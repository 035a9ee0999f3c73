using System.Text.RegularExpressions;
using PoolKernel.Sim;
using Xunit;

namespace PoolKernel.Tests.Sim;

/// <summary>
/// Kernel.Sim on the QEMU shapes the boot tests use: the kernel's boot-time memory code on the
/// host, its reports, and refusals of bad input (one line, non-zero exit, no output, no file).
/// </summary>
public sealed class SimulatorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pk-sim-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    /// <summary>A pools line's number counted from the end: 1 page blocks, 2 free kB, 3 present kB.</summary>
    private static ulong Column(string poolsLine, int fromEnd) => ulong.Parse(poolsLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^fromEnd]);

    public static IEnumerable<object[]> Shapes()
    {
        foreach (var machine in new[] { "pc", "q35" })
            foreach (var memory in new[] { "128M", "1G", "6G" })
                foreach (var nodes in new[] { 1, 2, 4 })
                    yield return new object[] { machine, memory, nodes };
    }

    /// <summary>Every shape: the sums add up, every node has its zones, pools' present frames + reservations = usable RAM.</summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void QemuShape_PoolsAddUp_OneZoneSetPerNode(string machine, string memory, int nodes)
    {
        SimRun run = SimRun.Of("--machine", machine, "--memory", memory, "--nodes", nodes.ToString(), "--report", "pools,meminfo,zoneinfo");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains(run.Lines, l => l.StartsWith("pools:    ") && l.EndsWith("; sums add up"));
        Assert.Contains(run.Lines, l => l.StartsWith("Sum: pools + reserved = ") && l.EndsWith(" kB: adds up"));
        Assert.Equal(3 * nodes, run.Report("zoneinfo").Count);
        List<string> pools = run.Report("pools");
        Assert.StartsWith(" id name", pools[0]);
        ulong present = pools.Skip(1).Select(l => Column(l, 3)).Aggregate(0UL, (a, b) => a + b);
        ulong pooled = ulong.Parse(Regex.Match(run.Output, @"Pools present:\s+(\d+) kB").Groups[1].Value);
        Assert.Equal(pooled, present);
        // Every node's memory is in pools named for it (node N's normal or dma32 pool exists).
        for (int n = 0; n < nodes; n++)
            Assert.Contains(pools, l => Regex.IsMatch(l, $@"^\s*\d+ node{n}-"));
    }

    /// <summary>The SRAT the simulator builds is QEMU's: the kernel's banner for q35 -m 6G with two nodes listed exactly these ranges.</summary>
    [Fact]
    public void Q35_6G_TwoNodes_SratRangesAreQemus()
    {
        MachineSpec m = MachineSpec.FromQemu("q35", 6UL << 30, 2, 2);
        Assert.Equal(new[]
        {
            new NodeRange(0, 0xa0000, 0), new NodeRange(0x100000, 0x80000000, 0), new NodeRange(0x100000000, 0x140000000, 0),
            new NodeRange(0x140000000, 0x200000000, 1),
        }, m.Srat);
    }

    /// <summary>The banner's memory map and node lines, saved to a file, give the same pools as the QEMU shape they came from.</summary>
    [Fact]
    public void MapFile_FromTheBanner_GivesTheSamePoolsAsTheShape()
    {
        // Copied from the banner of a q35 -m 6G boot with two nodes (build.ps1 run -Memory 6G).
        string map = File("q35-6g.map", """
            memory map (sanitized):
              0x000000000000-0x00000009f000 available 636 KiB
              0x00000009fc00-0x0000000a0000 reserved 1 KiB
              0x0000000f0000-0x000000100000 reserved 64 KiB
              0x000000100000-0x00007ffdf000 available 2095996 KiB
              0x00007ffdf000-0x000080000000 reserved 132 KiB
              0x0000b0000000-0x0000c0000000 reserved 256 MiB
              0x0000fed1c000-0x0000fed20000 reserved 16 KiB
              0x0000fffc0000-0x000100000000 reserved 256 KiB
              0x000100000000-0x000200000000 available 4 GiB
              0x00fd00000000-0x010000000000 reserved 12 GiB
            numa:     2 nodes (SRAT)
              node 0: 0x000000000000-0x0000000a0000 640 KiB
              node 0: 0x000000100000-0x000080000000 2047 MiB
              node 0: 0x000100000000-0x000140000000 1 GiB
              node 1: 0x000140000000-0x000200000000 3 GiB
            """);
        SimRun fromMap = SimRun.Of("--map", map, "--cmdline", "pool=dma32:64M", "--report", "pools,buddyinfo,zoneinfo,dump");
        SimRun fromShape = SimRun.Of("--machine", "q35", "--memory", "6G", "--nodes", "2", "--cmdline", "pool=dma32:64M", "--report", "pools,buddyinfo,zoneinfo,dump");
        Assert.True(fromMap.ExitCode == 0, fromMap.ToString());
        foreach (string report in new[] { "pools", "buddyinfo", "zoneinfo", "dump" })
            Assert.Equal(fromShape.Report(report), fromMap.Report(report));
        Assert.Contains("cmdline: pool dma32: created 64 MiB in node1-normal", fromMap.Output);
    }

    /// <summary>A description (a boot's dump reservation lines) reserves the loader's ranges: node 0's DMA pool shrinks by exactly them.</summary>
    [Fact]
    public void Describe_ReservesTheLoadersRanges_AndSaysSo()
    {
        string desc = File("desc.txt", """
            some other serial line
            reservation base=0x0 end=0x100000 ram_bytes=651264 name=low firmware (first MiB)
            reservation base=0x100000 end=0x293000 ram_bytes=1650688 name=kernel image + boot arena
            reservation base=0x293000 end=0x294000 ram_bytes=4096 name=kernel command line
            """);
        SimRun with = SimRun.Of("--machine", "q35", "--memory", "1G", "--nodes", "1", "--describe", desc, "--report", "pools");
        SimRun without = SimRun.Of("--machine", "q35", "--memory", "1G", "--nodes", "1", "--report", "pools");
        Assert.True(with.ExitCode == 0 && without.ExitCode == 0, with + "\n" + without);
        Assert.Contains($"sim: from {desc}: kernel image + boot arena 0x100000-0x293000", with.Output);
        Assert.Contains($"sim: from {desc}: kernel command line 0x293000-0x294000", with.Output);
        Assert.Contains("sim: no machine description (--describe FILE)", without.Output);
        ulong DmaKb(SimRun r) => Column(r.Report("pools").Single(l => l.Contains("node0-dma ")), 3);
        Assert.Equal((0x294000UL - 0x100000) / 1024, DmaKb(without) - DmaKb(with));
    }

    /// <summary>Bad input: one line on the error writer naming the problem, a non-zero exit, nothing printed, no picture file.</summary>
    [Theory]
    [InlineData("unknown machine 'isapc'", 2, "--machine", "isapc")]
    [InlineData("--nodes 99: 1..64", 2, "--nodes", "99")]
    [InlineData("does not split into 3 equal nodes", 2, "--memory", "1G", "--nodes", "3")]
    [InlineData("--memory '6X'", 2, "--memory", "6X")]
    [InlineData("unknown argument '--bogus'", 2, "--bogus")]
    [InlineData("--report: unknown report 'slabinfo'", 2, "--report", "pools,slabinfo")]
    [InlineData("--cmdline: byte 4 is not printable ASCII", 2, "--cmdline", "mem=\u00e91G")]
    public void BadArguments_OneLine_NonZeroExit_NoOutput_NoFile(string message, int code, params string[] args)
    {
        string picture = Path.Combine(_dir, "out.svg");
        SimRun run = SimRun.Of(args.Append("--picture").Append(picture).ToArray());
        Assert.Equal(code, run.ExitCode);
        Assert.Equal("", run.Output);
        Assert.Contains(message, run.Error);
        Assert.Single(run.Error.TrimEnd('\n').Split('\n'), l => l.StartsWith("Kernel.Sim: "));
        Assert.False(System.IO.File.Exists(picture));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    /// <summary>A malformed map file: the line is named; a size that disagrees with its range and a map without RAM are refused too.</summary>
    [Theory]
    [InlineData("  0x0-0x9f000 available 636 KiB\n  0x100000-0x8000000 availabel\n", "line 2: not a memory map line")]
    [InlineData("  0x0-0x9f000 available 600 KiB\n", "line 1: the size 600 KiB is not the range's 651264 bytes")]
    [InlineData("  0x100000-0x0 available\n", "line 1: range ends at or before its start")]
    [InlineData("  0x0-0x9f000 reserved\n", "no available RAM in the map")]
    [InlineData("  0x0-0x8000000 available\n  node 1: 0x0-0x8000000\n", "node lines skip node 0")]
    [InlineData("  0x0-0x12345678901234567 available\n", "does not fit 64 bits")]
    public void MalformedMapFile_OneLineNamingIt(string text, string message)
    {
        string map = File("bad.map", text);
        SimRun run = SimRun.Of("--map", map, "--picture", Path.Combine(_dir, "p.png"));
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Output);
        Assert.Contains(message, run.Error);
        Assert.StartsWith($"Kernel.Sim: --map {map}", run.Error);
        Assert.False(System.IO.File.Exists(Path.Combine(_dir, "p.png")));
    }

    /// <summary>A machine the kernel could not boot (no RAM range holds the pools' metadata): exit 3 and the kernel's reason, no output.</summary>
    [Fact]
    public void MachineTheKernelWouldStopOn_ExitsThree_WithTheKernelsReason()
    {
        // A few MiB of RAM spanning 8 TiB: the metadata for the span fits in no piece of RAM. (Within the
        // 16 TiB a free-list link indexes: RAM beyond that is trimmed at set-up, not sized.)
        string map = File("sparse.map", "  0x100000-0x400000 available\n  0x80000000000-0x80000200000 available\n");
        SimRun run = SimRun.Of("--map", map);
        Assert.Equal(3, run.ExitCode);
        Assert.Equal("", run.Output);
        Assert.Contains("Kernel.Sim: the kernel would stop: no RAM range large enough for the pool metadata, bytes", run.Error);
    }

    [Fact]
    public void Help_PrintsTheUsage_ExitsZero()
    {
        SimRun run = SimRun.Of("--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(SimCommand.Usage + Environment.NewLine, run.Output);
        Assert.Equal("", run.Error);
    }

    /// <summary>Command-line tokens the kernel rejects are not the simulator's errors: it prints the kernel's lines for them and goes on, as the kernel does.</summary>
    [Fact]
    public void RejectedTokens_GetTheKernelsLines_AndTheRunGoesOn()
    {
        SimRun run = SimRun.Of("--machine", "pc", "--memory", "128M", "--nodes", "1", "--cmdline", "pool=big:1T mem=zz");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains(run.Lines, l => l.StartsWith("cmdline: 'mem=zz': "));
        Assert.Contains(run.Lines, l => l.StartsWith("cmdline: 'pool=big:1T': "));
    }
}
