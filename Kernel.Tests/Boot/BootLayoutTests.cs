using PoolKernel.Boot.Layout;
using PoolKernel.Tests.CommandLine;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Boot;

/// <summary>
/// mem=, memmap= and numa=fake=N over QEMU's maps (Kernel.Boot/Layout/BootLayout.cs), on the host:
/// the cap walk over holes, memmap= RAM counted below the cap, the refusal rules, the fake-node
/// boundaries and the fallback to fewer nodes of at least 4 MiB.
/// </summary>
public sealed unsafe class BootLayoutTests
{
    private const ulong MiB = LayoutMaps.MiB;
    private readonly ITestOutputHelper _output;

    public BootLayoutTests(ITestOutputHelper output) => _output = output;

    private static void Apply(LayoutMaps m, Parsed p) => BootLayout.Apply(m.Map, p.Options, m.Table, m.RamEnd, m.Result);

    [Fact]
    public void MemCap_WalksRamOverTheLowHole()
    {
        using var m = new LayoutMaps("pc", 512 * MiB);
        using var p = new Parsed("mem=64M");
        Apply(m, p);
        BootLayoutResult* r = m.Result;
        Assert.Equal(MemCapOutcome.Capped, r->Cap);
        Assert.False(r->CapRaised);
        Assert.Equal(64 * MiB, r->CapUsed);
        // The 636 KiB below the EBDA count, the hole up to 1 MiB does not: the cap lands above 64 MiB.
        Assert.Equal(0x100000 + 64 * MiB - 0x9f000, r->CapAt);
        Assert.Equal(64 * MiB, m.Map->AvailableBytesIn(0, r->CapAt));
        Assert.Equal(m.Map->AvailableBytes - 64 * MiB, r->CappedBytes);
        Assert.Equal(64 * MiB, r->KeptRam);
        ReservationTable.Entry e = Assert.Single(Enumerable.Range(0, m.Table->Count).Select(i => m.Table->Get(i)));
        Assert.Equal("mem= cap", e.Name);
        Assert.Equal((r->CapAt, m.RamEnd), (e.Base, e.End));
        Assert.Equal(1, m.Table->UserCount);
    }

    [Fact]
    public void MemCap_BelowTheMinimumIsRaised_AboveTheMachineCapsNothing()
    {
        using (var m = new LayoutMaps("pc", 512 * MiB))
        using (var p = new Parsed("mem=16M"))
        {
            Apply(m, p);
            Assert.True(m.Result->CapRaised);
            Assert.Equal(BootLayout.MinMemCap, m.Result->CapUsed);
            Assert.Equal(BootLayout.MinMemCap, m.Map->AvailableBytesIn(0, m.Result->CapAt));
        }
        using (var m = new LayoutMaps("q35", 256 * MiB))
        using (var p = new Parsed("mem=1G"))
        {
            Apply(m, p);
            Assert.Equal(MemCapOutcome.NotReached, m.Result->Cap);
            Assert.Equal(0UL, m.Result->CapAt);
            Assert.Equal(m.Map->AvailableBytes, m.Result->AvailableBytes);
            Assert.Equal(m.Map->AvailableBytes, m.Result->KeptRam);
            Assert.Equal(0, m.Table->Count);
        }
    }

