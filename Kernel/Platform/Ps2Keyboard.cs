namespace PoolKernel.Platform
{
    /// <summary>
    /// The PS/2 keyboard, polled (no interrupts yet): the shell's second input beside COM1, for
    /// machines with a keyboard and a screen. Scan code set 1, letters, digits, punctuation the
    /// shell uses, shift, backspace and enter.
    /// </summary>
    internal static class Ps2Keyboard
    {
        private const ushort DataPort = 0x60;
        private const ushort StatusPort = 0x64;
        private const byte OutputFull = 0x01;
        private const byte FromMouse = 0x20;

        private static bool s_shift;

        private const string Plain = "\0\x1b" + "1234567890-=\b\tqwertyuiop[]\n\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 ";
        private const string Shifted = "\0\x1b" + "!@#$%^&*()_+\b\tQWERTYUIOP{}\n\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 ";

        /// <summary>The next character typed, or 0 when none is waiting (key releases and other keys are consumed).</summary>
        internal static byte Poll()
        {
            byte status = Cpu.InB(StatusPort);
            if ((status & OutputFull) == 0 || (status & FromMouse) != 0)
                return 0;
            byte code = Cpu.InB(DataPort);
            if (code == 0x2A || code == 0x36)
            {
                s_shift = true;
                return 0;
            }
            if (code == 0xAA || code == 0xB6)
            {
                s_shift = false;
                return 0;
            }
            if ((code & 0x80) != 0 || code >= Plain.Length)
                return 0;
            char c = s_shift ? Shifted[code] : Plain[code];
            return c == '\n' ? (byte)'\r' : (byte)c;
        }
    }
}
