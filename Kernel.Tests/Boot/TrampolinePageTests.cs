using PoolKernel.Boot.Layout;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory;
using PoolKernel.Tests.Boot.Support;
using Xunit;

namespace PoolKernel.Tests.Boot;

/// <summary>
/// The SMP trampoline page (Kernel.Boot/Layout/TrampolinePage.cs): the lowest whole available page
/// in [4 KiB, 640 KiB) that holds none of the loader's data, on QEMU's low map and on loaders that
/// put their data low.
/// </summary>
public sealed unsafe class TrampolinePageTests : IDisposable
{
    private readonly NativeArena _arena = new();

    public void Dispose() => _arena.Dispose();

    /// <summary>SeaBIOS's low map: RAM to 0x9FC00, then the EBDA; RAM again from 1 MiB.</summary>
    private SanitizedMemoryMap* Map(params (ulong Start, ulong End, MemoryType Type)[] ranges)
    {
        SanitizedMemoryMap* map = _arena.Struct<SanitizedMemoryMap>();
        foreach (var r in ranges)
            Assert.True(map->Append(r.Start, r.End, r.Type));
        return map;
    }

    private SanitizedMemoryMap* QemuLowMap() => Map((0, 0x9F000, MemoryType.Available), (0x9FC00, 0xA0000, MemoryType.Reserved),
        (0xF0000, 0x100000, MemoryType.Reserved), (0x100000, 0x8000000, MemoryType.Available));

    [Fact]
    public void QemuMultiboot1_TakesTheFirstPageAboveTheInterruptTable()
    {
        BootInfo* boot = _arena.Struct<BootInfo>();
        // QEMU's -kernel puts the information and the command line above the image, above 1 MiB.
        boot->InfoAddress = 0x296000;
        boot->InfoSize = 0x100;
        Assert.Equal(0x1000UL, TrampolinePage.Choose(boot, QemuLowMap()));
    }

    [Fact]
    public void LoaderDataLow_IsSkipped_PageByPage()
    {
        BootInfo* boot = _arena.Struct<BootInfo>();
        boot->InfoAddress = 0x1800;         // information across 0x1000-0x2fff
        boot->InfoSize = 0x1000;
        boot->HasCommandLine = true;
        boot->CommandLine = 0x3FFF;         // the terminating zero lands in the next page
        boot->CommandLineLength = 1;
        boot->HasLoaderName = true;
        boot->LoaderName = 0x5000;
        boot->LoaderNameLength = 8;
        Assert.True(boot->AddModule(0x6000, 0x7001, 0x8000, 3));
        // 0x1000, 0x2000: information; 0x3000, 0x4000: command line; 0x5000: loader name;
        // 0x6000, 0x7000: module; 0x8000: module name.
        Assert.Equal(0x9000UL, TrampolinePage.Choose(boot, QemuLowMap()));
    }

    [Fact]
    public void PartialOrReservedPages_AreNotTaken_AndNoneGivesZero()
    {
        BootInfo* boot = _arena.Struct<BootInfo>();
        // Available only from 0x1800: the page at 0x1000 is not whole.
        Assert.Equal(0x2000UL, TrampolinePage.Choose(boot, Map((0x1800, 0x9F000, MemoryType.Available))));
        // No RAM below 640 KiB at all (a firmware that reserves conventional memory).
        Assert.Equal(0UL, TrampolinePage.Choose(boot, Map((0, 0xA0000, MemoryType.Reserved), (0x100000, 0x8000000, MemoryType.Available))));
        // RAM only at 640 KiB and above: beyond the limit.
        Assert.Equal(0UL, TrampolinePage.Choose(boot, Map((0xA0000, 0x8000000, MemoryType.Available))));
    }
}
