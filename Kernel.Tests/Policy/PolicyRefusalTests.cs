using System.Runtime.InteropServices;
using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Policy;

/// <summary>Policies as text (Linux node lists, weights) and every refusal, with the context left exactly as it was.</summary>
public unsafe class PolicyRefusalTests
{
    [Theory]
    [InlineData("0", 0b1UL)]
    [InlineData("0-2", 0b111UL)]
    [InlineData("0,2", 0b101UL)]
    [InlineData("0-1,3", 0b1011UL)]
    [InlineData("2,0-1", 0b111UL)]
    [InlineData("63", 1UL << 63)]
    [InlineData("1-1", 0b10UL)]
    public void NodeList_LinuxForms(string text, ulong mask)
    {
        byte[] b = System.Text.Encoding.ASCII.GetBytes(text);
        fixed (byte* p = b)
        {
            Assert.Equal(PolicyStatus.Ok, PolicyParser.ParseNodeList(p, b.Length, out ulong got));
            Assert.Equal(mask, got);
        }
    }

    [Theory]
    [InlineData("", PolicyStatus.NodeListSyntax)]
    [InlineData(",", PolicyStatus.NodeListSyntax)]
    [InlineData("0,", PolicyStatus.NodeListSyntax)]
    [InlineData("0-", PolicyStatus.NodeListSyntax)]
    [InlineData("-1", PolicyStatus.NodeListSyntax)]
    [InlineData("a", PolicyStatus.NodeListSyntax)]
    [InlineData("0 1", PolicyStatus.NodeListSyntax)]
    [InlineData("64", PolicyStatus.UnknownNode)]
    [InlineData("0-99999999999999999999999", PolicyStatus.UnknownNode)]
    [InlineData("3-1", PolicyStatus.EmptyMask)]
    public void NodeList_Refused(string text, PolicyStatus expected)
    {
        byte[] b = System.Text.Encoding.ASCII.GetBytes(text);
        fixed (byte* p = b)
            Assert.Equal(expected, PolicyParser.ParseNodeList(p, b.Length, out _));
    }

    [Theory]
    [InlineData("fastest:0", PolicyStatus.UnknownMode)]
    [InlineData("Interleave:0", PolicyStatus.UnknownMode)]
    [InlineData("bind", PolicyStatus.NodesMissing)]
    [InlineData("interleave", PolicyStatus.NodesMissing)]
    [InlineData("local:0", PolicyStatus.NodesNotTaken)]
    [InlineData("default:1", PolicyStatus.NodesNotTaken)]
    [InlineData("preferred:0-1", PolicyStatus.OneNodeOnly)]
    [InlineData("bind:0:1", PolicyStatus.WeightsNotTaken)]
    [InlineData("weighted-interleave:0-1:5,0", PolicyStatus.WeightZero)]
    [InlineData("weighted-interleave:0-1:5,256", PolicyStatus.WeightTooLarge)]
    [InlineData("weighted-interleave:0-1:5,99999999999999999999999", PolicyStatus.WeightTooLarge)]
    [InlineData("weighted-interleave:0-1:5", PolicyStatus.WeightCount)]
    [InlineData("weighted-interleave:0-1:5,2,1", PolicyStatus.WeightCount)]
    [InlineData("weighted-interleave:0-1:5,,2", PolicyStatus.WeightSyntax)]
    [InlineData("weighted-interleave:0-1:", PolicyStatus.WeightSyntax)]
    [InlineData("interleave:", PolicyStatus.NodeListSyntax)]
    public void Text_Refused(string text, PolicyStatus expected)
    {
        Assert.Equal(expected, NumaMaps.ParseStatus(text));
    }

    [Theory]
    [InlineData("local")]
    [InlineData("default")]
    [InlineData("bind:0-2")]
    [InlineData("preferred:2")]
    [InlineData("preferred-many:0,2")]
    [InlineData("interleave:0-1")]
    [InlineData("weighted-interleave:0-1:255,1")]
    public void Text_Accepted(string text)
    {
        Assert.Equal(PolicyStatus.Ok, NumaMaps.ParseStatus(text));
    }

    [Theory]
    [InlineData("bind:4", PolicyStatus.UnknownNode)]
    [InlineData("interleave:0-5", PolicyStatus.UnknownNode)]
    [InlineData("preferred:1", PolicyStatus.NoMemory)]
    [InlineData("bind:1", PolicyStatus.NoMemory)]
    public void AgainstTheMachine_RefusedWithTheContextUnchanged(string text, PolicyStatus expected)
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        PolicyContext context = default;
        Assert.Equal(PolicyStatus.Ok, context.Set(NumaMaps.Policy("weighted-interleave:0,2:3,1"), t));
        NumaCounters counters = default;
        context.Allocate(ref *host.Memory, t, 0, new Order(0), AllocRequest.Any, ref counters, out Pfn pfn, out _);
        byte[] before = Bytes(context);
        Assert.Equal(expected, context.Set(NumaMaps.Policy(text), t));
        Assert.Equal(before, Bytes(context));
        host.Memory->Free(pfn, new Order(0), 0);
    }

    [Fact]
    public void MaskWithANodeWithoutMemory_Accepted()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        PolicyContext context = default;
        Assert.Equal(PolicyStatus.Ok, context.Set(NumaMaps.Policy("bind:1-2"), t));
    }

    private static byte[] Bytes(PolicyContext context)
    {
        var bytes = new byte[sizeof(PolicyContext)];
        MemoryMarshal.Write(bytes, in context);
        return bytes;
    }
}
