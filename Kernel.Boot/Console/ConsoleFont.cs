namespace PoolKernel.Boot.Console
{
    /// <summary>
    /// The console's bitmap font: printable ASCII (32..126) in 8 x 16 cells, one byte a pixel row,
    /// the leftmost pixel in bit 7. Filled by <see cref="Pf2Font.Read"/>; any other byte is drawn as '?'.
    /// </summary>
    public unsafe struct ConsoleFont
    {
        public const int Width = 8;
        public const int Height = 16;
        public const byte First = 32;
        public const byte Last = 126;
        public const int Count = Last - First + 1;
        private const byte Substitute = (byte)'?';

        private fixed byte _rows[Count * Height];

        /// <summary>Glyphs taken from the font file; the rest of the 95 are blank.</summary>
        public int Loaded;

        public void Clear()
        {
            for (int i = 0; i < Count * Height; i++)
                _rows[i] = 0;
            Loaded = 0;
        }

        /// <summary>Pixel row <paramref name="y"/> (0..15) of character <paramref name="c"/>; bit 7 is the leftmost pixel.</summary>
        public byte Row(byte c, int y)
        {
            if (c < First || c > Last)
                c = Substitute;
            return (uint)y < Height ? _rows[(c - First) * Height + y] : (byte)0;
        }

        internal void SetPixel(byte c, int x, int y)
        {
            _rows[(c - First) * Height + y] |= (byte)(0x80 >> x);
        }
    }
}
