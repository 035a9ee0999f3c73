using PoolKernel.Boot.Text;
using PoolKernel.Platform;

namespace System
{
    /// <summary>
    /// The kernel console, on COM1 and mirrored on the screen: the VGA text screen or a framebuffer
    /// (<see cref="Screen"/>; as in Cosmos, kernel code writes with Console.Write). Numbers are
    /// formatted without allocating by TextOut (shared with the reports and the host simulator);
    /// text is ASCII.
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
        /// typed word) so that none can act on the terminal (TextOut.WriteVisible says how).
        /// </summary>
        public static void WriteAscii(byte* text, ulong length) => Out.WriteAscii(text, length);

        /// <summary>One byte the way <see cref="WriteAscii"/> writes it.</summary>
        public static void WriteVisible(byte c) => Out.WriteVisible(c);

        public static void Write(ulong value) => Out.Write(value);

        public static void Write(long value) => Out.Write(value);

        public static void Write(int value) => Write((long)value);

        public static void Write(uint value) => Write((ulong)value);

        public static void Write(bool value) => Write(value ? "true" : "false");

        /// <summary>Hexadecimal with a 0x prefix, at least <paramref name="minDigits"/> digits.</summary>
        public static void WriteHex(ulong value, int minDigits = 1) => Out.WriteHex(value, minDigits);

        /// <summary>A size in the largest unit that divides it exactly, else in bytes.</summary>
        public static void WriteSize(ulong bytes) => Out.WriteSize(bytes);

        /// <summary>
        /// The console as the pure projects' text sink (Kernel.Boot/Text/TextOut.cs), which does the
        /// number formatting for both: a function pointer, no state, usable from the first line of boot.
        /// </summary>
        public static TextOut Out => new TextOut(&Put, null);

        private static void Put(void* sink, char c) => Write(c);
    }
}
