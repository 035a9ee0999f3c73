using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// NUMA policies on q35 machines with 3 and 4 nodes of unequal sizes and their own SLIT, one node
/// without memory and nodes without CPUs (docs/numa.md): numa_policy= at boot, policy changed at run
/// time (refusals keep the old one), pages landing where the policy says, numastat's counts matching
/// exactly what was asked, and replicated buffers on their nodes. Every scripted command's line is asserted.
/// </summary>
public class NumaPolicyBootTests
{
    private readonly ITestOutputHelper _output;

    public NumaPolicyBootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        return result;
    }

    /// <summary>The line right after the echo of the <paramref name="nth"/> (0-based) run of <paramref name="command"/>.</summary>
    private static string[] After(QemuResult result, string command, int lines, int nth = 0)
    {
        string[] all = result.Lines;
        int seen = 0;
        for (int i = 0; i < all.Length; i++)
        {
            if (all[i] == "pk> " + command && seen++ == nth)
                return all.Skip(i + 1).Take(lines).ToArray();
        }
        Assert.Fail($"no '{command}' #{nth}\n{result}");
        return null;
    }

    private static void Line(QemuResult result, string command, string expected, int nth = 0)
    {
        string got = After(result, command, 1, nth)[0];
        Assert.True(got == expected, $"after '{command}': expected\n  {expected}\ngot\n  {got}\n{result}");
    }

    /// <summary>
    /// numastat's counts after the <paramref name="nth"/> numastat, counter name -> per-node values, without
    /// the heap's page refills (numastat's second table, "of which heap page refills"): what the scripted
    /// commands asked for. <paramref name="heap"/> gets the heap's share.
    /// </summary>
    private static Dictionary<string, long[]> Numastat(QemuResult result, int nodes, int nth, out Dictionary<string, long[]> heap)
    {
        string[] lines = After(result, "numastat", 15, nth);
        Assert.Equal("of which heap page refills:", lines[7]);
        Dictionary<string, long[]> all = Table(lines.Take(7).ToArray(), nodes);
        heap = Table(lines.Skip(8).ToArray(), nodes);
        var asked = new Dictionary<string, long[]>();
        foreach (var (name, values) in all)
        {
            asked[name] = values.Zip(heap[name], (a, h) => a - h).ToArray();
            Assert.True(asked[name].All(v => v >= 0), $"{name}: the heap's share above the total\n{result}");
        }
        return asked;
    }

    private static Dictionary<string, long[]> Numastat(QemuResult result, int nodes, int nth = 0) => Numastat(result, nodes, nth, out _);

    /// <summary>One numastat table (a header of node names and six counter lines): counter name -> per-node values.</summary>
    internal static Dictionary<string, long[]> Table(string[] lines, int nodes)
    {
        Assert.Equal(string.Concat(Enumerable.Range(0, nodes).Select(n => $"node{n}".PadLeft(16))).PadLeft(16 + 16 * nodes), lines[0]);
        var table = new Dictionary<string, long[]>();
        foreach (string line in lines.Skip(1))
        {
            string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(nodes + 1, words.Length);
            table[words[0]] = words.Skip(1).Select(long.Parse).ToArray();
        }
        Assert.Equal(new[] { "numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node", "other_node" }, table.Keys);
        return table;
    }

    private static void ReplicaLines(QemuResult result, string command, int[] nodes, int readBy, int cpuNode)
    {
        string[] lines = After(result, command, nodes.Length + 1);
        for (int i = 0; i < nodes.Length; i++)
        {
            string read = nodes[i] == readBy ? $" (read by this cpu, node {cpuNode})" : "";
            Assert.Matches(new Regex($"^replicate: node {nodes[i]} copy at 0x[0-9a-f]+ on node {nodes[i]}: ok{Regex.Escape(read)}$"), lines[i]);
        }
        Assert.Matches(new Regex($"^replicate: {nodes.Length} copies of \\d+ bytes verified, freed: ok$"), lines[nodes.Length]);
    }

    [Fact]
    public void ThreeNodes_PolicyChangedAtRunTime_NumastatCountsWhatWasAsked()
    {
        QemuResult result = Boot(new QemuBoot
        {
            Memory = "512M",
            Nodes = 3,
            NodeMemory = new[] { "256M", "96M", "160M" },
            CpuNodes = new[] { 0, 1, 2 },
            Distances = new[] { 10, 20, 12, 20, 10, 14, 12, 14, 10 },
            KernelCommandLine = "numa_policy=interleave:0-2 run=\"policy;numaalloc 9;policy weighted-interleave 0,2 3,1;numaalloc 8;" +
                "policy bind 5;policy interleave 0-;policy weighted-interleave 0-1 5,0;numaalloc 4;policy preferred 1;numaalloc 5;" +
                "numaalloc 3 cpu 1;numastat;replicate 64K 0-2;policy heap local;policy;check;halt\"",
        });
        BootTests.AssertContains(result, "cmdline: 'numa_policy=interleave 0-2': kernel-wide policy set");
        string[] shown = After(result, "policy", 2);
        Assert.Equal("policy: kernel interleave 0-2", shown[0]);
        Assert.Equal("policy: heap default (follows kernel: interleave 0-2)", shown[1]);
        Line(result, "numaalloc 9", "numaalloc: 9 pages from cpu 0 (node 0): node0 3 node1 3 node2 3; freed");
        Line(result, "policy weighted-interleave 0,2 3,1", "policy: kernel now weighted-interleave 0,2 3,1 (new allocations)");
        Line(result, "numaalloc 8", "numaalloc: 8 pages from cpu 0 (node 0): node0 6 node1 0 node2 2; freed");
        const string kept = "; kernel keeps weighted-interleave 0,2 3,1";
        Line(result, "policy bind 5", "policy: refused, a node of the list is not a node of this machine" + kept);
        Line(result, "policy interleave 0-", "policy: refused, nodes must be a node list such as 0-2 or 0,2" + kept);
        Line(result, "policy weighted-interleave 0-1 5,0", "policy: refused, a weight is 0 (weights are 1..255)" + kept);
        // The refusals changed nothing: the round goes on where it was (two whole rounds of 3 + 1 done).
        Line(result, "numaalloc 4", "numaalloc: 4 pages from cpu 0 (node 0): node0 3 node1 0 node2 1; freed");
        Line(result, "policy preferred 1", "policy: kernel now preferred 1 (new allocations)");
        Line(result, "numaalloc 5", "numaalloc: 5 pages from cpu 0 (node 0): node0 0 node1 5 node2 0; freed");
        Line(result, "numaalloc 3 cpu 1", "numaalloc: 3 pages from cpu 1 (node 1): node0 0 node1 3 node2 0; freed");

        Dictionary<string, long[]> stat = Numastat(result, 3);
        Assert.Equal(new long[] { 3 + 6 + 3, 3 + 5 + 3, 3 + 2 + 1 }, stat["numa_hit"]);
        Assert.Equal(new long[] { 0, 0, 0 }, stat["numa_miss"]);
        Assert.Equal(new long[] { 0, 0, 0 }, stat["numa_foreign"]);
        Assert.Equal(new long[] { 12, 3, 6 }, stat["interleave_hit"]);
        Assert.Equal(new long[] { 12, 3, 0 }, stat["local_node"]);
        Assert.Equal(new long[] { 0, 8, 6 }, stat["other_node"]);

        ReplicaLines(result, "replicate 64K 0-2", new[] { 0, 1, 2 }, 0, 0);
        Line(result, "policy heap local", "policy: heap now local (new allocations)");
        string[] after = After(result, "policy", 2, 1);
        Assert.Equal("policy: kernel preferred 1", after[0]);
        Assert.Equal("policy: heap local", after[1]);
        Line(result, "check", "check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)");
        Assert.Single(result.Lines, l => l == "check: numa ok (policies valid, counters consistent)");
    }

    [Fact]
    public void FourNodes_NodeWithoutMemory_NodesWithoutCpus_FallBackByDistance()
    {
        // Node 2 has a CPU and no memory; nodes 1 and 3 have memory and no CPU. From node 2 the
        // nearest memory is node 3 (15), then node 1 (18), then node 0 (30).
        QemuResult result = Boot(new QemuBoot
        {
            Memory = "512M",
            Nodes = 4,
            NodeMemory = new[] { "256M", "128M", "0", "128M" },
            CpuNodes = new[] { 0, 0, 2 },
            Distances = new[] { 10, 20, 30, 25, 20, 10, 18, 40, 30, 18, 10, 15, 25, 40, 15, 10 },
            KernelCommandLine = "numa_policy=bind:2 run=\"numa;policy bind 2;policy interleave 0-3;numaalloc 6;policy local;" +
                "numaalloc 4 cpu 2;numaalloc 2;numastat;replicate 8K 0-3;replicate 8K 0,1,3;policy preferred 1;numaalloc 40000;numastat;check;halt\"",
        });
        BootTests.AssertContains(result, "cmdline: 'numa_policy=bind 2': no node of the list has memory; ignored, the policy stays local");
        Line(result, "numa", "cpus:     3 (apic ids 0@node0 1@node0 2@node2)");
        BootTests.AssertContains(result, "numa:     4 nodes (SRAT)");
        Line(result, "policy bind 2", "policy: refused, no node of the list has memory; kernel keeps local");
        Line(result, "policy interleave 0-3", "policy: kernel now interleave 0-3 (new allocations)");
        Line(result, "numaalloc 6", "numaalloc: 6 pages from cpu 0 (node 0): node0 2 node1 2 node2 0 node3 2; freed");
        Line(result, "policy local", "policy: kernel now local (new allocations)");
        Line(result, "numaalloc 4 cpu 2", "numaalloc: 4 pages from cpu 2 (node 2): node0 0 node1 0 node2 0 node3 4; freed");
        Line(result, "numaalloc 2", "numaalloc: 2 pages from cpu 0 (node 0): node0 2 node1 0 node2 0 node3 0; freed");
        Dictionary<string, long[]> stat = Numastat(result, 4);
        Assert.Equal(new long[] { 4, 2, 0, 6 }, stat["numa_hit"]);
        Assert.Equal(new long[] { 0, 0, 0, 0 }, stat["numa_miss"]);
        Assert.Equal(new long[] { 2, 2, 0, 2 }, stat["interleave_hit"]);
        // A CPU on a node without memory is never local to what it gets.
        Assert.Equal(new long[] { 4, 0, 0, 0 }, stat["local_node"]);
        Assert.Equal(new long[] { 0, 2, 0, 6 }, stat["other_node"]);
        Line(result, "replicate 8K 0-3", "replicate: refused, invalid argument (every node must exist and have memory)");
        ReplicaLines(result, "replicate 8K 0,1,3", new[] { 0, 1, 3 }, 0, 0);

        // More pages than node 1 (128 MiB) holds, preferred there: node 1 until it is full, then by distance
        // from node 1 (node 2 has no memory, so node 0 at 20, then node 3 at 40). Every page elsewhere is a
        // miss where it landed and a foreign on node 1.
        Line(result, "policy preferred 1", "policy: kernel now preferred 1 (new allocations)");
        Match got = Regex.Match(After(result, "numaalloc 40000", 1)[0], @"^numaalloc: 40000 pages from cpu 0 \(node 0\): node0 (\d+) node1 (\d+) node2 0 node3 (\d+); freed$");
        Assert.True(got.Success, result.ToString());
        long on0 = long.Parse(got.Groups[1].Value), on1 = long.Parse(got.Groups[2].Value), on3 = long.Parse(got.Groups[3].Value);
        Assert.True(on1 > 20000 && on1 < 32768 && on0 > 0, $"{on0} {on1} {on3}\n{result}");
        Assert.Equal(40000, on0 + on1 + on3);
        Dictionary<string, long[]> after = Numastat(result, 4, 1);
        long[] Delta(string name) => after[name].Zip(stat[name], (a, b) => a - b).ToArray();
        Assert.Equal(new long[] { 0, on1, 0, 0 }, Delta("numa_hit"));
        Assert.Equal(new long[] { on0, 0, 0, on3 }, Delta("numa_miss"));
        Assert.Equal(new long[] { 0, on0 + on3, 0, 0 }, Delta("numa_foreign"));
        Assert.Equal(new long[] { 0, 0, 0, 0 }, Delta("interleave_hit"));
        Assert.Equal(new long[] { on0, 0, 0, 0 }, Delta("local_node"));
        Assert.Equal(new long[] { 0, on1, 0, on3 }, Delta("other_node"));
        Line(result, "check", "check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)");
        Assert.Single(result.Lines, l => l == "check: numa ok (policies valid, counters consistent)");
    }

    /// <summary>True when <paramref name="address"/> is inside one of <paramref name="node"/>'s ranges as the `numa` listing gives them (the SRAT).</summary>
    private static bool OnNode(QemuResult result, int node, ulong address)
    {
        MatchCollection ranges = Regex.Matches(result.Console, $@"  node {node}: 0x([0-9a-f]+)-0x([0-9a-f]+) ");
        Assert.NotEmpty(ranges);
        return ranges.Any(r => address >= ulong.Parse(r.Groups[1].Value, NumberStyles.HexNumber) && address < ulong.Parse(r.Groups[2].Value, NumberStyles.HexNumber));
    }

    /// <summary>The address an `alloc` line after the <paramref name="nth"/> run of <paramref name="command"/> gives.</summary>
    private static ulong AllocAddress(QemuResult result, string command, int nth = 0)
    {
        string line = After(result, command, 1, nth)[0];
        Match m = Regex.Match(line, @"^alloc: pfn 0x[0-9a-f]+ address 0x([0-9a-f]+) order \d+ \(\d+ cycles\)$");
        Assert.True(m.Success, $"after '{command}': {line}\n{result}");
        return ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber);
    }

    [Fact]
    public void ContainerPolicy_AllocationsAsTheContainerFollowIt_DestroyDropsIt()
    {
        // Two nodes of unequal size, the shell on node 0: a container bound to node 1 gets node 1's
        // frames for `as web alloc` (blocks and a run), a node it names itself stays its own choice,
        // numastat counts each policy allocation, and destroying the container drops its policy (the
        // next container on the same owner number starts without one).
        QemuResult result = Boot(new QemuBoot
        {
            Machine = "q35",
            Memory = "512M",
            Nodes = 2,
            NodeMemory = new[] { "384M", "128M" },
            CpuNodes = new[] { 0, 1 },
            KernelCommandLine = "run=\"numa;policy web bind 1;container create web:quota=4M;policy web bind 5;policy web bind 1;policy;" +
                "as web alloc 0;as web alloc 2;as web alloc 0 node 0;alloc 0;numaalloc 3 web;policy web interleave 0-1;policy web;numaalloc 4 web;" +
                "numastat;containers;check;container destroy web;policy;policy web bind 1;container create db:quota=1M;policy db;check;halt\"",
        });
        Line(result, "policy web bind 1", "policy: refused, no context named web (kernel, heap, area or a container's name); nothing changed");
        Line(result, "container create web:quota=4M", "container web: owner 16, quota 1024 pages, guarantee 0 pages, pools all");
        Line(result, "policy web bind 5", "policy: refused, a node of the list is not a node of this machine; web keeps default");
        Line(result, "policy web bind 1", "policy: web now bind 1 (new allocations)", 1);
        Assert.Equal(new[] { "policy: kernel local", "policy: heap default (follows kernel: local)", "policy: area default (follows kernel: local)", "policy: web bind 1" },
            After(result, "policy", 4));
        foreach (string command in new[] { "as web alloc 0", "as web alloc 2" })
        {
            ulong address = AllocAddress(result, command);
            Assert.True(OnNode(result, 1, address), $"{command}: 0x{address:x} outside node 1\n{result}");
        }
        // A request that names its node keeps it; the shell itself is no container and has no policy.
        ulong named = AllocAddress(result, "as web alloc 0 node 0"), shell = AllocAddress(result, "alloc 0");
        Assert.True(OnNode(result, 0, named), $"0x{named:x} outside node 0\n{result}");
        Assert.True(OnNode(result, 0, shell), $"0x{shell:x} outside node 0\n{result}");
        Line(result, "numaalloc 3 web", "numaalloc: 3 pages from cpu 0 (node 0): node0 0 node1 3; freed");
        Line(result, "policy web interleave 0-1", "policy: web now interleave 0-1 (new allocations)");
        Line(result, "policy web", "policy: web interleave 0-1");
        Line(result, "numaalloc 4 web", "numaalloc: 4 pages from cpu 0 (node 0): node0 2 node1 2; freed");
        // Two alloc lines and three numaalloc pages under bind 1 (hits on node 1, other than the CPU's
        // node 0), four pages interleaved; the named-node and the shell's allocations are no policy's.
        Dictionary<string, long[]> stat = Numastat(result, 2);
        Assert.Equal(new long[] { 2, 2 + 3 + 2 }, stat["numa_hit"]);
        Assert.Equal(new long[] { 0, 0 }, stat["numa_miss"]);
        Assert.Equal(new long[] { 0, 0 }, stat["numa_foreign"]);
        Assert.Equal(new long[] { 2, 2 }, stat["interleave_hit"]);
        Assert.Equal(new long[] { 2, 0 }, stat["local_node"]);
        Assert.Equal(new long[] { 0, 7 }, stat["other_node"]);
        Assert.Matches(@"^16 +web +1024 +0 +6 +10 ", After(result, "containers", 2)[1]);
        Line(result, "check", "check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)");
        Assert.Equal(2, result.Lines.Count(l => l == "check: numa ok (policies valid, counters consistent)"));
        Line(result, "container destroy web", "container web: destroyed, 6 pages given back");
        Assert.Equal(new[] { "policy: kernel local", "policy: heap default (follows kernel: local)", "policy: area default (follows kernel: local)", "pk> policy web bind 1" },
            After(result, "policy", 4, 1));
        Line(result, "policy web bind 1", "policy: refused, no context named web (kernel, heap, area or a container's name); nothing changed", 2);
        Line(result, "container create db:quota=1M", "container db: owner 16, quota 256 pages, guarantee 0 pages, pools all");
        Line(result, "policy db", "policy: db default (pool choice)");
    }

    [Fact]
    public void HeapBind_RefillsOnlyFromTheBoundNode_FailsCleanlyWhenItIsFull_RefillsCountedInNumastat()
    {
        // Node 1 has 128 MiB: under `policy heap bind 1` a 200 MiB object cannot be had there and must
        // fail, although node 0 has room; unbound again, the heap takes the CPU's node 0.
        QemuResult result = Boot(new QemuBoot
        {
            Machine = "q35",
            Memory = "512M",
            Nodes = 2,
            NodeMemory = new[] { "384M", "128M" },
            CpuNodes = new[] { 0, 1 },
            KernelCommandLine = "run=\"numastat;policy heap bind 1;heaptest 8 1M;numastat;heaptest 1 200M;check;policy heap local;heaptest 2 1M;numastat;check;halt\"",
        });
        Numastat(result, 2, 0, out Dictionary<string, long[]> before);
        Line(result, "policy heap bind 1", "policy: heap now bind 1 (new allocations)");
        Line(result, "heaptest 8 1M", "heaptest: 8 x 1048576 bytes from the CPU on node 0: by node 0=0 1=8, failed 0; managed objects on the local node 0/8");
        Dictionary<string, long[]> asked = Numastat(result, 2, 1, out Dictionary<string, long[]> bound);
        // Every refill under bind 1 (the eight 1 MiB runs and whatever slabs the command needed) is a hit on
        // node 1, other than the CPU's node; none on node 0, no miss.
        long[] Delta(Dictionary<string, long[]> a, Dictionary<string, long[]> b, string name) => b[name].Zip(a[name], (x, y) => x - y).ToArray();
        long[] hits = Delta(before, bound, "numa_hit");
        Assert.Equal(0, hits[0]);
        Assert.True(hits[1] >= 8, $"{hits[1]} refills on node 1\n{result}");
        Assert.Equal(new long[] { 0, 0 }, Delta(before, bound, "numa_miss"));
        Assert.Equal(new long[] { 0, 0 }, Delta(before, bound, "numa_foreign"));
        Assert.Equal(new long[] { 0, 0 }, Delta(before, bound, "local_node"));
        Assert.Equal(hits, Delta(before, bound, "other_node"));
        // Nothing but the heap allocated through a policy.
        Assert.All(asked.Values, v => Assert.Equal(new long[] { 0, 0 }, v));

        string[] failed = After(result, "heaptest 1 200M", 2);
        Assert.Matches(@"^heap: out of memory: asked 209715200 bytes \(align 16, 51200 pages\) on node 1: pools answered 'out of memory'; free pages \d+ in all pools, \d+ on node 1; the heap holds \d+ pages$", failed[0]);
        Assert.Equal("heaptest: 1 x 209715200 bytes from the CPU on node 0: by node 0=0 1=0, failed 1; managed objects on the local node 0/1", failed[1]);
        Line(result, "check", "check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)");
        Line(result, "policy heap local", "policy: heap now local (new allocations)");
        Line(result, "heaptest 2 1M", "heaptest: 2 x 1048576 bytes from the CPU on node 0: by node 0=2 1=0, failed 0; managed objects on the local node 2/2");
        Numastat(result, 2, 2, out Dictionary<string, long[]> local);
        long[] localHits = Delta(bound, local, "numa_hit");
        Assert.True(localHits[0] >= 2, $"{localHits[0]} refills on node 0\n{result}");
        Assert.Equal(localHits[0], Delta(bound, local, "local_node")[0]);
        Assert.Equal(new long[] { 0, 0 }, Delta(bound, local, "numa_miss"));
        Line(result, "check", "check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)", 1);
        Assert.Equal(2, result.Lines.Count(l => l == "check: numa ok (policies valid, counters consistent)"));
    }
}
