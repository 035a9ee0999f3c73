using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory.Testing.Boot;
using Xunit;

namespace PoolKernel.Tests.Boot;

public sealed unsafe class Multiboot1ParserTests : IDisposable
{
    private readonly NativeArena _arena = new();

    public void Dispose() => _arena.Dispose();

    private BootInfo* Parse(Multiboot1Builder builder)
    {
        var output = _arena.Struct<BootInfo>();
        BootInfoParser.Parse(Multiboot1Parser.BootloaderMagic, builder.Build(), output);
        return output;
    }

    private static readonly MapEntry[] QemuPcMap =
    {
        new(0x0, 0x9FC00, 1),
        new(0x9FC00, 0x400, 2),
        new(0xF0000, 0x10000, 2),
        new(0x100000, 0x1FEE0000, 1),
        new(0x1FFE0000, 0x20000, 2),
        new(0xFFFC0000, 0x40000, 2),
    };

    [Fact]
    public void FullInfo_YieldsEveryField()
    {
        var info = Parse(new Multiboot1Builder(_arena)
            .BasicMemory(639, 523136)
            .CommandLine("console=serial")
            .LoaderName("GRUB 0.97")
            .Modules((0x200000, 0x280000, "initrd"), (0x280000, 0x290000, "symbols"))
            .MemoryMap(QemuPcMap));
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(BootLoaderKind.Multiboot1, info->Loader);
        Assert.True(info->Complete);
        Assert.Equal("console=serial", NativeArena.ReadString(info->CommandLine, info->CommandLineLength));
        Assert.Equal("GRUB 0.97", NativeArena.ReadString(info->LoaderName, info->LoaderNameLength));
        Assert.Equal(2, info->ModuleCount);
        var m1 = info->GetModule(1);
        Assert.Equal("symbols", NativeArena.ReadString(m1.String, m1.StringLength));
        Assert.Equal((0x280000UL, 0x290000UL), (m1.Start, m1.End));
        Assert.Equal(QemuPcMap.Length, info->MemoryMap.Count);
        for (int i = 0; i < QemuPcMap.Length; i++)
        {
            var e = info->MemoryMap.Get(i);
            Assert.Equal(QemuPcMap[i], new MapEntry(e.Base, e.Length, (uint)e.Type));
        }
        Assert.Equal(RsdpSource.None, info->RsdpSource);
    }

    [Fact]
    public void FlagsClear_FieldsIgnored()
    {
        var info = Parse(new Multiboot1Builder(_arena));
        Assert.False(info->HasCommandLine);
        Assert.False(info->HasBasicMemoryInfo);
        Assert.Equal(0, info->ModuleCount);
        Assert.Equal(MultibootDiagnosticCode.NoMemoryInformation, info->Diagnostics.Get(0).Code);
    }

    [Fact]
    public void EntrySizeLargerThan20_IsFollowed()
    {
        var info = Parse(new Multiboot1Builder(_arena).MemoryMap(QemuPcMap, sizeField: 24));
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(QemuPcMap.Length, info->MemoryMap.Count);
        Assert.Equal(0xFFFC0000UL, info->MemoryMap.Get(5).Base);
    }

    [Fact]
    public void EntrySizeBelow20_StopsTheWalk()
    {
        var info = Parse(new Multiboot1Builder(_arena).BasicMemory(640, 1024).MemoryMap(QemuPcMap, sizeField: 12));
        Assert.Equal(0, info->MemoryMap.Count - 2); // only the synthesized fallback entries
        var d = info->Diagnostics.Get(0);
        Assert.Equal((MultibootDiagnosticCode.MemoryMapEntryTooSmall, 0, 12UL), (d.Code, d.Index, d.Value0));
        Assert.Equal(MultibootDiagnosticCode.MemoryMapFromBasicInfo, info->Diagnostics.Get(1).Code);
    }

    [Fact]
    public void MmapLengthCuttingAnEntry_KeepsWholeEntriesOnly()
    {
        // 6 entries of 24 bytes; claim 3.5 entries.
        var info = Parse(new Multiboot1Builder(_arena).MemoryMap(QemuPcMap, lengthOverride: 24 * 3 + 12));
        Assert.Equal(3, info->MemoryMap.Count);
        var d = info->Diagnostics.Get(0);
        Assert.Equal((MultibootDiagnosticCode.MemoryMapEntryOverrun, 3, (ulong)(24 * 3)), (d.Code, d.Index, d.Value0));
    }

    [Fact]
    public void AbsurdMmapLength_IsRefused()
    {
        var info = Parse(new Multiboot1Builder(_arena).BasicMemory(640, 1024).MemoryMap(QemuPcMap, lengthOverride: 0x10000000));
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.CountTooLarge));
        Assert.Equal(2, info->MemoryMap.Count); // fallback
    }

    [Fact]
    public void CommandLineFlagWithNullPointer_IsReported()
    {
        var info = Parse(new Multiboot1Builder(_arena).BasicMemory(640, 1024).Flag(2, 16, 0));
        Assert.False(info->HasCommandLine);
        var d = info->Diagnostics.Get(0);
        Assert.Equal((MultibootDiagnosticCode.NullPointer, 2), (d.Code, d.Index));
    }

    [Fact]
    public void UnterminatedCommandLine_IsClamped()
    {
        uint bound = BootStrings.MaxPointerCommandLineLength;
        byte* s = _arena.Low((int)bound * 2);
        for (int i = 0; i < bound * 2; i++)
            s[i] = (byte)'x';
        var info = Parse(new Multiboot1Builder(_arena).BasicMemory(640, 1024).Flag(2, 16, (uint)(ulong)s));
        Assert.Equal(bound, info->CommandLineLength);
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.StringNotTerminated));
    }

    [Fact]
    public void TooManyModules_KeepsSixteen()
    {
        var modules = Enumerable.Range(0, 20).Select(i => ((uint)(0x1000000 + i * 0x1000), (uint)(0x1000800 + i * 0x1000), $"m{i}")).ToArray();
        var info = Parse(new Multiboot1Builder(_arena).BasicMemory(640, 1024).Modules(modules));
        Assert.Equal(16, info->ModuleCount);
        Assert.Equal(4, info->Diagnostics.CountOf(MultibootDiagnosticCode.TooManyModules));
        var m = info->GetModule(15);
        Assert.Equal("m15", NativeArena.ReadString(m.String, m.StringLength));
    }

    [Fact]
    public void BasicMemoryOnly_SynthesizesAMap_ThatSanitizes()
    {
        var info = Parse(new Multiboot1Builder(_arena).BasicMemory(639, 31744));
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.MemoryMapFromBasicInfo));
        var map = _arena.Struct<SanitizedMemoryMap>();
        MemoryMapSanitizer.Sanitize(&info->MemoryMap, map);
        Assert.Equal(MemoryMapInvariant.Ok, map->CheckInvariants(out _));
        // 639 KiB is not page aligned: shrunk to 636 KiB.
        Assert.Equal(636UL * 1024 + 31744UL * 1024, map->AvailableBytes);
    }
}
