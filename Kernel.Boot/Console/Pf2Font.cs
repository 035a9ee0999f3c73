namespace PoolKernel.Boot.Console
{
    /// <summary>What <see cref="Pf2Font.Read"/> found wrong with a font file; Ok when it read it.</summary>
    public enum Pf2FontError : uint
    {
        Ok = 0,
        /// <summary>No "FILE" section saying "PFF2" at the start.</summary>
        NotPf2 = 1,
        /// <summary>A section runs past the end of the file.</summary>
        SectionOverrun = 2,
        /// <summary>No character index (CHIX), ascent (ASCE) or descent (DESC) before the glyph data.</summary>
        MissingSection = 3,
        /// <summary>Ascent + descent is not the 16-pixel cell this console draws.</summary>
        NotSixteenPixelsHigh = 4,
    }

    /// <summary>
    /// GRUB's PF2 bitmap font format, as grub-mkfont writes it (Debian's grub-common ships
    /// /usr/share/grub/ascii.pf2, GNU Unifont's ASCII at 16 pixels): sections of a 4-byte name and a
    /// big-endian u32 length, from "FILE" ("PFF2") to "DATA". CHIX holds 9-byte entries (u32 code
    /// point, u8 storage flags, u32 file offset of the glyph); a glyph is u16 width, u16 height,
    /// s16 x offset, s16 y offset (bottom edge above the baseline), s16 advance, then width x height
    /// bits row by row, most significant bit first, rows not padded. All numbers big-endian.
    /// </summary>
    public static unsafe class Pf2Font
    {
        private const uint SectionHeader = 8;
        private const uint IndexEntry = 9;
        private const uint GlyphHeader = 10;
        /// <summary>CHIX flags bits 0-1: 0 = stored uncompressed, the only form grub-mkfont writes.</summary>
        private const byte CompressionMask = 3;

        /// <summary>
        /// Contract: reads the file at <paramref name="file"/> (<paramref name="size"/> bytes; nothing
        /// outside is read) and places every uncompressed glyph of code points 32..126 that fits the
        /// 8 x 16 cell into <paramref name="font"/> (cleared first), positioned by its offsets against
        /// the font's ascent. A glyph that does not fit, lies outside the file or is compressed is left
        /// blank and not counted in <see cref="ConsoleFont.Loaded"/>. Returns Ok or why nothing was read.
        /// </summary>
        public static Pf2FontError Read(byte* file, ulong size, ConsoleFont* font)
        {
            font->Clear();
            if (size < SectionHeader + 4 || !Name(file, 'F', 'I', 'L', 'E') || BigEndian32(file + 4) != 4
                || !Name(file + SectionHeader, 'P', 'F', 'F', '2'))
                return Pf2FontError.NotPf2;

            ulong offset = SectionHeader + 4, index = 0, indexLength = 0;
            int ascent = -1, descent = -1;
            while (size - offset >= SectionHeader)
            {
                byte* section = file + offset;
                if (Name(section, 'D', 'A', 'T', 'A'))
                    break;
                ulong length = BigEndian32(section + 4);
                if (length > size - offset - SectionHeader)
                    return Pf2FontError.SectionOverrun;
                byte* body = section + SectionHeader;
                if (Name(section, 'C', 'H', 'I', 'X'))
                {
                    index = offset + SectionHeader;
                    indexLength = length;
                }
                else if (Name(section, 'A', 'S', 'C', 'E') && length >= 2)
                    ascent = BigEndian16(body);
                else if (Name(section, 'D', 'E', 'S', 'C') && length >= 2)
                    descent = BigEndian16(body);
                offset += SectionHeader + length;
            }
            if (index == 0 || ascent < 0 || descent < 0)
                return Pf2FontError.MissingSection;
            if (ascent + descent != ConsoleFont.Height)
                return Pf2FontError.NotSixteenPixelsHigh;

            for (ulong e = 0; e + IndexEntry <= indexLength; e += IndexEntry)
            {
                byte* entry = file + index + e;
                uint code = BigEndian32(entry);
                if (code < ConsoleFont.First || code > ConsoleFont.Last || (entry[4] & CompressionMask) != 0)
                    continue;
                if (PlaceGlyph(file, size, BigEndian32(entry + 5), (byte)code, ascent, font))
                    font->Loaded++;
            }
            return Pf2FontError.Ok;
        }

        private static bool PlaceGlyph(byte* file, ulong size, ulong at, byte code, int ascent, ConsoleFont* font)
        {
            if (at > size || size - at < GlyphHeader)
                return false;
            byte* glyph = file + at;
            int width = BigEndian16(glyph), height = BigEndian16(glyph + 2);
            int left = (short)BigEndian16(glyph + 4), bottom = (short)BigEndian16(glyph + 6);
            int top = ascent - bottom - height;
            ulong bits = (ulong)width * (ulong)height;
            if (left < 0 || left + width > ConsoleFont.Width || top < 0 || top + height > ConsoleFont.Height
                || (bits + 7) / 8 > size - at - GlyphHeader)
                return false;
            byte* bitmap = glyph + GlyphHeader;
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    int bit = y * width + x;
                    if ((bitmap[bit >> 3] & (0x80 >> (bit & 7))) != 0)
                        font->SetPixel(code, left + x, top + y);
                }
            }
            return true;
        }

        private static bool Name(byte* p, char a, char b, char c, char d)
            => p[0] == (byte)a && p[1] == (byte)b && p[2] == (byte)c && p[3] == (byte)d;

        private static uint BigEndian32(byte* p) => ((uint)p[0] << 24) | ((uint)p[1] << 16) | ((uint)p[2] << 8) | p[3];

        private static int BigEndian16(byte* p) => (p[0] << 8) | p[1];
    }
}
