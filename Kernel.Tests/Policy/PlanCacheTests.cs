using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Policy;

/// <summary>
/// The plans a context keeps (<see cref="PlanCache"/>): always the plan <see cref="PolicyPlan.For"/>
/// builds (nodes, intended node, CPU node, interleave node, the cursor's step), whatever the order of
/// CPU nodes and policy changes; a new policy's plans are never the old one's.
/// </summary>
public unsafe class PlanCacheTests
{
    private readonly ITestOutputHelper _output;

    public PlanCacheTests(ITestOutputHelper output) => _output = output;

    private static readonly string[] Policies =
    {
        "local", "bind:1", "bind:0,2", "preferred:2", "preferred-many:1-2", "interleave:0-2", "weighted-interleave:0-2:3,1,2",
        "interleave:0,2", "bind:0-2",
    };

    private static readonly string[] FourNodePolicies =
    {
        "local", "bind:1-3", "preferred:3", "preferred-many:0,1", "interleave:0-3", "weighted-interleave:1-3:2,1,5", "bind:3",
    };

    private static void AssertSame(in PolicyPlan expected, in PolicyPlan got, string what)
    {
        Assert.True(NumaMaps.PlanNodes(expected).SequenceEqual(NumaMaps.PlanNodes(got)),
            $"{what}: nodes {string.Join(",", NumaMaps.PlanNodes(expected))} expected, {string.Join(",", NumaMaps.PlanNodes(got))} kept");
        Assert.Equal(expected.Intended, got.Intended);
        Assert.Equal(expected.CpuNode, got.CpuNode);
        Assert.Equal(expected.InterleaveNode, got.InterleaveNode);
    }

    /// <summary>
    /// A context and a reference (policy and cursor alone, every plan built from scratch) asked the same
    /// random sequence: random CPU nodes (out-of-range ones too), and now and then a new policy (every
    /// mode) set on both. Every plan and every cursor the same.
    /// </summary>
    [Fact]
    public void RandomCpuNodesAndPolicyChanges_KeptPlansEqualFreshlyBuiltOnes()
        => SeededRuns.Run(_output, "plan cache against fresh plans", "PLANCACHE", 8, 4000, RandomSeed);

    private static void RandomSeed(int seed, int ops)
    {
        var random = new Random(seed);
        bool four = seed % 2 == 0;
        using var host = four ? NumaMaps.FourNodesOneMemoryless() : NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        string[] policies = four ? FourNodePolicies : Policies;
        PolicyContext context = default;
        NumaPolicy reference = NumaPolicy.Local;
        InterleaveCursor cursor = default;
        Assert.Equal(PolicyStatus.Ok, context.Set(reference, t));
        string current = "local";
        for (int op = 0; op < ops; op++)
        {
            if (random.Next(50) == 0)
            {
                current = policies[random.Next(policies.Length)];
                reference = NumaMaps.Policy(current);
                Assert.Equal(PolicyStatus.Ok, context.Set(reference, t));
                cursor = default;
            }
            int cpuNode = random.Next(-1, t.NodeCount + 1);
            PolicyPlan expected = PolicyPlan.For(reference, ref cursor, cpuNode, t);
            PolicyContext unused = default;
            PolicyPlan got = context.Plan(ref unused, cpuNode, t);
            AssertSame(expected, got, $"seed {seed} op {op} {current} cpu node {cpuNode}");
            Assert.Equal(cursor.Next, context.Cursor.Next);
            Assert.Equal(cursor.Current, context.Cursor.Current);
            Assert.Equal(cursor.Left, context.Cursor.Left);
        }
    }

    [Fact]
    public void ANewPolicy_EmptiesTheKeptPlans_TheOldOnesAreNeverServed()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        PolicyContext context = default;
        PolicyContext unused = default;
        context.Set(NumaMaps.Policy("bind:1"), t);
        Assert.Equal(new[] { 1 }, NumaMaps.PlanNodes(context.Plan(ref unused, 0, t)));
        Assert.Equal(new[] { 1 }, NumaMaps.PlanNodes(context.Plan(ref unused, 0, t)));
        // Same CPU node, so the same entry: a stale one would still say node 1 alone.
        context.Set(NumaPolicy.Local, t);
        Assert.Equal(new[] { 0, 2, 1 }, NumaMaps.PlanNodes(context.Plan(ref unused, 0, t)));
        // A refused policy changes nothing, the kept plans included.
        Assert.Equal(PolicyStatus.UnknownNode, context.Set(NumaMaps.Policy("bind:5"), t));
        Assert.Equal(new[] { 0, 2, 1 }, NumaMaps.PlanNodes(context.Plan(ref unused, 0, t)));
    }

    [Fact]
    public void AnotherTopology_EmptiesTheKeptPlans()
    {
        using var three = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *three.Memory);
        PolicyPlanCacheProbe(t, out PolicyContext context);
        // The same context asked with a topology where node 2 has no memory (its pools given no memory in it).
        NumaTopology without2 = t;
        without2.MemoryNodes &= ~(1UL << 2);
        PolicyContext unused = default;
        Assert.Equal(new[] { 0, 1 }, NumaMaps.PlanNodes(context.Plan(ref unused, 0, without2)));
        Assert.Equal(new[] { 0, 2, 1 }, NumaMaps.PlanNodes(context.Plan(ref unused, 0, t)));
    }

    private static void PolicyPlanCacheProbe(in NumaTopology t, out PolicyContext context)
    {
        context = default;
        context.Set(NumaPolicy.Local, t);
        PolicyContext unused = default;
        Assert.Equal(new[] { 0, 2, 1 }, NumaMaps.PlanNodes(context.Plan(ref unused, 0, t)));
    }
}
