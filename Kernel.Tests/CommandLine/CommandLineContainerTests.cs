using PoolKernel.Boot.CommandLine;
using Xunit;

namespace PoolKernel.Tests.CommandLine;

/// <summary>
/// <c>container=NAME:quota=SIZE[,guarantee=SIZE][,pools=P1+P2]</c>: the accepted forms and what they
/// record; a second container of a name and a ninth container refused with one diagnostic each (the
/// other bad forms are rows of <see cref="CommandLineDiagnosticTests.BadTokens"/>).
/// </summary>
public unsafe class CommandLineContainerTests
{
    private static string NameOf(ContainerRequest* c)
    {
        var chars = new char[c->NameLength];
        for (int i = 0; i < chars.Length; i++)
            chars[i] = (char)c->NameByte(i);
        return new string(chars);
    }

    [Fact]
    public void EveryFormIsRecordedAsWritten()
    {
        using var p = new Parsed("container=web:quota=64M,guarantee=8M,pools=node0-dma32+node1-dma32 container=db:quota=0x100000 container=b_2:quota=1G,pools=x");
        Assert.Equal(0, p.Options->DiagnosticCount);
        Assert.Equal(3, p.Options->ContainerCount);
        ContainerRequest* web = p.Options->Container(0);
        Assert.Equal("web", NameOf(web));
        Assert.Equal(64UL << 20, web->QuotaBytes);
        Assert.Equal(8UL << 20, web->GuaranteeBytes);
        Assert.Equal("node0-dma32+node1-dma32", p.Slice(web->PoolsOffset, web->PoolsLength));
        Assert.Equal(TokenKind.Container, p.Token(0).Kind);
        ContainerRequest* db = p.Options->Container(1);
        Assert.Equal(("db", 1UL << 20, 0UL, 0), (NameOf(db), db->QuotaBytes, db->GuaranteeBytes, db->PoolsLength));
        Assert.Equal(2, p.Options->Container(2)->TokenIndex);
        Assert.Equal("x", p.Slice(p.Options->Container(2)->PoolsOffset, p.Options->Container(2)->PoolsLength));
    }

    [Fact]
    public void ASecondContainerOfANameIsRefusedAndTheFirstKept()
    {
        using var p = new Parsed("container=web:quota=4M container=web:quota=8M");
        Assert.Equal(1, p.Options->ContainerCount);
        Assert.Equal(4UL << 20, p.Options->Container(0)->QuotaBytes);
        Assert.Equal(DiagnosticCode.ContainerDuplicate, p.DiagnosticOf(1).Code);
        Assert.Equal(TokenStatus.Rejected, p.Token(1).Status);
        Assert.Equal(1, p.Options->DiagnosticCount);
    }

    [Fact]
    public void ANinthContainerIsRefused()
    {
        string line = string.Join(" ", Enumerable.Range(0, BootOptions.MaxContainers + 1).Select(i => $"container=c{i}:quota=1M"));
        using var p = new Parsed(line);
        Assert.Equal(BootOptions.MaxContainers, p.Options->ContainerCount);
        Assert.Equal(DiagnosticCode.TooManyContainers, p.DiagnosticOf(BootOptions.MaxContainers).Code);
        Assert.Equal(1, p.Options->DiagnosticCount);
    }

    [Fact]
    public void TheRecordFitsItsStride()
    {
        Assert.True(sizeof(ContainerRequest) <= ContainerRequest.StorageSize, $"sizeof(ContainerRequest) {sizeof(ContainerRequest)}");
    }
}
