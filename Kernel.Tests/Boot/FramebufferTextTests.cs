using PoolKernel.Boot.Console;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory.Testing.Boot;
using Xunit;

namespace PoolKernel.Tests.Boot;

/// <summary>
/// The framebuffer text console drawn into host memory and compared pixel by pixel with a plain
/// rendering of the expected characters by the kernel's font (<see cref="ScreenText"/>).
/// </summary>
public sealed unsafe class FramebufferTextTests : IDisposable
{
    private const uint Fg = 0x00AAAAAA, Bg = 0x00000000, Outside = 0xDEADBEEF;
    private readonly NativeArena _arena = new();
    private readonly ConsoleFont* _font;

    public FramebufferTextTests()
    {
        _font = _arena.Struct<ConsoleFont>();
        *_font = ConsoleFontTests.LoadKernelFont();
    }

    public void Dispose() => _arena.Dispose();

    /// <summary>A surface of width x height pixels in rows of pitch bytes (the padding pre-filled with <see cref="Outside"/>).</summary>
    private FramebufferText Surface(uint width, uint height, uint pitch, out uint* pixels)
    {
        pixels = (uint*)_arena.High((int)(pitch * height) + 64);
        for (uint i = 0; i < pitch / 4 * height; i++)
            pixels[i] = Outside;
        var text = new FramebufferText();
        text.Initialize((byte*)pixels, pitch, width, height, _font, Fg, Bg);
        return text;
    }

    private static void Write(ref FramebufferText text, string s)
    {
        foreach (char c in s)
            text.Write((byte)c);
    }

    /// <summary>Every pixel of the visible cells against the lines expected, and everything else untouched or background.</summary>
    private void AssertScreen(uint* pixels, uint width, uint height, uint pitch, params string[] lines)
    {
        uint[,] expected = ScreenText.Render(*_font, (int)width, (int)height, lines, Fg, Bg);
        for (uint y = 0; y < height; y++)
        {
            for (uint x = 0; x < pitch / 4; x++)
            {
                uint actual = pixels[y * (pitch / 4) + x];
                uint want = x < width ? expected[y, x] : Outside;
                Assert.True(want == actual, $"pixel ({x},{y}) is {actual:x8}, expected {want:x8}");
            }
        }
    }

    [Fact]
    public void Text_IsTheFontsPixels_InItsCells_PaddingUntouched()
    {
        // 5 columns and 2 rows of cells; 4 pixels right and 5 below the last cell stay background;
        // the pitch has 3 pixels of padding the console must not write.
        var text = Surface(44, 37, 47 * 4, out uint* pixels);
        Assert.Equal((5, 2), (text.Columns, text.Rows));
        Write(ref text, "Hi!");
        AssertScreen(pixels, 44, 37, 47 * 4, "Hi!");
        Assert.Equal((0, 3), (text.Row, text.Column));
    }

    [Fact]
    public void Newline_Return_Backspace_AndWrap_MoveTheCursorAsOnVgaText()
    {
        var text = Surface(40, 64, 160, out uint* pixels);
        Write(ref text, "abc\rX\nde\b\bQ");
        AssertScreen(pixels, 40, 64, 160, "Xbc", "Qe");
        Write(ref text, "\n12345678");   // five columns: wraps after 5
        AssertScreen(pixels, 40, 64, 160, "Xbc", "Qe", "12345", "678");
        Assert.Equal((3, 3), (text.Row, text.Column));
    }

    [Theory]
    [InlineData(192u)]   // pitch a multiple of 8: 64-bit moves
    [InlineData(196u)]   // pitch 4 more: 32-bit moves
    public void BottomLine_ScrollsEverythingUpOneRow(uint pitch)
    {
        var text = Surface(48, 48, pitch, out uint* pixels);
        Write(ref text, "one\ntwo\nthree\nfour");
        AssertScreen(pixels, 48, 48, pitch, "two", "three", "four");
        Write(ref text, "\n");
        AssertScreen(pixels, 48, 48, pitch, "three", "four", "");
        Assert.Equal((2, 0), (text.Row, text.Column));
    }

    [Fact]
    public void SurfaceSmallerThanACell_HasNoRows_AndIgnoresWrites()
    {
        var text = Surface(7, 40, 32, out uint* pixels);
        Assert.Equal((0, 0), (text.Columns, text.Rows));
        Write(ref text, "abc\n");
        for (uint y = 0; y < 40; y++)
            for (uint x = 0; x < 8; x++)
                Assert.Equal(x < 7 ? Bg : Outside, pixels[y * 8 + x]);
    }

