using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing.Boot;
using Xunit;

namespace PoolKernel.Tests.Boot;

/// <summary>
/// The multiboot2 EFI memory map tag (17): preferred over the plain map (tag 6) when it reads
/// cleanly, EFI types translated to the sanitizer's, touching descriptors of one type joined; a
/// malformed tag is named and the plain map used instead.
/// </summary>
public sealed unsafe class EfiMemoryMapTests : IDisposable
{
    private const ulong MiB = 1UL << 20;
    private readonly NativeArena _arena = new();

    public void Dispose() => _arena.Dispose();

    private BootInfo* Parse(byte[] block)
    {
        byte* info = _arena.High(block.Length + 64);
        for (int i = 0; i < block.Length; i++)
            info[i] = block[i];
        var output = _arena.Struct<BootInfo>();
        BootInfoParser.Parse(Multiboot2Parser.BootloaderMagic, info, output);
        return output;
    }

    private static (ulong Base, ulong Length, MemoryType Type)[] Entries(BootInfo* info)
        => Enumerable.Range(0, info->MemoryMap.Count).Select(i => info->MemoryMap.Get(i)).Select(e => (e.Base, e.Length, e.Type)).ToArray();

    /// <summary>The plain map GRUB would give alongside: deliberately different, so a test sees which one was read.</summary>
    private static readonly MapEntry[] PlainMap = { new(0, 0x9F000, 1), new(MiB, 63 * MiB, 1) };

    private static readonly EfiDescriptor[] SmallEfiMap =
    {
        new(0, 0xA0, 7, 0xF),                        // conventional, 640 KiB
        new(MiB, 0x100, 1, 0xF),                     // loader code (the kernel) 1 MiB
        new(2 * MiB, 0x200, 4, 0xF),                 // boot-services data 2 MiB
        new(4 * MiB, 0x400, 3, 0xF),                 // boot-services code 4 MiB
        new(8 * MiB, 0x10, 6, EfiMemoryMap.AttributeRuntime | 0xF),
        new(8 * MiB + 0x10000, 0x10, 9, 0xF),        // ACPI reclaim
        new(8 * MiB + 0x20000, 0x10, 10, 0xF),       // ACPI NVS
        new(9 * MiB, 0x700, 7, 0xF),                 // conventional 7 MiB
        new(0xFFC00000, 0x400, 11, EfiMemoryMap.AttributeRuntime | 1),
    };

    private static readonly (ulong, ulong, MemoryType)[] SmallEfiMapEntries =
    {
        (0, 0xA0000, MemoryType.Available),
        (MiB, 7 * MiB, MemoryType.Available),
        (8 * MiB, 0x10000, MemoryType.Reserved),
        (8 * MiB + 0x10000, 0x10000, MemoryType.AcpiReclaimable),
        (8 * MiB + 0x20000, 0x10000, MemoryType.AcpiNvs),
        (9 * MiB, 7 * MiB, MemoryType.Available),
        (0xFFC00000, 4 * MiB, MemoryType.Reserved),
    };

    [Fact]
    public void EfiMap_IsPreferredOverThePlainMap_InEitherOrder()
    {
        var before = Parse(new Multiboot2Builder().EfiMemoryMap(SmallEfiMap).MemoryMap(PlainMap).End().Build());
        var after = Parse(new Multiboot2Builder().MemoryMap(PlainMap).EfiMemoryMap(SmallEfiMap).End().Build());
        foreach (nint address in new[] { (nint)before, (nint)after })
        {
            var info = (BootInfo*)address;
            Assert.Equal(0, info->Diagnostics.Count);
            Assert.Equal(MemoryMapSource.Efi, info->MemoryMapSource);
            Assert.True(info->Efi);
            Assert.Equal((uint)SmallEfiMap.Length, info->EfiDescriptorCount);
            Assert.Equal(48u, info->EfiDescriptorSize);
            Assert.Equal(SmallEfiMapEntries, Entries(info));
        }
    }

    [Fact]
    public void WithoutAnEfiMap_ThePlainMapIsUsed_AndSaidSo()
    {
        var info = Parse(new Multiboot2Builder().MemoryMap(PlainMap).End().Build());
        Assert.Equal(MemoryMapSource.Multiboot2, info->MemoryMapSource);
        Assert.False(info->Efi);
        Assert.Equal(0u, info->EfiDescriptorCount);
        var efiTableOnly = Parse(new Multiboot2Builder().Efi64SystemTable(0x3F000000).MemoryMap(PlainMap).End().Build());
        Assert.Equal(MemoryMapSource.Multiboot2, efiTableOnly->MemoryMapSource);
        Assert.True(efiTableOnly->Efi);
    }

