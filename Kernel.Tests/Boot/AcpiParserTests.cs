using PoolKernel.Boot.Acpi;
using PoolKernel.Memory.Testing.Boot;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using static PoolKernel.Memory.Testing.Boot.AcpiBuilder;

namespace PoolKernel.Tests.Boot;

public sealed unsafe class AcpiParserTests : IDisposable
{
    private readonly NativeArena _arena = new();
    private readonly AcpiBuilder _acpi;

    private readonly ITestOutputHelper _output;

    public AcpiParserTests(ITestOutputHelper output)
    {
        _acpi = new AcpiBuilder(_arena);
        _output = output;
    }

    public void Dispose() => _arena.Dispose();

    private AcpiInfo* Parse(byte* rsdp)
    {
        var info = _arena.Struct<AcpiInfo>();
        AcpiParser.Parse(rsdp, info);
        return info;
    }

    /// <summary>Revision-0 RSDP and an RSDT over the given tables (all in low memory).</summary>
    private AcpiInfo* ParseViaRsdt(params ulong[] tables)
        => Parse(_acpi.Rsdp(0, (uint)(ulong)_acpi.Rsdt(tables)));

    /// <summary>Revision-2 RSDP, XSDT in high memory over tables in high memory.</summary>
    private AcpiInfo* ParseViaXsdt(params ulong[] tables)
        => Parse(_acpi.Rsdp(2, 0, (ulong)_acpi.Xsdt(tables)));

    private byte* Madt(params byte[][] entries) => _acpi.Table("APIC", 3, MadtBody(0xFEE00000, entries));

    private static byte[][] Cpus(int count) => Enumerable.Range(0, count).Select(i => LocalApic((byte)i, (byte)i)).Append(IoApic(0, 0xFEC00000)).ToArray();

    [Fact]
    public void NoRsdp_GivesOneNodeAndNoCpus()
    {
        var info = Parse(null);
        Assert.Equal(1, info->NodeCount);
        Assert.Equal(0, info->CpuCount);
        Assert.Equal(0, info->NodeOfAddress(0x1234_5678));
        Assert.Equal(AcpiDiagnosticCode.NoRsdp, info->Diagnostics.Get(0).Code);
    }

    [Fact]
    public void Madt_CountsEnabledCpus_SkipsDisabled_AndTakesX2Apic()
    {
        var madt = Madt(
            LocalApic(0, 0), LocalApic(1, 2), LocalApic(2, 4, enabled: false, onlineCapable: true),
            IoApic(0, 0xFEC00000),
            X2Apic(2, 1), // same CPU as the type-0 entry with APIC id 2
            X2Apic(300, 3), X2Apic(301, 4, enabled: false));
        var info = ParseViaRsdt((ulong)madt);
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(3, info->CpuCount);
        Assert.Equal(2, info->DisabledCpuCount);
        Assert.Equal(new uint[] { 0, 2, 300 }, Enumerable.Range(0, 3).Select(i => info->CpuApicId(i)).ToArray());
        Assert.Equal(0xFEE00000UL, info->LocalApicAddress);
        Assert.Equal((ulong)madt, info->MadtAddress);
        Assert.False(info->UsesXsdt);
        Assert.Equal(1, info->NodeCount);
        Assert.Equal(10, info->Distance(0, 0));
    }

    [Fact]
    public void XsdtIsUsed_ForRevision2_WithHighPointers()
    {
        var madt = _acpi.Table("APIC", 3, MadtBody(0xFEE00000, Cpus(4)), high: true);
        var info = ParseViaXsdt((ulong)madt);
        Assert.True(info->UsesXsdt);
        Assert.Equal(4, info->CpuCount);
        Assert.Equal(0, info->Diagnostics.Count);
    }

    [Fact]
    public void XsdtPreferredOverRsdt_WhenBothPresent()
    {
        var madt2 = Madt(Cpus(2));
        var madt4 = _acpi.Table("APIC", 3, MadtBody(0xFEE00000, Cpus(4)), high: true);
        var rsdt = _acpi.Rsdt((ulong)madt2);
        var xsdt = _acpi.Xsdt((ulong)madt4);
        var info = Parse(_acpi.Rsdp(2, (uint)(ulong)rsdt, (ulong)xsdt));
        Assert.True(info->UsesXsdt);
        Assert.Equal(4, info->CpuCount);
    }