    public static IEnumerable<object[]> Framebuffers()
    {
        // address, pitch, width, height, bpp, type, colour info, Rgb32?
        yield return new object[] { "GOP 1024x768x32", 0xC0000000UL, 4096u, 1024u, 768u, (byte)32, (byte)1, new byte[] { 16, 8, 8, 8, 0, 8 }, true };
        yield return new object[] { "red low (BGR order)", 0xC0000000UL, 4096u, 1024u, 768u, (byte)32, (byte)1, new byte[] { 0, 8, 8, 8, 16, 8 }, true };
        yield return new object[] { "pitch with padding", 0xFD000000UL, 4352u, 1024u, 768u, (byte)32, (byte)1, new byte[] { 16, 8, 8, 8, 0, 8 }, true };
        yield return new object[] { "24 bits", 0xFD000000UL, 3072u, 1024u, 768u, (byte)24, (byte)1, new byte[] { 16, 8, 8, 8, 0, 8 }, false };
        yield return new object[] { "16 bits 5-6-5", 0xFD000000UL, 2048u, 1024u, 768u, (byte)16, (byte)1, new byte[] { 11, 5, 5, 6, 0, 5 }, false };
        yield return new object[] { "10-bit fields", 0xFD000000UL, 4096u, 1024u, 768u, (byte)32, (byte)1, new byte[] { 20, 10, 10, 10, 0, 10 }, false };
        yield return new object[] { "two fields at one place", 0xFD000000UL, 4096u, 1024u, 768u, (byte)32, (byte)1, new byte[] { 0, 8, 0, 8, 16, 8 }, false };
        yield return new object[] { "pitch below width", 0xFD000000UL, 4092u, 1024u, 768u, (byte)32, (byte)1, new byte[] { 16, 8, 8, 8, 0, 8 }, false };
        yield return new object[] { "indexed", 0xFD000000UL, 1024u, 1024u, 768u, (byte)8, (byte)0, Array.Empty<byte>(), false };
        yield return new object[] { "ends past 2^64", 0xFFFFFFFFFFF00000UL, 4096u, 1024u, 768u, (byte)32, (byte)1, new byte[] { 16, 8, 8, 8, 0, 8 }, false };
        yield return new object[] { "address 0", 0UL, 4096u, 1024u, 768u, (byte)32, (byte)1, new byte[] { 16, 8, 8, 8, 0, 8 }, false };
    }

    /// <summary>Tag 8 as GRUB writes it is read field by field; only 32-bit RGB with byte fields is drawable.</summary>
    [Theory]
    [MemberData(nameof(Framebuffers))]
    public void FramebufferTag_IsRead_AndOnly32BitRgbIsDrawable(string name, ulong address, uint pitch, uint width, uint height, byte bpp, byte type, byte[] color, bool drawable)
    {
        byte[] block = new Multiboot2Builder().Framebuffer(address, pitch, width, height, bpp, type, color).End().Build();
        BootInfo* info = ParseBlock(block);
        Assert.Equal(info->Diagnostics.CountOf(MultibootDiagnosticCode.NoMemoryInformation), info->Diagnostics.Count);
        FramebufferInfo fb = info->Framebuffer;
        Assert.True(fb.Present, name);
        Assert.Equal((address, pitch, width, height, bpp, (FramebufferType)type), (fb.Address, fb.Pitch, fb.Width, fb.Height, fb.BitsPerPixel, fb.Type));
        if (type == 1)
            Assert.Equal(color, new[] { fb.RedPosition, fb.RedSize, fb.GreenPosition, fb.GreenSize, fb.BluePosition, fb.BlueSize });
        Assert.Equal(drawable, fb.IsRgb32);
        Assert.Equal(drawable ? ScreenKind.Framebuffer : ScreenKind.None, ScreenChoice.Choose(info));
        if (drawable)
            Assert.Equal(0xAAu << color[0], fb.Pixel(0xAA, 0, 0));
    }