    [Theory]
    [InlineData(EfiMemoryType.Reserved, 0UL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.LoaderCode, 0xFUL, MemoryType.Available)]
    [InlineData(EfiMemoryType.LoaderData, 0xFUL, MemoryType.Available)]
    [InlineData(EfiMemoryType.BootServicesCode, 0xFUL, MemoryType.Available)]
    [InlineData(EfiMemoryType.BootServicesData, 0xFUL, MemoryType.Available)]
    [InlineData(EfiMemoryType.RuntimeServicesCode, 0x800000000000000FUL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.RuntimeServicesData, 0x800000000000000FUL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.RuntimeServicesData, 0xFUL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.Conventional, 0xFUL, MemoryType.Available)]
    [InlineData(EfiMemoryType.Unusable, 0xFUL, MemoryType.BadMemory)]
    [InlineData(EfiMemoryType.AcpiReclaim, 0xFUL, MemoryType.AcpiReclaimable)]
    [InlineData(EfiMemoryType.AcpiNvs, 0xFUL, MemoryType.AcpiNvs)]
    [InlineData(EfiMemoryType.MemoryMappedIo, 0x8000000000000001UL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.MemoryMappedIoPortSpace, 0x8000000000000001UL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.PalCode, 0xFUL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.Persistent, 0x800FUL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.Unaccepted, 0xFUL, MemoryType.Reserved)]
    [InlineData((EfiMemoryType)0x70000001, 0xFUL, MemoryType.Reserved)]
    [InlineData((EfiMemoryType)0x80000000, 0xFUL, MemoryType.Reserved)]
    // Runtime or specific-purpose memory stays out whatever its type says.
    [InlineData(EfiMemoryType.Conventional, 0x800000000000000FUL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.Conventional, 0x4000FUL, MemoryType.Reserved)]
    [InlineData(EfiMemoryType.BootServicesData, 0x800000000000000FUL, MemoryType.Reserved)]
    public void EfiTypes_MapToTheSanitizersTypes(EfiMemoryType efi, ulong attribute, MemoryType expected)
    {
        Assert.Equal(expected, EfiMemoryMap.ToMemoryType((uint)efi, attribute));
        Assert.Equal((uint)efi > 15, EfiMemoryMap.TypeName((uint)efi) == "unknown");
    }

    /// <summary>
    /// OVMF's real map (128 descriptors, boot-services code and data interleaved): joined into few
    /// entries; after the sanitizer, usable RAM is exactly the descriptors that are RAM once boot
    /// services have exited, and nothing the runtime services, ACPI or devices own is in it.
    /// </summary>
    [Fact]
    public void OvmfMap_JoinsIntoFewEntries_AndUsableRamIsTheRamDescriptors()
    {
        EfiDescriptor[] ovmf = OvmfMaps.Q35OneGiB();
        var info = Parse(new Multiboot2Builder().MemoryMap(PlainMap).EfiMemoryMap(ovmf).End().Build());
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(MemoryMapSource.Efi, info->MemoryMapSource);
        Assert.Equal(128u, info->EfiDescriptorCount);
        Assert.Equal(16, info->MemoryMap.Count);

        var map = _arena.Struct<SanitizedMemoryMap>();
        MemoryMapSanitizer.Sanitize(&info->MemoryMap, map);
        Assert.Equal(0, map->Diagnostics.Count);
        Assert.Equal(MemoryMapInvariant.Ok, map->CheckInvariants(out _));
        ulong ram = ovmf.Where(d => EfiMemoryMap.ToMemoryType(d.Type, d.Attribute) == MemoryType.Available).Aggregate(0UL, (s, d) => s + d.Pages * 4096);
        Assert.Equal(ram, map->AvailableBytes);
        Assert.Equal(1041976UL * 1024, map->AvailableBytes);   // what the kernel's banner said on that machine
        foreach (var d in ovmf.Where(d => EfiMemoryMap.ToMemoryType(d.Type, d.Attribute) != MemoryType.Available))
            Assert.Equal(0UL, map->AvailableBytesIn(d.Start, d.Start + d.Pages * 4096));
    }