    [Fact]
    public void BadExtendedChecksum_FallsBackToRsdt()
    {
        var madt2 = Madt(Cpus(2));
        var madt4 = _acpi.Table("APIC", 3, MadtBody(0xFEE00000, Cpus(4)), high: true);
        var info = Parse(_acpi.Rsdp(2, (uint)(ulong)_acpi.Rsdt((ulong)madt2), (ulong)_acpi.Xsdt((ulong)madt4), corruptExtended: true));
        Assert.False(info->UsesXsdt);
        Assert.Equal(2, info->CpuCount);
        Assert.Equal(AcpiDiagnosticCode.BadRsdpExtendedChecksum, info->Diagnostics.Get(0).Code);
    }

    [Fact]
    public void BadXsdtChecksum_FallsBackToRsdt()
    {
        var madt2 = Madt(Cpus(2));
        var xsdt = _acpi.Xsdt((ulong)Madt(Cpus(4)));
        xsdt[9] ^= 1;
        var info = Parse(_acpi.Rsdp(2, (uint)(ulong)_acpi.Rsdt((ulong)madt2), (ulong)xsdt));
        Assert.False(info->UsesXsdt);
        Assert.Equal(2, info->CpuCount);
        Assert.Equal(AcpiDiagnosticCode.BadTableChecksum, info->Diagnostics.Get(0).Code);
        Assert.Equal(AcpiDiagnosticCode.XsdtUnusableUsingRsdt, info->Diagnostics.Get(1).Code);
    }

    [Fact]
    public void BadRsdpChecksum_MeansNoAcpi()
    {
        var info = Parse(_acpi.Rsdp(0, (uint)(ulong)_acpi.Rsdt((ulong)Madt(Cpus(2))), corruptChecksum: true));
        Assert.Equal(0, info->CpuCount);
        Assert.Equal(1, info->NodeCount);
        var d = info->Diagnostics.Get(0);
        Assert.Equal(AcpiDiagnosticCode.BadRsdpChecksum, d.Code);
        Assert.Equal(1, info->Diagnostics.Count);
    }

    [Fact]
    public void BadRsdpSignature_MeansNoAcpi()
    {
        var info = Parse(_arena.Low(64));
        Assert.Equal(AcpiDiagnosticCode.BadRsdpSignature, info->Diagnostics.Get(0).Code);
    }

    [Fact]
    public void BadTableChecksum_IgnoresThatTable()
    {
        var madt = _acpi.Table("APIC", 3, MadtBody(0xFEE00000, Cpus(2)), corruptChecksum: true);
        var info = ParseViaRsdt((ulong)madt);
        Assert.Equal(0, info->CpuCount);
        Assert.Equal(0UL, info->MadtAddress);
        var d = info->Diagnostics.Get(0);
        Assert.Equal((AcpiDiagnosticCode.BadTableChecksum, 0, AcpiTables.SignatureMadt, (ulong)madt), (d.Code, d.Index, d.Signature, d.Value0));
        Assert.Equal(AcpiDiagnosticCode.NoMadt, info->Diagnostics.Get(1).Code);
    }

    [Fact]
    public void TableShorterThanHeader_IsIgnored()
    {
        var madt = _acpi.Table("APIC", 3, MadtBody(0xFEE00000, Cpus(2)), lengthOverride: 20);
        var info = ParseViaRsdt((ulong)madt);
        Assert.Equal(0, info->CpuCount);
        Assert.Equal((AcpiDiagnosticCode.TableTooShort, 20UL), (info->Diagnostics.Get(0).Code, info->Diagnostics.Get(0).Value1));
    }

    [Fact]
    public void AbsurdTableLength_IsIgnored()
    {
        var madt = _acpi.Table("APIC", 3, MadtBody(0xFEE00000, Cpus(2)), lengthOverride: 0x8000_0000);
        var info = ParseViaRsdt((ulong)madt);
        Assert.Equal(AcpiDiagnosticCode.TableTooLong, info->Diagnostics.Get(0).Code);
    }

