namespace PoolKernel.Drivers.Ata
{
    /// <summary>
    /// Register layout of a parallel ATA channel and of its bus-master DMA engine, as the PIIX3
    /// (82371SB) datasheet and SFF-8038i describe them. Offsets are from the channel's command block
    /// base (0x1F0 primary, 0x170 secondary) or from the channel's slice of BAR4 (+0 primary, +8
    /// secondary); the control block is one port (0x3F6 primary, 0x376 secondary).
    /// </summary>
    internal static class AtaRegisters
    {
        // Command block, offsets from the channel base.
        public const int Data = 0;
        public const int Error = 1;
        public const int SectorCount = 2;
        public const int LbaLow = 3;
        public const int LbaMid = 4;
        public const int LbaHigh = 5;
        public const int DriveHead = 6;
        /// <summary>Status when read (clears the device's interrupt), command when written.</summary>
        public const int StatusCommand = 7;

        // Status register bits.
        public const byte StatusBusy = 0x80;
        public const byte StatusReady = 0x40;
        public const byte StatusDeviceFault = 0x20;
        public const byte StatusDataRequest = 0x08;
        public const byte StatusError = 0x01;

        // Device control register (control block, written; reading the same port is alternate status).
        /// <summary>Keeps the device's interrupt line quiet: the kernel polls.</summary>
        public const byte ControlNoInterrupt = 0x02;
        /// <summary>Software reset of both devices on the channel.</summary>
        public const byte ControlReset = 0x04;

        // Drive/head register: bits 7 and 5 are obsolete ones, bit 6 selects LBA, bit 4 the slave.
        public const byte DriveHeadLba = 0xE0;
        public const byte DriveHeadChs = 0xA0;
        public const byte DriveHeadSlave = 0x10;

        // Commands (ATA/ATAPI-6).
        public const byte CommandIdentify = 0xEC;
        public const byte CommandReadDma = 0xC8;
        public const byte CommandWriteDma = 0xCA;

        // ATAPI devices abort IDENTIFY DEVICE and leave this signature in LBA mid/high.
        public const byte AtapiSignatureMid = 0x14;
        public const byte AtapiSignatureHigh = 0xEB;

        // Bus-master registers, offsets from the channel's slice of BAR4.
        public const int BusMasterCommand = 0;
        public const int BusMasterStatus = 2;
        public const int BusMasterPrdTable = 4;
        /// <summary>Bytes of BAR4 per channel: the secondary channel's registers start here.</summary>
        public const int BusMasterChannelStride = 8;

        // Bus-master command bits.
        public const byte BusMasterStart = 0x01;
        /// <summary>Direction: set = the engine writes memory (a disk read); clear = it reads memory.</summary>
        public const byte BusMasterToMemory = 0x08;

        // Bus-master status bits; Error and Interrupt are cleared by writing 1, the drive-capable bits are plain storage.
        public const byte BusMasterActive = 0x01;
        public const byte BusMasterError = 0x02;
        public const byte BusMasterInterrupt = 0x04;
        public const byte BusMasterDriveCapable = 0x60;

        // Physical Region Descriptor: dword 0 = buffer address (even), dword 1 = byte count in bits
        // 0..15 (even; 0 means 64 KiB) and end of table in bit 31.
        public const int PrdBytes = 8;
        public const uint PrdEndOfTable = 0x80000000u;
        public const ulong PrdMaxBytes = 0x10000;

        // PIIX IDE timing registers (PCI config 0x40 primary, 0x42 secondary): bit 15 enables decode of the channel's ports.
        public const int PiixTimingPrimary = 0x40;
        public const int PiixTimingSecondary = 0x42;
        public const ushort PiixTimingDecodeEnable = 0x8000;

        /// <summary>READ/WRITE DMA's sector count register holds 1..256 (256 written as 0).</summary>
        public const uint MaxSectorsPerCommand = 256;
        /// <summary>28-bit LBA: the first sector no command can reach.</summary>
        public const ulong Lba28Limit = 1UL << 28;
    }
}
