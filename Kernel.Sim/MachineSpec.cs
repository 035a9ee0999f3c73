using System.Globalization;
using System.Text.RegularExpressions;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing;

namespace PoolKernel.Sim;

/// <summary>One SRAT memory affinity range.</summary>
public readonly record struct NodeRange(ulong Base, ulong End, int Node);

/// <summary>
/// The firmware's side of a machine, as the kernel would receive it: the e820 memory map, the SRAT
/// (memory ranges and CPUs by node, absent with one node), the SLIT distances, the CPUs. Built from a
/// QEMU shape (<see cref="FromQemu"/>, the machines build.ps1 run boots) or from a memory map saved
/// from a kernel banner (<see cref="FromMapFile"/>).
/// </summary>
public sealed class MachineSpec
{
    private const ulong MiB = 1UL << 20;

    public required List<(ulong Base, ulong Length, MemoryType Type)> E820 { get; init; }
    public required List<NodeRange> Srat { get; init; }
    public required int Nodes { get; init; }
    public required int Cpus { get; init; }
    /// <summary>What the machine is, for the output's first line.</summary>
    public required string Description { get; init; }

    public int CpuNode(int cpu) => Nodes <= 1 ? 0 : cpu % Nodes;

    /// <summary>SLIT distance as build.ps1 asks QEMU for: 10 local, 20 remote.</summary>
    public byte Distance(int from, int to) => from == to ? (byte)10 : (byte)20;

    /// <summary>
    /// QEMU 7.2 with SeaBIOS: <c>-M machine -m memory</c>, and with <paramref name="nodes"/> &gt; 1 an
    /// equal memory-backend per node, CPUs dealt round-robin (build.ps1's Get-NumaArgs). The e820
    /// map is <see cref="QemuMaps.Build"/> as booted; the SRAT follows QEMU's build_srat: node
    /// memory in address order from 0, the 640 KiB-1 MiB hole and the PCI hole below 4 GiB cut out.
    /// </summary>
    public static MachineSpec FromQemu(string machine, ulong ramBytes, int nodes, int cpus)
    {
        if (machine != "pc" && machine != "q35")
            throw new SimError($"unknown machine '{machine}': the simulator knows QEMU's pc and q35");
        if (nodes < 1 || nodes > NodeDistances.MaxNodes)
            throw new SimError($"--nodes {nodes}: 1..{NodeDistances.MaxNodes}");
        if (cpus < 1 || cpus > 64)
            throw new SimError($"--cpus {cpus}: 1..64");
        if (ramBytes < 16 * MiB || ramBytes > (1UL << 40) - 4 * (1UL << 30) || ramBytes % MiB != 0)
            throw new SimError($"--memory {ramBytes} bytes: whole MiB from 16 MiB to 1020 GiB");
        if (nodes > 1 && ramBytes / MiB % (ulong)nodes != 0)
            throw new SimError($"--memory {ramBytes / MiB} MiB does not split into {nodes} equal nodes of whole MiB (QEMU refuses NUMA nodes that do not add up to the RAM)");
        cpus = Math.Max(cpus, nodes);
        var e820 = QemuMaps.Build(machine, ramBytes, 1, asBooted: true)
            .Select(r => (r.Base.Value, r.Length, r.Type)).ToList();
        var srat = new List<NodeRange>();
        if (nodes > 1)
        {
            ulong below4g = QemuMaps.LowRam(machine, ramBytes);
            ulong perNode = ramBytes / (ulong)nodes;
            const ulong HoleStart = 0xA0000, HoleEnd = 0x100000;
            srat.Add(new NodeRange(0, HoleStart, 0));
            ulong next = 0;
            for (int n = 0; n < nodes; n++)
            {
                ulong start = next;
                ulong length = perNode;
                next = start + length;
                if (start <= HoleStart && next > HoleStart)
                {
                    // The first node's piece below 640 KiB is the entry added above.
                    if (next <= HoleEnd)
                    {
                        next = HoleEnd;
                        continue;
                    }
                    start = HoleEnd;
                    length = next - HoleEnd;
                }
                if (start <= below4g && next > below4g)
                {
                    length -= next - below4g;
                    if (length > 0)
                        srat.Add(new NodeRange(start, start + length, n));
                    start = 1UL << 32;
                    length = next - below4g;
                    next = start + length;
                }
                if (length > 0)
                    srat.Add(new NodeRange(start, start + length, n));
            }
        }
        return new MachineSpec
        {
            E820 = e820, Srat = srat, Nodes = nodes, Cpus = cpus,
            Description = $"QEMU {machine}, {FormatSize(ramBytes)}, {nodes} node{(nodes == 1 ? "" : "s")}, {cpus} CPU{(cpus == 1 ? "" : "s")}",
        };
    }

    private static readonly Regex MapLine = new(@"^\s*0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+) (available|reserved|acpi-reclaimable|acpi-nvs|bad)(?: (\d+) (B|KiB|MiB|GiB))?\s*$");
    private static readonly Regex NodeLine = new(@"^\s*node (\d+): 0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)(?: (\d+) (B|KiB|MiB|GiB))?( hot-pluggable)?\s*$");

