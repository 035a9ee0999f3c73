using System.Globalization;
using System.Text.RegularExpressions;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Issue 10 items 1, 2 and 8, booted: the fixed tables on the boot memory path (reservations, memory
/// map pieces, SRAT nodes and ranges) never drop the kernel's entries or misattribute memory, small
/// nodes boot, and up to 64 nodes are each where the firmware put them. Every boot ends with the
/// checkers clean and usable RAM = pools + named reservations.
/// </summary>
public class BootMemoryLimitTests
{
    private const ulong MiB = 1UL << 20;
    private readonly ITestOutputHelper _output;

    public BootMemoryLimitTests(ITestOutputHelper output) => _output = output;

    private sealed record Node(int Id, List<(ulong Base, ulong End)> Ranges)
    {
        public ulong Bytes => Ranges.Aggregate(0UL, (sum, r) => sum + (r.End - r.Base));
    }

    /// <summary>Boots with meminfo, numa, dump and check scripted; asserts each command's output line and the sums.</summary>
    private (QemuResult Result, MemoryDump Dump) Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(string.Join(" ", boot.Arguments()));
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.DoesNotContain("PANIC", result.Console, StringComparison.OrdinalIgnoreCase);
        BootTests.AssertContains(result, "; sums add up");
        BootTests.AssertContains(result, "numa:     ");
        BootTests.AssertContains(result, "check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)");
        BootTests.AssertContains(result, "heap check: ok");
        MemoryDump dump = MemoryDump.Parse(result);
        ulong pools = (ulong)dump.Pools.Sum(p => (long)p.Present) * 4096;
        ulong reserved = (ulong)dump.Reservations.Sum(r => (long)r.RamBytes);
        Assert.Equal(dump["usable_bytes"], pools + reserved);
        Assert.Contains(dump.Reservations, r => r.Name == "pool metadata");
        return (result, dump);
    }

    private static QemuBoot Machine(string memory, string commandLine, int nodes = 0, int[] cpuNodes = null, int seconds = 60) => new()
    {
        Machine = "q35", Memory = memory, Nodes = nodes, CpuNodes = cpuNodes, Timeout = TimeSpan.FromSeconds(seconds),
        KernelCommandLine = (commandLine + " run=\"meminfo;numa;dump;check\"").Trim(),
    };

    /// <summary>The SRAT's ranges per node, from the numa listing ("  node N: 0xBASE-0xEND SIZE").</summary>
    private static Dictionary<int, Node> NumaNodes(QemuResult result)
    {
        var nodes = new Dictionary<int, Node>();
        foreach (string line in result.Lines)
        {
            Match m = Regex.Match(line, @"^  node (\d+): 0x([0-9a-f]+)-0x([0-9a-f]+) ");
            if (!m.Success)
                continue;
            int id = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            if (!nodes.TryGetValue(id, out Node node))
                nodes[id] = node = new Node(id, new());
            // The banner and the numa command both list the ranges: keep each once.
            var range = (ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber), ulong.Parse(m.Groups[3].Value, NumberStyles.HexNumber));
            if (!node.Ranges.Contains(range))
                node.Ranges.Add(range);
        }
        return nodes;
    }

    /// <summary>
    /// Each node's pools hold the node's memory and no more: at most the node's SRAT bytes, and with
    /// the reservations inside the node and 1 MiB of firmware holes, all of them.
    /// </summary>
    private static void AssertNodePoolsMatch(QemuResult result, MemoryDump dump, int nodeCount)
    {
        BootTests.AssertContains(result, $"numa:     {nodeCount} nodes (SRAT)");
        Dictionary<int, Node> nodes = NumaNodes(result);
        Assert.Equal(Enumerable.Range(0, nodeCount), nodes.Keys.OrderBy(k => k));
        foreach (Node node in nodes.Values)
        {
            ulong pooled = (ulong)dump.Pools.Where(p => p.NodeMask == 1UL << node.Id).Sum(p => (long)p.Present) * 4096;
            ulong reservedInNode = 0;
            foreach (MemoryDump.Reservation r in dump.Reservations)
            {
                foreach ((ulong b, ulong e) in node.Ranges)
                {
                    ulong lo = Math.Max(b, r.Base), hi = Math.Min(e, r.End);
                    if (hi > lo)
                        reservedInNode += hi - lo;
                }
            }
            Assert.True(pooled <= node.Bytes, $"node {node.Id}: pools hold {pooled} bytes, the node has {node.Bytes}\n{result}");
            Assert.True(pooled + reservedInNode + MiB >= node.Bytes,
                $"node {node.Id}: pools hold {pooled} bytes + {reservedInNode} reserved, the node has {node.Bytes}\n{result}");
        }
    }

    /// <summary>Issue 10 item 1: 15 small memmap= ranges and one over them; the kernel's pool metadata is still reserved.</summary>
    [Fact]
    public void FullReservationTable_RefusesTheMemmapRange_KeepsThePoolMetadata()
    {
        string small = string.Join(" ", Enumerable.Range(0, 15).Select(i => $"memmap=4K${0x10000000 + i * 0x2000:x}").Select(t => t.Replace("$", "$0x")));
        (QemuResult result, MemoryDump dump) = Boot(Machine("1G", small + " memmap=128K$0x10000000"));
        for (int i = 0; i < 15; i++)
        {
            ulong at = 0x10000000UL + (ulong)i * 0x2000;
            BootTests.AssertContains(result, $"cmdline: 'memmap=4K$0x{at:x}': reserved 0x{at:x12}-0x{at + 0x1000:x12} (4 KiB of RAM in it, kept from the pools)");
        }
        BootTests.AssertContains(result, "cmdline: 'memmap=128K$0x10000000': refused, table full: 0x000010000000-0x000010020000 needs 15 reservation entries and 9 of the command line's 24 are left; not reserved, the range stays in the pools");
        Assert.Equal(15, dump.Reservations.Count(r => r.Name == "memmap= range"));
        Assert.DoesNotContain("table full; range left to the pools", result.Console);
    }

    /// <summary>Issue 10 item 2: 32 MiB cannot hold eight fake nodes of 4 MiB; seven, with one line, and the boot goes on.</summary>
    [Fact]
    public void FakeNodesOnA32MiBMachine_FallBackToFewer()
    {
        (QemuResult result, MemoryDump dump) = Boot(Machine("32M", "numa=fake=8"));
        BootTests.AssertContains(result, "cmdline: 'numa=fake=8': 7 fake nodes of about 4 MiB (fewer than the 8 asked: nodes would be smaller than 4 MiB), distances 10/20, CPUs round-robin; starts 0x0 ");
        Assert.Equal(7, dump.Pools.Select(p => p.NodeMask).Distinct().Count());
    }

    /// <summary>Issue 10 item 2: mem=32M leaves exactly eight nodes of 4 MiB, and they boot.</summary>
    [Fact]
    public void FakeNodesUnderA32MiBCap_Boot()
    {
        (QemuResult result, MemoryDump dump) = Boot(Machine("1G", "mem=32M numa=fake=8"));
        BootTests.AssertContains(result, "cmdline: 'numa=fake=8': 8 fake nodes of about 4 MiB, distances 10/20, CPUs round-robin; starts 0x0 ");
        Assert.Equal(8, dump.Pools.Select(p => p.NodeMask).Distinct().Count());
    }

    /// <summary>Issue 10 item 2: a valid SRAT with eight 4 MiB nodes (node 0 holds the kernel) boots.</summary>
    [Fact]
    public void EightSratNodesOf4MiB_Boot()
    {
        (QemuResult result, MemoryDump dump) = Boot(Machine("32M", "", nodes: 8, cpuNodes: new[] { 0 }));
        AssertNodePoolsMatch(result, dump, 8);
    }

    /// <summary>Issue 10 item 8: sixteen SRAT nodes (64 MiB each, one CPU each): sixteen nodes, each pool on its own node's memory.</summary>
    [Fact]
    public void SixteenSratNodes_EachNodesMemoryInItsPools()
    {
        (QemuResult result, MemoryDump dump) = Boot(Machine("1G", "", nodes: 16));
        AssertNodePoolsMatch(result, dump, 16);
        BootTests.AssertContains(result, "cpus:     16 (apic ids 0@node0 1@node1 ");
    }

    /// <summary>Issue 10 item 8: ten domains, CPU 0 on domain 9: domain 0's memory is node 0's, not nobody's.</summary>
    [Fact]
    public void TenSratNodes_CpuZeroOnDomainNine()
    {
        (QemuResult result, MemoryDump dump) = Boot(Machine("160M", "", nodes: 10, cpuNodes: new[] { 9 }));
        BootTests.AssertContains(result, "cpus:     1 (apic ids 0@node9)");
        AssertNodePoolsMatch(result, dump, 10);
    }

    /// <summary>Also misleading: a memmap= range above the mem= cap holds no RAM the pools had.</summary>
    [Fact]
    public void MemmapAboveTheMemCap_ClaimsNoRam()
    {
        (QemuResult result, _) = Boot(Machine("256M", "mem=64M memmap=16M$0x8000000"));
        BootTests.AssertContains(result, "cmdline: 'memmap=16M$0x8000000': reserved 0x000008000000-0x000009000000 (no RAM below the mem= cap in it; nothing more taken from the pools)");
    }

    /// <summary>Also misleading: on a machine under 32 MiB a memmap= range without RAM is reserved; one with RAM is refused.</summary>
    [Fact]
    public void MemmapOnASmallMachine_WithoutRam_IsReserved()
    {
        (QemuResult result, _) = Boot(Machine("24M", "memmap=64K$0xf0000000 memmap=64K$0x1000000"));
        BootTests.AssertContains(result, "cmdline: 'memmap=64K$0xf0000000': reserved 0x0000f0000000-0x0000f0010000 (no RAM there; nothing taken from the pools)");
        BootTests.AssertContains(result, "cmdline: 'memmap=64K$0x1000000': refused: reserving 0x000001000000-0x000001010000 would leave less than the 32 MiB of RAM the kernel needs (");
    }

    /// <summary>
    /// Class "fixed-size tables that drop entries", booted: up to 16 memmap= ranges, clustered so that
    /// they overlap and split around each other and the kernel's ranges, sizes and addresses at the
    /// edges (page, RAM end, 4 GiB, the top of the address space); odd seeds lay out splitters (small
    /// ranges, then ranges over them) that spend the command line's budget. Every token gets one line that is
    /// either "reserved" or "refused", and the boot ends clean. BOOT_MEMMAP_FUZZ_SEEDS for more.
    /// </summary>
    [Fact]
    public void MemmapTableFill_Fuzz()
    {
        SeededRuns.Run(_output, "memmap= table fill boots", "BOOT_MEMMAP_FUZZ", 2, 1, (seed, _) =>
        {
            var random = new Random(seed);
            ulong[] bases = { 0x0, 0x100000, 0x10000000, 0x3ff00000, 0xfff00000, 0x100000000, 0xfffffffff000 };
            ulong[] sizes = { 4096, 8192, 64 << 10, 1 << 20, 2 << 20, 16 << 20 };
            var tokens = new List<string>();
            ulong cluster = bases[random.Next(bases.Length)];
            if (seed % 2 == 1)
            {
                // Splitters: small ranges 8 KiB apart, then ranges over them that split into many entries.
                int small = random.Next(8, 16);
                for (int i = 0; i < small; i++)
                    tokens.Add($"memmap=4K$0x{cluster + (ulong)i * 0x2000:x}");
                for (int i = small; i < 16; i++)
                    tokens.Add($"memmap={(ulong)random.Next(small, 2 * small + 1) * 8}K$0x{cluster:x}");
            }
            else
            {
                int count = random.Next(1, 17);
                for (int i = 0; i < count; i++)
                {
                    ulong start = random.Next(3) == 0 ? bases[random.Next(bases.Length)] : cluster + (ulong)random.Next(0, 64) * 0x2000;
                    ulong size = sizes[random.Next(sizes.Length)];
                    tokens.Add($"memmap={size / 1024}K$0x{start:x}");
                }
            }
            string commandLine = string.Join(" ", tokens);
            if (random.Next(3) == 0)
                commandLine = "mem=" + (32 << random.Next(0, 4)) + "M " + commandLine;
            QemuBoot boot = Machine("256M", commandLine);
            QemuResult result = boot.Run();
            string replay = $"seed {seed}: {commandLine}\n{result}";
            Assert.True(result.ExitStatus == QemuResult.CleanHalt, replay);
            Assert.True(result.Console.Contains("; sums add up") && result.Console.Contains("check: ok (") && result.Console.Contains("heap check: ok"), replay);
            Assert.DoesNotContain("PANIC", result.Console, StringComparison.OrdinalIgnoreCase);
            foreach (string token in tokens.Distinct())
            {
                string[] lines = result.Lines.Where(l => l.StartsWith($"cmdline: '{token}': ")).ToArray();
                Assert.True(lines.Length >= 1, $"no line for {token}\n{replay}");
                Assert.All(lines, l => Assert.True(l.Contains("': reserved ") || l.Contains("': refused"), $"{l}\n{replay}"));
            }
            MemoryDump dump = MemoryDump.Parse(result);
            Assert.Equal(dump["usable_bytes"], (ulong)dump.Pools.Sum(p => (long)p.Present) * 4096 + (ulong)dump.Reservations.Sum(r => (long)r.RamBytes));
            Assert.Contains(dump.Reservations, r => r.Name == "pool metadata");
        });
    }

    /// <summary>
    /// Class "limits that disagree" and "boot-time failure on a valid input": machines of 1..64 SRAT
    /// nodes of 4..16 MiB, CPUs on random nodes. Every shape boots, numa lists every node, and every
    /// node's pools hold that node's memory. BOOT_NODES_FUZZ_SEEDS for more.
    /// </summary>
    [Fact]
    public void NodeShapes_Fuzz()
    {
        SeededRuns.Run(_output, "node shape boots", "BOOT_NODES_FUZZ", 3, 1, (seed, _) =>
        {
            var random = new Random(seed);
            int nodes = seed == 1 ? 64 : random.Next(2, 65);
            int perNode = 4 << random.Next(0, 3);
            while (nodes * perNode < 32)
                perNode *= 2;
            int[] cpuNodes = Enumerable.Range(0, random.Next(1, 5)).Select(_ => random.Next(nodes)).ToArray();
            QemuBoot boot = Machine($"{nodes * perNode}M", "", nodes: nodes, cpuNodes: cpuNodes);
            QemuResult result = boot.Run();
            Assert.True(result.ExitStatus == QemuResult.CleanHalt, $"seed {seed}: {nodes} nodes of {perNode} MiB, CPUs on {string.Join(",", cpuNodes)}\n{result}");
            MemoryDump dump = MemoryDump.Parse(result);
            Assert.True(result.Console.Contains("; sums add up") && result.Console.Contains("check: ok (") && result.Console.Contains("heap check: ok"), result.ToString());
            Assert.Equal(dump["usable_bytes"], (ulong)dump.Pools.Sum(p => (long)p.Present) * 4096 + (ulong)dump.Reservations.Sum(r => (long)r.RamBytes));
            AssertNodePoolsMatch(result, dump, nodes);
        });
    }
}
