using PoolKernel.Boot.MemoryMap;
using PoolKernel.Memory.Testing.Boot;
using Xunit;
using PoolKernel.Tests.Support;
using Xunit.Abstractions;
using PoolKernel.Memory;

namespace PoolKernel.Tests.Boot;

public sealed unsafe class MemoryMapSanitizerTests : IDisposable
{
    private const uint A = 1, R = 2, Acpi = 3, Nvs = 4, Bad = 5;
    private readonly NativeArena _arena = new();
    private readonly ITestOutputHelper _output;

    public MemoryMapSanitizerTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _arena.Dispose();

    private SanitizedMemoryMap* Sanitize(params MapEntry[] entries)
    {
        var raw = _arena.Struct<RawMemoryMap>();
        foreach (var e in entries)
            raw->Add(e.Base, e.Length, e.Type);
        var output = _arena.Struct<SanitizedMemoryMap>();
        MemoryMapSanitizer.Sanitize(raw, output);
        var invariant = output->CheckInvariants(out int bad);
        Assert.True(invariant == MemoryMapInvariant.Ok, $"invariant {invariant} broken at region {bad}");
        return output;
    }

    private static (ulong Base, ulong End, MemoryType Type)[] Regions(SanitizedMemoryMap* map)
    {
        var list = new (ulong, ulong, MemoryType)[map->Count];
        for (int i = 0; i < map->Count; i++)
        {
            var r = map->Get(i);
            list[i] = (r.Base, r.End, r.Type);
        }
        return list;
    }

    private static MemoryMapDiagnostic Single(SanitizedMemoryMap* map)
    {
        Assert.Equal(1, map->Diagnostics.Count);
        return map->Diagnostics.Get(0);
    }

    [Fact]
    public void ReclaimAcpi_MakesAlignedReclaimableMemoryAvailable_MergedWithItsNeighbours()
    {
        var map = Sanitize(
            new(0x0, 0x9F000, A),
            new(0x100000, 0x7F00000, A),
            new(0x8000000, 0x12000, Acpi),      // touches available memory on both sides
            new(0x8012000, 0x1000000, A),
            new(0x9012000, 0x2000, Nvs),
            new(0x9014000, 0x800, Acpi),        // ends mid-page: stays reclaimable
            new(0xA000000, 0x3000, Acpi));      // alone behind a hole
        ulong available = map->AvailableBytes;

        ulong reclaimed = map->ReclaimAcpi();

        Assert.Equal(0x12000UL + 0x3000UL, reclaimed);
        Assert.Equal(available + reclaimed, map->AvailableBytes);
        Assert.Equal(MemoryMapInvariant.Ok, map->CheckInvariants(out _));
        Assert.Equal(new[]
        {
            (0x0UL, 0x9F000UL, MemoryType.Available),
            (0x100000UL, 0x9012000UL, MemoryType.Available),
            (0x9012000UL, 0x9014000UL, MemoryType.AcpiNvs),
            (0x9014000UL, 0x9014800UL, MemoryType.AcpiReclaimable),
            (0xA000000UL, 0xA003000UL, MemoryType.Available),
        }, Regions(map));
        Assert.Equal(0UL, map->ReclaimAcpi());
    }

    [Fact]
    public void CleanMap_IsSortedAndCoalesced_WithoutDiagnostics()
    {
        var map = Sanitize(
            new(0x100000, 0x100000, A),
            new(0x0, 0x9F000, A),
            new(0x200000, 0x100000, A),
            new(0xF0000, 0x10000, R));
        Assert.Equal(0, map->Diagnostics.Count);
        Assert.Equal(new[]
        {
            (0x0UL, 0x9F000UL, MemoryType.Available),
            (0xF0000UL, 0x100000UL, MemoryType.Reserved),
            (0x100000UL, 0x300000UL, MemoryType.Available),
        }, Regions(map));
        Assert.Equal(0x9F000UL + 0x200000, map->AvailableBytes);
    }

