using PoolKernel.Drivers.Platform;

namespace PoolKernel.Drivers.Floppy
{
    /// <summary>
    /// Channel 2 of the first (8-bit) 8237 DMA controller, the floppy's channel on every PC.
    /// The 8237 counts a 16-bit address and a 16-bit count; the page register (port 0x81 for
    /// channel 2) supplies address bits 16-23 and is not incremented when the address wraps.
    /// Hence the ISA rules: a buffer below 16 MiB that does not cross a 64 KiB boundary, at most
    /// 64 KiB long. <see cref="Program"/> refuses anything else rather than let the transfer wrap.
    /// </summary>
    internal static class IsaDmaChannel2
    {
        // First controller (channels 0-3), one byte per port.
        private const ushort Channel2Address = 0x04;   // written low byte, then high byte
        private const ushort Channel2Count = 0x05;     // bytes - 1, low byte then high byte
        private const ushort SingleMask = 0x0A;        // bit 2 = mask, bits 0-1 = channel
        private const ushort Mode = 0x0B;
        private const ushort ClearFlipFlop = 0x0C;     // any value: the next byte is a low byte
        private const ushort Channel2Page = 0x81;      // address bits 16-23

        private const byte Channel = 2;
        private const byte MaskOn = 0x04 | Channel;
        private const byte MaskOff = Channel;

        // Mode register: bits 7-6 = 01 single transfer, bit 5 = 0 address increment,
        // bit 4 = 0 no auto-init, bits 3-2 transfer type (01 write = device to memory,
        // 10 read = memory to device), bits 1-0 channel.
        private const byte SingleTransfer = 0x40;
        private const byte WriteToMemory = 0x04;
        private const byte ReadFromMemory = 0x08;

        /// <summary>Largest transfer: the 16-bit count holds bytes - 1.</summary>
        internal const ulong MaxBytes = 0x10000;
        /// <summary>One past the highest address: the page register gives 8 bits above the 16-bit address.</summary>
        internal const ulong AddressLimit = 1UL << 24;

        /// <summary>
        /// Masks channel 2 and programs it for one transfer of <paramref name="bytes"/> at
        /// <paramref name="physical"/>, then unmasks it. <paramref name="toMemory"/> is true for a
        /// disk read (the device writes memory). False (channel left masked) when the buffer breaks
        /// the ISA rules.
        /// </summary>
        internal static bool Program(ulong physical, ulong bytes, bool toMemory)
        {
            if (bytes == 0 || bytes > MaxBytes || physical + bytes > AddressLimit)
                return false;
            if ((physical >> 16) != ((physical + bytes - 1) >> 16))
                return false;
            ulong count = bytes - 1;
            Ports.OutB(SingleMask, MaskOn);
            Ports.OutB(ClearFlipFlop, 0xFF);
            Ports.OutB(Mode, (byte)(SingleTransfer | (toMemory ? WriteToMemory : ReadFromMemory) | Channel));
            Ports.OutB(Channel2Address, (byte)physical);
            Ports.OutB(Channel2Address, (byte)(physical >> 8));
            Ports.OutB(Channel2Page, (byte)(physical >> 16));
            Ports.OutB(ClearFlipFlop, 0xFF);
            Ports.OutB(Channel2Count, (byte)count);
            Ports.OutB(Channel2Count, (byte)(count >> 8));
            Ports.OutB(SingleMask, MaskOff);
            return true;
        }

        /// <summary>Masks channel 2: no request from the floppy reaches memory until it is programmed again.</summary>
        internal static void Stop() => Ports.OutB(SingleMask, MaskOn);
    }
}