    [Fact]
    public void Memmap_CountsOnlyRamBelowTheCap()
    {
        using var m = new LayoutMaps("pc", 512 * MiB);
        // Below the cap, straddling it, above it, and in the PCI hole.
        using var p = new Parsed("mem=64M memmap=16M$0x2000000 memmap=8M$0x3c00000 memmap=16M$0x8000000 memmap=1M$0xf0000000");
        Apply(m, p);
        BootLayoutResult* r = m.Result;
        ulong capAt = r->CapAt;
        Assert.Equal(MemmapOutcome.Reserved, r->MemmapOutcomeOf(0));
        Assert.Equal(16 * MiB, r->MemmapValue(0));
        Assert.Equal(MemmapOutcome.Reserved, r->MemmapOutcomeOf(1));
        Assert.Equal(capAt - 0x3c00000, r->MemmapValue(1));
        Assert.Equal(MemmapOutcome.Reserved, r->MemmapOutcomeOf(2));
        Assert.Equal(0UL, r->MemmapValue(2));
        Assert.Equal(MemmapOutcome.Reserved, r->MemmapOutcomeOf(3));
        Assert.Equal(0UL, r->MemmapValue(3));
        Assert.Equal(64 * MiB - 16 * MiB - (capAt - 0x3c00000), r->KeptRam);
        // The straddling range keeps its part below the cap as its own entry; the cap's entry keeps its name.
        var names = Enumerable.Range(0, m.Table->Count).Select(i => m.Table->Get(i).Name).ToList();
        Assert.Equal(new[] { "mem= cap", "memmap= range", "memmap= range", "memmap= range" }, names);
    }

    [Fact]
    public void Memmap_RefusedWhenItWouldLeaveLessThanTheMinimum_TableUnchanged()
    {
        using var m = new LayoutMaps("pc", 64 * MiB);
        using var p = new Parsed("memmap=40M$0x1000000 memmap=8M$0x1000000");
        Apply(m, p);
        BootLayoutResult* r = m.Result;
        ulong available = m.Map->AvailableBytes;
        Assert.Equal(MemmapOutcome.RefusedRam, r->MemmapOutcomeOf(0));
        Assert.Equal(available, r->MemmapValue(0));
        // The second fits: 8 MiB taken still leaves more than 32 MiB.
        Assert.Equal(MemmapOutcome.Reserved, r->MemmapOutcomeOf(1));
        Assert.Equal(8 * MiB, r->MemmapValue(1));
        Assert.Equal(available - 8 * MiB, r->KeptRam);
        ReservationTable.Entry e = m.Table->Get(0);
        Assert.Equal(1, m.Table->Count);
        Assert.Equal((0x1000000UL, 0x1800000UL), (e.Base, e.End));
        Assert.True(BootLayout.LeavesTooLittle(BootLayout.MinMemCap + 4095, 4096));
        Assert.False(BootLayout.LeavesTooLittle(BootLayout.MinMemCap + 4096, 4096));
        Assert.False(BootLayout.LeavesTooLittle(0, 0));
    }

    [Fact]
    public void Memmap_RefusedWhenTheCommandLineBudgetIsSpent()
    {
        using var m = new LayoutMaps("pc", 512 * MiB);
        // 15 single pages 8 KiB apart, then one range over all of them: 16 uncovered parts.
        string pages = string.Join(" ", Enumerable.Range(0, 15).Select(i => $"memmap=4K$0x{0x2000000 + i * 0x2000:x}"));
        using var p = new Parsed(pages + " memmap=192K$0x1ff0000");
        Apply(m, p);
        BootLayoutResult* r = m.Result;
        for (int i = 0; i < 15; i++)
            Assert.Equal(MemmapOutcome.Reserved, r->MemmapOutcomeOf(i));
        Assert.Equal(MemmapOutcome.RefusedTableFull, r->MemmapOutcomeOf(15));
        Assert.Equal(16UL, r->MemmapValue(15));
        Assert.Equal(15, r->MemmapUsed(15));
        Assert.Equal(15, m.Table->Count);
        Assert.Equal(m.Map->AvailableBytes - 15 * 4096UL, r->KeptRam);
    }

    [Fact]
    public void NumaOff_AndFakeNodes()
    {
        using (var m = new LayoutMaps("q35", 1024 * MiB))
        using (var p = new Parsed("numa=off"))
        {
            Apply(m, p);
            Assert.Equal(NumaLayout.Off, m.Result->Numa);
        }
        using (var m = new LayoutMaps("pc", 512 * MiB))
        using (var p = new Parsed("numa=fake=4"))
        {
            Apply(m, p);
            BootLayoutResult* r = m.Result;
            Assert.Equal(NumaLayout.Fake, r->Numa);
            Assert.Equal(4, r->FakeNodeCount);
            Assert.False(r->FakeTooSmall);
            Assert.Equal(m.Map->AvailableBytes, r->FakeTotal);
            CheckFakeNodes(m, ulong.MaxValue, 4);
        }
    }