    [Fact]
    public void ZeroLengthEntry_IsDroppedWithOneDiagnostic()
    {
        var map = Sanitize(new MapEntry(0x100000, 0x100000, A), new(0x5000, 0, A));
        var d = Single(map);
        Assert.Equal(MemoryMapDiagnosticCode.ZeroLength, d.Code);
        Assert.Equal(1, d.Index);
        Assert.Equal(0x5000UL, d.Value0);
        Assert.Equal(new[] { (0x100000UL, 0x200000UL, MemoryType.Available) }, Regions(map));
    }

    [Fact]
    public void OverflowingEntry_IsDropped()
    {
        var map = Sanitize(new MapEntry(0x100000, 0x100000, A), new(0xFFFF_FFFF_FFFF_0000, 0x20000, A));
        var d = Single(map);
        Assert.Equal(MemoryMapDiagnosticCode.AddressOverflow, d.Code);
        Assert.Equal((1, 0xFFFF_FFFF_FFFF_0000UL, 0x20000UL), (d.Index, d.Value0, d.Value1));
        Assert.Equal(1, map->Count);
    }

    [Fact]
    public void EntryEndingBeyond52Bits_IsDropped_ButEndingExactlyAtTheLimitIsKept()
    {
        ulong limit = 1UL << 52;
        var map = Sanitize(
            new(limit - 0x1000, 0x2000, A),
            new(limit - 0x1000, 0x1000, A));
        var d = Single(map);
        Assert.Equal(MemoryMapDiagnosticCode.BeyondPhysicalLimit, d.Code);
        Assert.Equal(0, d.Index);
        Assert.Equal(new[] { (limit - 0x1000, limit, MemoryType.Available) }, Regions(map));
    }

    [Fact]
    public void UnalignedAvailable_IsShrunkInward()
    {
        var map = Sanitize(new MapEntry(0x1234, 0x10000, A));
        var d = Single(map);
        Assert.Equal(MemoryMapDiagnosticCode.UnalignedShrunk, d.Code);
        Assert.Equal((0x1234UL, 0x10000UL), (d.Value0, d.Value1));
        Assert.Equal(new[] { (0x2000UL, 0x11000UL, MemoryType.Available) }, Regions(map));
    }

    [Fact]
    public void UnalignedAvailable_WithoutAWholePage_IsDropped()
    {
        var map = Sanitize(new MapEntry(0x1800, 0x1000, A));
        Assert.Equal(MemoryMapDiagnosticCode.UnalignedNoWholePage, Single(map).Code);
        Assert.Equal(0, map->Count);
    }

    [Fact]
    public void UnalignedReserved_IsKeptExactly()
    {
        var map = Sanitize(new MapEntry(0x9FC00, 0x400, R));
        Assert.Equal(0, map->Diagnostics.Count);
        Assert.Equal(new[] { (0x9FC00UL, 0xA0000UL, MemoryType.Reserved) }, Regions(map));
    }

    [Fact]
    public void AvailableOverlappedByReserved_LosesTheOverlap_AndThePartialPages()
    {
        // Reserved hole in the middle of RAM, not page aligned: the pages it touches are lost.
        var map = Sanitize(new MapEntry(0x100000, 0x100000, A), new(0x150800, 0x1000, R));
        var d = Single(map);
        Assert.Equal(MemoryMapDiagnosticCode.AvailableOverlapsReserved, d.Code);
        Assert.Equal((1, 0), (d.Index, d.Other));
        Assert.Equal((0x150800UL, 0x151800UL), (d.Value0, d.Value1));
        Assert.Equal(new[]
        {
            (0x100000UL, 0x150000UL, MemoryType.Available),
            (0x150800UL, 0x151800UL, MemoryType.Reserved),
            (0x152000UL, 0x200000UL, MemoryType.Available),
        }, Regions(map));
    }

