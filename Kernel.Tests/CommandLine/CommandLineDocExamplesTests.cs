using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using PoolKernel.Boot.CommandLine;
using Xunit;

namespace PoolKernel.Tests.CommandLine;

/// <summary>The examples of docs/cmdline.md, one test each, named after the example's heading.</summary>
public sealed unsafe class CommandLineDocExamplesTests
{
    private static Parsed Clean(string line)
    {
        var p = new Parsed(line);
        Assert.True(p.Options->DiagnosticCount == 0, p.Dump());
        return p;
    }

    [Fact]
    public void A32BitDmaPoolForAnOldDevice()
    {
        using var p = Clean("pool=sata_dma:32M,dma=32,boundary=64K,align=4K");
        PoolSpec pool = p.Pool("sata_dma");
        Assert.Equal(32UL << 20, pool.SizeBytes);
        Assert.Equal(32, pool.DmaBits);
        Assert.Equal(64UL << 10, pool.Boundary);
        Assert.Equal(4UL << 10, pool.Align);
        Assert.Equal(-1, pool.Node);
    }

    [Fact]
    public void ARealtimePoolOnNode1()
    {
        using var p = Clean("pool=audio_rt:256M@1,rt,prio=10,min=64M");
        PoolSpec pool = p.Pool("audio_rt");
        Assert.Equal(256UL << 20, pool.SizeBytes);
        Assert.Equal(1, pool.Node);
        Assert.Equal(PoolSpecFlags.Realtime | PoolSpecFlags.HasPrio, pool.Flags);
        Assert.Equal(10, pool.Prio);
        Assert.Equal(64UL << 20, pool.Guaranteed);
    }

    [Fact]
    public void AWebContainerWithAGuaranteeLimitedToNode0sDma32Memory()
    {
        using var p = Clean("container=web:quota=64M,guarantee=8M,pools=node0-dma32 container=db:quota=16M");
        Assert.Equal(2, p.Options->ContainerCount);
        ContainerRequest* web = p.Options->Container(0);
        Assert.Equal((64UL << 20, 8UL << 20), (web->QuotaBytes, web->GuaranteeBytes));
        Assert.Equal("node0-dma32", p.Slice(web->PoolsOffset, web->PoolsLength));
        Assert.Equal((16UL << 20, 0UL, 0), (p.Options->Container(1)->QuotaBytes, p.Options->Container(1)->GuaranteeBytes, p.Options->Container(1)->PoolsLength));
    }

    [Fact]
    public void AQuarterOfNode0AsAMovableCachePool()
    {
        using var p = Clean("pool=cache:25%@0,movable,max=8G");
        PoolSpec pool = p.Pool("cache");
        Assert.Equal(25, pool.SizePercent);
        Assert.Equal(0, pool.Node);
        Assert.Equal(PoolSpecFlags.Movable, pool.Flags);
        Assert.Equal(8UL << 30, pool.Max);
    }

    [Fact]
    public void APoolInAFixedPhysicalRange()
    {
        using var p = Clean("pool=isa:8M@0-16M");
        PoolSpec pool = p.Pool("isa");
        Assert.Equal(0UL, pool.RangeStart);
        Assert.Equal(16UL << 20, pool.RangeEnd);
        Assert.Equal(PoolSpecFlags.HasRange, pool.Flags);
    }

    [Fact]
    public void HugepagesPerNode()
    {
        using var p = Clean("hugepagesz=1G hugepages=0:4,1:2");
        Assert.Equal(new[] { "huge1g-n0", "huge1g-n1" }, p.PoolNames());
        Assert.Equal(4 * BootOptions.HugePageSize1G, p.Pool("huge1g-n0").SizeBytes);
        Assert.Equal(0, p.Pool("huge1g-n0").Node);
        Assert.Equal(2 * BootOptions.HugePageSize1G, p.Pool("huge1g-n1").SizeBytes);
        Assert.Equal(1, p.Pool("huge1g-n1").Node);
        Assert.Equal(PoolOrigin.HugePages, p.Pool("huge1g-n1").Origin);
    }

    [Fact]
    public void TwoMiBHugepages()
    {
        using var p = Clean("hugepages=512");
        Assert.Equal(512 * BootOptions.HugePageSize2M, p.Pool("huge2m").SizeBytes);
        Assert.Equal(BootOptions.HugePageSize2M, p.Pool("huge2m").BlockSize);
    }

    [Fact]
    public void AReservedRange()
    {
        using var p = Clean("memmap=64M$0x100000000");
        Assert.Equal(1, p.Options->ReservedRangeCount);
        Assert.Equal(4UL << 30, p.Options->ReservedStart(0));
        Assert.Equal((4UL << 30) + (64UL << 20), p.Options->ReservedEnd(0));
        Assert.Equal(0, p.Options->PoolCount);
    }