    /// <summary>
    /// A memory map in the kernel banner's own format: the lines under "memory map (sanitized):"
    /// ("0xSTART-0xEND TYPE SIZE") and, for NUMA, the banner's "node N: 0xSTART-0xEND SIZE" lines
    /// (the SRAT's ranges). Blank lines, '#' comments and those two headers ("memory map ...",
    /// "numa: ...") may appear; any other line, a size that disagrees with its range, or a map
    /// without available RAM is an error naming the line.
    /// </summary>
    public static MachineSpec FromMapFile(string path, int cpus)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SimError($"--map {path}: cannot read it ({e.Message})");
        }
        var e820 = new List<(ulong, ulong, MemoryType)>();
        var srat = new List<NodeRange>();
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            string where = $"--map {path} line {i + 1}";
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#') || line.StartsWith("memory map") || line.StartsWith("numa:"))
                continue;
            Match m = MapLine.Match(line);
            if (m.Success)
            {
                ulong start = Hex(m.Groups[1].Value, where), end = Hex(m.Groups[2].Value, where);
                if (end <= start)
                    throw new SimError($"{where}: range ends at or before its start: '{line.Trim()}'");
                CheckSize(m.Groups[4], m.Groups[5], end - start, where, line);
                e820.Add((start, end - start, TypeOf(m.Groups[3].Value)));
                continue;
            }
            m = NodeLine.Match(line);
            if (m.Success)
            {
                int node = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                ulong start = Hex(m.Groups[2].Value, where), end = Hex(m.Groups[3].Value, where);
                if (end <= start || node >= NodeDistances.MaxNodes)
                    throw new SimError($"{where}: node range empty or node above {NodeDistances.MaxNodes - 1}: '{line.Trim()}'");
                CheckSize(m.Groups[4], m.Groups[5], end - start, where, line);
                srat.Add(new NodeRange(start, end, node));
                continue;
            }
            throw new SimError($"{where}: not a memory map line ('0xSTART-0xEND TYPE [SIZE]') or node line ('node N: 0xSTART-0xEND'): '{line.Trim()}'");
        }
        if (!e820.Any(r => r.Item3 == MemoryType.Available))
            throw new SimError($"--map {path}: no available RAM in the map");
        int nodes = srat.Count == 0 ? 1 : srat.Max(r => r.Node) + 1;
        if (nodes > 1)
        {
            for (int n = 0; n < nodes; n++)
                if (!srat.Any(r => r.Node == n))
                    throw new SimError($"--map {path}: node lines skip node {n} (nodes are numbered from 0 without gaps)");
        }
        cpus = Math.Max(cpus, nodes);
        return new MachineSpec
        {
            E820 = e820, Srat = nodes > 1 ? srat : new List<NodeRange>(), Nodes = nodes, Cpus = cpus,
            Description = $"memory map from {path}, {nodes} node{(nodes == 1 ? "" : "s")}, {cpus} CPU{(cpus == 1 ? "" : "s")}",
        };
    }

    private static ulong Hex(string digits, string where)
    {
        if (digits.Length > 16 || !ulong.TryParse(digits, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong v))
            throw new SimError($"{where}: address 0x{digits} does not fit 64 bits");
        return v;
    }

    private static void CheckSize(Group number, Group unit, ulong bytes, string where, string line)
    {
        if (!number.Success)
            return;
        ulong scale = unit.Value switch { "KiB" => 1UL << 10, "MiB" => 1UL << 20, "GiB" => 1UL << 30, _ => 1 };
        if (!ulong.TryParse(number.Value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) || n * scale != bytes)
            throw new SimError($"{where}: the size {number.Value} {unit.Value} is not the range's {bytes} bytes: '{line.Trim()}'");
    }

    private static MemoryType TypeOf(string name) => name switch
    {
        "available" => MemoryType.Available,
        "reserved" => MemoryType.Reserved,
        "acpi-reclaimable" => MemoryType.AcpiReclaimable,
        "acpi-nvs" => MemoryType.AcpiNvs,
        _ => MemoryType.BadMemory,
    };

    public static string FormatSize(ulong bytes)
        => bytes % (1UL << 30) == 0 ? $"{bytes >> 30} GiB" : bytes % MiB == 0 ? $"{bytes >> 20} MiB" : $"{bytes} B";

    /// <summary>A size as build.ps1 takes it: a number with an optional K, M, G or T suffix (powers of 1024).</summary>
    public static ulong ParseSize(string text, string option)
    {
        string t = text.Trim();
        ulong scale = 1;
        if (t.Length > 0 && "KMGTkmgt".Contains(t[^1]))
        {
            scale = char.ToUpperInvariant(t[^1]) switch { 'K' => 1UL << 10, 'M' => 1UL << 20, 'G' => 1UL << 30, _ => 1UL << 40 };
            t = t[..^1];
        }
        if (!ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) || n == 0 || n > ulong.MaxValue / scale)
            throw new SimError($"{option} '{text}': a size such as 512M or 6G");
        return n * scale;
    }
}
