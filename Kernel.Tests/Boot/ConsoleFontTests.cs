using System.Buffers.Binary;
using PoolKernel.Boot.Console;
using PoolKernel.Memory.Testing.Boot;
using Xunit;

namespace PoolKernel.Tests.Boot;

/// <summary>
/// The PF2 reader behind the framebuffer console: the font the kernel links in (GRUB's ascii.pf2)
/// reads whole, glyphs land where their offsets put them, and a damaged file is named or its bad
/// glyphs left blank, never read past its end.
/// </summary>
public sealed unsafe class ConsoleFontTests : IDisposable
{
    /// <summary>The file Kernel/Arch/x64/font.S includes (Debian's grub-common).</summary>
    public const string GrubAsciiFont = "/usr/share/grub/ascii.pf2";

    private readonly NativeArena _arena = new();

    public void Dispose() => _arena.Dispose();

    private Pf2FontError Read(byte[] file, out ConsoleFont* font)
    {
        font = _arena.Struct<ConsoleFont>();
        return Pf2Font.Read(_arena.BeforeGuardPage(file), (ulong)file.Length, font);
    }

    /// <summary>The kernel's font, read by the kernel's reader; the tests' renderings use it too.</summary>
    public static ConsoleFont LoadKernelFont()
    {
        byte[] file = File.ReadAllBytes(GrubAsciiFont);
        ConsoleFont font = default;
        fixed (byte* p = file)
            Assert.Equal(Pf2FontError.Ok, Pf2Font.Read(p, (ulong)file.Length, &font));
        return font;
    }

    [Fact]
    public void GrubAsciiFont_GivesAll95PrintableGlyphs_InTheirCells()
    {
        Assert.Equal(Pf2FontError.Ok, Read(File.ReadAllBytes(GrubAsciiFont), out ConsoleFont* font));
        Assert.Equal(95, font->Loaded);
        for (int y = 0; y < 16; y++)
            Assert.Equal(0, font->Row((byte)' ', y));
        // '_' is a 7x1 glyph at x 1, its bottom 1 below the baseline (ascent 14): row 14, pixels 1..7.
        Assert.Equal(Enumerable.Range(0, 16).Select(y => y == 14 ? (byte)0x7F : (byte)0).ToArray(),
            Enumerable.Range(0, 16).Select(y => font->Row((byte)'_', y)).ToArray());
        // '|' is 1x14 at x 4 from 2 below the baseline: rows 2..15, pixel 4.
        Assert.Equal(Enumerable.Range(0, 16).Select(y => y >= 2 ? (byte)0x08 : (byte)0).ToArray(),
            Enumerable.Range(0, 16).Select(y => font->Row((byte)'|', y)).ToArray());
        // Every printable glyph but the space has ink; bytes outside 32..126 draw as '?'.
        for (byte c = 33; c <= 126; c++)
            Assert.True(Enumerable.Range(0, 16).Any(y => font->Row(c, y) != 0), $"'{(char)c}' is blank");
        for (int y = 0; y < 16; y++)
        {
            Assert.Equal(font->Row((byte)'?', y), font->Row(0x01, y));
            Assert.Equal(font->Row((byte)'?', y), font->Row(0xFF, y));
        }
    }

    [Fact]
    public void EveryTruncation_OfTheRealFont_StopsInsideIt()
    {
        byte[] file = File.ReadAllBytes(GrubAsciiFont);
        int lastLoaded = 0;
        for (int cut = 0; cut < file.Length; cut += cut < 1600 ? 1 : 7)
        {
            Pf2FontError error = Read(file[..cut], out ConsoleFont* font);
            Assert.True(font->Loaded <= 95, $"cut {cut}");
            if (error == Pf2FontError.Ok)
            {
                Assert.True(font->Loaded >= lastLoaded, $"cut {cut}: fewer glyphs than a shorter cut");
                lastLoaded = font->Loaded;
            }
        }
    }

    /// <summary>A PF2 file: FILE/PFF2, ASCE, DESC, CHIX, DATA with the glyphs; glyph = (code, flags, w, h, xoff, yoff, bits).</summary>
    private static byte[] Pf2(int ascent, int descent, params (uint Code, byte Flags, int W, int H, int X, int Y, byte[] Bits)[] glyphs)
    {
        var file = new List<byte>();
        void Section(string name, byte[] body, uint? length = null)
        {
            file.AddRange(System.Text.Encoding.ASCII.GetBytes(name));
            file.AddRange(BigEndian32(length ?? (uint)body.Length));
            file.AddRange(body);
        }
        Section("FILE", "PFF2"u8.ToArray());
        Section("ASCE", BigEndian16(ascent));
        Section("DESC", BigEndian16(descent));
        int indexStart = file.Count + 8;
        int dataStart = indexStart + 9 * glyphs.Length + 8;
        var index = new List<byte>();
        var data = new List<byte>();
        foreach (var g in glyphs)
        {
            index.AddRange(BigEndian32(g.Code));
            index.Add(g.Flags);
            index.AddRange(BigEndian32((uint)(dataStart + data.Count)));
            data.AddRange(BigEndian16(g.W).Concat(BigEndian16(g.H)).Concat(BigEndian16(g.X)).Concat(BigEndian16(g.Y)).Concat(BigEndian16(8)));
            data.AddRange(g.Bits);
        }
        Section("CHIX", index.ToArray());
        Section("DATA", data.ToArray(), 0xFFFFFFFF);
        return file.ToArray();
    }