    [Fact]
    public void ReservedListedFirst_StillWinsOverLaterAvailable()
    {
        var map = Sanitize(new MapEntry(0x0, 0x10000, R), new(0x8000, 0x10000, A));
        var d = Single(map);
        Assert.Equal(MemoryMapDiagnosticCode.AvailableOverlapsReserved, d.Code);
        Assert.Equal(new[]
        {
            (0x0UL, 0x10000UL, MemoryType.Reserved),
            (0x10000UL, 0x18000UL, MemoryType.Available),
        }, Regions(map));
    }

    [Fact]
    public void TwoOverlappingAvailable_AreMerged()
    {
        var map = Sanitize(new MapEntry(0x100000, 0x200000, A), new(0x200000, 0x200000, A));
        var d = Single(map);
        Assert.Equal(MemoryMapDiagnosticCode.AvailableOverlapsAvailable, d.Code);
        Assert.Equal((0x200000UL, 0x300000UL), (d.Value0, d.Value1));
        Assert.Equal(new[] { (0x100000UL, 0x400000UL, MemoryType.Available) }, Regions(map));
    }

    [Fact]
    public void OverlappingReservedTypes_StricterWins()
    {
        var map = Sanitize(new MapEntry(0x0, 0x3000, Acpi), new(0x1000, 0x1000, Nvs), new(0x2000, 0x2000, Acpi));
        Assert.Equal(2, map->Diagnostics.Count);
        Assert.Equal(1, map->Diagnostics.CountOf(MemoryMapDiagnosticCode.ReservedOverlapsOtherType));
        Assert.Equal(1, map->Diagnostics.CountOf(MemoryMapDiagnosticCode.ReservedOverlapsSameType));
        Assert.Equal(new[]
        {
            (0x0UL, 0x1000UL, MemoryType.AcpiReclaimable),
            (0x1000UL, 0x2000UL, MemoryType.AcpiNvs),
            (0x2000UL, 0x4000UL, MemoryType.AcpiReclaimable),
        }, Regions(map));
    }

    [Fact]
    public void BadMemory_BeatsEverything()
    {
        var map = Sanitize(new MapEntry(0x0, 0x10000, A), new(0x4000, 0x1000, Bad), new(0x4000, 0x2000, Nvs));
        Assert.Equal(3, map->Diagnostics.Count);
        Assert.Equal(new[]
        {
            (0x0UL, 0x4000UL, MemoryType.Available),
            (0x4000UL, 0x5000UL, MemoryType.BadMemory),
            (0x5000UL, 0x6000UL, MemoryType.AcpiNvs),
            (0x6000UL, 0x10000UL, MemoryType.Available),
        }, Regions(map));
    }

    [Fact]
    public void UnknownType_IsTreatedAsReserved()
    {
        var map = Sanitize(new MapEntry(0x0, 0x10000, A), new(0x4000, 0x1000, 12));
        Assert.Equal(2, map->Diagnostics.Count);
        var d = map->Diagnostics.Get(0);
        Assert.Equal((MemoryMapDiagnosticCode.UnknownType, 1, 12UL), (d.Code, d.Index, d.Value0));
        Assert.Equal(MemoryMapDiagnosticCode.AvailableOverlapsReserved, map->Diagnostics.Get(1).Code);
        Assert.Equal(MemoryType.Reserved, map->Get(1).Type);
    }

    [Fact]
    public void AdjacentSameType_AreCoalesced_WithoutDiagnostics()
    {
        var map = Sanitize(new MapEntry(0x0, 0x1000, R), new(0x1000, 0x1000, R), new(0x2000, 0x1000, A), new(0x3000, 0x1000, A));
        Assert.Equal(0, map->Diagnostics.Count);
        Assert.Equal(new[]
        {
            (0x0UL, 0x2000UL, MemoryType.Reserved),
            (0x2000UL, 0x4000UL, MemoryType.Available),
        }, Regions(map));
    }

