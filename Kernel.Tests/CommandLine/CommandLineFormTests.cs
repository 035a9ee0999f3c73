using PoolKernel.Boot.CommandLine;
using Xunit;

namespace PoolKernel.Tests.CommandLine;

/// <summary>Valid forms: what each spelling puts into BootOptions. All of them parse without diagnostics.</summary>
public sealed unsafe class CommandLineFormTests
{
    private static Parsed Clean(string line)
    {
        var p = new Parsed(line);
        Assert.True(p.Options->DiagnosticCount == 0, p.Dump());
        Assert.Null(BootOptionsChecker.Check(System.Text.Encoding.Latin1.GetBytes(line), p.Options));
        return p;
    }

    [Theory]
    [InlineData("4096", 4096UL)]
    [InlineData("4k", 4UL << 10)]
    [InlineData("4K", 4UL << 10)]
    [InlineData("64m", 64UL << 20)]
    [InlineData("3G", 3UL << 30)]
    [InlineData("2t", 2UL << 40)]
    [InlineData("0x1000", 0x1000UL)]
    [InlineData("0X10M", 16UL << 20)]
    [InlineData("0x1fK", 31UL << 10)]
    [InlineData("18446744073709551615", ~0UL)]
    [InlineData("16777215T", 16777215UL << 40)]
    public void PoolSize_Suffixes(string size, ulong bytes)
    {
        using var p = Clean($"pool=a:{size}");
        Assert.Equal(bytes, p.Pool("a").SizeBytes);
        Assert.Equal(0, p.Pool("a").SizePercent);
    }

    [Theory]
    [InlineData("1%", 1)]
    [InlineData("25%", 25)]
    [InlineData("100%", 100)]
    public void PoolSize_Percent(string size, int percent)
    {
        using var p = Clean($"pool=a:{size}");
        Assert.Equal(0UL, p.Pool("a").SizeBytes);
        Assert.Equal(percent, p.Pool("a").SizePercent);
    }

    [Fact]
    public void Pool_Defaults()
    {
        using var p = Clean("pool=plain:1M");
        PoolSpec pool = p.Pool("plain");
        Assert.Equal(-1, pool.Node);
        Assert.Equal(PoolSpecFlags.None, pool.Flags);
        Assert.Equal(PoolOrigin.Pool, pool.Origin);
        Assert.Equal(0, pool.DmaBits);
        Assert.Equal(0UL, pool.Boundary + pool.Align + pool.Guaranteed + pool.Max + pool.BlockSize + pool.RangeStart + pool.RangeEnd);
        Assert.Equal(0, pool.TokenIndex);
    }

    [Fact]
    public void Pool_EveryOption()
    {
        using var p = Clean("pool=all_opts-1:64M@3,dma=30,boundary=64K,align=2M,prio=200,owner=4294967295,rt,movable,min=1M,max=1G");
        PoolSpec pool = p.Pool("all_opts-1");
        Assert.Equal(64UL << 20, pool.SizeBytes);
        Assert.Equal(3, pool.Node);
        Assert.Equal(30, pool.DmaBits);
        Assert.Equal(64UL << 10, pool.Boundary);
        Assert.Equal(2UL << 20, pool.Align);
        Assert.Equal(200, pool.Prio);
        Assert.Equal(uint.MaxValue, pool.Owner);
        Assert.Equal(PoolSpecFlags.Realtime | PoolSpecFlags.Movable | PoolSpecFlags.HasOwner | PoolSpecFlags.HasPrio, pool.Flags);
        Assert.Equal(1UL << 20, pool.Guaranteed);
        Assert.Equal(1UL << 30, pool.Max);
    }

    [Fact]
    public void Pool_OwnerZeroAndPrioZero_AreRecordedAsGiven()
    {
        using var p = Clean("pool=a:1M,owner=0,prio=0");
        Assert.Equal(PoolSpecFlags.HasOwner | PoolSpecFlags.HasPrio, p.Pool("a").Flags);
    }

    [Fact]
    public void Pool_Range()
    {
        using var p = Clean("pool=low:16M@0x1000000-4G");
        PoolSpec pool = p.Pool("low");
        Assert.Equal(PoolSpecFlags.HasRange, pool.Flags);
        Assert.Equal(0x1000000UL, pool.RangeStart);
        Assert.Equal(4UL << 30, pool.RangeEnd);
        Assert.Equal(-1, pool.Node);
    }

    [Fact]
    public void Pool_PercentOfNode()
    {
        using var p = Clean("pool=half:50%@1");
        Assert.Equal(50, p.Pool("half").SizePercent);
        Assert.Equal(1, p.Pool("half").Node);
    }

    [Fact]
    public void Pool_NameOfFifteenChars()
    {
        using var p = Clean("pool=fifteen_chars_x:1M");
        Assert.Equal(new[] { "fifteen_chars_x" }, p.PoolNames());
    }

    [Fact]
    public void Pools_KeepLineOrder_AndTokenIndex()
    {
        using var p = Clean("mem=8G pool=b:1M pool=a:2M");
        Assert.Equal(new[] { "b", "a" }, p.PoolNames());
        Assert.Equal(2, p.Pool("a").TokenIndex);
    }

