using PoolKernel.Boot.CommandLine;
using Xunit;

namespace PoolKernel.Tests.CommandLine;

/// <summary>
/// One bad token each: the diagnostic it gets, what happened to it, and (for the cases where it
/// matters) that the good token next to it still applies.
/// </summary>
public sealed unsafe class CommandLineDiagnosticTests
{
    public static TheoryData<string, DiagnosticCode, TokenStatus> BadTokens => new()
    {
        // The token as a whole.
        { "quiet", DiagnosticCode.UnknownParameter, TokenStatus.Rejected },
        { "console=ttyS0", DiagnosticCode.UnknownParameter, TokenStatus.Rejected },
        { "=4M", DiagnosticCode.UnknownParameter, TokenStatus.Rejected },
        { "pool", DiagnosticCode.ValueMissing, TokenStatus.Rejected },
        { "pool=", DiagnosticCode.ValueMissing, TokenStatus.Rejected },
        { "mem=", DiagnosticCode.ValueMissing, TokenStatus.Rejected },
        { "run=\"\"", DiagnosticCode.ValueMissing, TokenStatus.Rejected },
        { "numa_policy=", DiagnosticCode.ValueMissing, TokenStatus.Rejected },
        { "numa_policy=bind:0-", DiagnosticCode.NumaPolicyInvalid, TokenStatus.Rejected },
        { "numa_policy=weighted-interleave:0:0", DiagnosticCode.NumaPolicyInvalid, TokenStatus.Rejected },

        // Sizes.
        { "pool=a:4X", DiagnosticCode.SizeUnknownSuffix, TokenStatus.Rejected },
        { "pool=a:4KB", DiagnosticCode.SizeUnknownSuffix, TokenStatus.Rejected },
        { "pool=a:0", DiagnosticCode.SizeZero, TokenStatus.Rejected },
        { "pool=a:0M", DiagnosticCode.SizeZero, TokenStatus.Rejected },
        { "pool=a:0%", DiagnosticCode.PercentOutOfRange, TokenStatus.Rejected },
        { "pool=a:101%", DiagnosticCode.PercentOutOfRange, TokenStatus.Rejected },
        { "pool=a:0x10%", DiagnosticCode.NumberSyntax, TokenStatus.Rejected },
        { "pool=a:18446744073709551616", DiagnosticCode.NumberOverflow, TokenStatus.Rejected },
        { "pool=a:0x10000000000000000", DiagnosticCode.NumberOverflow, TokenStatus.Rejected },
        { "pool=a:16777216T", DiagnosticCode.NumberOverflow, TokenStatus.Rejected },
        { "pool=a:M", DiagnosticCode.NumberSyntax, TokenStatus.Rejected },
        { "pool=a:0x", DiagnosticCode.NumberSyntax, TokenStatus.Rejected },
        { "pool=a:-1", DiagnosticCode.NumberSyntax, TokenStatus.Rejected },
        { "pool=a", DiagnosticCode.SizeMissing, TokenStatus.Rejected },
        { "pool=a:", DiagnosticCode.SizeMissing, TokenStatus.Rejected },
        { "pool=a,rt", DiagnosticCode.SizeMissing, TokenStatus.Rejected },
        { "pool=a:@1", DiagnosticCode.SizeMissing, TokenStatus.Rejected },
        { "mem=50%", DiagnosticCode.PercentNotAllowed, TokenStatus.Rejected },

        // container= (CommandLineContainerTests has the accepted forms).
        { "container=:quota=4M", DiagnosticCode.ContainerNameInvalid, TokenStatus.Rejected },
        { "container=Web:quota=4M", DiagnosticCode.ContainerNameInvalid, TokenStatus.Rejected },
        { "container=web", DiagnosticCode.ContainerQuotaMissing, TokenStatus.Rejected },
        { "container=web:guarantee=4M", DiagnosticCode.ContainerQuotaMissing, TokenStatus.Rejected },
        { "container=web:quota", DiagnosticCode.ContainerQuotaMissing, TokenStatus.Rejected },
        { "container=web:quota=4M,prio=3", DiagnosticCode.ContainerOptionInvalid, TokenStatus.Rejected },
        { "container=web:quota=4M,guarantee=1M,guarantee=2M", DiagnosticCode.ContainerOptionInvalid, TokenStatus.Rejected },
        { "container=web:quota=4M,quota=8M", DiagnosticCode.ContainerOptionInvalid, TokenStatus.Rejected },
        { "container=web:quota=4M,guarantee=8M", DiagnosticCode.ContainerGuaranteeAboveQuota, TokenStatus.Rejected },
        { "container=web:quota=4M,pools=a++b", DiagnosticCode.ContainerPoolsInvalid, TokenStatus.Rejected },
        { "container=web:quota=4M,pools=", DiagnosticCode.ContainerPoolsInvalid, TokenStatus.Rejected },
        { "container=web:quota=4X", DiagnosticCode.SizeUnknownSuffix, TokenStatus.Rejected },
        { "container=web:quota=0", DiagnosticCode.SizeZero, TokenStatus.Rejected },
        { "container=web:quota=50%", DiagnosticCode.PercentNotAllowed, TokenStatus.Rejected },

        // Names.
        { "pool=:4M", DiagnosticCode.NameEmpty, TokenStatus.Rejected },
        { "pool=sixteen_chars_xx:4M", DiagnosticCode.NameTooLong, TokenStatus.Rejected },
        { "pool=Video:4M", DiagnosticCode.NameInvalidChar, TokenStatus.Rejected },
        { "pool=a.b:4M", DiagnosticCode.NameInvalidChar, TokenStatus.Rejected },

        // Placement.
        { "pool=a:4M@64", DiagnosticCode.NodeInvalid, TokenStatus.Rejected },
        { "pool=a:4M@x", DiagnosticCode.NodeInvalid, TokenStatus.Rejected },
        { "pool=a:4M@", DiagnosticCode.NodeInvalid, TokenStatus.Rejected },
        { "pool=a:4M@,rt", DiagnosticCode.NodeInvalid, TokenStatus.Rejected },
        { "pool=a:4M@1G-", DiagnosticCode.RangeSyntax, TokenStatus.Rejected },
        { "pool=a:4M@-1G", DiagnosticCode.RangeSyntax, TokenStatus.Rejected },
        { "pool=a:4M@1Q-2G", DiagnosticCode.SizeUnknownSuffix, TokenStatus.Rejected },
        { "pool=a:4M@2G-1G", DiagnosticCode.RangeEmpty, TokenStatus.Rejected },
        { "pool=a:4M@1G-1G", DiagnosticCode.RangeEmpty, TokenStatus.Rejected },
        { "pool=a:4M@0-1M", DiagnosticCode.RangeTooSmall, TokenStatus.Rejected },
        { "pool=a:4M@50%-1G", DiagnosticCode.PercentNotAllowed, TokenStatus.Rejected },

        // Options: the pool stays, the option goes.
        { "pool=a:4M,", DiagnosticCode.OptionEmpty, TokenStatus.Adjusted },
        { "pool=a:4M,,rt", DiagnosticCode.OptionEmpty, TokenStatus.Adjusted },
        { "pool=a:4M,fast", DiagnosticCode.OptionUnknown, TokenStatus.Adjusted },
        { "pool=a:4M,DMA=32", DiagnosticCode.OptionUnknown, TokenStatus.Adjusted },
        { "pool=a:4M,dma", DiagnosticCode.OptionValueInvalid, TokenStatus.Adjusted },
        { "pool=a:4M,dma=", DiagnosticCode.OptionValueInvalid, TokenStatus.Adjusted },
        { "pool=a:4M,rt=1", DiagnosticCode.OptionValueInvalid, TokenStatus.Adjusted },
        { "pool=a:4M,movable=yes", DiagnosticCode.OptionValueInvalid, TokenStatus.Adjusted },
        { "pool=a:4M,rt,rt", DiagnosticCode.OptionRepeated, TokenStatus.Adjusted },
        { "pool=a:4M,dma=32,dma=24", DiagnosticCode.OptionRepeated, TokenStatus.Adjusted },
        { "pool=a:4M,dma=0", DiagnosticCode.DmaBitsOutOfRange, TokenStatus.Adjusted },
        { "pool=a:4M,dma=65", DiagnosticCode.DmaBitsOutOfRange, TokenStatus.Adjusted },
        { "pool=a:4M,dma=99999999999999999999", DiagnosticCode.DmaBitsOutOfRange, TokenStatus.Adjusted },
        { "pool=a:4M,dma=x", DiagnosticCode.NumberSyntax, TokenStatus.Adjusted },
        { "pool=a:4M,boundary=3K", DiagnosticCode.NotPowerOfTwo, TokenStatus.Adjusted },
        { "pool=a:4M,align=12K", DiagnosticCode.NotPowerOfTwo, TokenStatus.Adjusted },
        { "pool=a:4M,align=0", DiagnosticCode.SizeZero, TokenStatus.Adjusted },
        { "pool=a:4M,boundary=5%", DiagnosticCode.PercentNotAllowed, TokenStatus.Adjusted },
        { "pool=a:4M,prio=256", DiagnosticCode.PrioClamped, TokenStatus.Adjusted },
        { "pool=a:4M,prio=99999999999999999999", DiagnosticCode.PrioClamped, TokenStatus.Adjusted },
        { "pool=a:4M,prio=high", DiagnosticCode.NumberSyntax, TokenStatus.Adjusted },
        { "pool=a:4M,owner=4294967296", DiagnosticCode.OwnerOutOfRange, TokenStatus.Adjusted },
        { "pool=a:4M,min=8M,max=2M", DiagnosticCode.GuaranteedAboveMax, TokenStatus.Adjusted },
        { "pool=a:4M,max=0", DiagnosticCode.SizeZero, TokenStatus.Adjusted },
        { "pool=a:4M,min=1Z", DiagnosticCode.SizeUnknownSuffix, TokenStatus.Adjusted },

        // Linux spellings.
        { "hugepagesz=4M", DiagnosticCode.HugePageSizeUnsupported, TokenStatus.Rejected },
        { "hugepagesz=4K", DiagnosticCode.HugePageSizeUnsupported, TokenStatus.Rejected },
        { "default_hugepagesz=16G", DiagnosticCode.HugePageSizeUnsupported, TokenStatus.Rejected },
        { "hugepagesz=0", DiagnosticCode.SizeZero, TokenStatus.Rejected },
        { "hugepages=lots", DiagnosticCode.NumberSyntax, TokenStatus.Rejected },
        { "hugepages=9999999999999", DiagnosticCode.NumberOverflow, TokenStatus.Rejected },
        { "hugepages=0:4,x:2", DiagnosticCode.HugePagesEntryInvalid, TokenStatus.Adjusted },
        { "hugepages=0:4,64:2", DiagnosticCode.HugePagesEntryInvalid, TokenStatus.Adjusted },
        { "hugepages=0:4,1", DiagnosticCode.HugePagesEntryInvalid, TokenStatus.Adjusted },
        { "hugepages=x:1,y:2", DiagnosticCode.HugePagesEntryInvalid, TokenStatus.Rejected },
        { "hugepages=0:4,0:8", DiagnosticCode.ParameterRepeated, TokenStatus.Adjusted },
        { "cma=0", DiagnosticCode.SizeZero, TokenStatus.Rejected },
        { "cma=64M@", DiagnosticCode.RangeSyntax, TokenStatus.Rejected },
        { "cma=64M@4G-1G", DiagnosticCode.RangeEmpty, TokenStatus.Rejected },
        { "cma=64M@0xffffffffffffffff", DiagnosticCode.RangeEmpty, TokenStatus.Rejected },
        { "cma=64M@0-16M", DiagnosticCode.RangeTooSmall, TokenStatus.Rejected },
        { "cma=10%", DiagnosticCode.PercentNotAllowed, TokenStatus.Rejected },
        { "mem=0", DiagnosticCode.SizeZero, TokenStatus.Rejected },
        { "mem=4Gi", DiagnosticCode.SizeUnknownSuffix, TokenStatus.Rejected },
        { "memmap=64M@0x100000000", DiagnosticCode.MemmapUnsupported, TokenStatus.Rejected },
        { "memmap=64M#0x100000000", DiagnosticCode.MemmapUnsupported, TokenStatus.Rejected },
        { "memmap=64M!4G", DiagnosticCode.MemmapUnsupported, TokenStatus.Rejected },
        { "memmap=exactmap", DiagnosticCode.MemmapUnsupported, TokenStatus.Rejected },
        { "memmap=64M", DiagnosticCode.MemmapSyntax, TokenStatus.Rejected },
        { "memmap=64M$", DiagnosticCode.MemmapSyntax, TokenStatus.Rejected },
        { "memmap=0$4G", DiagnosticCode.SizeZero, TokenStatus.Rejected },
        { "memmap=64M$0xffffffffffffffff", DiagnosticCode.MemmapSyntax, TokenStatus.Rejected },
        { "memmap=64M$4X", DiagnosticCode.SizeUnknownSuffix, TokenStatus.Rejected },
        { "kernelcore=mirror", DiagnosticCode.CoreValueUnsupported, TokenStatus.Rejected },
        { "kernelcore=0", DiagnosticCode.SizeZero, TokenStatus.Rejected },
        { "movablecore=150%", DiagnosticCode.PercentOutOfRange, TokenStatus.Rejected },
        { "numa=on", DiagnosticCode.NumaOptionUnknown, TokenStatus.Rejected },
        { "rtcpu=0", DiagnosticCode.RtCpuIsBootCpu, TokenStatus.Rejected },
        { "rtcpu=one", DiagnosticCode.NumberSyntax, TokenStatus.Rejected },
        { "numa=fake=", DiagnosticCode.NumaOptionUnknown, TokenStatus.Rejected },
        { "numa=fake=0", DiagnosticCode.SizeZero, TokenStatus.Rejected },
        { "numa=fake=512M", DiagnosticCode.NumberSyntax, TokenStatus.Rejected },
        { "numa=fake=65", DiagnosticCode.FakeNodesClamped, TokenStatus.Adjusted },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public void BadToken_GetsOneDiagnostic_AndTheNextTokenStillApplies(string bad, DiagnosticCode code, TokenStatus status)
    {
        using var p = new Parsed(bad + " mem=1G");
        Assert.True(p.Options->TokenCount == 2, p.Dump());
        Diagnostic d = p.DiagnosticOf(0);
        Assert.True(d.Code == code && p.Token(0).Status == status, $"expected {code}/{status}\n{p.Dump()}");
        Assert.Equal(DiagnosticCode.None, p.DiagnosticOf(1).Code);
        Assert.Equal(1UL << 30, p.Options->MemCap);
        Assert.Equal(1, p.Options->DiagnosticCount);
        Assert.Null(BootOptionsChecker.Check(System.Text.Encoding.Latin1.GetBytes(p.Line), p.Options));
    }

    [Fact]
    public void UnterminatedQuote_SwallowsTheRestOfTheLine_AsOneRejectedToken()
    {
        using var p = new Parsed("mem=1G run=\"pools show mem=2G");
        Assert.Equal(2, p.Options->TokenCount);
        Assert.Equal("run=\"pools show mem=2G", p.Slice(p.Token(1).Offset, p.Token(1).Length));
        Assert.Equal(DiagnosticCode.UnterminatedQuote, p.DiagnosticOf(1).Code);
        Assert.Equal(TokenStatus.Rejected, p.Token(1).Status);
        Assert.Equal(0, p.Options->RunLength);
        Assert.Equal(1UL << 30, p.Options->MemCap);
    }

    [Fact]
    public void BadOption_IsIgnored_RestOfPoolApplies()
    {
        using var p = new Parsed("pool=dev:16M,dma=99,fast,align=4K");
        PoolSpec pool = p.Pool("dev");
        Assert.Equal(16UL << 20, pool.SizeBytes);
        Assert.Equal(0, pool.DmaBits);
        Assert.Equal(4096UL, pool.Align);
        Diagnostic d = p.DiagnosticOf(0);
        Assert.Equal(DiagnosticCode.DmaBitsOutOfRange, d.Code);
        Assert.Equal(99UL, d.Value0);
        Assert.Equal("dma=99", p.Slice(d.PartOffset, d.PartLength));
        Assert.Equal(1, d.MoreProblems); // ",fast" was ignored as well, without its own diagnostic
    }

    [Fact]
    public void OptionProblem_ThenDuplicateName_ReportsTheRejection()
    {
        using var p = new Parsed("pool=a:4M pool=a:8M,fast");
        Assert.Equal(TokenStatus.Rejected, p.Token(1).Status);
        Diagnostic d = p.DiagnosticOf(1);
        Assert.Equal(DiagnosticCode.PoolNameDuplicate, d.Code);
        Assert.Equal(0UL, d.Value0);
        Assert.Equal(1, d.MoreProblems);
        Assert.Equal(4UL << 20, p.Pool("a").SizeBytes);
    }

    [Fact]
    public void DuplicatePoolName_SecondIgnored()
    {
        using var p = new Parsed("pool=a:4M pool=a:8M");
        Assert.Equal(DiagnosticCode.PoolNameDuplicate, p.DiagnosticOf(1).Code);
        Assert.Equal(1, p.Options->PoolCount);
        Assert.Equal(4UL << 20, p.Pool("a").SizeBytes);
    }

    [Fact]
    public void PoolNamedLikeALinuxPool_RefusesTheLinuxSpelling()
    {
        using var p = new Parsed("pool=cma:4M cma=64M");
        Assert.Equal(DiagnosticCode.PoolNameDuplicate, p.DiagnosticOf(1).Code);
        Assert.Equal(TokenStatus.Rejected, p.Token(1).Status);
        Assert.Equal(PoolOrigin.Pool, p.Pool("cma").Origin);
    }

    [Fact]
    public void SeventeenthPool_Ignored()
    {
        string line = string.Join(' ', Enumerable.Range(0, 17).Select(i => $"pool=p{i}:1M"));
        using var p = new Parsed(line);
        Assert.Equal(BootOptions.MaxPoolSpecs, p.Options->PoolCount);
        Diagnostic d = p.DiagnosticOf(16);
        Assert.Equal(DiagnosticCode.TooManyPools, d.Code);
        Assert.Equal((ulong)BootOptions.MaxPoolSpecs, d.Value0);
        Assert.Equal(1, p.Options->DiagnosticCount);
    }

    [Fact]
    public void SeventeenthReservedRange_Ignored()
    {
        string line = string.Join(' ', Enumerable.Range(0, 17).Select(i => $"memmap=1M${i}G"));
        using var p = new Parsed(line);
        Assert.Equal(BootOptions.MaxReservedRanges, p.Options->ReservedRangeCount);
        Assert.Equal(DiagnosticCode.TooManyReservedRanges, p.DiagnosticOf(16).Code);
    }

    [Fact]
    public void TooManyTokens_RestOfLineCoveredByOneDiagnostic()
    {
        string line = string.Join(' ', Enumerable.Range(0, BootOptions.MaxTokens + 5).Select(i => $"w{i}")) + " mem=1G";
        using var p = new Parsed(line);
        Assert.Equal(BootOptions.MaxTokens, p.Options->TokenCount);
        Assert.Equal(6, p.Options->DroppedTokenCount);
        Assert.Equal(0UL, p.Options->MemCap); // dropped tokens are not parsed
        Diagnostic* last = p.Options->DiagnosticAt(p.Options->DiagnosticCount - 1);
        Assert.Equal(DiagnosticCode.TooManyTokens, last->Code);
        Assert.Equal(-1, last->TokenIndex);
        Assert.Equal(6UL, last->Value1);
        Assert.Equal($"w{BootOptions.MaxTokens}", p.Slice(last->PartOffset, 1 + BootOptions.MaxTokens.ToString().Length));
        Assert.EndsWith("mem=1G", p.Slice(last->PartOffset, last->PartLength));
    }

    [Fact]
    public void RepeatedSingleValueParameters_LaterWins_EachEarlierTokenSaysItWasOverridden()
    {
        using var p = new Parsed("mem=1G test=ud run=x mem=2G test=gp run=y numa=off numa=fake=2 default_hugepagesz=2M default_hugepagesz=1G kernelcore=1G kernelcore=2G cma=1M cma=2M");
        Assert.Equal(2UL << 30, p.Options->MemCap);
        Assert.Equal("gp", p.TestText);
        Assert.Equal(BootTest.Gp, p.Options->Test);
        Assert.Equal("y", p.RunText);
        Assert.False(p.Options->NumaOff);
        Assert.Equal(2, p.Options->FakeNodeCount);
        Assert.Equal(BootOptions.HugePageSize1G, p.Options->DefaultHugePageSize);
        Assert.Equal(2UL << 30, p.Options->KernelCoreBytes);
        Assert.Equal(2UL << 30, p.Pool("kernelcore").SizeBytes);
        Assert.Equal(2UL << 20, p.Pool("cma").SizeBytes);
        foreach (int earlier in new[] { 0, 1, 2, 6, 8, 10, 12 })
        {
            Diagnostic d = p.DiagnosticOf(earlier);
            Assert.True(d.Code == DiagnosticCode.ParameterOverridden && p.Token(earlier).Status == TokenStatus.Rejected, p.Dump());
            Assert.Equal((ulong)(earlier >= 6 ? earlier + 1 : earlier + 3), d.Value0);
        }
        foreach (int later in new[] { 3, 4, 5, 7, 9, 11, 13 })
            Assert.True(p.Token(later).Status == TokenStatus.Accepted, p.Dump());
        Assert.Equal(7, p.Options->DiagnosticCount);
    }

    [Fact]
    public void LineLongerThan4096Bytes_TheCrossingTokenAndTheRestAreIgnored_WithOneLine_AndTheLostRunIsFlagged()
    {
        // On main the loader's 4096-byte clamp cut the line silently, and the run= at its end was lost.
        // 64 unknown words of 63 bytes with spaces between are 4095 bytes; then " mem=1G" crosses byte 4096.
        string head = string.Join(' ', Enumerable.Repeat(new string('q', 63), 64));
        string line = head + " mem=1G run=\"meminfo;halt\"";
        using var p = new Parsed(line);
        Assert.Equal(4096, p.Options->TextLength); // "mem=1G" (from byte 4096) would end at byte 4102: cut before it
        Assert.Equal(line.Length - 4096, p.Options->IgnoredLength);
        Assert.Equal(0UL, p.Options->MemCap);
        Assert.Equal(0, p.Options->RunLength);
        Assert.Equal(DiagnosticCode.LineTooLong, p.Options->RunDroppedBy);
        Diagnostic* d = p.Options->DiagnosticAt(p.Options->DiagnosticCount - 1);
        Assert.Equal(DiagnosticCode.LineTooLong, d->Code);
        Assert.Equal(-1, d->TokenIndex);
        Assert.Equal((ulong)BootOptions.MaxTextLength, d->Value0);
        Assert.Equal((ulong)(line.Length - 4096), d->Value1);
        Assert.Equal("mem=1G run=\"meminfo;halt\"", p.Slice(d->PartOffset, d->PartLength));
    }

    [Fact]
    public void LineOfExactly4096Bytes_IsParsedWhole()
    {
        // 63 unknown words of 63 bytes with spaces between are 4031 bytes; " run=" and 60 bytes end exactly at byte 4096.
        string line = string.Join(' ', Enumerable.Repeat(new string('q', 63), 63)) + " run=" + new string('c', 60);
        Assert.Equal(BootOptions.MaxTextLength, line.Length);
        using var p = new Parsed(line);
        Assert.Equal(0, p.Options->IgnoredLength);
        Assert.Equal(new string('c', 60), p.RunText);
        Assert.Equal(DiagnosticCode.None, p.Options->RunDroppedBy);
        Assert.Equal(63, Enumerable.Range(0, p.Options->TokenCount).Count(i => p.DiagnosticOf(i).Code == DiagnosticCode.UnknownParameter));
    }

    [Fact]
    public void RunBeyondMaxTokens_IsFlaggedAsLost()
    {
        using var p = new Parsed(string.Join(' ', Enumerable.Repeat("q", BootOptions.MaxTokens)) + " run=meminfo");
        Assert.Equal(0, p.Options->RunLength);
        Assert.Equal(DiagnosticCode.TooManyTokens, p.Options->RunDroppedBy);
    }

    [Fact]
    public void ThreeCmaTokens_TheMiddleOneIsOverriddenToo_WithItsOwnDiagnostic()
    {
        // On main the middle token was "adjusted" and, as a pool token, printed with no line of its own.
        using var p = new Parsed("cma=8M cma=16M cma=32M");
        Assert.Equal(32UL << 20, p.Pool("cma").SizeBytes);
        for (int earlier = 0; earlier < 2; earlier++)
        {
            Assert.Equal(TokenStatus.Rejected, p.Token(earlier).Status);
            Assert.Equal(DiagnosticCode.ParameterOverridden, p.DiagnosticOf(earlier).Code);
            Assert.Equal((ulong)(earlier + 1), p.DiagnosticOf(earlier).Value0);
        }
        Assert.Equal(TokenStatus.Accepted, p.Token(2).Status);
        Assert.Equal(2, p.Options->DiagnosticCount);
    }

    [Fact]
    public void HugepagesPerNode_PartlyOverridden_EarlierTokenIsAdjusted()
    {
        using var p = new Parsed("hugepages=0:4,1:2 hugepages=0:8");
        Assert.Equal(8 * BootOptions.HugePageSize2M, p.Pool("huge2m-n0").SizeBytes);
        Assert.Equal(2 * BootOptions.HugePageSize2M, p.Pool("huge2m-n1").SizeBytes);
        Assert.Equal(TokenStatus.Adjusted, p.Token(0).Status);
        Assert.Equal(DiagnosticCode.ParameterOverridden, p.DiagnosticOf(0).Code);
        Assert.Equal(1UL, p.DiagnosticOf(0).Value0);
        Assert.Equal(TokenStatus.Accepted, p.Token(1).Status);
    }

    [Theory]
    [InlineData("test=nosuch")]
    [InlineData("test=buddy_split")]
    [InlineData("test=Fault")]
    [InlineData("test=faultx")]
    public void UnknownTestName_IsRefused_AndNamed(string token)
    {
        using var p = new Parsed(token + " mem=1G");
        Assert.Equal(TokenStatus.Rejected, p.Token(0).Status);
        Diagnostic d = p.DiagnosticOf(0);
        Assert.Equal(DiagnosticCode.TestNameUnknown, d.Code);
        Assert.Equal(token.Substring(5), p.Slice(d.PartOffset, d.PartLength));
        Assert.Equal(BootTest.None, p.Options->Test);
        Assert.Equal(0, p.Options->TestLength);
        Assert.Equal(1UL << 30, p.Options->MemCap);
    }

    [Fact]
    public void EveryBootTest_HasANameThatParsesBackToIt_AndIsListedInKnownNames()
    {
        foreach (BootTest t in Enum.GetValues<BootTest>().Where(t => t != BootTest.None))
        {
            string name = BootTests.Name(t);
            using var p = new Parsed("test=" + name);
            Assert.Equal(t, p.Options->Test);
            Assert.Contains(name, BootTests.KnownNames.Split(", "));
            Assert.Contains(BootTests.KnownNames, Diagnostic.Describe(DiagnosticCode.TestNameUnknown));
        }
    }

    [Fact]
    public void HugepagesPerNode_AllEntriesBad_TokenRejected_NoPools()
    {
        using var p = new Parsed("hugepages=99:1,x:2");
        Assert.Equal(TokenStatus.Rejected, p.Token(0).Status);
        Assert.Equal(0, p.Options->PoolCount);
        Assert.Equal(1, p.DiagnosticOf(0).MoreProblems);
    }

    /// <summary>Codes whose tests are facts of this class rather than rows of <see cref="BadTokens"/>.</summary>
    private static readonly DiagnosticCode[] s_testedByFacts =
    {
        DiagnosticCode.UnterminatedQuote, DiagnosticCode.TooManyTokens, DiagnosticCode.PoolNameDuplicate,
        DiagnosticCode.TooManyPools, DiagnosticCode.TooManyReservedRanges, DiagnosticCode.ParameterRepeated,
        DiagnosticCode.ParameterOverridden, DiagnosticCode.LineTooLong, DiagnosticCode.TestNameUnknown,
        DiagnosticCode.ContainerDuplicate, DiagnosticCode.TooManyContainers,
    };

    [Fact]
    public void EveryCode_IsTested()
    {
        var tested = new HashSet<DiagnosticCode>(s_testedByFacts);
        foreach (object[] row in BadTokens)
            tested.Add((DiagnosticCode)row[1]);
        var untested = Enum.GetValues<DiagnosticCode>().Where(c => c != DiagnosticCode.None && !tested.Contains(c)).ToList();
        Assert.True(untested.Count == 0, "untested: " + string.Join(", ", untested));
    }

    [Fact]
    public void EveryCode_HasItsOwnDescription()
    {
        var seen = new Dictionary<string, DiagnosticCode>();
        string unknown = Diagnostic.Describe((DiagnosticCode)0xFFFF);
        foreach (DiagnosticCode code in Enum.GetValues<DiagnosticCode>())
        {
            string text = Diagnostic.Describe(code);
            Assert.NotEqual(unknown, text);
            Assert.False(seen.ContainsKey(text), $"{code} and {(seen.TryGetValue(text, out var other) ? other : code)} share '{text}'");
            seen.Add(text, code);
            if (code != DiagnosticCode.None)
                Assert.Contains(';', text); // "problem; what was done instead"
        }
    }
}