    [Fact]
    public void EntryWithSeveralProblems_ReportsEachOnce()
    {
        // Unknown type and zero length: two problems, two lines.
        var map = Sanitize(new MapEntry(0x1000, 0, 99));
        Assert.Equal(2, map->Diagnostics.Count);
        Assert.Equal(MemoryMapDiagnosticCode.UnknownType, map->Diagnostics.Get(0).Code);
        Assert.Equal(MemoryMapDiagnosticCode.ZeroLength, map->Diagnostics.Get(1).Code);
    }

    [Fact]
    public void FullRawMap_ReportsDroppedEntries()
    {
        var raw = _arena.Struct<RawMemoryMap>();
        for (int i = 0; i < RawMemoryMap.Capacity + 3; i++)
            raw->Add((ulong)i * 0x2000, 0x1000, A);
        Assert.Equal(3, raw->Dropped);
        var output = _arena.Struct<SanitizedMemoryMap>();
        MemoryMapSanitizer.Sanitize(raw, output);
        Assert.Equal(MemoryMapInvariant.Ok, output->CheckInvariants(out _));
        Assert.Equal(RawMemoryMap.Capacity, output->Count);
        var d = Single(output);
        Assert.Equal((MemoryMapDiagnosticCode.RawMapOverflow, 3UL, 3UL * 0x1000), (d.Code, d.Value0, d.Value1));
    }

    [Fact]
    public void FullRawMap_NeverDropsAReservedEntry_RamUnderItStaysOutOfTheMap()
    {
        // A loader that lists many small RAM ranges first and the firmware's reserved range last:
        // the reserved entry must survive a full table, or the RAM entry it overlaps would be handed
        // to the pools. The evicted entries are available ones, counted with their bytes.
        var raw = _arena.Struct<RawMemoryMap>();
        raw->Add(0x100000, 0x1000000, A);
        for (int i = 1; i < RawMemoryMap.Capacity; i++)
            raw->Add(0x10000000 + (ulong)i * 0x2000, 0x1000, A);
        Assert.Equal(0, raw->Dropped);
        Assert.False(raw->Add(0x200000, 0x10000, R));
        Assert.False(raw->Add(0x300000, 0x10000, Acpi));
        Assert.False(raw->Add(0x20000000, 0x1000, A));
        Assert.Equal(RawMemoryMap.Capacity, raw->Count);
        Assert.Equal(3, raw->Dropped);
        Assert.Equal(3UL * 0x1000, raw->DroppedBytes);

        var output = _arena.Struct<SanitizedMemoryMap>();
        MemoryMapSanitizer.Sanitize(raw, output);
        Assert.Equal(MemoryMapInvariant.Ok, output->CheckInvariants(out _));
        foreach (var (b, e, t) in Regions(output))
        {
            bool overlapsReserved = (b < 0x210000 && e > 0x200000) || (b < 0x310000 && e > 0x300000);
            Assert.False(t == MemoryType.Available && overlapsReserved, $"RAM {b:x}-{e:x} overlaps a reserved entry");
        }
    }

    [Fact]
    public void FullRawMap_OfReservedEntries_DropsTheNewOne()
    {
        var raw = _arena.Struct<RawMemoryMap>();
        for (int i = 0; i < RawMemoryMap.Capacity; i++)
            raw->Add((ulong)i * 0x2000, 0x1000, R);
        Assert.False(raw->Add(0x10000000, 0x1000, R));
        Assert.Equal((1, 0UL), (raw->Dropped, raw->DroppedBytes));
        Assert.Equal((ulong)(RawMemoryMap.Capacity - 1) * 0x2000, raw->Get(RawMemoryMap.Capacity - 1).Base);
    }

