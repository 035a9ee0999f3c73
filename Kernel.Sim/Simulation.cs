using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Boot.PoolPlan;
using PoolKernel.Boot.Reports;
using PoolKernel.Boot.Text;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using PoolKernel.Memory.Testing.Boot;
using static PoolKernel.Memory.Testing.Boot.AcpiBuilder;

namespace PoolKernel.Sim;

/// <summary>
/// One simulated boot: the kernel's boot-time memory code, in the kernel's order (Kernel/Kernel.cs,
/// Startup/Machine.Discover, Startup/KernelCommandLine, Mm/MemoryBringUp, Mm/BootPools), over a
/// <see cref="MachineSpec"/> turned into what the kernel would read: a raw e820 map and ACPI tables
/// (MADT, and with NUMA the SRAT and SLIT), built in native memory and parsed by the kernel's own
/// parsers. The pools live in a <see cref="HostPhysicalMemory"/> (MAP_NORESERVE: a 6 GiB machine
/// costs only the pages the free lists touch). <see cref="BootLines"/> holds what the kernel prints
/// at boot about memory; the reports come from Kernel.Boot/Reports, the kernel's code.
/// What differs from a boot, and why, is in docs/sim.md.
/// </summary>
public sealed unsafe class Simulation : IDisposable
{
    private readonly NativeArena _arena = new();
    private HostPhysicalMemory _host;

    public MachineSpec Machine { get; }
    public BootOptions* Options { get; private set; }
    public SanitizedMemoryMap* Map { get; private set; }
    public AcpiInfo* Acpi { get; private set; }
    public NodeLayout* Nodes { get; private set; }
    public ReservationTable* Reservations { get; private set; }
    public BootLayoutResult* Result { get; private set; }
    public PhysicalMemory* Memory => _host.Memory;
    public ulong UsableBytes { get; private set; }
    public ulong MetadataBytes { get; private set; }

    /// <summary>The kernel's boot lines about memory: map, ACPI and command-line diagnostics, the command line's outcomes, the summary.</summary>
    public string BootLines { get; private set; } = "";

    /// <summary>Runs the boot-time code. Throws <see cref="SimError"/> (exit 3) where the kernel would stop.</summary>
    public Simulation(MachineSpec machine, string commandLine, LoaderRanges loader)
    {
        Machine = machine;
        using var text = new StringOut();
        TextOut w = text.Out;

        // Machine.Discover: the loader's map, sanitized; the ACPI tables; the node layout.
        BootInfo* boot = _arena.Struct<BootInfo>();
        boot->Loader = BootLoaderKind.Multiboot1;
        foreach (var (b, l, t) in machine.E820)
        {
            if (!boot->MemoryMap.Add(b, l, (uint)t))
                throw new SimError($"the memory map has more than {RawMemoryMap.Capacity} entries");
        }
        SetLoaderRanges(boot, loader);
        Map = _arena.Struct<SanitizedMemoryMap>();
        MemoryMapSanitizer.Sanitize(&boot->MemoryMap, Map);
        BootDiagnostics.Print(w, &Map->Diagnostics, &boot->MemoryMap);
        Acpi = _arena.Struct<AcpiInfo>();
        AcpiParser.Parse(BuildAcpi(machine), Acpi);
        BootDiagnostics.Print(w, &Acpi->Diagnostics);
        BootDiagnostics.ReclaimAcpi(w, Map);
        Nodes = _arena.Struct<NodeLayout>();
        if (Nodes->UseFirmware(Map, Acpi, out ulong uncovered))
            BootDiagnostics.PrintSratDropped(w, uncovered);

        // KernelCommandLine.Parse.
        Options = _arena.Struct<BootOptions>();
        byte[] line = System.Text.Encoding.ASCII.GetBytes(commandLine);
        byte* copy = _arena.High(line.Length + 1);
        for (int i = 0; i < line.Length; i++)
            copy[i] = line[i];
        CommandLineParser.Parse(copy, line.Length, Options);
        var cmd = new CommandLineText(w, Options, Nodes);
        cmd.WriteDiagnostics();

        // MemoryBringUp.Run, with BootPools.ApplyEarly inside it.
        Reservations = _arena.Struct<ReservationTable>();
        if (!PoolBringUp.AddBootReservations(Reservations, boot, Map, KernelStart(loader), KernelEnd(loader), out _, out int needed))
            throw new SimError($"the kernel would stop: reservation table full for a kernel reservation, entries needed {needed}", 3);
        Result = _arena.Struct<BootLayoutResult>();
        int firmwareNodes = PoolBringUp.ApplyLayout(Map, Options, Reservations, Nodes, Result);
        cmd.Result = Result;
        cmd.WriteEarly(Options, Result, firmwareNodes);

        var pieces = (MemoryRegion*)_arena.High(sizeof(MemoryRegion) * PoolBringUp.MaxPieces);
        byte* distances = _arena.High(NodeDistances.MaxNodes * NodeDistances.MaxNodes);
        PoolMapPlan* plan = _arena.Struct<PoolMapPlan>();
        PoolBringUp.Plan(Map, Reservations, Nodes, pieces, distances, plan, Acpi->CpuCount); // as the kernel: one remembered choice and cache a CPU
        if (plan->Status != BringUpStatus.Ok)
            throw new SimError($"the kernel would stop: {Refusal(plan->Status)} {plan->Value}", 3);
        var regions = new MemoryRegion[plan->PieceCount];
        for (int i = 0; i < regions.Length; i++)
            regions[i] = pieces[i];
        int n = plan->Distances.NodeCount;
        var table = new byte[n * n];
        for (int i = 0; i < table.Length; i++)
            table[i] = distances[i];
        _host = new HostPhysicalMemory(regions, table, plan->Config);
        if (_host.InitStatus != MemoryStatus.Ok)
            throw new SimError($"the kernel would stop: pool set-up failed, status {MemoryText.Status(_host.InitStatus)}", 3);
        MetadataBytes = plan->MetadataBytes;
        UsableBytes = Map->AvailableBytes;
        Reservations->Account(Map);

        // BootPools.Apply: the command line's pools.
        PoolPlanner.Apply(Memory, Options, &Result->Pools);
        cmd.Memory = Memory;
        cmd.WritePools(Options, &Result->Pools);
        if (Result->Pools.PresentPagesBefore != Result->Pools.PresentPagesAfter)
            throw new SimError($"the kernel would stop: boot pools lost memory, pages {Result->Pools.PresentPagesBefore - Result->Pools.PresentPagesAfter}", 3);
        MemoryReports.Summary(w, Memory, Reservations, UsableBytes, MetadataBytes);
        BootLines = text.ToString();
    }