    [Fact]
    public void SubtableRunningPastTheTable_IgnoresTheWholeTable()
    {
        // The last entry claims 40 bytes; only 8 are inside the table.
        var broken = LocalApic(9, 9);
        broken[1] = 40;
        var madt = Madt(LocalApic(0, 0), LocalApic(1, 1), broken);
        var info = ParseViaRsdt((ulong)madt);
        Assert.Equal(0, info->CpuCount);
        var d = info->Diagnostics.Get(0);
        Assert.Equal((AcpiDiagnosticCode.SubtableOverrun, 60UL, 40UL), (d.Code, d.Value0, d.Value1));
    }

    [Fact]
    public void ZeroLengthSubtable_DoesNotLoopForever()
    {
        var broken = LocalApic(1, 1);
        broken[1] = 0;
        var info = ParseViaRsdt((ulong)Madt(LocalApic(0, 0), broken));
        Assert.Equal(AcpiDiagnosticCode.SubtableOverrun, info->Diagnostics.Get(0).Code);
        Assert.Equal(0, info->CpuCount);
    }

    [Fact]
    public void ShortSubtableOfKnownType_IsSkippedAlone()
    {
        var shortApic = new byte[] { 0, 4, 1, 1 };
        var info = ParseViaRsdt((ulong)Madt(LocalApic(0, 0), shortApic, LocalApic(2, 2)));
        Assert.Equal(2, info->CpuCount);
        Assert.Equal(AcpiDiagnosticCode.SubtableTooShort, info->Diagnostics.Get(0).Code);
    }

    [Fact]
    public void NullAndDuplicateEntries_AreReported()
    {
        var first = Madt(Cpus(2));
        var second = Madt(Cpus(4));
        var info = ParseViaRsdt((ulong)first, 0, (ulong)second);
        Assert.Equal(2, info->CpuCount);
        Assert.Equal(1, info->Diagnostics.CountOf(AcpiDiagnosticCode.NullTableEntry));
        Assert.Equal(1, info->Diagnostics.CountOf(AcpiDiagnosticCode.DuplicateTable));
    }

    [Fact]
    public void MoreThan64Cpus_AreCountedOnce()
    {
        var entries = Enumerable.Range(0, 70).Select(i => X2Apic((uint)i, (uint)i)).ToArray();
        var info = ParseViaRsdt((ulong)Madt(entries));
        Assert.Equal(AcpiInfo.MaxCpus, info->CpuCount);
        var d = info->Diagnostics.Get(0);
        Assert.Equal((AcpiDiagnosticCode.TooManyCpus, 6UL), (d.Code, d.Value0));
    }

    [Fact]
    public void Srat_TwoNodes_MapsCpusAndMemory()
    {
        var madt = Madt(Cpus(4));
        var srat = _acpi.Table("SRAT", 3, SratBody(
            ProcessorAffinity(0, 0), ProcessorAffinity(0, 1), ProcessorAffinity(1, 2), ProcessorAffinity(1, 3),
            MemoryAffinity(0, 0x0, 0xA0000), MemoryAffinity(0, 0x100000, 0x7FF00000),
            MemoryAffinity(1, 0x80000000, 0x80000000),
            MemoryAffinity(1, 0x100000000, 0x100000000, hotPluggable: true),
            MemoryAffinity(1, 0x200000000, 0x100000000, enabled: false)));
        var info = ParseViaRsdt((ulong)madt, (ulong)srat);
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(2, info->NodeCount);
        Assert.Equal(new[] { 0, 0, 1, 1 }, Enumerable.Range(0, 4).Select(i => info->CpuNode(i)).ToArray());
        Assert.Equal(4, info->MemoryRangeCount);
        Assert.True(info->GetMemoryRange(3).HotPluggable);
        Assert.False(info->GetMemoryRange(2).HotPluggable);
        Assert.Equal(0, info->NodeOfAddress(0x5000));
        Assert.Equal(0, info->NodeOfAddress(0x7FFFFFFF));
        Assert.Equal(1, info->NodeOfAddress(0x80000000));
        Assert.Equal(1, info->NodeOfAddress(0x1FFFFFFFF));
        Assert.Equal(AcpiInfo.NoNode, info->NodeOfAddress(0xC0000)); // the hole below 1 MiB
        Assert.Equal(AcpiInfo.NoNode, info->NodeOfAddress(0x200000000)); // disabled range
        // SLIT absent: defaults.
        Assert.Equal((byte)10, info->Distance(1, 1));
        Assert.Equal((byte)20, info->Distance(0, 1));
        Assert.Equal(0UL, info->SlitAddress);
    }