    [Fact]
    public void WorstCaseInterleaving_FitsTheOutput()
    {
        // 64 available pages separated by 64 reserved ones, listed backwards: 128 regions out.
        var raw = _arena.Struct<RawMemoryMap>();
        for (int i = 127; i >= 0; i--)
            raw->Add((ulong)i * 0x1000, 0x1000, (i & 1) == 0 ? A : R);
        var output = _arena.Struct<SanitizedMemoryMap>();
        MemoryMapSanitizer.Sanitize(raw, output);
        Assert.Equal(MemoryMapInvariant.Ok, output->CheckInvariants(out _));
        Assert.Equal(128, output->Count);
        Assert.Equal(0, output->Diagnostics.Count);
    }

    /// <summary>
    /// Seeded random maps: the output always satisfies the invariants and never calls reserved bytes
    /// available. SANITIZER_FUZZ_SEEDS / _OPS (maps a seed) run longer; SANITIZER_FUZZ_SEED replays one.
    /// </summary>
    [Fact]
    public void RandomMaps_KeepInvariants_AndNeverExposeReservedMemory()
        => SeededRuns.Run(_output, "random memory maps", "SANITIZER_FUZZ", 4, 300, RandomMapsSeed);

    private static void RandomMapsSeed(int seed, int rounds)
    {
        using var arena = new NativeArena();
        var random = new Random(seed);
        for (int round = 0; round < rounds; round++)
        {
            int n = random.Next(1, 40);
            var entries = new MapEntry[n];
            for (int i = 0; i < n; i++)
            {
                ulong b = (ulong)random.Next(0, 1 << 16) * 0x100;
                ulong len = (ulong)random.Next(0, 1 << 14) * 0x80;
                entries[i] = new MapEntry(b, len, (uint)random.Next(1, 7));
            }
            var raw = arena.Struct<RawMemoryMap>();
            foreach (var e in entries)
                raw->Add(e.Base, e.Length, e.Type);
            var output = arena.Struct<SanitizedMemoryMap>();
            MemoryMapSanitizer.Sanitize(raw, output);
            var invariant = output->CheckInvariants(out int badIndex);
            Assert.True(invariant == MemoryMapInvariant.Ok, $"round {round}: {invariant} at {badIndex}");
            for (int r = 0; r < output->Count; r++)
            {
                var region = output->Get(r);
                if (region.Type != MemoryType.Available)
                    continue;
                foreach (var e in entries)
                {
                    if (e.Type == A || e.Length == 0)
                        continue;
                    bool overlaps = e.Base < region.End && region.Base < e.Base + e.Length;
                    Assert.False(overlaps, $"round {round}: available {region.Base:x}-{region.End:x} overlaps type {e.Type} {e.Base:x}+{e.Length:x}");
                }
                // Every available byte came from some available entry.
                for (ulong p = region.Base; p < region.End; p += 0x1000)
                    Assert.Contains(entries, e => e.Type == A && e.Base <= p && p + 0x1000 <= e.Base + e.Length);
            }
        }
    }

    [Fact]
    public void ManyProblems_OverflowTheDiagnosticList_AndAreCounted()
    {
        var raw = _arena.Struct<RawMemoryMap>();
        for (int i = 0; i < 100; i++)
            raw->Add((ulong)i << 20, 0, A);
        var output = _arena.Struct<SanitizedMemoryMap>();
        MemoryMapSanitizer.Sanitize(raw, output);
        Assert.Equal(0, output->Count);
        Assert.Equal(MemoryMapDiagnostics.Capacity, output->Diagnostics.Count);
        Assert.Equal(100 - MemoryMapDiagnostics.Capacity, output->Diagnostics.Dropped);
    }

    [Fact]
    public void EveryCode_HasADescription()
    {
        foreach (MemoryMapDiagnosticCode code in Enum.GetValues<MemoryMapDiagnosticCode>())
            Assert.NotEqual("unknown memory map diagnostic", MemoryMapDiagnostics.Describe(code));
    }
}
