using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Sim;
using Xunit;

namespace PoolKernel.Tests.CommandLine;

/// <summary><c>numa_policy=MODE[:NODES[:WEIGHTS]]</c>: accepted forms, and every refusal is one line naming why, with the policy left local.</summary>
public unsafe class NumaPolicyCommandLineTests
{
    [Theory]
    [InlineData("numa_policy=interleave:0-2", PolicyMode.Interleave, 0b111UL)]
    [InlineData("numa-policy=bind:1,3", PolicyMode.Bind, 0b1010UL)]
    [InlineData("numa_policy=preferred:1", PolicyMode.Preferred, 0b10UL)]
    [InlineData("numa_policy=local", PolicyMode.Local, 0UL)]
    [InlineData("numa_policy=weighted-interleave:0-1:5,2", PolicyMode.WeightedInterleave, 0b11UL)]
    public void Accepted(string line, PolicyMode mode, ulong nodes)
    {
        using var p = new Parsed(line);
        Assert.True(p.Options->DiagnosticCount == 0, p.Dump());
        Assert.True(p.Options->NumaPolicyGiven);
        Assert.Equal(mode, p.Options->NumaPolicy.Mode);
        Assert.Equal(nodes, p.Options->NumaPolicy.Nodes);
    }

    [Fact]
    public void Weights_InNodeOrder()
    {
        using var p = new Parsed("numa_policy=weighted-interleave:0,2:5,2");
        Assert.Equal(5, p.Options->NumaPolicy.Weight(0));
        Assert.Equal(0, p.Options->NumaPolicy.Weight(1));
        Assert.Equal(2, p.Options->NumaPolicy.Weight(2));
    }

    [Theory]
    [InlineData("numa_policy=fastest:0", PolicyStatus.UnknownMode, "unknown mode")]
    [InlineData("numa_policy=interleave:0-", PolicyStatus.NodeListSyntax, "node list such as 0-2")]
    [InlineData("numa_policy=bind:64", PolicyStatus.UnknownNode, "not a node of this machine")]
    [InlineData("numa_policy=bind", PolicyStatus.NodesMissing, "needs a node list")]
    [InlineData("numa_policy=weighted-interleave:0-1:5,0", PolicyStatus.WeightZero, "a weight is 0")]
    [InlineData("numa_policy=weighted-interleave:0-1:5", PolicyStatus.WeightCount, "one weight per node")]
    public void Refused_OneLine_PolicyStaysLocal(string line, PolicyStatus why, string words)
    {
        using var p = new Parsed(line);
        Assert.Equal(1, p.Options->DiagnosticCount);
        Diagnostic d = p.DiagnosticOf(0);
        Assert.Equal(DiagnosticCode.NumaPolicyInvalid, d.Code);
        Assert.Equal((ulong)why, d.Value0);
        Assert.Equal(TokenStatus.Rejected, p.Token(0).Status);
        Assert.False(p.Options->NumaPolicyGiven);
        using var text = new StringOut();
        var cmd = new CommandLineText(text.Out, p.Options, null);
        cmd.WriteDiagnostics();
        string output = text.ToString();
        Assert.Equal($"cmdline: '{line}': numa_policy must be MODE[:NODES[:WEIGHTS]]; ignored, the policy stays local ({NumaText.Reason(why)})\n", output);
        Assert.Contains(words, output);
    }

    [Fact]
    public void RefusedAfterAValidOne_TheValidOneStays()
    {
        using var p = new Parsed("numa_policy=bind:1 numa_policy=bind:x");
        Assert.Equal(PolicyMode.Bind, p.Options->NumaPolicy.Mode);
        Assert.Equal(0b10UL, p.Options->NumaPolicy.Nodes);
        Assert.Equal(TokenStatus.Rejected, p.Token(1).Status);
    }

    [Fact]
    public void GivenTwice_TheLaterWins()
    {
        using var p = new Parsed("numa_policy=bind:1 numa_policy=interleave:0-1");
        Assert.Equal(PolicyMode.Interleave, p.Options->NumaPolicy.Mode);
        Assert.Equal(DiagnosticCode.ParameterOverridden, p.DiagnosticOf(0).Code);
    }
}