    [Fact]
    public void Srat_FourNodes_SparseDomains_GetDenseIds_AndSlitApplies()
    {
        // Domains 7, 3, 5, 1 in order of appearance -> nodes numbered by ascending domain: 3, 1, 2, 0.
        uint[] domains = { 7, 3, 5, 1 };
        var madt = Madt(Cpus(8));
        var entries = new List<byte[]>();
        for (int cpu = 0; cpu < 8; cpu++)
            entries.Add(ProcessorAffinity(domains[cpu / 2], (byte)cpu));
        for (int n = 0; n < 4; n++)
            entries.Add(MemoryAffinity(domains[n], (ulong)n << 32, 1UL << 32));
        var srat = _acpi.Table("SRAT", 3, SratBody(entries.ToArray()));
        // 8 localities; distance between domains a and b = 10 if equal else 10 + 3 * |a - b| + 1.
        var m = new byte[8, 8];
        for (int a = 0; a < 8; a++)
            for (int b = 0; b < 8; b++)
                m[a, b] = (byte)(a == b ? 10 : 11 + 3 * Math.Abs(a - b));
        var slit = _acpi.Table("SLIT", 1, SlitBody(m));
        var info = ParseViaRsdt((ulong)madt, (ulong)srat, (ulong)slit);

        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(4, info->NodeCount);
        uint[] sorted = { 1, 3, 5, 7 };
        Assert.Equal(sorted, Enumerable.Range(0, 4).Select(n => info->NodeDomain(n)).ToArray());
        Assert.Equal(new[] { 3, 3, 1, 1, 2, 2, 0, 0 }, Enumerable.Range(0, 8).Select(i => info->CpuNode(i)).ToArray());
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
                Assert.Equal(m[sorted[a], sorted[b]], info->Distance(a, b));
        // Memory range 2 is domain 5 = node 2.
        Assert.Equal(2, info->NodeOfAddress((2UL << 32) + 0x1000));
        Assert.Equal(0, info->NodeOfAddress((3UL << 32) + 0x1000));
        Assert.Equal((ulong)slit, info->SlitAddress);
    }

    [Fact]
    public void Srat_X2ApicAffinity_AndWideDomains()
    {
        var madt = Madt(X2Apic(0x100, 0), X2Apic(0x101, 1));
        var srat = _acpi.Table("SRAT", 3, SratBody(
            X2ApicAffinity(0x10000, 0x100), X2ApicAffinity(0x20000, 0x101),
            MemoryAffinity(0x10000, 0, 1UL << 30), MemoryAffinity(0x20000, 1UL << 30, 1UL << 30)));
        var info = ParseViaRsdt((ulong)madt, (ulong)srat);
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(2, info->NodeCount);
        Assert.Equal((0, 1), (info->CpuNode(0), info->CpuNode(1)));
        Assert.Equal(0x20000u, info->NodeDomain(1));
    }

    [Fact]
    public void Srat_ProcessorDomainHighBytes_AreUsedFromRevision2()
    {
        var madt = Madt(Cpus(1));
        var srat3 = _acpi.Table("SRAT", 3, SratBody(ProcessorAffinity(0x0102, 0)));
        var info = ParseViaRsdt((ulong)madt, (ulong)srat3);
        Assert.Equal(0x0102u, info->NodeDomain(0));
        var srat1 = _acpi.Table("SRAT", 1, SratBody(ProcessorAffinity(0x0102, 0)));
        info = ParseViaRsdt((ulong)madt, (ulong)srat1);
        Assert.Equal(0x02u, info->NodeDomain(0));
    }

