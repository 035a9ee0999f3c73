namespace PoolKernel.Platform
{
    /// <summary>
    /// The VGA text screen (80x25 at 0xB8000), a mirror of the serial console so that a machine
    /// with a screen and no serial port (VMware, real hardware) shows the kernel's output too.
    /// GRUB and QEMU's -kernel both leave the adapter in this text mode.
    /// </summary>
    internal static unsafe class VgaText
    {
        private const int Columns = 80;
        private const int Rows = 25;
        private const ushort Attribute = 0x07 << 8;   // light grey on black
        private static ushort* Screen => (ushort*)0xB8000;

        private static int s_row;
        private static int s_column;

        internal static void Clear()
        {
            for (int i = 0; i < Columns * Rows; i++)
                Screen[i] = Attribute | ' ';
            s_row = 0;
            s_column = 0;
        }

        internal static void Write(byte c)
        {
            if (c == (byte)'\n')
            {
                NewLine();
                return;
            }
            if (c == (byte)'\r')
            {
                s_column = 0;
                return;
            }
            if (c == 8)
            {
                if (s_column > 0)
                    s_column--;
                return;
            }
            Screen[s_row * Columns + s_column] = (ushort)(Attribute | c);
            if (++s_column == Columns)
                NewLine();
        }

        private static void NewLine()
        {
            s_column = 0;
            if (++s_row < Rows)
                return;
            for (int i = 0; i < Columns * (Rows - 1); i++)
                Screen[i] = Screen[i + Columns];
            for (int i = Columns * (Rows - 1); i < Columns * Rows; i++)
                Screen[i] = Attribute | ' ';
            s_row = Rows - 1;
        }
    }
}
