namespace PoolKernel.Platform
{
    /// <summary>
    /// COM1 (0x3F8), 115200 8N1, polled, receive and transmit FIFOs on. The kernel console and the
    /// shell's input. Input typed before the kernel runs is kept: whatever the UART already holds
    /// when <see cref="Initialize"/> starts is taken into <see cref="s_early"/> before the FIFO
    /// is (re)configured, and <see cref="Read"/> hands those bytes out first, in arrival order.
    /// </summary>
    internal static unsafe class Serial
    {
        private const ushort Com1 = 0x3F8;
        private const ushort Data = Com1 + 0;
        private const ushort InterruptEnable = Com1 + 1;
        private const ushort FifoControl = Com1 + 2;     // write: FCR
        private const ushort LineControl = Com1 + 3;
        private const ushort ModemControl = Com1 + 4;
        private const ushort LineStatus = Com1 + 5;
        private const byte LineStatusDataReady = 0x01;
        private const byte LineStatusTransmitEmpty = 0x20;

        // FCR: bit 0 enables the FIFOs, bits 1/2 clear the receive/transmit FIFO, bits 6-7 the
        // receive trigger level (11 = 14 bytes). A 16550 (and QEMU's model) empties both FIFOs
        // whenever bit 0 changes, whatever bits 1-2 say: enabling the FIFO loses what was received.
        private const byte FifoEnable = 0x01;
        private const byte FifoTrigger14 = 0xC0;

        /// <summary>
        /// Bytes received before <see cref="Initialize"/> (the receive holding register, or a FIFO
        /// a boot loader left on), at most this many: a 16550's FIFO holds 16, and a UART that
        /// keeps reporting data beyond that is not a UART.
        /// </summary>
        private const int EarlyCapacity = 64;
        private struct EarlyInput
        {
            internal fixed byte Bytes[EarlyCapacity];
        }
        private static EarlyInput s_early;
        private static int s_earlyCount;
        private static int s_earlyNext;

        /// <summary>
        /// Sets 115200 8N1 and turns the FIFOs on without losing input: the bytes already received
        /// are read out first (turning the FIFOs on flushes them), and the FCR write never sets the
        /// clear bits, so FIFOs a boot loader left on are not flushed either. On a UART whose FIFOs
        /// were off, a byte that arrives in the few instructions between the read-out and the FCR
        /// write is still lost (QEMU hands over its next byte only after the guest has read the
        /// holding register, from its main loop, so there the window is not hit in practice).
        /// </summary>
        internal static void Initialize()
        {
            Cpu.OutB(InterruptEnable, 0x00);
            Cpu.OutB(LineControl, 0x80);        // DLAB on: divisor 1 = 115200 baud
            Cpu.OutB(Data, 0x01);
            Cpu.OutB(InterruptEnable, 0x00);
            Cpu.OutB(LineControl, 0x03);        // 8 bits, no parity, one stop bit, DLAB off
            TakeReceived();
            Cpu.OutB(FifoControl, FifoEnable | FifoTrigger14);
            Cpu.OutB(ModemControl, 0x03);
        }

        /// <summary>Moves what the UART holds now into the early buffer (bounded).</summary>
        private static void TakeReceived()
        {
            while (s_earlyCount < EarlyCapacity && (Cpu.InB(LineStatus) & LineStatusDataReady) != 0)
                s_early.Bytes[s_earlyCount++] = Cpu.InB(Data);
        }

        internal static void Write(byte value)
        {
            while ((Cpu.InB(LineStatus) & LineStatusTransmitEmpty) == 0)
                Cpu.Pause();
            Cpu.OutB(Data, value);
        }

        /// <summary>True when a byte is waiting: one kept from before initialisation, or one in the UART.</summary>
        internal static bool HasInput => s_earlyNext < s_earlyCount || (Cpu.InB(LineStatus) & LineStatusDataReady) != 0;

        /// <summary>Waits for and returns the next input byte; bytes kept from before initialisation come first.</summary>
        internal static byte Read()
        {
            if (s_earlyNext < s_earlyCount)
                return s_early.Bytes[s_earlyNext++];
            while ((Cpu.InB(LineStatus) & LineStatusDataReady) == 0)
                Cpu.Pause();
            return Cpu.InB(Data);
        }
    }
}