    [Fact]
    public void TouchingDescriptorsOfOneType_TakeOneSlot_SoLongMapsFit()
    {
        // 3 x capacity descriptors alternating boot-services code and data, then a runtime hole, then more.
        var list = new List<EfiDescriptor>();
        ulong at = MiB;
        for (int i = 0; i < 3 * RawMemoryMap.Capacity; i++, at += 0x1000)
            list.Add(new EfiDescriptor(at, 1, i % 2 == 0 ? 3u : 4u, 0xF));
        list.Add(new EfiDescriptor(at, 4, 5, EfiMemoryMap.AttributeRuntime | 0xF));
        list.Add(new EfiDescriptor(at + 0x4000, 16, 7, 0xF));
        var info = Parse(new Multiboot2Builder().EfiMemoryMap(list.ToArray()).End().Build());
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(new[]
        {
            (MiB, 3UL * RawMemoryMap.Capacity * 0x1000, MemoryType.Available),
            (at, 0x4000UL, MemoryType.Reserved),
            (at + 0x4000, 0x10000UL, MemoryType.Available),
        }, Entries(info));
    }

    [Fact]
    public void MoreSeparateEntriesThanFit_AreCounted_AndNoReservedOneIsLost()
    {
        // Alternating RAM and MMIO-reserved pages never join: the raw map's rule drops RAM, not reservations.
        var list = new List<EfiDescriptor>();
        for (int i = 0; i < RawMemoryMap.Capacity + 10; i++)
            list.Add(new EfiDescriptor((ulong)i * 0x2000, 1, i % 2 == 0 ? 7u : 0u, 0));
        var info = Parse(new Multiboot2Builder().EfiMemoryMap(list.ToArray()).End().Build());
        Assert.Equal(1, info->Diagnostics.CountOf(MultibootDiagnosticCode.MemoryMapFull));
        Assert.Equal(10, info->MemoryMap.Dropped);
        Assert.Equal(MemoryMapSource.Efi, info->MemoryMapSource);
        int reservedKept = Entries(info).Count(e => e.Type == MemoryType.Reserved);
        Assert.Equal((RawMemoryMap.Capacity + 10) / 2, reservedKept);
    }

    [Fact]
    public void LongerDescriptors_AreStridedBySize()
    {
        var info = Parse(new Multiboot2Builder().EfiMemoryMap(64, 1, SmallEfiMap).End().Build());
        Assert.Equal(0, info->Diagnostics.Count);
        Assert.Equal(64u, info->EfiDescriptorSize);
        Assert.Equal(SmallEfiMapEntries, Entries(info));
    }

    /// <summary>A tag 17 body: descriptor_size, descriptor_version, descriptors laid out 40 bytes each and padded to the size given.</summary>
    private static byte[] EfiBody(uint descriptorSize, uint version, params EfiDescriptor[] descriptors)
    {
        var b = new ByteWriter().U32(descriptorSize).U32(version);
        foreach (var d in descriptors)
            b.U32(d.Type).U32(0).U64(d.Start).U64(0).U64(d.Pages).U64(d.Attribute).Zeros(Math.Max(0, (int)descriptorSize - 40));
        return b.ToArray();
    }

    public static IEnumerable<object[]> MalformedTags()
    {
        var ok = new EfiDescriptor(MiB, 16, 7, 0xF);
        yield return new object[] { "descriptor size 32", EfiBody(32, 1, ok, ok), MultibootDiagnosticCode.BadEfiDescriptorSize, 32L };
        yield return new object[] { "descriptor size 44", EfiBody(44, 1, ok, ok), MultibootDiagnosticCode.BadEfiDescriptorSize, 44L };
        yield return new object[] { "version 2", EfiBody(48, 2, ok), MultibootDiagnosticCode.BadEfiDescriptorVersion, 2L };
        yield return new object[] { "no descriptor", EfiBody(48, 1), MultibootDiagnosticCode.EfiMapEmpty, 16L };
        yield return new object[] { "half a descriptor", EfiBody(48, 1, ok)[..40], MultibootDiagnosticCode.EfiMapEmpty, 48L };
        yield return new object[] { "body too small", new byte[4], MultibootDiagnosticCode.TagBodyTooSmall, 17L };
        yield return new object[] { "start not page-aligned", EfiBody(48, 1, ok, new EfiDescriptor(32 * MiB + 0x800, 1, 7, 0xF)), MultibootDiagnosticCode.BadEfiDescriptor, 1L };
        yield return new object[] { "end past 2^64", EfiBody(48, 1, ok, new EfiDescriptor(0xFFFF_FFFF_0000_0000, 1UL << 20, 0, 0)), MultibootDiagnosticCode.BadEfiDescriptor, 1L };
        yield return new object[] { "page count over 2^52", EfiBody(48, 1, new EfiDescriptor(0, 1UL << 53, 7, 0xF), ok), MultibootDiagnosticCode.BadEfiDescriptor, 0L };
        yield return new object[] { "no RAM", EfiBody(48, 1, new EfiDescriptor(0xFFC00000, 0x400, 11, 1)), MultibootDiagnosticCode.EfiMapWithoutRam, 1L };
    }