    [Fact]
    public void Pixel_PutsEachColourInItsField()
    {
        BootInfo* info = ParseBlock(new Multiboot2Builder().Framebuffer(0xC0000000, 4096, 1024, 768, 32, 1, 0, 8, 8, 8, 16, 8).End().Build());
        Assert.Equal(0x00332211u, info->Framebuffer.Pixel(0x11, 0x22, 0x33));
        info = ParseBlock(new Multiboot2Builder().FramebufferRgb32(0xC0000000, 1024, 768).End().Build());
        Assert.Equal(0x00112233u, info->Framebuffer.Pixel(0x11, 0x22, 0x33));
    }

    [Fact]
    public void ShortFramebufferTags_AreSkipped_AndASecondIgnored()
    {
        // Direct colour without its six bytes; a tag shorter than the common part.
        BootInfo* info = ParseBlock(new Multiboot2Builder().Framebuffer(0xC0000000, 4096, 1024, 768, 32, 1, 16, 8, 8, 8).End().Build());
        Assert.False(info->Framebuffer.Present);
        Assert.Equal(MultibootDiagnosticCode.TagBodyTooSmall, info->Diagnostics.Get(0).Code);
        info = ParseBlock(new Multiboot2Builder().Tag(8, new byte[20]).End().Build());
        Assert.False(info->Framebuffer.Present);
        Assert.Equal(MultibootDiagnosticCode.TagBodyTooSmall, info->Diagnostics.Get(0).Code);
        info = ParseBlock(new Multiboot2Builder().FramebufferRgb32(0xC0000000, 1024, 768).FramebufferRgb32(0xD0000000, 800, 600).End().Build());
        Assert.Equal((0xC0000000UL, 1024u), (info->Framebuffer.Address, info->Framebuffer.Width));
        Assert.Equal((MultibootDiagnosticCode.DuplicateTag, 8UL), (info->Diagnostics.Get(0).Code, info->Diagnostics.Get(0).Value0));
    }

    /// <summary>BIOS machines without a tag or with GRUB's EGA text tag keep the VGA text screen; UEFI ones without a framebuffer have none.</summary>
    [Fact]
    public void ScreenChoice_FollowsTheLoader()
    {
        Assert.Equal(ScreenKind.VgaText, ScreenChoice.Choose(ParseBlock(new Multiboot2Builder().End().Build())));
        Assert.Equal(ScreenKind.VgaText, ScreenChoice.Choose(ParseBlock(new Multiboot2Builder().Framebuffer(0xB8000, 160, 80, 25, 16, 2).End().Build())));
        Assert.Equal(ScreenKind.None, ScreenChoice.Choose(ParseBlock(new Multiboot2Builder().Efi64SystemTable(0x3F000000).End().Build())));
        Assert.Equal(ScreenKind.Framebuffer, ScreenChoice.Choose(ParseBlock(new Multiboot2Builder().Efi64SystemTable(0x3F000000).FramebufferRgb32(0x80000000, 800, 600).End().Build())));
        var mb1 = _arena.Struct<BootInfo>();
        BootInfoParser.Parse(Multiboot1Parser.BootloaderMagic, _arena.Low(116), mb1);
        Assert.Equal(ScreenKind.VgaText, ScreenChoice.Choose(mb1));
    }

    private BootInfo* ParseBlock(byte[] block)
    {
        byte* info = _arena.High(block.Length + 64);
        for (int i = 0; i < block.Length; i++)
            info[i] = block[i];
        var output = _arena.Struct<BootInfo>();
        BootInfoParser.Parse(Multiboot2Parser.BootloaderMagic, info, output);
        return output;
    }
}

/// <summary>
/// What a screen of text should look like: each character's cell filled from the font's bits
/// (foreground where a bit is set), the rest background. Independent of FramebufferText's code;
/// the boot test compares QEMU's screendump against it too.
/// </summary>
public static class ScreenText
{
    public static uint[,] Render(ConsoleFont font, int width, int height, string[] lines, uint fg, uint bg)
    {
        var pixels = new uint[height, width];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                pixels[y, x] = bg;
        for (int row = 0; row < lines.Length && (row + 1) * 16 <= height; row++)
        {
            for (int col = 0; col < lines[row].Length && (col + 1) * 8 <= width; col++)
            {
                for (int y = 0; y < 16; y++)
                {
                    byte bits = font.Row((byte)lines[row][col], y);
                    for (int x = 0; x < 8; x++)
                        pixels[row * 16 + y, col * 8 + x] = (bits & (0x80 >> x)) != 0 ? fg : bg;
                }
            }
        }
        return pixels;
    }
}