    [Fact]
    public void Srat_SixtyFourDomains_EachGetsItsNode()
    {
        var entries = Enumerable.Range(0, 64).Select(d => MemoryAffinity((uint)d, (ulong)d << 30, 1UL << 30)).ToArray();
        var info = ParseViaRsdt((ulong)Madt(Cpus(1)), (ulong)_acpi.Table("SRAT", 3, SratBody(entries)));
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(64, AcpiInfo.MaxNodes);
        Assert.Equal(PoolKernel.Memory.NodeDistances.MaxNodes, AcpiInfo.MaxNodes);
        Assert.Equal(PoolKernel.Boot.CommandLine.BootOptions.MaxNodes, AcpiInfo.MaxNodes);
        Assert.Equal(64, info->NodeCount);
        for (int d = 0; d < 64; d++)
            Assert.Equal(d, info->NodeOfAddress(((ulong)d << 30) + 4096));
    }

    /// <summary>Issue 10 item 8: beyond the node limit the SRAT is not used at all (one node), instead of the rest going to node 0.</summary>
    [Fact]
    public void Srat_SixtyFiveDomains_NotUsed_OneNode()
    {
        var entries = Enumerable.Range(0, 65).Select(d => MemoryAffinity((uint)d, (ulong)d << 30, 1UL << 30))
            .Append(ProcessorAffinity(64, 0)).ToArray();
        var info = ParseViaRsdt((ulong)Madt(Cpus(1)), (ulong)_acpi.Table("SRAT", 3, SratBody(entries)));
        Assert.Equal(1, info->Diagnostics.Count);
        var d = info->Diagnostics.Get(0);
        Assert.Equal((AcpiDiagnosticCode.TooManyNodes, 64UL, 64UL), (d.Code, d.Value0, d.Value1));
        Assert.Equal(1, info->NodeCount);
        Assert.Equal(0, info->MemoryRangeCount);
        Assert.Equal(0, info->CpuNode(0));
        Assert.Equal(0, info->NodeOfAddress(64UL << 30));
        Assert.Equal(0, info->NodeOfAddress(0));
    }

    /// <summary>Issue 10 item 8: ten domains, CPU 0 on domain 9 (seen first): every domain's memory on its own node.</summary>
    [Fact]
    public void Srat_TenDomains_CpuOnDomainNine_EachDomainOnItsNode()
    {
        var entries = new[] { ProcessorAffinity(9, 0) }
            .Concat(Enumerable.Range(0, 10).Select(d => MemoryAffinity((uint)d, (ulong)d << 24, 1UL << 24))).ToArray();
        var info = ParseViaRsdt((ulong)Madt(Cpus(1)), (ulong)_acpi.Table("SRAT", 3, SratBody(entries)));
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(10, info->NodeCount);
        Assert.Equal(9, info->CpuNode(0));
        for (int n = 0; n < 10; n++)
        {
            Assert.Equal((uint)n, info->NodeDomain(n));
            Assert.Equal(n, info->NodeOfAddress(((ulong)n << 24) + 0x1000));
        }
    }

    [Fact]
    public void Srat_UncoveredBytes_CountsWhatNoRangeCovers_OverlapsOnce()
    {
        // Node 0 covers [16, 48) MiB, node 1 [32, 64) MiB (overlapping) and [80, 96) MiB.
        var entries = new[] { MemoryAffinity(0, 16UL << 20, 32UL << 20), MemoryAffinity(1, 32UL << 20, 32UL << 20), MemoryAffinity(1, 80UL << 20, 16UL << 20) };
        var info = ParseViaRsdt((ulong)Madt(Cpus(1)), (ulong)_acpi.Table("SRAT", 3, SratBody(entries)));
        Assert.Equal(16UL << 20, info->UncoveredBytes(0, 16UL << 20));
        Assert.Equal(0UL, info->UncoveredBytes(16UL << 20, 64UL << 20));
        Assert.Equal(16UL << 20, info->UncoveredBytes(60UL << 20, 84UL << 20));
        Assert.Equal((8UL + 16 + 4) << 20, info->UncoveredBytes(8UL << 20, 100UL << 20));
        Assert.Equal(0UL, info->UncoveredBytes(5, 5));
    }

