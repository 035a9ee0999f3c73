using PoolKernel.Boot.PoolPlan;
using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.PoolPlan;

/// <summary>
/// Issue 10, item 3 and kernelcore=4K: user numbers near 2^64 are refused or kept exact by the planner,
/// never wrapped (on main each of these made a 2 MiB pool, a 2 MiB maximum or dropped the minimum).
/// </summary>
public sealed unsafe class PoolPlanArithmeticTests
{
    private const ulong MiB = 1UL << 20;
    private const ulong Max64 = ulong.MaxValue;

    [Theory]
    [InlineData("pool=a:18446744073709551615", "a")]
    [InlineData("cma=18446744073709551615", "cma")]
    [InlineData("movablecore=18446744073709551615", "movablecore")]
    [InlineData("pool=a:18446744073709551615,max=4M", "a")]
    public void SizeOf2To64Minus1_IsRefused_NotWrappedToOnePageBlock(string line, string name)
    {
        using var a = new Applied(line + " pool=after:8M");
        PoolOutcome o = a.Refused(name, OutcomeCode.SizeOverflow);
        Assert.Equal(Max64, o.RequestedBytes);
        Assert.Equal(2 * MiB, o.Value); // the unit it could not be rounded up to
        a.Created("after");
    }

    [Fact]
    public void SizeJustBelowTheLastPageBlock_IsExact_AndRefusedAsTooLarge()
    {
        // 2^64 - 2 MiB is a whole number of page blocks: it fits, so it is planned exactly.
        using var a = new Applied("pool=a:18446744073707454464");
        PoolOutcome o = a.Refused("a", OutcomeCode.TooLarge);
        Assert.Equal(Max64 - 2 * MiB + 1, o.PlannedBytes);
    }

    [Theory]
    [InlineData("18446744073709551615")]
    [InlineData("18446744073707454465")] // 2^64 - 2 MiB + 1: the first max whose page-block rounding overflows
    public void MaxWhoseRoundingOverflows_IsIgnoredWithANote_NotWrappedToOnePageBlock(string max)
    {
        using var a = new Applied($"pool=a:8M,max={max}");
        PoolOutcome o = a.Created("a");
        Assert.Equal(8 * MiB, o.GotBytes);
        Assert.Equal(OutcomeNotes.MaxOverflow, o.Notes & (OutcomeNotes.MaxOverflow | OutcomeNotes.LimitedByMax));
        Assert.Equal(0UL, a.Props(o).MaximumPages);
    }

    [Fact]
    public void MaxOfTheLastPageBlock_IsExact()
    {
        using var a = new Applied("pool=a:8M,max=18446744073707454464");
        PoolOutcome o = a.Created("a");
        Assert.Equal(OutcomeNotes.None, o.Notes & (OutcomeNotes.MaxOverflow | OutcomeNotes.LimitedByMax));
        Assert.Equal((Max64 - 2 * MiB + 1) / 4096, a.Props(o).MaximumPages);
    }

    [Fact]
    public void MinOf2To64Minus1_IsIgnoredWithANote_NotDroppedSilently()
    {
        using var a = new Applied("pool=a:8M,min=18446744073709551615");
        PoolOutcome o = a.Created("a");
        Assert.Equal(OutcomeNotes.GuaranteedOverflow, o.Notes & (OutcomeNotes.GuaranteedOverflow | OutcomeNotes.GuaranteedClamped));
        Assert.Equal(0UL, a.Props(o).MinimumPages);
    }

    [Fact]
    public void MinOfTheLastPage_IsLoweredToTheSize_WithANote()
    {
        using var a = new Applied("pool=a:8M,min=18446744073709547520");
        PoolOutcome o = a.Created("a");
        Assert.Equal(OutcomeNotes.GuaranteedClamped, o.Notes & (OutcomeNotes.GuaranteedOverflow | OutcomeNotes.GuaranteedClamped));
        Assert.Equal(8 * MiB / 4096, a.Props(o).MinimumPages);
    }

    [Fact]
    public void MinJustAboveAPage_IsRoundedUpExactly()
    {
        using var a = new Applied("pool=a:8M,min=4097");
        Assert.Equal(2UL, a.Props(a.Created("a")).MinimumPages);
    }

    [Theory]
    [InlineData("kernelcore=4K")]
    [InlineData("kernelcore=1")]
    public void TinyKernelcore_MakesTheMovablePoolOfWhatIsFree_AndTheKernelKeepsTheRest(string line)
    {
        // On main the movable size was all memory minus kernelcore, more than the free whole page blocks,
        // so kernelcore=4K was refused as needing about 1020 MiB.
        using var a = new Applied(line);
        PoolOutcome o = a.Created("kernelcore");
        Assert.Equal(OutcomeNotes.KernelKeepsMore, o.Notes & OutcomeNotes.KernelKeepsMore);
        Assert.True(o.PlannedBytes < o.RequestedBytes, a.Dump());
        Assert.Equal(0UL, o.PlannedBytes % (2 * MiB));
        Assert.True(o.GotBytes >= o.PlannedBytes);
        // What is left outside the movable pool is at least kernelcore.
        Assert.True(a.PresentPages() * 4096 - o.GotBytes >= 4096);
    }

    [Fact]
    public void KernelcoreThatLeavesEnoughFree_IsExact_WithNoNote()
    {
        using var a = new Applied("kernelcore=512M");
        PoolOutcome o = a.Created("kernelcore");
        Assert.Equal(OutcomeNotes.None, o.Notes & OutcomeNotes.KernelKeepsMore);
        Assert.Equal(o.RequestedBytes, o.PlannedBytes);
    }
}
