using System.Runtime.InteropServices;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Memory;
using PoolKernel.Tests.Memory;

namespace PoolKernel.Tests.Boot;

/// <summary>Native storage for the layout tests: a sanitized map of a QEMU machine, a reservation table, a result.</summary>
internal sealed unsafe class LayoutMaps : IDisposable
{
    public const ulong MiB = 1UL << 20;

    public SanitizedMemoryMap* Map { get; }
    public ReservationTable* Table { get; }
    public BootLayoutResult* Result { get; }
    public ulong RamEnd { get; }

    public LayoutMaps(string machine, ulong ramBytes)
    {
        Map = (SanitizedMemoryMap*)NativeMemory.AllocZeroed((nuint)sizeof(SanitizedMemoryMap));
        Table = (ReservationTable*)NativeMemory.AllocZeroed((nuint)sizeof(ReservationTable));
        Result = (BootLayoutResult*)NativeMemory.AllocZeroed((nuint)sizeof(BootLayoutResult));
        foreach (MemoryRegion r in QemuMaps.Build(machine, ramBytes, 1))
        {
            // The sanitizer keeps available RAM page-aligned inward (the EBDA edge 0x9fc00 becomes 0x9f000).
            ulong b = r.Base.Value, e = r.End.Value;
            if (r.Type == MemoryType.Available)
            {
                b = (b + 0xFFF) & ~0xFFFUL;
                e &= ~0xFFFUL;
                RamEnd = Math.Max(RamEnd, e);
            }
            Assert(Map->Append(b, e, r.Type));
        }
        Assert(Map->CheckInvariants(out _) == MemoryMapInvariant.Ok);
    }

    private static void Assert(bool ok)
    {
        if (!ok)
            throw new InvalidOperationException("test map does not hold");
    }

    /// <summary>The page-granular set the table covers, from its entries.</summary>
    public HashSet<ulong> CoveredPages()
    {
        var pages = new HashSet<ulong>();
        for (int i = 0; i < Table->Count; i++)
        {
            ReservationTable.Entry e = Table->Get(i);
            for (ulong p = e.Base >> 12; p < e.End >> 12; p++)
                pages.Add(p);
        }
        return pages;
    }

    public void Dispose()
    {
        NativeMemory.Free(Map);
        NativeMemory.Free(Table);
        NativeMemory.Free(Result);
    }
}
