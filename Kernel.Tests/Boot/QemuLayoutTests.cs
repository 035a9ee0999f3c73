using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory.Testing.Boot;
using Xunit;
using static PoolKernel.Memory.Testing.Boot.AcpiBuilder;
using PoolKernel.Memory;

namespace PoolKernel.Tests.Boot;

/// <summary>
/// End to end, as the kernel does it: multiboot2 block -> BootInfo -> sanitized map, and the
/// RSDP copy from the block -> AcpiInfo; with memory maps and tables shaped like QEMU's
/// (SeaBIOS e820, QEMU's ACPI table set).
/// </summary>
public sealed unsafe class QemuLayoutTests : IDisposable
{
    private readonly NativeArena _arena = new();
    private readonly AcpiBuilder _acpi;

    public QemuLayoutTests() => _acpi = new AcpiBuilder(_arena);

    public void Dispose() => _arena.Dispose();

    private static readonly byte[] InterruptOverride = { 2, 10, 0, 0, 2, 0, 0, 0, 0, 0 }; // ISA IRQ0 -> GSI 2
    private static readonly byte[] LocalApicNmi = { 4, 6, 0xFF, 5, 0, 1 };

    private void Boot(byte[] block, out BootInfo* boot, out SanitizedMemoryMap* map, out AcpiInfo* acpi)
    {
        byte* info = _arena.High(block.Length);
        for (int i = 0; i < block.Length; i++)
            info[i] = block[i];
        boot = _arena.Struct<BootInfo>();
        BootInfoParser.Parse(Multiboot2Parser.BootloaderMagic, info, boot);
        map = _arena.Struct<SanitizedMemoryMap>();
        MemoryMapSanitizer.Sanitize(&boot->MemoryMap, map);
        Assert.Equal(MemoryMapInvariant.Ok, map->CheckInvariants(out _));
        acpi = _arena.Struct<AcpiInfo>();
        AcpiParser.Parse((byte*)boot->RsdpAddress, acpi);
    }

    /// <summary>qemu-system-x86_64 -M pc -m 512M -smp 2, SeaBIOS, GRUB multiboot2.</summary>
    [Fact]
    public void Pc_512M_TwoCpus()
    {
        var madt = _acpi.Table("APIC", 1, MadtBody(0xFEE00000,
            LocalApic(0, 0), LocalApic(1, 1), IoApic(0, 0xFEC00000), InterruptOverride, LocalApicNmi));
        var facp = _acpi.Table("FACP", 1, new byte[80]);
        var hpet = _acpi.Table("HPET", 1, new byte[20]);
        var rsdt = _acpi.Rsdt((ulong)facp, (ulong)madt, (ulong)hpet);
        var block = new Multiboot2Builder()
            .CommandLine("")
            .LoaderName("GRUB 2.12")
            .BasicMemory(639, 523136)
            .MemoryMap(
                new MapEntry(0x0, 0x9FC00, 1),
                new MapEntry(0x9FC00, 0x400, 2),
                new MapEntry(0xF0000, 0x10000, 2),
                new MapEntry(0x100000, 0x1FEE0000, 1),
                new MapEntry(0x1FFE0000, 0x20000, 2),
                new MapEntry(0xFFFC0000, 0x40000, 2))
            .AcpiOld(RsdpBytes(0, (uint)(ulong)rsdt))
            .End()
            .Build();
        Boot(block, out var boot, out var map, out var acpi);

        Assert.Equal(0, boot->Diagnostics.Count);
        Assert.Equal(RsdpSource.Multiboot2AcpiOld, boot->RsdpSource);

        // The only repair on QEMU pc: RAM below 640 KiB ends mid-page (SeaBIOS's EBDA).
        Assert.Equal(1, map->Diagnostics.Count);
        var d = map->Diagnostics.Get(0);
        Assert.Equal((MemoryMapDiagnosticCode.UnalignedShrunk, 0), (d.Code, d.Index));
        Assert.Equal(6, map->Count);
        Assert.Equal((0x0UL, 0x9F000UL), (map->Get(0).Base, map->Get(0).End));
        Assert.Equal(0x9F000UL + 0x1FEE0000UL, map->AvailableBytes);

        Assert.Equal(0, acpi->Diagnostics.Count);
        Assert.False(acpi->UsesXsdt);
        Assert.Equal(2, acpi->CpuCount);
        Assert.Equal(1, acpi->NodeCount);
        Assert.Equal(0, acpi->NodeOfAddress(0x1000_0000));
    }

