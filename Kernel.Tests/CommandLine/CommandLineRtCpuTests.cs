using PoolKernel.Boot.CommandLine;
using Xunit;

namespace PoolKernel.Tests.CommandLine;

/// <summary>
/// <c>rtcpu=N</c> (docs/realtime.md "The realtime CPU"): the number and its token recorded, a later token
/// replacing an earlier one, a number no machine has kept (refused as absent when applied); the boot CPU and
/// non-numbers are rows of <see cref="CommandLineDiagnosticTests.BadTokens"/>.
/// </summary>
public unsafe class CommandLineRtCpuTests
{
    [Fact]
    public void TheCpuAndItsTokenAreRecorded_ALaterTokenReplacesAnEarlierOne()
    {
        using var p = new Parsed("mem=1G rtcpu=0x3");
        Assert.Equal(0, p.Options->DiagnosticCount);
        Assert.Equal(3, p.Options->RealtimeCpu);
        Assert.Equal(1, p.Options->RealtimeCpuToken);
        Assert.Equal(TokenKind.RtCpu, p.Token(1).Kind);

        using var twice = new Parsed("rtcpu=2 rtcpu=5");
        Assert.Equal(5, twice.Options->RealtimeCpu);
        Assert.Equal(1, twice.Options->RealtimeCpuToken);
        Assert.Equal(DiagnosticCode.ParameterOverridden, twice.DiagnosticOf(0).Code);
        Assert.Equal(TokenStatus.Rejected, twice.Token(0).Status);
    }

    [Fact]
    public void NoTokenMeansNoRealtimeCpu_AHugeNumberIsKeptForTheApplyToRefuse()
    {
        using var none = new Parsed("mem=1G");
        Assert.Equal(0, none.Options->RealtimeCpu);
        using var huge = new Parsed("rtcpu=99999999999");
        Assert.Equal(0, huge.Options->DiagnosticCount);
        Assert.Equal(int.MaxValue, huge.Options->RealtimeCpu);
    }
}