    [Fact]
    public void NoSrat_NothingIsUncovered()
    {
        var info = ParseViaRsdt((ulong)Madt(Cpus(1)));
        Assert.Equal(0UL, info->UncoveredBytes(0, 1UL << 40));
    }

    [Fact]
    public void Srat_MoreMemoryRangesThanFit_NotUsed_OneNode()
    {
        int count = AcpiInfo.MaxMemoryRanges + 1;
        var entries = Enumerable.Range(0, count).Select(i => MemoryAffinity((uint)(i % 2), (ulong)i << 24, 1UL << 24)).ToArray();
        var info = ParseViaRsdt((ulong)Madt(Cpus(1)), (ulong)_acpi.Table("SRAT", 3, SratBody(entries)));
        var d = info->Diagnostics.Get(0);
        Assert.Equal((AcpiDiagnosticCode.TooManyMemoryRanges, 1UL, (ulong)AcpiInfo.MaxMemoryRanges), (d.Code, d.Value0, d.Value1));
        Assert.Equal(1, info->Diagnostics.Count);
        Assert.Equal(1, info->NodeCount);
        Assert.Equal(0, info->MemoryRangeCount);
    }

    /// <summary>
    /// Class "fixed-size tables that drop entries / limits that disagree": SRATs of 1..70 domains with
    /// 1..6 ranges each, in shuffled order. Within the limits every range is on the node of its domain
    /// (nodes numbered by ascending domain); beyond them, one diagnostic and one node, never a partial layout.
    /// </summary>
    [Fact]
    public void Srat_Fuzz_NodeAndRangeLimits()
    {
        SeededRuns.Run(_output, "SRAT node/range limits", "SRAT_FUZZ", 200, 1, (seed, _) =>
        {
            var random = new Random(seed);
            using var arena = new NativeArena();
            var acpi = new AcpiBuilder(arena);
            int domains = random.Next(1, 71);
            uint stride = (uint)random.Next(1, 4);
            var ranges = new List<(uint Domain, ulong Base, ulong Length)>();
            ulong at = 0;
            for (int d = 0; d < domains; d++)
            {
                int pieces = random.Next(1, 7);
                for (int p = 0; p < pieces; p++)
                {
                    ulong length = (ulong)random.Next(1, 64) << 20;
                    ranges.Add(((uint)d * stride, at, length));
                    at += length + ((ulong)random.Next(0, 3) << 20);
                }
            }
            int cpus = random.Next(1, 65);
            var entries = ranges.Select(r => MemoryAffinity(r.Domain, r.Base, r.Length))
                .Concat(Enumerable.Range(0, cpus).Select(c => ProcessorAffinity((uint)random.Next(domains) * stride, (byte)c)))
                .OrderBy(_ => random.Next()).ToArray();
            var madt = acpi.Table("APIC", 3, MadtBody(0xFEE00000, Enumerable.Range(0, cpus).Select(i => LocalApic((byte)i, (byte)i)).ToArray()));
            var info = arena.Struct<AcpiInfo>();
            AcpiParser.Parse(acpi.Rsdp(0, (uint)(ulong)acpi.Rsdt((ulong)madt, (ulong)acpi.Table("SRAT", 3, SratBody(entries)))), info);
            bool fits = domains <= AcpiInfo.MaxNodes && ranges.Count <= AcpiInfo.MaxMemoryRanges;
            if (!fits)
            {
                Assert.Equal(1, info->Diagnostics.Count);
                Assert.Equal(1, info->NodeCount);
                Assert.Equal(0, info->MemoryRangeCount);
                for (int c = 0; c < cpus; c++)
                    Assert.Equal(0, info->CpuNode(c));
                return;
            }
            Assert.Equal(0, info->Diagnostics.Count);
            Assert.Equal(domains, info->NodeCount);
            foreach (var r in ranges)
            {
                int node = (int)(r.Domain / stride);
                Assert.Equal(node, info->NodeOfAddress(r.Base));
                Assert.Equal(node, info->NodeOfAddress(r.Base + r.Length - 1));
            }
        });
    }

