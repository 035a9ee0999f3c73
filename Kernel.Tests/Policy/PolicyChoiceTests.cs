using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using Xunit;

namespace PoolKernel.Tests.Policy;

/// <summary>
/// Every policy's choice of node over multi-node maps (unequal node sizes, SLIT tables where distance
/// order differs from node order, a node without memory), with the checker after every step.
/// </summary>
public unsafe class PolicyChoiceTests
{
    private static int AllocateOne(PhysicalMemory* pm, ref PolicyContext context, in NumaTopology topology, int cpuNode, ref NumaCounters counters, out Pfn pfn)
    {
        MemoryStatus status = context.Allocate(ref *pm, topology, cpuNode, new Order(0), AllocRequest.Any, ref counters, out pfn, out int node);
        Assert.Equal(MemoryStatus.Ok, status);
        Assert.Equal(pm->NodeOf(pfn), node);
        return node;
    }

    /// <summary>Allocates order-0 frames on <paramref name="node"/> (bind to it) until it has none; returns them.</summary>
    private static List<Pfn> Exhaust(PhysicalMemory* pm, in NumaTopology topology, int node)
    {
        var taken = new List<Pfn>();
        PolicyContext bind = default;
        Assert.Equal(PolicyStatus.Ok, bind.Set(NumaMaps.Policy($"bind:{node}"), topology));
        NumaCounters scratch = default;
        while (bind.Allocate(ref *pm, topology, node, new Order(0), AllocRequest.Any, ref scratch, out Pfn pfn, out _) == MemoryStatus.Ok)
            taken.Add(pfn);
        return taken;
    }

    private static void FreeAll(PhysicalMemory* pm, List<Pfn> frames)
    {
        foreach (Pfn pfn in frames)
            Assert.Equal(MemoryStatus.Ok, pm->Free(pfn, new Order(0), 0));
        frames.Clear();
    }

