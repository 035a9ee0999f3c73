using PoolKernel.Boot.PoolPlan;
using Xunit;

namespace PoolKernel.Tests.PoolPlan;

public sealed unsafe class PoolPlanSmokeTests
{
    [Fact]
    public void Smoke()
    {
        using var a = new Applied("pool=x:64M pool=big:64G pool=dev:32M,dma=32 hugepagesz=1G hugepages=2", "q35", 6144, 2);
        a.Created("x");
        a.Refused("big", OutcomeCode.TooLarge);
        a.Created("dev");
        a.Created("huge1g");
        Assert.Fail(a.Dump());
    }
}