    [Fact]
    public void Srat_CpuUnknownToMadt_IsReported()
    {
        var srat = _acpi.Table("SRAT", 3, SratBody(ProcessorAffinity(0, 0), ProcessorAffinity(1, 9)));
        var info = ParseViaRsdt((ulong)Madt(Cpus(1)), (ulong)srat);
        Assert.Equal(1, info->NodeCount);
        var d = info->Diagnostics.Get(0);
        Assert.Equal((AcpiDiagnosticCode.SratUnknownCpu, 9UL), (d.Code, d.Value0));
    }

    [Fact]
    public void Srat_WrappingRange_IsIgnored()
    {
        var srat = _acpi.Table("SRAT", 3, SratBody(MemoryAffinity(0, 0xFFFF_FFFF_0000_0000, 0x1_0000_0000_0000)));
        var info = ParseViaRsdt((ulong)Madt(Cpus(1)), (ulong)srat);
        Assert.Equal(AcpiDiagnosticCode.BadMemoryRange, info->Diagnostics.Get(0).Code);
        Assert.Equal(0, info->MemoryRangeCount);
    }

    [Fact]
    public void Srat_Truncated_IsIgnoredWhole()
    {
        var srat = _acpi.Table("SRAT", 3, SratBody(ProcessorAffinity(0, 0), ProcessorAffinity(1, 1),
            MemoryAffinity(0, 0, 1UL << 30), MemoryAffinity(1, 1UL << 30, 1UL << 30)).Take(48 - 36 + 16 + 16 + 40 + 20).ToArray());
        var info = ParseViaRsdt((ulong)Madt(Cpus(2)), (ulong)srat);
        Assert.Equal(AcpiDiagnosticCode.SubtableOverrun, info->Diagnostics.Get(0).Code);
        Assert.Equal(1, info->NodeCount);
        Assert.Equal(0, info->MemoryRangeCount);
        Assert.Equal((0, 0), (info->CpuNode(0), info->CpuNode(1)));
        Assert.Equal(0UL, info->SratAddress);
    }

    [Fact]
    public void Slit_Truncated_LeavesDefaults()
    {
        var m = new byte[,] { { 10, 21 }, { 21, 10 } };
        var body = SlitBody(m).Take(8 + 3).ToArray();
        var info = ParseTwoNodesWithSlit(_acpi.Table("SLIT", 1, body));
        var d = info->Diagnostics.Get(0);
        Assert.Equal((AcpiDiagnosticCode.SlitTruncated, 2UL), (d.Code, d.Value0));
        Assert.Equal((byte)20, info->Distance(0, 1));
    }

    [Fact]
    public void Slit_BadDiagonal_LeavesDefaults()
    {
        var info = ParseTwoNodesWithSlit(_acpi.Table("SLIT", 1, SlitBody(new byte[,] { { 10, 21 }, { 21, 11 } })));
        var d = info->Diagnostics.Get(0);
        Assert.Equal((AcpiDiagnosticCode.SlitBadDistance, 1UL, 1UL), (d.Code, d.Value0, d.Value1));
        Assert.Equal((byte)20, info->Distance(1, 0));
    }

    [Fact]
    public void Slit_TooFewLocalities_KeepsDefaultsForMissingNode()
    {
        var info = ParseTwoNodesWithSlit(_acpi.Table("SLIT", 1, SlitBody(new byte[,] { { 10 } })));
        var d = info->Diagnostics.Get(0);
        Assert.Equal((AcpiDiagnosticCode.SlitMissingDomain, 1), (d.Code, d.Index));
        Assert.Equal((byte)10, info->Distance(0, 0));
        Assert.Equal((byte)20, info->Distance(0, 1));
    }

    [Fact]
    public void Slit_Valid_Applies()
    {
        var info = ParseTwoNodesWithSlit(_acpi.Table("SLIT", 1, SlitBody(new byte[,] { { 10, 32 }, { 33, 10 } })));
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(((byte)32, (byte)33), (info->Distance(0, 1), info->Distance(1, 0)));
    }