    /// <summary>
    /// A tag the reader cannot trust is named once (one diagnostic, with its value) and the plain
    /// map is used, with nothing of the EFI tag in it; without a plain map, mem_lower/mem_upper.
    /// </summary>
    [Theory]
    [MemberData(nameof(MalformedTags))]
    public void MalformedEfiTag_IsNamed_AndThePlainMapUsed(string name, byte[] body, MultibootDiagnosticCode expected, long value0)
    {
        var info = Parse(new Multiboot2Builder().MemoryMap(PlainMap).Tag(17, body).End().Build());
        Assert.True(info->Complete, name);
        var d = Assert.Single(Enumerable.Range(0, info->Diagnostics.Count).Select(i => info->Diagnostics.Get(i)));
        Assert.Equal((expected, (ulong)value0), (d.Code, d.Value0));
        Assert.Equal(MemoryMapSource.Multiboot2, info->MemoryMapSource);
        Assert.True(info->Efi, name);
        Assert.Equal(0u, info->EfiDescriptorCount);
        Assert.Equal(PlainMap.Select(e => (e.Base, e.Length, (MemoryType)e.Type)).ToArray(), Entries(info));

        var fallback = Parse(new Multiboot2Builder().BasicMemory(640, 64 * 1024).Tag(17, body).End().Build());
        Assert.Equal(MemoryMapSource.BasicInfo, fallback->MemoryMapSource);
        Assert.Equal(new[] { (0UL, 640UL * 1024, MemoryType.Available), (MiB, 64 * MiB, MemoryType.Available) }, Entries(fallback));
    }

    /// <summary>
    /// Every prefix of a block with the EFI map and framebuffer tags, its total_size cut to match and
    /// its last byte against an inaccessible page, parses without reading past the cut; a cut inside
    /// tag 17 leaves the plain map (tag 6, which comes first) in use.
    /// </summary>
    [Fact]
    public void EveryTruncation_WithEfiAndFramebufferTags_StopsInsideTheBlock()
    {
        byte[] block = new Multiboot2Builder().MemoryMap(PlainMap).EfiMemoryMap(SmallEfiMap)
            .FramebufferRgb32(0xC0000000, 1024, 768).End().Build();
        int efiTag = 8 + 8 + 8 + 24 * PlainMap.Length;
        for (int cut = 16; cut < block.Length; cut++)
        {
            byte[] prefix = block[..cut];
            BitConverter.GetBytes((uint)cut).CopyTo(prefix, 0);
            var output = _arena.Struct<BootInfo>();
            Multiboot2Parser.Parse(_arena.BeforeGuardPage(prefix), output);
            Assert.False(output->Complete, $"cut {cut}");
            if (cut > efiTag + 8)
                Assert.True(output->MemoryMapSource == MemoryMapSource.Multiboot2 || output->MemoryMapSource == MemoryMapSource.Efi, $"cut {cut}");
            // The framebuffer tag (38 bytes, padded to 40) sits before the 8-byte end tag.
            Assert.Equal(cut >= block.Length - 8 - 40 + 38, output->Framebuffer.Present);
        }
    }

    [Fact]
    public void SecondEfiMapTag_IsIgnored()
    {
        var info = Parse(new Multiboot2Builder().EfiMemoryMap(SmallEfiMap).EfiMemoryMap(new EfiDescriptor(0, 1, 7, 0)).End().Build());
        var d = Assert.Single(Enumerable.Range(0, info->Diagnostics.Count).Select(i => info->Diagnostics.Get(i)));
        Assert.Equal((MultibootDiagnosticCode.DuplicateTag, 17UL), (d.Code, d.Value0));
        Assert.Equal(SmallEfiMapEntries, Entries(info));
    }
}
