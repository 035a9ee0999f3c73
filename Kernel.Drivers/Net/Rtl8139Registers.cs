namespace PoolKernel.Drivers.Net
{
    /// <summary>
    /// RTL8139 registers (offsets into the I/O BAR) and the bits this driver uses, from the
    /// RTL8139 datasheet (rev 1.x, "Register Descriptions"). Only the classic (non C+) mode is used:
    /// one receive ring the chip fills in order, four transmit buffers used round robin.
    /// </summary>
    internal static class Rtl8139Registers
    {
        /// <summary>IDR0..IDR5: the station address, read at load.</summary>
        public const ushort MacAddress = 0x00;
        /// <summary>TSD0..TSD3 (4 bytes each): size, ownership and status of transmit buffer i.</summary>
        public const ushort TransmitStatus0 = 0x10;
        /// <summary>TSAD0..TSAD3 (4 bytes each): 32-bit physical address of transmit buffer i.</summary>
        public const ushort TransmitAddress0 = 0x20;
        /// <summary>RBSTART: 32-bit physical address of the receive ring.</summary>
        public const ushort ReceiveBufferStart = 0x30;
        /// <summary>CR (1 byte): reset, receiver and transmitter enable, buffer-empty.</summary>
        public const ushort Command = 0x37;
        /// <summary>CAPR (2 bytes): where the driver has read up to, minus 16 (the chip's convention).</summary>
        public const ushort ReadPointer = 0x38;
        /// <summary>IMR (2 bytes): interrupt mask; 0, the driver polls.</summary>
        public const ushort InterruptMask = 0x3C;
        /// <summary>ISR (2 bytes): interrupt status, write 1 to clear.</summary>
        public const ushort InterruptStatus = 0x3E;
        /// <summary>TCR (4 bytes): transmit configuration, including the loopback field.</summary>
        public const ushort TransmitConfig = 0x40;
        /// <summary>RCR (4 bytes): receive configuration (filters, ring length, wrap).</summary>
        public const ushort ReceiveConfig = 0x44;
        /// <summary>CONFIG1 (1 byte): LWAKE/LWPTN power bits; 0 = powered on.</summary>
        public const ushort Config1 = 0x52;

        // CR bits.
        public const byte CommandReset = 0x10;
        public const byte CommandReceiverEnable = 0x08;
        public const byte CommandTransmitterEnable = 0x04;
        public const byte CommandBufferEmpty = 0x01;

        // TSD bits: bits 0-12 the frame size, 13 OWN (set by the chip when the buffer is the
        // driver's again), 15 TOK (transmitted), 30 TABT (aborted), 14 TUN (underrun).
        public const uint TransmitSizeMask = 0x1FFF;
        public const uint TransmitHostOwns = 1u << 13;
        public const uint TransmitUnderrun = 1u << 14;
        public const uint TransmitOk = 1u << 15;
        public const uint TransmitAborted = 1u << 30;

        // TCR: LBK (bits 17-18): 00 normal, 11 internal loopback at the MAC; MXDMA (bits 8-10):
        // 111 = 2048-byte bursts; IFG (bits 24-25): 11 = the standard 9.6 us gap.
        public const uint TransmitLoopbackMask = 3u << 17;
        public const uint TransmitLoopbackMac = 3u << 17;
        public const uint TransmitDmaBurst2048 = 7u << 8;
        public const uint TransmitGapStandard = 3u << 24;

        // RCR: accept own address, multicast, broadcast; WRAP (bit 7) = the chip writes a frame
        // that runs past the end of the ring on past it (so the ring needs 1500 spare bytes)
        // instead of wrapping to its start; RBLEN (bits 11-12) 00 = 8K + 16; MXDMA (bits 8-10) 111
        // = unlimited; RXFTH (bits 13-15) 111 = no threshold, whole frames.
        public const uint ReceiveAcceptMyAddress = 1u << 1;
        public const uint ReceiveAcceptMulticast = 1u << 2;
        public const uint ReceiveAcceptBroadcast = 1u << 3;
        public const uint ReceiveNoWrap = 1u << 7;
        public const uint ReceiveDmaUnlimited = 7u << 8;
        public const uint ReceiveRing8K = 0u << 11;
        public const uint ReceiveNoThreshold = 7u << 13;

        // ISR bits.
        public const ushort InterruptReceiveOk = 0x0001;
        public const ushort InterruptTransmitOk = 0x0004;
        public const ushort InterruptAll = 0xFFFF;

        // Receive header (4 bytes before each frame in the ring): status word, then length
        // (frame + 4-byte CRC). Status bit 0 ROK = received intact.
        public const ushort ReceiveStatusOk = 0x0001;
    }
}