    /// <summary>
    /// One of the kernel's shell reports on the simulated pools, as the kernel writes it; the names
    /// are the shell's commands. meminfo stops before the heap rows (there is no heap here).
    /// </summary>
    public string Report(string name)
    {
        using var text = new StringOut();
        TextOut w = text.Out;
        switch (name)
        {
            case "pools": MemoryReports.Pools(w, Memory); break;
            case "meminfo": MemoryReports.MemInfo(w, Memory, Reservations, UsableBytes); break;
            case "buddyinfo": MemoryReports.BuddyInfo(w, Memory); break;
            case "zoneinfo": MemoryReports.ZoneInfo(w, Memory, Nodes->NodeCount); break;
            case "pageblocks": MemoryReports.Pageblocks(w, Memory); break;
            case "dump": MemoryReports.Dump(w, Memory, Reservations, UsableBytes, Nodes->NodeCount); break;
            default: throw new SimError($"unknown report '{name}': {string.Join(", ", ReportNames)}");
        }
        return text.ToString();
    }

    public static readonly string[] ReportNames = { "pools", "meminfo", "buddyinfo", "zoneinfo", "pageblocks", "dump" };

    private static string Refusal(BringUpStatus s) => s switch
    {
        BringUpStatus.TooManyPieces => "more memory map pieces than MaxPieces allows, pieces",
        BringUpStatus.MapRefused => "memory map refused by the pool set-up, status",
        BringUpStatus.NoRangeForMetadata => "no RAM range large enough for the pool metadata, bytes",
        BringUpStatus.ReservationTableFull => "reservation table full for a kernel reservation, entries needed",
        _ => "pool metadata size changed after carving, bytes",
    };

    private static ulong KernelStart(LoaderRanges loader) => loader?.Get(ReservationName.KernelImage)?.Base ?? 0;

    private static ulong KernelEnd(LoaderRanges loader) => loader?.Get(ReservationName.KernelImage)?.End ?? 0;

    /// <summary>
    /// The loader's placements as the kernel reads them from the multiboot information; each range
    /// gives back the same reservation (the table rounds outward to pages) as the boot it came from.
    /// </summary>
    private static void SetLoaderRanges(BootInfo* boot, LoaderRanges loader)
    {
        if (loader == null)
            return;
        if (loader.Get(ReservationName.MultibootInformation) is (ulong ib, ulong ie))
        {
            boot->InfoAddress = ib;
            boot->InfoSize = (uint)(ie - ib);
        }
        if (loader.Get(ReservationName.KernelCommandLine) is (ulong cb, ulong ce))
        {
            boot->HasCommandLine = true;
            boot->CommandLine = cb;
            boot->CommandLineLength = (uint)(ce - cb - 1);
        }
        if (loader.Get(ReservationName.BootLoaderName) is (ulong lb, ulong le))
        {
            boot->HasLoaderName = true;
            boot->LoaderName = lb;
            boot->LoaderNameLength = (uint)(le - lb - 1);
        }
    }

    /// <summary>The tables QEMU gives this machine: MADT (one local APIC a CPU, one I/O APIC), and with NUMA the SRAT and SLIT; an RSDP (revision 2) over an XSDT.</summary>
    private byte* BuildAcpi(MachineSpec machine)
    {
        var acpi = new AcpiBuilder(_arena);
        var madtEntries = new List<byte[]>();
        for (int c = 0; c < machine.Cpus; c++)
            madtEntries.Add(LocalApic((byte)c, (byte)c));
        madtEntries.Add(IoApic(0, 0xFEC00000));
        var tables = new List<ulong> { (ulong)acpi.Table("APIC", 1, MadtBody(0xFEE00000, madtEntries.ToArray()), high: true) };
        if (machine.Nodes > 1)
        {
            var srat = new List<byte[]>();
            for (int c = 0; c < machine.Cpus; c++)
                srat.Add(ProcessorAffinity((uint)machine.CpuNode(c), (byte)c));
            foreach (var r in machine.Srat)
                srat.Add(MemoryAffinity((uint)r.Node, r.Base, r.End - r.Base));
            tables.Add((ulong)acpi.Table("SRAT", 3, SratBody(srat.ToArray()), high: true));
            var slit = new byte[machine.Nodes, machine.Nodes];
            for (int a = 0; a < machine.Nodes; a++)
                for (int b = 0; b < machine.Nodes; b++)
                    slit[a, b] = machine.Distance(a, b);
            tables.Add((ulong)acpi.Table("SLIT", 1, SlitBody(slit), high: true));
        }
        byte* xsdt = acpi.Xsdt(tables.ToArray());
        return _arena.HighCopy(RsdpBytes(2, 0, (ulong)xsdt));
    }

    public void Dispose()
    {
        _host?.Dispose();
        _arena.Dispose();
    }
}
