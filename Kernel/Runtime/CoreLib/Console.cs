using PoolKernel.Platform;

namespace System
{
    /// <summary>
    /// The kernel console, on COM1 and mirrored on the screen: the VGA text screen or a framebuffer
    /// (<see cref="Screen"/>; as in Cosmos, kernel code writes with Console.Write).
    /// Numbers are formatted here, without allocating; text is ASCII.
    /// </summary>
    public static unsafe class Console
    {
        public static void Write(char c)
        {
            byte b = c < 0x80 ? (byte)c : (byte)'?';
            if (c == '\n')
                Serial.Write((byte)'\r');
            Serial.Write(b);
            Screen.Write(b);
        }

        public static void Write(string s)
        {
            if ((object)s == null)
                return;
            for (int i = 0; i < s.Length; i++)
                Write(s[i]);
        }

        public static void WriteLine() => Write('\n');

        public static void WriteLine(string s)
        {
            Write(s);
            Write('\n');
        }

        /// <summary>
        /// Writes <paramref name="length"/> bytes from memory (a command line, a loader name, a
        /// typed word) so that none can act on the terminal: printable ASCII as is, control bytes
        /// in caret notation (^A, ^[ for ESC, ^? for DEL), bytes above 127 as M- and the low seven
        /// bits, as cat -v does.
        /// </summary>
        public static void WriteAscii(byte* text, ulong length)
        {
            for (ulong i = 0; i < length; i++)
                WriteVisible(text[i]);
        }

        /// <summary>One byte the way <see cref="WriteAscii"/> writes it.</summary>
        public static void WriteVisible(byte c)
        {
            if (c >= 128)
            {
                Write("M-");
                c &= 127;
            }
            if (c >= 32 && c <= 126)
            {
                Write((char)c);
                return;
            }
            Write('^');
            Write(c == 127 ? '?' : (char)(c + 64));
        }

        public static void Write(ulong value)
        {
            char* digits = stackalloc char[20];
            int n = 0;
            do
            {
                digits[n++] = (char)('0' + (int)(value % 10));
                value /= 10;
            }
            while (value != 0);
            while (n > 0)
                Write(digits[--n]);
        }

        public static void Write(long value)
        {
            if (value < 0)
            {
                Write('-');
                Write((ulong)(-(value + 1)) + 1);
                return;
            }
            Write((ulong)value);
        }

        public static void Write(int value) => Write((long)value);

        public static void Write(uint value) => Write((ulong)value);

        public static void Write(bool value) => Write(value ? "true" : "false");

        /// <summary>Hexadecimal with a 0x prefix, at least <paramref name="minDigits"/> digits.</summary>
        public static void WriteHex(ulong value, int minDigits = 1)
        {
            Write("0x");
            int digits = 1;
            for (ulong v = value >> 4; v != 0; v >>= 4)
                digits++;
            if (digits < minDigits)
                digits = minDigits;
            for (int i = digits - 1; i >= 0; i--)
            {
                int nibble = (int)((value >> (i * 4)) & 0xF);
                Write((char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10));
            }
        }

        /// <summary>A size in the largest unit that divides it exactly or, failing that, in KiB/MiB with a decimal.</summary>
        public static void WriteSize(ulong bytes)
        {
            const ulong KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;
            if (bytes >= GiB && bytes % GiB == 0) { Write(bytes / GiB); Write(" GiB"); }
            else if (bytes >= MiB && bytes % MiB == 0) { Write(bytes / MiB); Write(" MiB"); }
            else if (bytes >= KiB && bytes % KiB == 0) { Write(bytes / KiB); Write(" KiB"); }
            else { Write(bytes); Write(" B"); }
        }
    }
}
