namespace PoolKernel.Boot.Multiboot
{
    /// <summary>framebuffer_type of the multiboot2 framebuffer tag (8).</summary>
    public enum FramebufferType : byte
    {
        /// <summary>Palette-indexed pixels.</summary>
        Indexed = 0,
        /// <summary>Direct colour: each of red, green and blue has a bit position and a size.</summary>
        Rgb = 1,
        /// <summary>The VGA text screen: Width x Height characters at Address (0xB8000), 16 bits a cell.</summary>
        EgaText = 2,
    }

    /// <summary>
    /// The linear framebuffer the loader set up (multiboot2 tag 8), as the tag gave it. Only
    /// <see cref="IsRgb32"/> framebuffers are drawn on by the kernel: 32-bit pixels whose red, green
    /// and blue are 8-bit fields on byte boundaries, what UEFI GOP and VESA modes of depth 32 give.
    /// </summary>
    public struct FramebufferInfo
    {
        public bool Present;
        public ulong Address;
        /// <summary>Bytes from one pixel row (or text row) to the next.</summary>
        public uint Pitch;
        /// <summary>Pixels (characters for <see cref="FramebufferType.EgaText"/>).</summary>
        public uint Width;
        public uint Height;
        public byte BitsPerPixel;
        public FramebufferType Type;
        public byte RedPosition, RedSize, GreenPosition, GreenSize, BluePosition, BlueSize;

        public void Clear() => this = default;

        /// <summary>
        /// 32-bit direct-colour pixels with three 8-bit fields at distinct byte positions, rows of at least
        /// Width pixels, and the whole Pitch x Height below 2^64: a framebuffer the console can draw on.
        /// </summary>
        public bool IsRgb32 =>
            Present && Type == FramebufferType.Rgb && BitsPerPixel == 32 && Address != 0
            && Width != 0 && Height != 0 && Pitch / 4 >= Width && (Pitch & 3) == 0
            && RedSize == 8 && GreenSize == 8 && BlueSize == 8
            && (RedPosition & 7) == 0 && (GreenPosition & 7) == 0 && (BluePosition & 7) == 0
            && RedPosition <= 24 && GreenPosition <= 24 && BluePosition <= 24
            && RedPosition != GreenPosition && GreenPosition != BluePosition && RedPosition != BluePosition
            && (ulong)Pitch * Height <= ulong.MaxValue - Address;

        /// <summary>Bytes from Address to the end of the last row.</summary>
        public ulong SizeBytes => (ulong)Pitch * Height;

        /// <summary>The 32-bit pixel value of a colour (meaningful when <see cref="IsRgb32"/>).</summary>
        public uint Pixel(byte red, byte green, byte blue)
            => ((uint)red << RedPosition) | ((uint)green << GreenPosition) | ((uint)blue << BluePosition);
    }
}
