namespace PoolKernel.Platform
{
    /// <summary>
    /// COM1 (0x3F8), 115200 8N1, polled. The kernel console and the shell's input. Input typed
    /// before the kernel runs is kept because <see cref="Initialize"/> never writes the FIFO control
    /// register: a 16550 (and QEMU's model) empties its receive buffer whenever the FIFO-enable bit
    /// changes, so turning the FIFO on at boot lost the byte already received, and reading the
    /// bytes out first still lost one that arrived between the read-out and the write (QEMU
    /// delivers input from its I/O thread, at any instruction). The FIFO stays as the firmware or
    /// boot loader left it; under QEMU that is off, and QEMU then hands over the next byte only
    /// once the guest has read the last, so nothing is lost however long the kernel is busy.
    /// </summary>
    internal static class Serial
    {
        private const ushort Com1 = 0x3F8;
        private const ushort Data = Com1 + 0;
        private const ushort InterruptEnable = Com1 + 1;
        private const ushort LineControl = Com1 + 3;
        private const ushort ModemControl = Com1 + 4;
        private const ushort LineStatus = Com1 + 5;
        private const byte LineStatusDataReady = 0x01;
        private const byte LineStatusTransmitEmpty = 0x20;

        /// <summary>Sets 115200 8N1 with interrupts off; received bytes and the FIFO setting are left alone.</summary>
        internal static void Initialize()
        {
            Cpu.OutB(InterruptEnable, 0x00);
            Cpu.OutB(LineControl, 0x80);        // DLAB on: divisor 1 = 115200 baud
            Cpu.OutB(Data, 0x01);
            Cpu.OutB(InterruptEnable, 0x00);
            Cpu.OutB(LineControl, 0x03);        // 8 bits, no parity, one stop bit, DLAB off
            Cpu.OutB(ModemControl, 0x03);
        }

        internal static void Write(byte value)
        {
            while ((Cpu.InB(LineStatus) & LineStatusTransmitEmpty) == 0)
                Cpu.Pause();
            Cpu.OutB(Data, value);
        }

        /// <summary>True when a byte is waiting in the UART.</summary>
        internal static bool HasInput => (Cpu.InB(LineStatus) & LineStatusDataReady) != 0;

        /// <summary>Waits for and returns the next input byte.</summary>
        internal static byte Read()
        {
            while ((Cpu.InB(LineStatus) & LineStatusDataReady) == 0)
                Cpu.Pause();
            return Cpu.InB(Data);
        }
    }
}
