namespace PoolKernel.Boot.Text
{
    /// <summary>
    /// Where report text goes: the kernel's console (Kernel/Startup/ConsoleOut.cs) or, on the host,
    /// a string (Kernel.Sim/StringOut.cs). The reports of the pure projects (Boot/Reports) write
    /// through this, so the kernel's shell and the host simulator print the same lines from the same
    /// code. A sink is a function pointer and its state (the pure subset has no virtual methods), passed
    /// by value. Numbers are formatted here without allocating, in the kernel console's forms:
    /// decimal, 0x hex with a minimum width, sizes in the largest unit that divides them; text is ASCII.
    /// </summary>
    public readonly unsafe struct TextOut
    {
        private readonly delegate*<void*, char, void> _put;
        private readonly void* _sink;

        /// <summary><paramref name="put"/> receives <paramref name="sink"/> and each character; '\n' ends a line (the sink decides what a line end is on its medium).</summary>
        public TextOut(delegate*<void*, char, void> put, void* sink)
        {
            _put = put;
            _sink = sink;
        }

        public void Write(char c) => _put(_sink, c);

        public void Write(string s)
        {
            if ((object)s == null)
                return;
            for (int i = 0; i < s.Length; i++)
                Write(s[i]);
        }

        public void WriteLine() => Write('\n');

        public void WriteLine(string s)
        {
            Write(s);
            Write('\n');
        }

        public void Write(ulong value)
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

        public void Write(long value)
        {
            if (value < 0)
            {
                Write('-');
                Write((ulong)(-(value + 1)) + 1);
                return;
            }
            Write((ulong)value);
        }

        public void Write(int value) => Write((long)value);

        public void Write(uint value) => Write((ulong)value);

        /// <summary>Hexadecimal with a 0x prefix, at least <paramref name="minDigits"/> digits.</summary>
        public void WriteHex(ulong value, int minDigits = 1)
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

        /// <summary>A size in the largest unit that divides it exactly, else in bytes.</summary>
        public void WriteSize(ulong bytes)
        {
            const ulong KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;
            if (bytes >= GiB && bytes % GiB == 0) { Write(bytes / GiB); Write(" GiB"); }
            else if (bytes >= MiB && bytes % MiB == 0) { Write(bytes / MiB); Write(" MiB"); }
            else if (bytes >= KiB && bytes % KiB == 0) { Write(bytes / KiB); Write(" KiB"); }
            else { Write(bytes); Write(" B"); }
        }

        /// <summary>
        /// <paramref name="length"/> bytes from memory (a command line, a loader name, a typed word)
        /// so that none can act on a terminal: each as <see cref="WriteVisible"/> writes it.
        /// </summary>
        public void WriteAscii(byte* text, ulong length)
        {
            for (ulong i = 0; i < length; i++)
                WriteVisible(text[i]);
        }

        /// <summary>
        /// One byte, visibly: printable ASCII as is, control bytes in caret notation (^A, ^[ for ESC,
        /// ^? for DEL), bytes above 127 as M- and the low seven bits, as cat -v does.
        /// </summary>
        public void WriteVisible(byte c)
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

        /// <summary><paramref name="value"/> right-aligned in <paramref name="width"/> columns.</summary>
        public void Pad(long value, int width)
        {
            int digits = 1;
            for (long v = value / 10; v != 0; v /= 10)
                digits++;
            for (int i = digits; i < width; i++)
                Write(' ');
            Write(value);
        }

        /// <summary>An address range as the banner writes it: two 12-digit hex addresses.</summary>
        public void Range(ulong start, ulong end)
        {
            WriteHex(start, 12);
            Write("-");
            WriteHex(end, 12);
        }

        /// <summary><paramref name="text"/>, then spaces up to <paramref name="width"/> columns.</summary>
        public void WritePadded(string text, int width)
        {
            Write(text);
            for (int i = text.Length; i < width; i++)
                Write(' ');
        }
    }
}