    [Fact]
    public void Run_KeepsSpan_AndWalksCommands()
    {
        using var p = Clean("run=pools;;meminfo; test=divide");
        Assert.Equal("pools;;meminfo;", p.RunText);
        Assert.Equal("divide", p.TestText);
        Assert.Equal(BootTest.Divide, p.Options->Test);
        var commands = new List<string>();
        int cursor = 0;
        while (p.Options->NextRunCommand(ref cursor, out int offset, out int length))
            commands.Add(p.Slice(offset, length));
        Assert.Equal(new[] { "pools", "meminfo" }, commands);
    }

    [Fact]
    public void Run_QuotedValue_KeepsSpaces_WithoutQuotes()
    {
        using var p = Clean("run=\"pools show;check all\" mem=1G");
        Assert.Equal("pools show;check all", p.RunText);
        Assert.Equal(2, p.Options->TokenCount);
        Assert.Equal(TokenKind.Run, p.Token(0).Kind);
    }

    [Fact]
    public void NoRun_WalkerReturnsNothing()
    {
        using var p = Clean("mem=1G");
        int cursor = 0;
        Assert.False(p.Options->NextRunCommand(ref cursor, out _, out _));
        cursor = -5;
        Assert.False(p.Options->NextRunCommand(ref cursor, out _, out _));
    }

    [Fact]
    public void Tokens_RecordOffsetsKindsAndStatus()
    {
        using var p = new Parsed("  pool=a:1M\tquiet  hugepages=4\r\nnuma=off ");
        Assert.Equal(4, p.Options->TokenCount);
        Assert.Equal((2, 9, TokenKind.Pool, TokenStatus.Accepted), (p.Token(0).Offset, p.Token(0).Length, p.Token(0).Kind, p.Token(0).Status));
        Assert.Equal((12, 5, TokenKind.Unknown, TokenStatus.Rejected), (p.Token(1).Offset, p.Token(1).Length, p.Token(1).Kind, p.Token(1).Status));
        Assert.Equal((19, 11, TokenKind.HugePages), (p.Token(2).Offset, p.Token(2).Length, p.Token(2).Kind));
        Assert.Equal((32, 8, TokenKind.Numa), (p.Token(3).Offset, p.Token(3).Length, p.Token(3).Kind));
    }

    [Fact]
    public void Nul_EndsTheLine()
    {
        using var p = new Parsed("mem=1G\0mem=2G");
        Assert.Equal(6, p.Options->TextLength);
        Assert.Equal(1, p.Options->TokenCount);
        Assert.Equal(1UL << 30, p.Options->MemCap);
    }

    [Fact]
    public void EmptyAndNullLines()
    {
        using (var p = Clean(""))
            Assert.Equal(0, p.Options->TokenCount);
        using (var p = Clean("    "))
            Assert.Equal(0, p.Options->TokenCount);
        BootOptions options;
        Assert.Equal(0, CommandLineParser.Parse(null, 10, &options));
        Assert.Equal(0, options.TokenCount);
        byte x = (byte)'m';
        Assert.Equal(0, CommandLineParser.Parse(&x, -1, &options));
        Assert.Equal(0, options.TextLength);
    }

    [Fact]
    public void Parse_ClearsAnEarlierResult()
    {
        BootOptions* options = stackalloc BootOptions[1];
        byte[] first = System.Text.Encoding.ASCII.GetBytes("pool=a:1M mem=1G bad");
        byte[] second = System.Text.Encoding.ASCII.GetBytes("numa=off");
        fixed (byte* f = first)
            CommandLineParser.Parse(f, first.Length, options);
        fixed (byte* s = second)
            Assert.Equal(0, CommandLineParser.Parse(s, second.Length, options));
        Assert.Equal(0, options->PoolCount);
        Assert.Equal(0UL, options->MemCap);
        Assert.Equal(0, options->DiagnosticCount);
        Assert.True(options->NumaOff);
    }

    [Fact]
    public void KeysTreatDashAndUnderscoreAlike()
    {
        using var p = Clean("default-hugepagesz=1G");
        Assert.Equal(BootOptions.HugePageSize1G, p.Options->DefaultHugePageSize);
    }

    [Fact]
    public void StorageStrides_HoldTheStructs()
    {
        Assert.True(sizeof(PoolSpec) <= PoolSpec.StorageSize, $"sizeof(PoolSpec) {sizeof(PoolSpec)}");
        Assert.True(sizeof(TokenRecord) <= TokenRecord.StorageSize, $"sizeof(TokenRecord) {sizeof(TokenRecord)}");
        Assert.True(sizeof(Diagnostic) <= Diagnostic.StorageSize, $"sizeof(Diagnostic) {sizeof(Diagnostic)}");
        BootOptions* options = stackalloc BootOptions[1];
        Assert.Equal(0L, ((long)options->Pool(1) | (long)options->Token(1) | (long)options->DiagnosticAt(1)) & 7);
        // Small enough for a kernel stack frame or a static block.
        Assert.True(sizeof(BootOptions) < 16 * 1024, $"sizeof(BootOptions) {sizeof(BootOptions)}");
    }
}