    /// <summary>
    /// qemu-system-x86_64 -M q35 -m 4G,slots=2,maxmem=6G -smp 4
    ///   -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1 -numa dist,src=0,dst=1,val=21
    /// with an ACPI 2.0 RSDP and XSDT (as OVMF publishes; SeaBIOS would give revision 0).
    /// </summary>
    [Fact]
    public void Q35_4G_TwoNodes_WithSlit()
    {
        var madt = _acpi.Table("APIC", 3, MadtBody(0xFEE00000,
            LocalApic(0, 0), LocalApic(1, 1), LocalApic(2, 2), LocalApic(3, 3),
            IoApic(0, 0xFEC00000), InterruptOverride, LocalApicNmi), high: true);
        var srat = _acpi.Table("SRAT", 1, SratBody(
            ProcessorAffinity(0, 0), ProcessorAffinity(0, 1), ProcessorAffinity(1, 2), ProcessorAffinity(1, 3),
            MemoryAffinity(0, 0x0, 0xA0000),
            MemoryAffinity(0, 0x100000, 0x7FF00000),
            MemoryAffinity(1, 0x100000000, 0x80000000),
            MemoryAffinity(1, 0x180000000, 0x80000000, hotPluggable: true)), high: true);
        var slit = _acpi.Table("SLIT", 1, SlitBody(new byte[,] { { 10, 21 }, { 21, 10 } }), high: true);
        var mcfg = _acpi.Table("MCFG", 1, new byte[28], high: true);
        var facp = _acpi.Table("FACP", 3, new byte[208], high: true);
        var xsdt = _acpi.Xsdt((ulong)facp, (ulong)madt, (ulong)srat, (ulong)slit, (ulong)mcfg);
        var rsdt = _acpi.Rsdt(); // present but empty: must not be used
        var block = new Multiboot2Builder()
            .CommandLine("pools=numa")
            .LoaderName("GRUB 2.12")
            .BasicMemory(639, 2096000)
            .MemoryMap(
                new MapEntry(0x0, 0x9FC00, 1),
                new MapEntry(0x9FC00, 0x400, 2),
                new MapEntry(0xF0000, 0x10000, 2),
                new MapEntry(0x100000, 0x7FEDC000, 1),
                new MapEntry(0x7FFDC000, 0x24000, 2),
                new MapEntry(0xB0000000, 0x10000000, 2),
                new MapEntry(0xFED1C000, 0x4000, 2),
                new MapEntry(0xFEFFC000, 0x4000, 2),
                new MapEntry(0xFFFC0000, 0x40000, 2),
                new MapEntry(0x100000000, 0x80000000, 1))
            .AcpiOld(RsdpBytes(0, (uint)(ulong)rsdt))
            .AcpiNew(RsdpBytes(2, (uint)(ulong)rsdt, (ulong)xsdt))
            .End()
            .Build();
        Boot(block, out var boot, out var map, out var acpi);

        Assert.Equal(0, boot->Diagnostics.Count);
        Assert.Equal(RsdpSource.Multiboot2AcpiNew, boot->RsdpSource);
        Assert.Equal(1, map->Diagnostics.Count); // the same low-memory partial page as on pc
        Assert.Equal(0x9F000UL + 0x7FEDC000UL + 0x80000000UL, map->AvailableBytes);

        Assert.Equal(0, acpi->Diagnostics.Count);
        Assert.True(acpi->UsesXsdt);
        Assert.Equal(4, acpi->CpuCount);
        Assert.Equal(2, acpi->NodeCount);
        Assert.Equal(new[] { 0, 0, 1, 1 }, Enumerable.Range(0, 4).Select(i => acpi->CpuNode(i)).ToArray());
        Assert.Equal((byte)21, acpi->Distance(0, 1));
        Assert.Equal((byte)10, acpi->Distance(1, 1));
        Assert.True(acpi->GetMemoryRange(3).HotPluggable);

        // Every available page of the sanitized map belongs to exactly the node QEMU put it on.
        for (int r = 0; r < map->Count; r++)
        {
            var region = map->Get(r);
            if (region.Type != MemoryType.Available)
                continue;
            int expected = region.Base >= 0x100000000 ? 1 : 0;
            Assert.Equal(expected, acpi->NodeOfAddress(region.Base));
            Assert.Equal(expected, acpi->NodeOfAddress(region.End - 1));
        }
    }

    /// <summary>The same machine booted through multiboot1: no RSDP from the loader, found by the BIOS scan.</summary>
    [Fact]
    public void Pc_Multiboot1_RsdpFromBiosScan()
    {
        var madt = _acpi.Table("APIC", 1, MadtBody(0xFEE00000, LocalApic(0, 0), IoApic(0, 0xFEC00000)));
        var rsdt = _acpi.Rsdt((ulong)madt);
        byte* lowMemory = _arena.High(0x100000);
        *(ushort*)(lowMemory + 0x40E) = 0x9FC0;
        var rsdp = RsdpBytes(0, (uint)(ulong)rsdt);
        for (int i = 0; i < rsdp.Length; i++)
            lowMemory[0xF5A10 + i] = rsdp[i];

        var boot = _arena.Struct<BootInfo>();
        BootInfoParser.Parse(Multiboot1Parser.BootloaderMagic, new Multiboot1Builder(_arena)
            .BasicMemory(639, 130048)
            .MemoryMap(new[] { new MapEntry(0, 0x9FC00, 1), new MapEntry(0x100000, 0x7EE0000, 1) })
            .Build(), boot);
        Assert.Equal(0UL, boot->RsdpAddress);

        var acpi = _arena.Struct<AcpiInfo>();
        AcpiParser.Parse(RsdpScanner.FindInBiosArea(lowMemory), acpi);
        Assert.Equal(0, acpi->Diagnostics.Count);
        Assert.Equal(1, acpi->CpuCount);
    }
}
