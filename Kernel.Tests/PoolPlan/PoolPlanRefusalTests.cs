using PoolKernel.Boot.PoolPlan;
using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using Xunit;

namespace PoolKernel.Tests.PoolPlan;

/// <summary>
/// Every refusal: the pool is not created, the outcome says how much could have been had, the
/// other pools of the line still apply, and the state is consistent with no page lost (Applied
/// checks the checker and the present pages after every line).
/// </summary>
public sealed unsafe class PoolPlanRefusalTests
{
    private const ulong MiB = 1UL << 20, GiB = 1UL << 30;

    [Fact]
    public void TooLarge_SaysHowMuchMatches_AndTheNextPoolStillApplies()
    {
        using var a = new Applied("pool=big:64G pool=after:8M", "q35", 1024);
        PoolOutcome o = a.Refused("big", OutcomeCode.TooLarge);
        Assert.Equal(64 * GiB, o.PlannedBytes);
        Assert.True(o.AvailableBytes > 900 * MiB && o.AvailableBytes < GiB, $"{o.AvailableBytes}");
        a.Created("after");
        Assert.Equal(1, a.Result->RefusedCount);
        Assert.Equal(1, a.Result->CreatedCount);
    }

    [Fact]
    public void TooLarge_InADmaWindow_CountsOnlyTheWindow()
    {
        using var a = new Applied("pool=old:32M,dma=24", "q35", 1024);
        PoolOutcome o = a.Refused("old", OutcomeCode.TooLarge);
        Assert.True(o.AvailableBytes > 0 && o.AvailableBytes < 16 * MiB, $"{o.AvailableBytes}");
    }

    [Fact]
    public void HugePages1G_TooMany_AvailableIsWholeGigabytes()
    {
        using var a = new Applied("hugepagesz=1G hugepages=8", "q35", 6144);
        PoolOutcome o = a.Refused("huge1g", OutcomeCode.TooLarge);
        Assert.Equal(0UL, o.AvailableBytes % GiB);
        Assert.Equal(4 * GiB, o.AvailableBytes);
    }

    [Theory]
    [InlineData("pool=x:8M@1", 1)]
    [InlineData("pool=x:8M@5", 2)]
    [InlineData("hugepages=3:4", 2)]
    public void NoSuchNode(string line, int nodes)
    {
        using var a = new Applied(line, "q35", 2048, nodes);
        PoolOutcome o = a.Refused(a.Parsed.PoolNames()[0], OutcomeCode.NoSuchNode);
        Assert.Equal((ulong)nodes, o.Value);
        Assert.Equal(0UL, o.AvailableBytes);
    }

    [Theory]
    [InlineData("pool=x:8M@5G-6G")]
    [InlineData("pool=x:1M,dma=20")]
    [InlineData("cma=16M@3G-4G")]
    [InlineData("pool=x:256K@0x9f000-0xff000")]
    public void WindowWithNoMemory(string line)
    {
        using var a = new Applied(line, "q35", 1024);
        PoolOutcome o = a.Refused(a.Parsed.PoolNames()[0], OutcomeCode.WindowEmpty);
        Assert.Equal(0UL, o.AvailableBytes);
    }

    [Fact]
    public void TwoPoolsWantingTheSameRange_TheSecondIsRefused_WithWhatIsLeft()
    {
        using var a = new Applied("pool=isa:8M@0-16M pool=isa2:8M@0-16M", "pc", 1024);
        a.Created("isa");
        PoolOutcome o = a.Refused("isa2", OutcomeCode.RangeTaken);
        Assert.Equal(0UL, o.Value);
        Assert.True(o.AvailableBytes < 8 * MiB);
    }

    [Theory]
    [InlineData("pool=node0-dma32:8M")]
    [InlineData("pool=node0-dma:1M")]
    [InlineData("pool=node0-normal:8M")]
    public void NameClashingWithADefaultPool(string line)
    {
        using var a = new Applied(line, "q35", 6144);
        PoolOutcome o = a.Refused(a.Parsed.PoolNames()[0], OutcomeCode.NameClash);
        Assert.True(o.Value < 3);
    }

    [Fact]
    public void KernelcoreNameClash_WithAPoolNamedMovable()
    {
        using var a = new Applied("pool=movable:8M kernelcore=256M", "q35", 1024);
        a.Created("movable");
        a.Refused("kernelcore", OutcomeCode.NameClash);
    }

    [Fact]
    public void OwnerAbove63()
    {
        using var a = new Applied("pool=x:8M,owner=64 pool=y:8M,owner=63", "q35", 1024);
        Assert.Equal(64UL, a.Refused("x", OutcomeCode.OwnerUnsupported).Value);
        Assert.Equal(1UL << 63, a.Props(a.Created("y")).OwnerMask);
    }

    [Theory]
    [InlineData("kernelcore=100%")]
    [InlineData("kernelcore=64G")]
    [InlineData("kernelcore=1023M")]
    public void KernelcoreCoveringAllMemory(string line)
    {
        using var a = new Applied(line, "q35", 1024);
        a.Refused("kernelcore", OutcomeCode.CoreCoversAll);
    }

    [Fact]
    public void PoolTableFull_RefusesTheRest_AndUndoesNothingElse()
    {
        MemoryConfig config = MemoryConfig.Default;
        config.PoolCapacity = 5;
        var host = new HostPhysicalMemory(QemuMaps.Build("q35", 6144 * MiB, 1), null, config);
        using var a = new Applied("pool=a:8M pool=b:8M pool=c:8M", host);
        a.Created("a");
        a.Created("b");
        Assert.Equal(5UL, a.Refused("c", OutcomeCode.PoolTableFull).Value);
    }

    [Fact]
    public void PiecesNeedingATemporarySlot_WithATableThatIsFullThen_AreUndone()
    {
        // q35 6G has 3 default pools; with 4 slots the gathering works for one run only.
        MemoryConfig config = MemoryConfig.Default;
        config.PoolCapacity = 4;
        var host = new HostPhysicalMemory(QemuMaps.Build("q35", 6144 * MiB, 1), null, config);
        using var a = new Applied("pool=wide:1536M@1G-5G", host);
        PoolOutcome o = a.Refused("wide", OutcomeCode.PoolTableFull);
        Assert.Equal(3, CountPools(a.Pm));
    }

    private static int CountPools(PhysicalMemory* pm)
    {
        int n = 0;
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            n++;
        return n;
    }

    [Fact]
    public void ARefusedPoolsMemory_StaysInTheDefaultPools()
    {
        using var host = QemuMaps.Boot("q35", 2048 * MiB, 2);
        ulong[] before = PresentPerPool(host.Memory);
        var parsed = new CommandLine.Parsed("pool=big:64G pool=x:8M@7 pool=y:1M,dma=20 pool=node1-dma32:4M hugepagesz=1G hugepages=0:9");
        var result = stackalloc PoolPlanResult[1];
        PoolPlanner.Apply(host.Memory, parsed.Options, result);
        Assert.Equal(0, result->CreatedCount);
        Assert.Equal(before, PresentPerPool(host.Memory));
        MemoryAssert.Consistent(host.Memory);
        parsed.Dispose();
    }

    private static ulong[] PresentPerPool(PhysicalMemory* pm)
    {
        var list = new List<ulong>();
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
        {
            pm->GetPoolStats(id, out PoolStats s);
            list.Add(s.PresentPages);
        }
        return list.ToArray();
    }
}
