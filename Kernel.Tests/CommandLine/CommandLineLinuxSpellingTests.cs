using PoolKernel.Boot.CommandLine;
using Xunit;

namespace PoolKernel.Tests.CommandLine;

/// <summary>Linux parameters, mapped onto pool specs and global settings.</summary>
public sealed unsafe class CommandLineLinuxSpellingTests
{
    private static Parsed Clean(string line)
    {
        var p = new Parsed(line);
        Assert.True(p.Options->DiagnosticCount == 0, p.Dump());
        return p;
    }

    [Fact]
    public void Hugepages_DefaultsTo2M()
    {
        using var p = Clean("hugepages=512");
        PoolSpec pool = p.Pool("huge2m");
        Assert.Equal(PoolOrigin.HugePages, pool.Origin);
        Assert.Equal(BootOptions.HugePageSize2M, pool.BlockSize);
        Assert.Equal(512 * BootOptions.HugePageSize2M, pool.SizeBytes);
        Assert.Equal(BootOptions.HugePageSize2M, pool.Align);
        Assert.Equal(-1, pool.Node);
        Assert.Equal(0UL, p.Options->DefaultHugePageSize);
    }

    [Fact]
    public void HugepageSize_AppliesToTheFollowingHugepages()
    {
        using var p = Clean("hugepages=16 hugepagesz=1G hugepages=4");
        Assert.Equal(new[] { "huge2m", "huge1g" }, p.PoolNames());
        Assert.Equal(16 * BootOptions.HugePageSize2M, p.Pool("huge2m").SizeBytes);
        Assert.Equal(4 * BootOptions.HugePageSize1G, p.Pool("huge1g").SizeBytes);
    }

    [Fact]
    public void HugepagesTwiceForOneSize_LaterWins()
    {
        using var p = new Parsed("hugepages=16 hugepagesz=1G hugepages=4 hugepagesz=2M hugepages=32");
        Assert.Equal(32 * BootOptions.HugePageSize2M, p.Pool("huge2m").SizeBytes);
        Assert.Equal(DiagnosticCode.ParameterOverridden, p.DiagnosticOf(0).Code);
        Assert.Equal(TokenStatus.Rejected, p.Token(0).Status);
        Assert.Equal(4UL, p.DiagnosticOf(0).Value0);
        Assert.Equal(TokenStatus.Accepted, p.Token(4).Status);
    }

    [Fact]
    public void DefaultHugepagesz_AppliesToHugepagesBeforeAnyHugepagesz_EvenWhenLater()
    {
        using var p = Clean("hugepages=2 default_hugepagesz=1G");
        Assert.Equal(BootOptions.HugePageSize1G, p.Options->DefaultHugePageSize);
        Assert.Equal(2 * BootOptions.HugePageSize1G, p.Pool("huge1g").SizeBytes);
    }

    [Fact]
    public void HugepagesPerNode()
    {
        using var p = Clean("hugepagesz=1G hugepages=0:4,1:2,12:0,63:1");
        Assert.Equal(new[] { "huge1g-n0", "huge1g-n1", "huge1g-n63" }, p.PoolNames());
        Assert.Equal(0, p.Pool("huge1g-n0").Node);
        Assert.Equal(4 * BootOptions.HugePageSize1G, p.Pool("huge1g-n0").SizeBytes);
        Assert.Equal(2 * BootOptions.HugePageSize1G, p.Pool("huge1g-n1").SizeBytes);
        Assert.Equal(63, p.Pool("huge1g-n63").Node);
    }

    [Fact]
    public void HugepagesPerNode_BadEntrySkipped_OthersApply()
    {
        using var p = new Parsed("hugepages=0:4,x,1:2");
        Assert.Equal(new[] { "huge2m-n0", "huge2m-n1" }, p.PoolNames());
        Assert.Equal(TokenStatus.Adjusted, p.Token(0).Status);
        Diagnostic d = p.DiagnosticOf(0);
        Assert.Equal(DiagnosticCode.HugePagesEntryInvalid, d.Code);
        Assert.Equal("x", p.Slice(d.PartOffset, d.PartLength));
    }

    [Fact]
    public void HugepagesZero_AsksForNothing()
    {
        using var p = Clean("hugepages=0");
        Assert.Equal(0, p.Options->PoolCount);
        Assert.Equal(TokenStatus.Accepted, p.Token(0).Status);
    }

    [Fact]
    public void Cma_SizeOnly()
    {
        using var p = Clean("cma=64M");
        PoolSpec pool = p.Pool("cma");
        Assert.Equal(PoolOrigin.Cma, pool.Origin);
        Assert.Equal(64UL << 20, pool.SizeBytes);
        Assert.Equal(PoolSpecFlags.Movable, pool.Flags);
    }

