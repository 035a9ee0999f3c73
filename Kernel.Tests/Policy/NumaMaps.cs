using Xunit;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing;

namespace PoolKernel.Tests.Policy;

/// <summary>
/// Multi-node machines for the policy tests: nodes of unequal sizes laid out one after another from
/// 1 MiB (a node of size 0 has no memory), and SLIT tables that are not symmetric in the obvious way,
/// so "by distance" and "by node number" give different orders.
/// </summary>
public static unsafe class NumaMaps
{
    public const ulong MiB = 1UL << 20;

    /// <summary>Nodes of <paramref name="mib"/> MiB each (0 = no memory), from 16 MiB up (above the DMA windows' low end).</summary>
    public static HostPhysicalMemory Build(ulong[] mib, byte[] slit)
    {
        var regions = new List<MemoryRegion>();
        ulong at = 16 * MiB;
        for (int node = 0; node < mib.Length; node++)
        {
            if (mib[node] == 0)
                continue;
            regions.Add(new MemoryRegion(at, mib[node] * MiB, MemoryType.Available, (byte)node));
            at += mib[node] * MiB;
        }
        var host = new HostPhysicalMemory(regions.ToArray(), slit);
        Assert.Equal(MemoryStatus.Ok, host.InitStatus);
        return host;
    }

    /// <summary>
    /// Three nodes, 48/16/32 MiB. Node 2 is nearer to node 0 (12) than node 1 is (20); node 1 is
    /// nearer to node 2 (14) than to node 0.
    /// </summary>
    public static readonly byte[] Three =
    {
        10, 20, 12,
        20, 10, 14,
        12, 14, 10,
    };

    public static HostPhysicalMemory ThreeNodes() => Build(new ulong[] { 48, 16, 32 }, Three);

    /// <summary>
    /// Four nodes, 32/0/16/24 MiB: node 1 has no memory (a CPU-only node) and its nearest node with
    /// memory is 3 (15), then 2 (17), then 0 (21).
    /// </summary>
    public static readonly byte[] Four =
    {
        10, 21, 16, 18,
        21, 10, 17, 15,
        16, 17, 10, 13,
        18, 15, 13, 10,
    };

    public static HostPhysicalMemory FourNodesOneMemoryless() => Build(new ulong[] { 32, 0, 16, 24 }, Four);

    /// <summary>A policy from its command-line form, shape-checked (fails the test if refused).</summary>
    public static NumaPolicy Policy(string text)
    {
        byte[] bytes = System.Text.Encoding.ASCII.GetBytes(text);
        fixed (byte* b = bytes)
        {
            PolicyStatus status = PolicyParser.Parse(b, bytes.Length, out NumaPolicy policy);
            Assert.True(status == PolicyStatus.Ok, $"{text}: {status}");
            return policy;
        }
    }

    /// <summary>The status the command-line form parses to.</summary>
    public static PolicyStatus ParseStatus(string text)
    {
        byte[] bytes = System.Text.Encoding.ASCII.GetBytes(text);
        fixed (byte* b = bytes)
            return PolicyParser.Parse(b, bytes.Length, out _);
    }

    public static int[] PlanNodes(in PolicyPlan plan)
    {
        var nodes = new int[plan.Count];
        for (int i = 0; i < plan.Count; i++)
            nodes[i] = plan.NodeAt(i);
        return nodes;
    }
}
