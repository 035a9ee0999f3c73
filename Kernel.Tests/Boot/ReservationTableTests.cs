using System.Runtime.InteropServices;
using PoolKernel.Boot.Layout;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Boot;

/// <summary>
/// The reservation table (Kernel.Boot/Layout/ReservationTable.cs): the one interval subtraction
/// (what a new range adds, what the pools get), the kernel share and the command line's budget,
/// and the RAM accounting.
/// </summary>
public sealed unsafe class ReservationTableTests
{
    private const ulong Page = 4096;
    private readonly ITestOutputHelper _output;

    public ReservationTableTests(ITestOutputHelper output) => _output = output;

    private static List<(ulong, ulong)> Uncovered(ReservationTable* t, ulong start, ulong end)
    {
        var parts = new List<(ulong, ulong)>();
        ulong cursor = start;
        while (t->NextUncovered(ref cursor, end, out ulong a, out ulong b))
            parts.Add((a, b));
        Assert.Equal(end, cursor);
        return parts;
    }

    [Fact]
    public void ALaterRangeGetsOnlyItsUncoveredParts_EarlierNamesKept()
    {
        using var m = new LayoutMaps("pc", 128 * LayoutMaps.MiB);
        ReservationTable* t = m.Table;
        Assert.True(t->TryAddKernel(ReservationName.KernelImage, 0x101234, 0x1fffff, out int needed));
        Assert.Equal(1, needed);
        Assert.True(t->TryAddKernel(ReservationName.BootModule, 0x300000, 0x400000, out needed));
        Assert.True(t->TryAddUser(ReservationName.MemmapRange, 0x80000, 0x500000, out needed));
        Assert.Equal(3, needed);
        Assert.Equal(new[] { (0x101000UL, 0x200000UL), (0x300000UL, 0x400000UL), (0x80000UL, 0x101000UL), (0x200000UL, 0x300000UL), (0x400000UL, 0x500000UL) },
            Enumerable.Range(0, t->Count).Select(i => (t->Get(i).Base, t->Get(i).End)));
        Assert.Equal(new[] { "kernel image + boot arena", "boot module", "memmap= range", "memmap= range", "memmap= range" },
            Enumerable.Range(0, t->Count).Select(i => t->Get(i).Name));
        Assert.Equal(3, t->UserCount);
        Assert.Empty(Uncovered(t, 0x80000, 0x500000));
        Assert.Equal(new[] { (0x500000UL, 0x600000UL) }, Uncovered(t, 0x100000, 0x600000));
        // An end in the last page of the address space stays at its top page.
        Assert.True(t->TryAddUser(ReservationName.MemCap, 0xffff_ffff_fff0_0000, ulong.MaxValue, out _));
        Assert.Equal((0xffff_ffff_fff0_0000UL, ~0xFFFUL), (t->Get(t->Count - 1).Base, t->Get(t->Count - 1).End));
    }

    [Fact]
    public void Account_SumsTheRamEachEntryHolds()
    {
        using var m = new LayoutMaps("pc", 128 * LayoutMaps.MiB);
        ReservationTable* t = m.Table;
        t->TryAddKernel(ReservationName.LowFirmware, 0, 0x100000, out _);
        t->TryAddKernel(ReservationName.PoolMetadata, 0x7000000, 0x7100000, out _);
        t->Account(m.Map);
        Assert.Equal(0x9f000UL, t->Get(0).AvailableBytes);
        Assert.Equal(0x100000UL, t->Get(1).AvailableBytes);
        Assert.Equal(0x19f000UL, t->TotalAvailableBytes);
        Assert.Equal(m.Map->AvailableBytes, m.Map->AvailableBytesIn(0, ulong.MaxValue));
        Assert.Equal(0UL, m.Map->AvailableBytesIn(0x9f000, 0x100000));
    }

    /// <summary>
    /// Random kernel and command-line ranges in a small address space against a page set: the
    /// entries stay disjoint and cover exactly the union of what was accepted; a refused range (its
    /// share or the whole table full) leaves the table unchanged and said how many entries it needed;
    /// the command line never holds more than its budget; the uncovered parts of any range are
    /// exactly its pages outside the set, as maximal runs in address order.
    /// </summary>
    [Fact]
    public void RandomRanges_MatchAPageSet()
    {
        SeededRuns.Run(_output, "reservation table fuzz", "RESERVATIONS", 16, 200, (seed, ops) =>
        {
            var rng = new Random(seed);
            var t = (ReservationTable*)NativeMemory.AllocZeroed((nuint)sizeof(ReservationTable));
            try
            {
                var covered = new HashSet<ulong>();
                for (int op = 0; op < ops; op++)
                {
                    ulong start = (ulong)rng.Next(0, 512) * Page + (ulong)rng.Next(0, 4096);
                    ulong end = start + (ulong)rng.Next(1, 64) * Page - (ulong)rng.Next(0, 4096);
                    if (rng.Next(8) == 0)
                    {
                        var expected = RunsOutside(covered, start & ~0xFFFUL, (end + 0xFFF) & ~0xFFFUL);
                        Assert.Equal(expected, Uncovered(t, start & ~0xFFFUL, (end + 0xFFF) & ~0xFFFUL));
                        continue;
                    }
                    bool user = rng.Next(2) == 0;
                    int count = t->Count, userCount = t->UserCount;
                    int parts = RunsOutside(covered, start & ~0xFFFUL, (end + 0xFFF) & ~0xFFFUL).Count;
                    Assert.Equal(parts, t->CountUncovered(start & ~0xFFFUL, (end + 0xFFF) & ~0xFFFUL));
                    bool ok = user
                        ? t->TryAddUser(ReservationName.MemmapRange, start, end, out int needed)
                        : t->TryAddKernel(ReservationName.BootModule, start, end, out needed);
                    Assert.Equal(parts, needed);
                    bool fits = count + parts <= ReservationTable.Capacity && (!user || userCount + parts <= ReservationTable.UserEntries);
                    Assert.Equal(fits, ok);
                    if (ok)
                    {
                        for (ulong p = start >> 12; p < (end + 0xFFF) >> 12; p++)
                            covered.Add(p);
                    }
                    Assert.Equal(ok ? count + parts : count, t->Count);
                    Assert.Equal(ok && user ? userCount + parts : userCount, t->UserCount);
                    Assert.True(t->UserCount <= ReservationTable.UserEntries);
                    var pages = new HashSet<ulong>();
                    for (int i = 0; i < t->Count; i++)
                    {
                        ReservationTable.Entry e = t->Get(i);
                        Assert.True(e.Base < e.End && (e.Base & 0xFFF) == 0 && (e.End & 0xFFF) == 0);
                        for (ulong p = e.Base >> 12; p < e.End >> 12; p++)
                            Assert.True(pages.Add(p), $"page {p:x} in two entries");
                    }
                    Assert.True(pages.SetEquals(covered), "entries differ from the accepted ranges");
                }
            }
            finally
            {
                NativeMemory.Free(t);
            }
        });
    }

    private static List<(ulong, ulong)> RunsOutside(HashSet<ulong> covered, ulong start, ulong end)
    {
        var runs = new List<(ulong, ulong)>();
        for (ulong p = start >> 12; p < end >> 12; p++)
        {
            if (covered.Contains(p))
                continue;
            if (runs.Count > 0 && runs[^1].Item2 == p << 12)
                runs[^1] = (runs[^1].Item1, (p + 1) << 12);
            else
                runs.Add((p << 12, (p + 1) << 12));
        }
        return runs;
    }
}