    private AcpiInfo* ParseTwoNodesWithSlit(byte* slit)
    {
        var srat = _acpi.Table("SRAT", 3, SratBody(ProcessorAffinity(0, 0), ProcessorAffinity(1, 1)));
        return ParseViaRsdt((ulong)Madt(Cpus(2)), (ulong)srat, (ulong)slit);
    }

    [Fact]
    public void UnrelatedTables_AreNotChecksummed()
    {
        var hpet = _acpi.Table("HPET", 1, new byte[20], corruptChecksum: true);
        var info = ParseViaRsdt((ulong)hpet, (ulong)Madt(Cpus(1)));
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(1, info->CpuCount);
    }

    /// <summary>A FADT body (the table without its 36-byte header) with DSDT at offset 40 and X_DSDT at 140.</summary>
    private static byte[] FadtBody(uint dsdt, ulong xDsdt, int tableLength)
    {
        var body = new byte[tableLength - 36];
        BitConverter.GetBytes(dsdt).CopyTo(body, 40 - 36);
        if (tableLength >= 148)
            BitConverter.GetBytes(xDsdt).CopyTo(body, 140 - 36);
        return body;
    }

    [Fact]
    public void Fadt_GivesTheDsdt_XDsdtFirst()
    {
        var info = ParseViaRsdt((ulong)_acpi.Table("FACP", 6, FadtBody(0x1000, 0x123456000, 276)), (ulong)Madt(Cpus(1)));
        Assert.Equal(0x123456000UL, info->DsdtAddress);
        info = ParseViaRsdt((ulong)_acpi.Table("FACP", 1, FadtBody(0x7000, 0, 116)), (ulong)Madt(Cpus(1)));
        Assert.Equal(0x7000UL, info->DsdtAddress);
    }

    [Fact]
    public void Fadt_BadChecksum_Refused_NoDsdt()
    {
        var facp = _acpi.Table("FACP", 6, FadtBody(0x1000, 0, 276), corruptChecksum: true);
        var info = ParseViaRsdt((ulong)facp, (ulong)Madt(Cpus(1)));
        Assert.Equal(AcpiDiagnosticCode.BadTableChecksum, info->Diagnostics.Get(0).Code);
        Assert.Equal(0UL, info->DsdtAddress);
        RootBridges bridges;
        AcpiParser.ReadRootBridges(info, &bridges);
        Assert.Equal(AmlStatus.NoDsdt, bridges.Status);
    }

    [Fact]
    public void Dsdt_RootBridgesRead_ThroughTheFadt()
    {
        // Device(\_SB.PC80) { Name(_HID, EisaId("PNP0A08")) Name(_BBN, 0x80) Name(_PXM, 1) }
        byte[] device = { 0x5B, 0x82, 22, (byte)'P', (byte)'C', (byte)'8', (byte)'0',
            0x08, (byte)'_', (byte)'H', (byte)'I', (byte)'D', 0x0C, 0x41, 0xD0, 0x0A, 0x08,
            0x08, (byte)'_', (byte)'B', (byte)'B', (byte)'N', 0x0A, 0x80 };
        byte[] aml = new byte[] { 0x10, (byte)(device.Length + 6), 0x5C, (byte)'_', (byte)'S', (byte)'B', (byte)'_' }.Concat(device).ToArray();
        var dsdt = _acpi.Table("DSDT", 2, aml);
        var info = ParseViaRsdt((ulong)_acpi.Table("FACP", 6, FadtBody(0, (ulong)dsdt, 276)), (ulong)Madt(Cpus(1)));
        RootBridges bridges;
        AcpiParser.ReadRootBridges(info, &bridges);
        Assert.Equal(AmlStatus.Ok, bridges.Status);
        Assert.Equal(1, bridges.Count);
        Assert.Equal(0x80UL, bridges.BaseBus(0));
        Assert.Equal(0, bridges.BridgeOfBus(0x81));
    }

    [Fact]
    public void EveryCode_HasADescription()
    {
        foreach (AcpiDiagnosticCode code in Enum.GetValues<AcpiDiagnosticCode>())
            Assert.NotEqual("unknown ACPI diagnostic", AcpiDiagnostics.Describe(code));
    }
}
