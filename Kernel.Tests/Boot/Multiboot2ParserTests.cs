using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory.Testing.Boot;
using Xunit;
using PoolKernel.Memory;

namespace PoolKernel.Tests.Boot;

public sealed unsafe class Multiboot2ParserTests : IDisposable
{
    private readonly NativeArena _arena = new();

    public void Dispose() => _arena.Dispose();

    private BootInfo* Parse(byte[] block)
    {
        byte* info = _arena.High(block.Length + 64); // slack so a lying size reads zeros, not foreign memory
        for (int i = 0; i < block.Length; i++)
            info[i] = block[i];
        var output = _arena.Struct<BootInfo>();
        BootInfoParser.Parse(Multiboot2Parser.BootloaderMagic, info, output);
        return output;
    }

    private static MultibootDiagnostic Only(BootInfo* info)
    {
        Assert.Equal(1, info->Diagnostics.Count);
        return info->Diagnostics.Get(0);
    }

    [Fact]
    public void FullBlock_YieldsEveryField()
    {
        byte[] rsdp = AcpiBuilder.RsdpBytes(2, 0x7FFE0000, 0x7FFE1000);
        var block = new Multiboot2Builder()
            .CommandLine("console=serial pools=4")
            .LoaderName("GRUB 2.12")
            .Module(0x200000, 0x280000, "initrd")
            .Module(0x280000, 0x281000, "")
            .BasicMemory(639, 523136)
            .MemoryMap(new MapEntry(0, 0x9FC00, 1), new MapEntry(0x9FC00, 0x400, 2), new MapEntry(0x100000, 0x1FEE0000, 1), new MapEntry(0xFFFC0000, 0x40000, 2))
            .Framebuffer()
            .AcpiNew(rsdp)
            .End()
            .Build();
        var info = Parse(block);

        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(BootLoaderKind.Multiboot2, info->Loader);
        Assert.True(info->Complete);
        Assert.Equal((uint)block.Length, info->InfoSize);
        Assert.Equal("console=serial pools=4", NativeArena.ReadString(info->CommandLine, info->CommandLineLength));
        Assert.Equal("GRUB 2.12", NativeArena.ReadString(info->LoaderName, info->LoaderNameLength));
        Assert.Equal(2, info->ModuleCount);
        var m0 = info->GetModule(0);
        Assert.Equal((0x200000UL, 0x280000UL), (m0.Start, m0.End));
        Assert.Equal("initrd", NativeArena.ReadString(m0.String, m0.StringLength));
        Assert.Equal(0u, info->GetModule(1).StringLength);
        Assert.True(info->HasBasicMemoryInfo);
        Assert.Equal((639u, 523136u), (info->MemoryLowerKiB, info->MemoryUpperKiB));
        Assert.Equal(4, info->MemoryMap.Count);
        var e2 = info->MemoryMap.Get(2);
        Assert.Equal((0x100000UL, 0x1FEE0000UL, MemoryType.Available), (e2.Base, e2.Length, e2.Type));
        Assert.Equal(RsdpSource.Multiboot2AcpiNew, info->RsdpSource);
        Assert.Equal((byte)'R', *(byte*)info->RsdpAddress);
        Assert.Equal(0x7FFE1000UL, *(ulong*)(info->RsdpAddress + 24));
    }

    [Fact]
    public void NewRsdpTag_IsPreferredOverOld_InEitherOrder()
    {
        var oldFirst = Parse(new Multiboot2Builder().AcpiOld(AcpiBuilder.RsdpBytes(0, 1)).AcpiNew(AcpiBuilder.RsdpBytes(2, 2, 3)).End().Build());
        var newFirst = Parse(new Multiboot2Builder().AcpiNew(AcpiBuilder.RsdpBytes(2, 2, 3)).AcpiOld(AcpiBuilder.RsdpBytes(0, 1)).End().Build());
        Assert.Equal(RsdpSource.Multiboot2AcpiNew, oldFirst->RsdpSource);
        Assert.Equal(RsdpSource.Multiboot2AcpiNew, newFirst->RsdpSource);
        var onlyOld = Parse(new Multiboot2Builder().AcpiOld(AcpiBuilder.RsdpBytes(0, 1)).End().Build());
        Assert.Equal(RsdpSource.Multiboot2AcpiOld, onlyOld->RsdpSource);
        Assert.Equal(1u, *(uint*)(onlyOld->RsdpAddress + 16));
    }