    [Fact]
    public void Topology_KnowsWhichNodesHaveMemory()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        Assert.Equal(4, t.NodeCount);
        Assert.Equal(0b1101UL, t.MemoryNodes);
        Assert.Equal(15, t.Distance(1, 3));
    }

    [Theory]
    [InlineData(0, new[] { 0, 2, 1 })]
    [InlineData(1, new[] { 1, 2, 0 })]
    [InlineData(2, new[] { 2, 0, 1 })]
    public void Local_CpuNodeFirst_ThenByDistance(int cpu, int[] order)
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        InterleaveCursor cursor = default;
        Assert.Equal(order, NumaMaps.PlanNodes(PolicyPlan.For(NumaPolicy.Local, ref cursor, cpu, t)));
        PolicyContext context = default;
        context.Set(NumaPolicy.Local, t);
        NumaCounters counters = default;
        Assert.Equal(cpu, AllocateOne(host.Memory, ref context, t, cpu, ref counters, out _));
        Assert.Equal(1UL, counters.Get(cpu, NumaEvent.Hit));
        Assert.Equal(1UL, counters.Get(cpu, NumaEvent.LocalNode));
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void Local_CpuOnNodeWithoutMemory_TakesNearestNodeWithMemory()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        InterleaveCursor cursor = default;
        Assert.Equal(new[] { 3, 2, 0 }, NumaMaps.PlanNodes(PolicyPlan.For(NumaPolicy.Local, ref cursor, 1, t)));
        PolicyContext context = default;
        NumaCounters counters = default;
        Assert.Equal(3, AllocateOne(host.Memory, ref context, t, 1, ref counters, out _));
        // Linux: intended is the CPU's nearest memory node (a hit there), but never local to a memoryless CPU.
        Assert.Equal(1UL, counters.Get(3, NumaEvent.Hit));
        Assert.Equal(1UL, counters.Get(3, NumaEvent.OtherNode));
        Assert.Equal(0UL, counters.Get(1, NumaEvent.Foreign));
        Assert.True(counters.Consistent());
    }

    [Fact]
    public void Local_NodeFull_FallsBackByDistance_CountedAsMissAndForeign()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        List<Pfn> held = Exhaust(host.Memory, t, 1);
        PolicyContext context = default;
        NumaCounters counters = default;
        // Node 1's nearest is node 2 (14), not node 0 (20).
        Assert.Equal(2, AllocateOne(host.Memory, ref context, t, 1, ref counters, out Pfn pfn));
        Assert.Equal(1UL, counters.Get(2, NumaEvent.Miss));
        Assert.Equal(1UL, counters.Get(1, NumaEvent.Foreign));
        Assert.Equal(1UL, counters.Get(2, NumaEvent.OtherNode));
        Assert.True(counters.Consistent());
        FreeAll(host.Memory, held);
        Assert.Equal(MemoryStatus.Ok, host.Memory->Free(pfn, new Order(0), 0));
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void Bind_NearestBoundNodeFirst_NeverLeavesTheMask()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        NumaPolicy bind = NumaMaps.Policy("bind:0-1");
        InterleaveCursor cursor = default;
        // From node 2: 0 (12) before 1 (14); node 2 itself is outside the mask.
        Assert.Equal(new[] { 0, 1 }, NumaMaps.PlanNodes(PolicyPlan.For(bind, ref cursor, 2, t)));
        Assert.Equal(new[] { 1, 0 }, NumaMaps.PlanNodes(PolicyPlan.For(bind, ref cursor, 1, t)));

        List<Pfn> held0 = Exhaust(host.Memory, t, 0);
        List<Pfn> held1 = Exhaust(host.Memory, t, 1);
        PolicyContext context = default;
        Assert.Equal(PolicyStatus.Ok, context.Set(bind, t));
        NumaCounters counters = default;
        byte[] before = host.Snapshot();
        Assert.Equal(MemoryStatus.OutOfMemory, context.Allocate(ref *host.Memory, t, 2, new Order(0), AllocRequest.Any, ref counters, out _, out _));
        Assert.Equal(before, host.Snapshot());
        Assert.Equal(0UL, counters.Get(2, NumaEvent.Hit) + counters.Get(2, NumaEvent.Miss));
        FreeAll(host.Memory, held0);
        FreeAll(host.Memory, held1);
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void Preferred_ItsNodeFirst_ThenByDistanceFromIt()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        NumaPolicy preferred = NumaMaps.Policy("preferred:1");
        InterleaveCursor cursor = default;
        // From node 1: 2 (14) before 0 (20), whatever the CPU.
        Assert.Equal(new[] { 1, 2, 0 }, NumaMaps.PlanNodes(PolicyPlan.For(preferred, ref cursor, 0, t)));
        PolicyContext context = default;
        context.Set(preferred, t);
        NumaCounters counters = default;
        Assert.Equal(1, AllocateOne(host.Memory, ref context, t, 0, ref counters, out Pfn first));
        Assert.Equal(1UL, counters.Get(1, NumaEvent.Hit));
        Assert.Equal(1UL, counters.Get(1, NumaEvent.OtherNode));
        List<Pfn> held = Exhaust(host.Memory, t, 1);
        Assert.Equal(2, AllocateOne(host.Memory, ref context, t, 0, ref counters, out Pfn second));
        Assert.Equal(1UL, counters.Get(1, NumaEvent.Foreign));
        held.Add(first);
        held.Add(second);
        FreeAll(host.Memory, held);
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void PreferredMany_MaskNearestCpuFirst_ThenTheRestFromTheCpu()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        NumaPolicy many = NumaMaps.Policy("preferred-many:0,2");
        InterleaveCursor cursor = default;
        // CPU on node 3: 2 (13) before 0 (18), then the rest (3) from the CPU.
        Assert.Equal(new[] { 2, 0, 3 }, NumaMaps.PlanNodes(PolicyPlan.For(many, ref cursor, 3, t)));
        PolicyContext context = default;
        context.Set(many, t);
        NumaCounters counters = default;
        List<Pfn> held = Exhaust(host.Memory, t, 2);
        Assert.Equal(0, AllocateOne(host.Memory, ref context, t, 3, ref counters, out Pfn a));
        held.AddRange(Exhaust(host.Memory, t, 0));
        Assert.Equal(3, AllocateOne(host.Memory, ref context, t, 3, ref counters, out Pfn b));
        Assert.Equal(2UL, counters.Get(2, NumaEvent.Foreign));
        Assert.Equal(1UL, counters.Get(3, NumaEvent.LocalNode));
        held.Add(a);
        held.Add(b);
        FreeAll(host.Memory, held);
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void Interleave_PageByPage_SkipsNodeWithoutMemory()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        PolicyContext context = default;
        Assert.Equal(PolicyStatus.Ok, context.Set(NumaMaps.Policy("interleave:0-2"), t));
        NumaCounters counters = default;
        var frames = new List<Pfn>();
        var nodes = new List<int>();
        for (int i = 0; i < 9; i++)
        {
            nodes.Add(AllocateOne(host.Memory, ref context, t, 0, ref counters, out Pfn pfn));
            frames.Add(pfn);
            MemoryAssert.Consistent(host.Memory);
        }
        Assert.Equal(new[] { 0, 2, 0, 2, 0, 2, 0, 2, 0 }, nodes);
        Assert.Equal(5UL, counters.Get(0, NumaEvent.InterleaveHit));
        Assert.Equal(4UL, counters.Get(2, NumaEvent.InterleaveHit));
        Assert.Equal(4UL, counters.Get(2, NumaEvent.OtherNode));
        FreeAll(host.Memory, frames);
    }

    [Fact]
    public void Interleave_NodeFull_FallsBackByDistanceFromThatNode()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        List<Pfn> held = Exhaust(host.Memory, t, 1);
        PolicyContext context = default;
        context.Set(NumaMaps.Policy("interleave:0-1"), t);
        NumaCounters counters = default;
        Assert.Equal(0, AllocateOne(host.Memory, ref context, t, 0, ref counters, out Pfn a));
        // Node 1 is full: its nearest is 2, not 0.
        Assert.Equal(2, AllocateOne(host.Memory, ref context, t, 0, ref counters, out Pfn b));
        Assert.Equal(1UL, counters.Get(0, NumaEvent.InterleaveHit));
        Assert.Equal(0UL, counters.Get(2, NumaEvent.InterleaveHit));
        Assert.Equal(1UL, counters.Get(1, NumaEvent.Foreign));
        held.Add(a);
        held.Add(b);
        FreeAll(host.Memory, held);
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void WeightedInterleave_ExactToThePage_OverALongRun()
    {
        using var host = NumaMaps.FourNodesOneMemoryless();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        PolicyContext context = default;
        Assert.Equal(PolicyStatus.Ok, context.Set(NumaMaps.Policy("weighted-interleave:0,2-3:5,2,3"), t));
        NumaCounters counters = default;
        int[] round = { 0, 0, 0, 0, 0, 2, 2, 3, 3, 3 };
        const int Pages = 100_003;
        var perNode = new ulong[4];
        for (int i = 0; i < Pages; i++)
        {
            // Allocate and free: the cursor steps per allocation, and memory never runs out.
            int node = AllocateOne(host.Memory, ref context, t, 0, ref counters, out Pfn pfn);
            Assert.Equal(round[i % round.Length], node);
            perNode[node]++;
            Assert.Equal(MemoryStatus.Ok, host.Memory->Free(pfn, new Order(0), 0));
        }
        // 10000 full rounds of 10, then 3 pages on node 0.
        Assert.Equal(new ulong[] { 50_003, 0, 20_000, 30_000 }, perNode);
        Assert.Equal(perNode[0], counters.Get(0, NumaEvent.InterleaveHit));
        Assert.True(counters.Consistent());
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void WeightedInterleave_WithoutWeights_IsPlainInterleave()
    {
        NumaPolicy p = NumaMaps.Policy("weighted-interleave:0-2");
        Assert.Equal(1, p.Weight(0));
        Assert.Equal(1, p.Weight(2));
        Assert.Equal(0, p.Weight(3));
    }

    [Fact]
    public void PolicyChange_AffectsNewAllocationsOnly()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        PolicyContext context = default;
        context.Set(NumaMaps.Policy("preferred:2"), t);
        NumaCounters counters = default;
        Assert.Equal(2, AllocateOne(host.Memory, ref context, t, 0, ref counters, out Pfn before));
        Assert.Equal(PolicyStatus.Ok, context.Set(NumaMaps.Policy("bind:1"), t));
        Assert.Equal(1, AllocateOne(host.Memory, ref context, t, 0, ref counters, out Pfn after));
        Assert.Equal(2, host.Memory->NodeOf(before));
        Assert.Equal(MemoryStatus.Ok, host.Memory->Free(before, new Order(0), 0));
        Assert.Equal(MemoryStatus.Ok, host.Memory->Free(after, new Order(0), 0));
        MemoryAssert.Consistent(host.Memory);
    }

    [Fact]
    public void Context_WithoutPolicy_FollowsTheKernelWide()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        PolicyContext kernel = default;
        kernel.Set(NumaMaps.Policy("interleave:1-2"), t);
        PolicyContext heap = default;
        Assert.Equal(new[] { 1, 2, 0 }, NumaMaps.PlanNodes(heap.Plan(ref kernel, 0, t)));
        Assert.Equal(new[] { 2, 0, 1 }, NumaMaps.PlanNodes(heap.Plan(ref kernel, 0, t)));
        heap.Set(NumaPolicy.Local, t);
        Assert.Equal(new[] { 0, 2, 1 }, NumaMaps.PlanNodes(heap.Plan(ref kernel, 0, t)));
    }

    [Fact]
    public void NamedPool_IsNotAChoice_Refused()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        InterleaveCursor cursor = default;
        PolicyPlan plan = PolicyPlan.For(NumaPolicy.Local, ref cursor, 0, t);
        byte[] before = host.Snapshot();
        Assert.Equal(MemoryStatus.InvalidArgument, PolicyAllocator.Allocate(ref *host.Memory, plan, new Order(0), AllocRequest.InPool(new PoolId(0)), out _, out _));
        Assert.Equal(before, host.Snapshot());
    }

    [Fact]
    public void Runs_FollowThePlanToo()
    {
        using var host = NumaMaps.ThreeNodes();
        NumaTopology t = NumaTopology.Of(ref *host.Memory);
        InterleaveCursor cursor = default;
        PolicyPlan plan = PolicyPlan.For(NumaMaps.Policy("preferred:2"), ref cursor, 0, t);
        Assert.Equal(MemoryStatus.Ok, PolicyAllocator.AllocateRun(ref *host.Memory, plan, 300, AllocRequest.Any, out Pfn first, out int node));
        Assert.Equal(2, node);
        Assert.Equal(2, host.Memory->NodeOf(new Pfn(first.Value + 299)));
        Assert.Equal(MemoryStatus.Ok, host.Memory->FreeRun(first, 300, 0));
        MemoryAssert.Consistent(host.Memory);
    }
}