    private static byte[] BigEndian32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); return b; }
    private static byte[] BigEndian16(int v) { var b = new byte[2]; BinaryPrimitives.WriteInt16BigEndian(b, (short)v); return b; }

    [Fact]
    public void Glyph_IsPlacedByItsOffsets_BitsRunAcrossRows()
    {
        // A 3x3 glyph at x 2 whose bottom is 1 above the baseline (ascent 12): rows 12 - 1 - 3 = 8..10.
        // Bits 101 010 101 packed without row padding: 1010 1010 1000 0000.
        byte[] file = Pf2(12, 4, ((uint)'x', 0, 3, 3, 2, 1, new byte[] { 0xAA, 0x80 }));
        Assert.Equal(Pf2FontError.Ok, Read(file, out ConsoleFont* font));
        Assert.Equal(1, font->Loaded);
        byte[] rows = Enumerable.Range(0, 16).Select(y => font->Row((byte)'x', y)).ToArray();
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0b0010_1000, 0b0001_0000, 0b0010_1000, 0, 0, 0, 0, 0 }, rows);
    }

    [Fact]
    public void GlyphsThatDoNotFit_OrAreCompressed_OrOutsideAscii_AreLeftBlank()
    {
        byte[] dot = { 0x80 };
        byte[] file = Pf2(14, 2,
            ((uint)'a', 0, 9, 1, 0, 0, new byte[] { 0xFF, 0x80 }),   // 9 wide
            ((uint)'b', 0, 1, 1, 8, 0, dot),                         // starts right of the cell
            ((uint)'c', 0, 1, 1, -1, 0, dot),                        // starts left of it
            ((uint)'d', 0, 1, 1, 0, 14, dot),                        // above the top
            ((uint)'e', 0, 1, 1, 0, -3, dot),                        // below the bottom
            ((uint)'f', 1, 1, 1, 0, 0, dot),                         // compressed
            (0x263A, 0, 1, 1, 0, 0, dot),                            // not ASCII
            ((uint)'g', 0, 1, 1, 0, -2, dot));                       // fits: bottom row
        Assert.Equal(Pf2FontError.Ok, Read(file, out ConsoleFont* font));
        Assert.Equal(1, font->Loaded);
        foreach (char c in "abcdef")
            Assert.All(Enumerable.Range(0, 16), y => Assert.Equal(0, font->Row((byte)c, y)));
        Assert.Equal(0x80, font->Row((byte)'g', 15));
    }

    [Fact]
    public void GlyphWhoseBitsRunPastTheFile_IsLeftBlank()
    {
        byte[] file = Pf2(14, 2, ((uint)'a', 0, 8, 16, 0, -2, new byte[16]));
        Assert.Equal(Pf2FontError.Ok, Read(file[..^1], out ConsoleFont* font));
        Assert.Equal(0, font->Loaded);
    }

    [Fact]
    public void DamagedFiles_AreNamed()
    {
        byte[] good = Pf2(14, 2, ((uint)'a', 0, 1, 1, 0, 0, new byte[] { 0x80 }));
        Assert.Equal(Pf2FontError.Ok, Read(good, out _));

        byte[] magic = (byte[])good.Clone();
        magic[8] = (byte)'X';
        Assert.Equal(Pf2FontError.NotPf2, Read(magic, out _));
        Assert.Equal(Pf2FontError.NotPf2, Read(good[..10], out _));

        Assert.Equal(Pf2FontError.NotSixteenPixelsHigh, Read(Pf2(12, 2, ((uint)'a', 0, 1, 1, 0, 0, new byte[] { 0x80 })), out _));
        // An empty index reads, with no glyph (the kernel then does not use the framebuffer console).
        Assert.Equal(Pf2FontError.Ok, Read(Pf2(14, 2), out ConsoleFont* empty));
        Assert.Equal(0, empty->Loaded);

        // A section whose length runs past the end of the file (ASCE claims 1000 bytes).
        byte[] overrun = (byte[])good.Clone();
        BigEndian32(1000).CopyTo(overrun, 16);
        Assert.Equal(Pf2FontError.SectionOverrun, Read(overrun, out _));

        // No CHIX before DATA: rename it.
        byte[] noIndex = (byte[])good.Clone();
        int chix = IndexOf(noIndex, "CHIX"u8.ToArray());
        noIndex[chix] = (byte)'X';
        Assert.Equal(Pf2FontError.MissingSection, Read(noIndex, out _));
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
                return i;
        }
        return -1;
    }
}