    [Fact]
    public void FakeNumaNodes()
    {
        using var p = Clean("numa=fake=4");
        Assert.Equal(4, p.Options->FakeNodeCount);
        Assert.False(p.Options->NumaOff);
    }

    [Fact]
    public void CmaBelow4GiB()
    {
        using var p = Clean("cma=256M@0-4G");
        PoolSpec pool = p.Pool("cma");
        Assert.Equal(256UL << 20, pool.SizeBytes);
        Assert.Equal(4UL << 30, pool.RangeEnd);
        Assert.Equal(PoolOrigin.Cma, pool.Origin);
    }

    [Fact]
    public void KernelAndMovableMemoryCappedMemory()
    {
        using var p = Clean("mem=8G movablecore=30%");
        Assert.Equal(8UL << 30, p.Options->MemCap);
        Assert.Equal(30, p.Options->MovableCorePercent);
        Assert.Equal(30, p.Pool("movablecore").SizePercent);
    }

    [Fact]
    public void BootCommandsAndASelfTest()
    {
        using var p = Clean("run=\"pools;meminfo;halt\" test=fault");
        Assert.Equal("pools;meminfo;halt", p.RunText);
        Assert.Equal(BootTest.Fault, p.Options->Test);
    }

    [Fact]
    public void DiagnosticsAndTheTokenRecord()
    {
        using var p = new Parsed("pool=dev:16M,dma=99,fast mem=4G");
        Assert.Equal(0, p.Pool("dev").DmaBits);
        Assert.Equal(TokenStatus.Adjusted, p.Token(0).Status);
        Diagnostic d = p.DiagnosticOf(0);
        Assert.Equal(DiagnosticCode.DmaBitsOutOfRange, d.Code);
        Assert.Equal(99UL, d.Value0);
        Assert.Equal("dma=99", p.Slice(d.PartOffset, d.PartLength));
        Assert.Equal(1, d.MoreProblems);
        Assert.Equal(TokenStatus.Accepted, p.Token(1).Status);
        Assert.Equal(4UL << 30, p.Options->MemCap);
    }

    /// <summary>Every ```cmdline block of docs/cmdline.md appears verbatim in this file.</summary>
    [Fact]
    public void EveryDocExample_IsParsedByATestHere()
    {
        string here = SourcePath();
        string doc = File.ReadAllText(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "docs", "cmdline.md"));
        string tests = File.ReadAllText(here);
        var examples = Regex.Matches(doc, "```cmdline\n(.*?)\n```", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToList();
        Assert.True(examples.Count >= 10, $"found {examples.Count} examples");
        foreach (string example in examples)
        {
            string literal = "\"" + example.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
            Assert.True(tests.Contains(literal), $"doc example not parsed by a test: {example}");
        }
    }

    /// <summary>
    /// The gap that let <c>test=buddy_split</c> stand in the doc: a test here only proved the literal was
    /// parsed, not that the example means anything. Every example outside the diagnostics section must
    /// parse without a diagnostic, and every run= command in an example must be a shell command.
    /// </summary>
    [Fact]
    public void EveryDocExample_IsCleanAndRunsOnlyShellCommands()
    {
        string root = Path.Combine(Path.GetDirectoryName(SourcePath())!, "..", "..");
        string doc = File.ReadAllText(Path.Combine(root, "docs", "cmdline.md"));
        int diagnostics = doc.IndexOf("\n## Diagnostics", StringComparison.Ordinal);
        Assert.True(diagnostics > 0, "docs/cmdline.md has no Diagnostics section");
        var commands = new HashSet<string>(Directory.GetFiles(Path.Combine(root, "Kernel", "Shell"), "*.cs")
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), "(?:Add|Register)\\(ref n, \"([a-z0-9_]+)\"").Select(m => m.Groups[1].Value)));
        Assert.Contains("halt", commands);
        Assert.Contains("meminfo", commands);
        int examples = 0;
        foreach (Match m in Regex.Matches(doc, "```cmdline\n(.*?)\n```", RegexOptions.Singleline))
        {
            if (m.Index > diagnostics)
                continue;
            examples++;
            using var p = new Parsed(m.Groups[1].Value);
            Assert.True(p.Options->DiagnosticCount == 0, "doc example has diagnostics: " + p.Dump());
            int cursor = 0;
            while (p.Options->NextRunCommand(ref cursor, out int offset, out int length))
            {
                string command = p.Slice(offset, length).Split(' ')[0];
                Assert.True(commands.Contains(command), $"doc example runs '{command}', not a shell command: {m.Groups[1].Value}");
            }
        }
        Assert.True(examples >= 10, $"found {examples} examples");
    }

    private static string SourcePath([CallerFilePath] string path = "") => path;
}