    [Fact]
    public void FakeNodes_FewerOfAtLeast4MiB_BelowTheCap()
    {
        using var m = new LayoutMaps("pc", 512 * MiB);
        using var p = new Parsed("mem=32M numa=fake=16");
        Apply(m, p);
        BootLayoutResult* r = m.Result;
        Assert.True(r->FakeTooSmall);
        Assert.Equal(32 * MiB, r->FakeTotal);
        Assert.Equal(8, r->FakeNodeCount);
        CheckFakeNodes(m, r->CapAt, 8);
    }

    /// <summary>
    /// The boundaries: node 0 at 0, increasing, on 2 MiB edges, inside RAM below the limit, and the
    /// RAM below boundary n is the ideal n * total / count plus less than one page block.
    /// </summary>
    private static void CheckFakeNodes(LayoutMaps m, ulong limit, int count)
    {
        BootLayoutResult* r = m.Result;
        ulong part = r->FakeTotal / (ulong)count;
        Assert.Equal(0UL, r->FakeStart(0));
        for (int n = 1; n < r->FakeNodeCount; n++)
        {
            ulong s = r->FakeStart(n);
            Assert.True(s > r->FakeStart(n - 1), $"node {n} start {s:x} not above the previous");
            Assert.Equal(0UL, s % BootLayout.FakeNodeAlign);
            Assert.True(s < limit, $"node {n} start {s:x} beyond the limit {limit:x}");
            ulong below = m.Map->AvailableBytesIn(0, s);
            Assert.True(below >= part * (ulong)n && below < part * (ulong)n + BootLayout.FakeNodeAlign,
                $"node {n} starts at {s:x} with {below} bytes of RAM below it, ideal {part * (ulong)n}");
        }
    }

    /// <summary>
    /// numa=fake=N with and without mem= on pc and q35 machines of random sizes: the count rule
    /// (as asked unless a node would be under 4 MiB, then total / 4 MiB, at least 1) and the boundaries.
    /// </summary>
    [Fact]
    public void FakeNodes_Fuzz()
    {
        SeededRuns.Run(_output, "numa=fake fuzz", "FAKENODE", 16, 40, (seed, ops) =>
        {
            var rng = new Random(seed);
            for (int op = 0; op < ops; op++)
            {
                string machine = rng.Next(2) == 0 ? "pc" : "q35";
                ulong ram = (ulong)rng.Next(32, 6144) * MiB;
                int asked = rng.Next(1, 65);
                ulong cap = rng.Next(3) == 0 ? (ulong)rng.Next(16, 6144) * MiB : 0;
                using var m = new LayoutMaps(machine, ram);
                using var p = new Parsed((cap != 0 ? $"mem={cap >> 20}M " : "") + $"numa=fake={asked}");
                if (p.Options->FakeNodeCount != asked)
                    continue;
                Apply(m, p);
                BootLayoutResult* r = m.Result;
                ulong limit = r->CapAt != 0 ? r->CapAt : ulong.MaxValue;
                Assert.Equal(m.Map->AvailableBytesIn(0, limit), r->FakeTotal);
                bool small = r->FakeTotal / (ulong)asked < BootLayout.MinFakeNodeBytes;
                Assert.Equal(small, r->FakeTooSmall);
                int count = small ? (int)Math.Max(1, r->FakeTotal / BootLayout.MinFakeNodeBytes) : asked;
                Assert.InRange(r->FakeNodeCount, 1, count);
                CheckFakeNodes(m, limit, count);
            }
        });
    }
}
