namespace PoolKernel.Platform
{
    /// <summary>COM1 (0x3F8), 115200 8N1, polled. The kernel console and the shell's input.</summary>
    internal static class Serial
    {
        private const ushort Com1 = 0x3F8;
        private const ushort Data = Com1 + 0;
        private const ushort InterruptEnable = Com1 + 1;
        private const ushort FifoControl = Com1 + 2;
        private const ushort LineControl = Com1 + 3;
        private const ushort ModemControl = Com1 + 4;
        private const ushort LineStatus = Com1 + 5;
        private const byte LineStatusDataReady = 0x01;
        private const byte LineStatusTransmitEmpty = 0x20;

        internal static void Initialize()
        {
            Cpu.OutB(InterruptEnable, 0x00);
            Cpu.OutB(LineControl, 0x80);        // DLAB on: divisor 1 = 115200 baud
            Cpu.OutB(Data, 0x01);
            Cpu.OutB(InterruptEnable, 0x00);
            Cpu.OutB(LineControl, 0x03);        // 8 bits, no parity, one stop bit
            Cpu.OutB(FifoControl, 0xC7);
            Cpu.OutB(ModemControl, 0x03);
        }

        internal static void Write(byte value)
        {
            while ((Cpu.InB(LineStatus) & LineStatusTransmitEmpty) == 0)
                Cpu.Pause();
            Cpu.OutB(Data, value);
        }

        internal static bool HasInput => (Cpu.InB(LineStatus) & LineStatusDataReady) != 0;

        /// <summary>Waits for and returns the next input byte.</summary>
        internal static byte Read()
        {
            while (!HasInput)
                Cpu.Pause();
            return Cpu.InB(Data);
        }
    }
}