    [Fact]
    public void Cma_AtStart_OpenEnd()
    {
        using var p = Clean("cma=64M@0x40000000");
        PoolSpec pool = p.Pool("cma");
        Assert.Equal(PoolSpecFlags.Movable | PoolSpecFlags.HasRange, pool.Flags);
        Assert.Equal(1UL << 30, pool.RangeStart);
        Assert.Equal(PoolSpec.OpenEnd, pool.RangeEnd);
    }

    [Fact]
    public void Cma_StartToEnd()
    {
        using var p = Clean("cma=256M@0-4G");
        Assert.Equal(0UL, p.Pool("cma").RangeStart);
        Assert.Equal(4UL << 30, p.Pool("cma").RangeEnd);
    }

    [Fact]
    public void Mem_CapsMemory()
    {
        using var p = Clean("mem=3584M");
        Assert.Equal(3584UL << 20, p.Options->MemCap);
        Assert.Equal(TokenKind.Mem, p.Token(0).Kind);
    }

    [Fact]
    public void Memmap_ReservesRanges()
    {
        using var p = Clean("memmap=64M$0x100000000 memmap=4K$0x9f000");
        Assert.Equal(2, p.Options->ReservedRangeCount);
        Assert.Equal(0x100000000UL, p.Options->ReservedStart(0));
        Assert.Equal(0x104000000UL, p.Options->ReservedEnd(0));
        Assert.Equal(0x9f000UL, p.Options->ReservedStart(1));
        Assert.Equal(0xa0000UL, p.Options->ReservedEnd(1));
        Assert.Equal(0UL, p.Options->ReservedStart(2)); // beyond the count
    }

    [Fact]
    public void Memmap_UseOnlyAsRam_IsRecordedAsUnsupported()
    {
        using var p = new Parsed("memmap=2G@4G");
        Diagnostic d = p.DiagnosticOf(0);
        Assert.Equal(DiagnosticCode.MemmapUnsupported, d.Code);
        Assert.Equal((ulong)'@', d.Value0);
        Assert.Equal("@", p.Slice(d.PartOffset, d.PartLength));
        Assert.Equal(0, p.Options->ReservedRangeCount);
    }

    [Fact]
    public void Kernelcore_Size()
    {
        using var p = Clean("kernelcore=512M");
        Assert.Equal(512UL << 20, p.Options->KernelCoreBytes);
        PoolSpec pool = p.Pool("kernelcore");
        Assert.Equal(PoolOrigin.KernelCore, pool.Origin);
        Assert.Equal(PoolSpecFlags.None, pool.Flags);
    }

    [Fact]
    public void Movablecore_Percent()
    {
        using var p = Clean("movablecore=30%");
        Assert.Equal(30, p.Options->MovableCorePercent);
        Assert.Equal(0UL, p.Options->MovableCoreBytes);
        PoolSpec pool = p.Pool("movablecore");
        Assert.Equal(PoolOrigin.MovableCore, pool.Origin);
        Assert.Equal(PoolSpecFlags.Movable, pool.Flags);
        Assert.Equal(30, pool.SizePercent);
    }

    [Fact]
    public void KernelcoreAndMovablecore_Together()
    {
        using var p = Clean("kernelcore=1G movablecore=20%");
        Assert.Equal(new[] { "kernelcore", "movablecore" }, p.PoolNames());
    }

    [Fact]
    public void Kernelcore_RefusedWhenPoolsAreFull_LeavesNoValue()
    {
        string line = string.Join(' ', Enumerable.Range(0, 16).Select(i => $"pool=p{i}:1M")) + " kernelcore=1G";
        using var p = new Parsed(line);
        Assert.Equal(DiagnosticCode.TooManyPools, p.DiagnosticOf(16).Code);
        Assert.Equal(0UL, p.Options->KernelCoreBytes);
    }

    [Fact]
    public void NumaOff()
    {
        using var p = Clean("numa=off");
        Assert.True(p.Options->NumaOff);
        Assert.Equal(0, p.Options->FakeNodeCount);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(64)]
    public void NumaFake(int nodes)
    {
        using var p = Clean($"numa=fake={nodes}");
        Assert.Equal(nodes, p.Options->FakeNodeCount);
        Assert.False(p.Options->NumaOff);
    }

    [Fact]
    public void NumaFake_AboveTheNodeLimit_ClampedToIt()
    {
        using var p = new Parsed("numa=fake=65");
        Assert.Equal(64, BootOptions.MaxFakeNodes);
        Assert.Equal(BootOptions.MaxNodes, BootOptions.MaxFakeNodes);
        Assert.Equal(BootOptions.MaxFakeNodes, p.Options->FakeNodeCount);
        Assert.Equal(DiagnosticCode.FakeNodesClamped, p.DiagnosticOf(0).Code);
        Assert.Equal(65UL, p.DiagnosticOf(0).Value0);
    }
}
