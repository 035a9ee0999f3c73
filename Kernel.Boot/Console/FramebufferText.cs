namespace PoolKernel.Boot.Console
{
    /// <summary>
    /// A text console drawn on a 32-bit linear framebuffer with a <see cref="ConsoleFont"/>: Columns x
    /// Rows cells of 8 x 16 pixels from the top-left corner (the pixels right of and below the last
    /// whole cell stay background). Writes behave as the VGA text screen's: '\n' starts a new line,
    /// '\r' returns to column 0, backspace steps left, a full line wraps, and the bottom line scrolls
    /// everything up a row. Each glyph row is eight 32-bit stores; a scroll moves the pixel rows up
    /// with 64-bit copies and clears the last row, so the cost of drawing is the pixels touched.
    /// Contract: the surface stays mapped and writable, and the font alive, for as long as this is used.
    /// </summary>
    public unsafe struct FramebufferText
    {
        private byte* _base;
        private uint _pitch;
        private uint _width;
        private uint _height;
        private ConsoleFont* _font;
        private uint _foreground;
        private uint _background;

        public int Columns;
        public int Rows;
        /// <summary>The cell the next character goes into.</summary>
        public int Row;
        public int Column;

        /// <summary>
        /// Takes the surface (<paramref name="pitch"/> a multiple of 4 of at least 4 x width) and clears all of it
        /// to <paramref name="background"/>. A surface smaller than one cell gets no rows and ignores writes.
        /// </summary>
        public void Initialize(byte* surface, uint pitch, uint width, uint height, ConsoleFont* font, uint foreground, uint background)
        {
            _base = surface;
            _pitch = pitch;
            _width = width;
            _height = height;
            _font = font;
            _foreground = foreground;
            _background = background;
            Columns = (int)(width / ConsoleFont.Width);
            Rows = (int)(height / ConsoleFont.Height);
            if (Columns == 0 || Rows == 0)
                Columns = Rows = 0;
            Row = 0;
            Column = 0;
            Fill(0, height);
        }

        public void Write(byte c)
        {
            if (Rows == 0)
                return;
            if (c == (byte)'\n')
            {
                NewLine();
                return;
            }
            if (c == (byte)'\r')
            {
                Column = 0;
                return;
            }
            if (c == 8)
            {
                if (Column > 0)
                    Column--;
                return;
            }
            DrawGlyph(Column, Row, c);
            if (++Column == Columns)
                NewLine();
        }

        private void DrawGlyph(int column, int row, byte c)
        {
            uint fg = _foreground, bg = _background;
            byte* line = _base + (ulong)(row * ConsoleFont.Height) * _pitch + (ulong)column * ConsoleFont.Width * 4;
            for (int y = 0; y < ConsoleFont.Height; y++, line += _pitch)
            {
                uint bits = _font->Row(c, y);
                uint* p = (uint*)line;
                p[0] = (bits & 0x80) != 0 ? fg : bg;
                p[1] = (bits & 0x40) != 0 ? fg : bg;
                p[2] = (bits & 0x20) != 0 ? fg : bg;
                p[3] = (bits & 0x10) != 0 ? fg : bg;
                p[4] = (bits & 0x08) != 0 ? fg : bg;
                p[5] = (bits & 0x04) != 0 ? fg : bg;
                p[6] = (bits & 0x02) != 0 ? fg : bg;
                p[7] = (bits & 0x01) != 0 ? fg : bg;
            }
        }

        private void NewLine()
        {
            Column = 0;
            if (++Row < Rows)
                return;
            Row = Rows - 1;
            // Pixel rows of text rows 1..Rows-1 move up one text row: a forward copy, the destination below the source.
            ulong rowBytes = (ulong)_pitch * ConsoleFont.Height;
            ulong bytes = rowBytes * (ulong)(Rows - 1);
            byte* to = _base, from = _base + rowBytes;
            ulong i = 0;
            if ((((ulong)_base | _pitch) & 7) == 0)
            {
                for (; i + 8 <= bytes; i += 8)
                    *(ulong*)(to + i) = *(ulong*)(from + i);
            }
            for (; i < bytes; i += 4)
                *(uint*)(to + i) = *(uint*)(from + i);
            Fill((uint)(Row * ConsoleFont.Height), (uint)(Rows * ConsoleFont.Height));
        }

        /// <summary>Pixel rows [from, to) to the background, the visible width only.</summary>
        private void Fill(uint from, uint to)
        {
            uint bg = _background;
            for (uint y = from; y < to; y++)
            {
                uint* p = (uint*)(_base + (ulong)y * _pitch);
                for (uint x = 0; x < _width; x++)
                    p[x] = bg;
            }
        }
    }
}