    [Fact]
    public void TruncatedBlock_StopsAtTheTagThatDoesNotFit_KeepingEarlierTags()
    {
        var full = new Multiboot2Builder()
            .CommandLine("ok")
            .MemoryMap(new MapEntry(0, 0x9F000, 1), new MapEntry(0x100000, 0x100000, 1))
            .End()
            .Build();
        // total_size cut in the middle of the memory map tag.
        var info = Parse(WithTotal(full, 40));
        Assert.False(info->Complete);
        Assert.True(info->HasCommandLine);
        Assert.Equal(0, info->MemoryMap.Count);
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.TagOverrunsInfo));
        var d = info->Diagnostics.Get(0);
        Assert.Equal((MultibootDiagnosticCode.TagOverrunsInfo, 6UL), (d.Code, d.Value0));
        // No memory information at all is reported too, so the kernel can say why it has no RAM.
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.NoMemoryInformation));
    }

    private static byte[] WithTotal(byte[] block, uint total)
    {
        var copy = (byte[])block.Clone();
        copy[0] = (byte)total; copy[1] = (byte)(total >> 8); copy[2] = (byte)(total >> 16); copy[3] = (byte)(total >> 24);
        return copy;
    }

    [Fact]
    public void MissingEndTag_IsReported()
    {
        var info = Parse(new Multiboot2Builder().CommandLine("x").BasicMemory(640, 1024).Build());
        Assert.False(info->Complete);
        Assert.True(info->HasCommandLine);
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.MissingEndTag));
    }

    [Fact]
    public void TagSizeBelowHeader_StopsParsing()
    {
        var info = Parse(new Multiboot2Builder().CommandLine("a").Tag(1, new byte[8], sizeOverride: 4).End().Build());
        var d = info->Diagnostics.Get(0);
        Assert.Equal(MultibootDiagnosticCode.NoMemoryInformation, info->Diagnostics.Get(1).Code);
        Assert.Equal(MultibootDiagnosticCode.TagTooSmall, d.Code);
        Assert.Equal(24, d.Index); // header 8 + command line tag of 10 bytes padded to 16
        Assert.Equal(4UL, d.Value1);
    }

    [Fact]
    public void OversizedTotal_IsRefused()
    {
        var info = Parse(WithTotal(new Multiboot2Builder().End().Build(), 0x4000_0000));
        var d = Only(info);
        Assert.Equal((MultibootDiagnosticCode.TotalSizeTooLarge, 0x4000_0000UL), (d.Code, d.Value0));
        Assert.False(info->Complete);
    }

    [Fact]
    public void UndersizedTotal_IsRefused()
    {
        var info = Parse(WithTotal(new Multiboot2Builder().End().Build(), 8));
        Assert.Equal(MultibootDiagnosticCode.TotalSizeTooSmall, Only(info).Code);
    }

    [Fact]
    public void HugeTagSize_DoesNotWrap()
    {
        var info = Parse(new Multiboot2Builder().Tag(1, new byte[8], sizeOverride: 0xFFFF_FFF8).BasicMemory(1, 1).End().Build());
        Assert.Equal(MultibootDiagnosticCode.TagOverrunsInfo, info->Diagnostics.Get(0).Code);
        Assert.False(info->Complete);
    }

    [Fact]
    public void StringWithoutNul_IsClampedToTheTag()
    {
        var info = Parse(new Multiboot2Builder().Tag(1, new ByteWriter().Ascii("abcdefgh").ToArray()).BasicMemory(1, 1).End().Build());
        Assert.Equal(MultibootDiagnosticCode.StringNotTerminated, info->Diagnostics.Get(0).Code);
        Assert.Equal("abcdefgh", NativeArena.ReadString(info->CommandLine, info->CommandLineLength));
    }

    [Fact]
    public void BadMemoryMapEntrySize_SkipsTheMap()
    {
        var body = new ByteWriter().U32(20).U32(0).Zeros(40).ToArray();
        var info = Parse(new Multiboot2Builder().Tag(6, body).BasicMemory(640, 2048).End().Build());
        Assert.True(info->Complete);
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.BadMemoryMapEntrySize));
        // Falls back to mem_lower/mem_upper.
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.MemoryMapFromBasicInfo));
        Assert.Equal(2, info->MemoryMap.Count);
        Assert.Equal((0x100000UL, 2048UL * 1024), (info->MemoryMap.Get(1).Base, info->MemoryMap.Get(1).Length));
    }

    [Fact]
    public void LargerEntrySize_IsHonoured()
    {
        var body = new ByteWriter().U32(32).U32(0)
            .U64(0x100000).U64(0x1000).U32(1).U32(0).U64(0xDEAD)
            .U64(0x200000).U64(0x2000).U32(3).U32(0).U64(0xBEEF).ToArray();
        var info = Parse(new Multiboot2Builder().Tag(6, body).End().Build());
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(2, info->MemoryMap.Count);
        Assert.Equal((0x200000UL, MemoryType.AcpiReclaimable), (info->MemoryMap.Get(1).Base, info->MemoryMap.Get(1).Type));
    }

    [Fact]
    public void MoreEntriesThanFit_AreCountedOnce()
    {
        var entries = Enumerable.Range(0, RawMemoryMap.Capacity + 5).Select(i => new MapEntry((ulong)i << 20, 0x1000, 1)).ToArray();
        var info = Parse(new Multiboot2Builder().MemoryMap(entries).End().Build());
        var d = Only(info);
        Assert.Equal((MultibootDiagnosticCode.MemoryMapFull, 5UL), (d.Code, d.Value0));
        Assert.Equal(RawMemoryMap.Capacity, info->MemoryMap.Count);
    }

    [Fact]
    public void SeventeenthModule_IsSkipped()
    {
        var b = new Multiboot2Builder();
        for (uint i = 0; i < 17; i++)
            b.Module(0x1000000 + i * 0x1000, 0x1000000 + i * 0x1000 + 0x800, "m");
        var info = Parse(b.BasicMemory(1, 1).End().Build());
        Assert.Equal(BootInfo.MaxModules, info->ModuleCount);
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.TooManyModules));
    }

    [Fact]
    public void ModuleEndingBeforeItStarts_IsSkipped()
    {
        var info = Parse(new Multiboot2Builder().Module(0x3000, 0x2000, "bad").BasicMemory(1, 1).End().Build());
        Assert.Equal(0, info->ModuleCount);
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.BadModuleRange));
    }

    [Fact]
    public void DuplicateCommandLine_KeepsTheFirst()
    {
        var info = Parse(new Multiboot2Builder().CommandLine("first").CommandLine("second").BasicMemory(1, 1).End().Build());
        Assert.Equal("first", NativeArena.ReadString(info->CommandLine, info->CommandLineLength));
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.DuplicateTag));
    }

    [Fact]
    public void ShortRsdpTag_IsSkipped()
    {
        var info = Parse(new Multiboot2Builder().Tag(15, new byte[20]).BasicMemory(1, 1).End().Build());
        Assert.Equal(RsdpSource.None, info->RsdpSource);
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.TagBodyTooSmall));
    }

    [Fact]
    public void UnknownMagic_ParsesNothing()
    {
        var output = _arena.Struct<BootInfo>();
        BootInfoParser.Parse(0x12345678, _arena.High(64), output);
        Assert.Equal(BootLoaderKind.None, output->Loader);
        Assert.Equal(MultibootDiagnosticCode.UnknownMagic, Only(output).Code);
    }

    [Fact]
    public void NullInfo_IsReported()
    {
        var output = _arena.Struct<BootInfo>();
        BootInfoParser.Parse(Multiboot2Parser.BootloaderMagic, null, output);
        Assert.Equal(MultibootDiagnosticCode.NullInfo, Only(output).Code);
    }

    /// <summary>Every prefix of a valid block, presented with total_size = the prefix length, parses without reading past it.</summary>
    [Fact]
    public void EveryTruncation_StopsSafely()
    {
        var block = new Multiboot2Builder()
            .CommandLine("root=/dev/pool")
            .Module(0x200000, 0x201000, "mod")
            .MemoryMap(new MapEntry(0, 0x9F000, 1), new MapEntry(0x100000, 0x100000, 1))
            .AcpiNew(AcpiBuilder.RsdpBytes(2, 1, 2))
            .End()
            .Build();
        for (int cut = 16; cut < block.Length; cut++)
        {
            byte* info = _arena.High(cut);
            for (int i = 0; i < cut; i++)
                info[i] = block[i];
            *(uint*)info = (uint)cut;
            var output = _arena.Struct<BootInfo>();
            Multiboot2Parser.Parse(info, output);
            Assert.False(output->Complete, $"cut {cut}");
            Assert.True(output->Diagnostics.Count >= 1, $"cut {cut}");
            Assert.True(output->CommandLine == 0 || output->CommandLine + output->CommandLineLength <= (ulong)(info + cut), $"cut {cut}");
        }
    }

    [Fact]
    public void MisalignedInfo_IsReported_ButParsed()
    {
        var block = new Multiboot2Builder().CommandLine("x").BasicMemory(1, 1).End().Build();
        byte* buffer = _arena.High(block.Length + 8);
        byte* info = buffer + 4;
        for (int i = 0; i < block.Length; i++)
            info[i] = block[i];
        var output = _arena.Struct<BootInfo>();
        Multiboot2Parser.Parse(info, output);
        Assert.Equal(MultibootDiagnosticCode.MisalignedInfo, output->Diagnostics.Get(0).Code);
        Assert.Equal(MultibootDiagnosticCode.MemoryMapFromBasicInfo, output->Diagnostics.Get(1).Code);
        Assert.True(output->Complete);
        Assert.True(output->HasCommandLine);
    }

    [Fact]
    public void EveryCode_HasADescription()
    {
        foreach (MultibootDiagnosticCode code in Enum.GetValues<MultibootDiagnosticCode>())
            Assert.NotEqual("unknown multiboot diagnostic", MultibootDiagnostics.Describe(code));
    }
}
