using PoolKernel.Drivers.Platform;

namespace PoolKernel.Drivers.Floppy
{
    /// <summary>
    /// The 82077AA-compatible floppy disk controller at 0x3F0-0x3F7, driven without interrupts:
    /// command bytes go out and result bytes come in through the FIFO as the main status register
    /// (RQM, DIO) allows, and seek/recalibrate completion is collected with SENSE INTERRUPT STATUS.
    /// Every wait is bounded; a timeout is a failure, never a hang. Drive 0 only.
    /// </summary>
    internal static unsafe class FloppyController
    {
        private const ushort Base = 0x3F0;
        private const ushort DigitalOutput = Base + 2;   // DOR
        private const ushort MainStatus = Base + 4;      // MSR (read)
        private const ushort Fifo = Base + 5;
        private const ushort ConfigControl = Base + 7;   // CCR (write)
        private const ushort DigitalInput = Base + 7;    // DIR (read)
        /// <summary>DIR bit 7: the drive's disk-change line, set until a seek moves the head with a medium in.</summary>
        private const byte DirDiskChange = 0x80;

        // DOR: bits 0-1 drive select, bit 2 = not reset, bit 3 = DMA and IRQ enable, bits 4-7 motors.
        private const byte DorNotReset = 0x04;
        private const byte DorDmaEnable = 0x08;
        private const byte DorMotor0 = 0x10;

        // MSR: bit 7 RQM (FIFO ready), bit 6 DIO (1 = controller to CPU), bit 4 command busy.
        private const byte MsrRqm = 0x80;
        private const byte MsrDio = 0x40;

        internal const byte CommandSpecify = 0x03;
        internal const byte CommandRecalibrate = 0x07;
        internal const byte CommandSenseInterrupt = 0x08;
        internal const byte CommandSeek = 0x0F;
        internal const byte CommandVersion = 0x10;
        /// <summary>READ ID with MFM: the ID field (C, H, R, N) of the next sector under the head.</summary>
        internal const byte CommandReadId = 0x4A;
        /// <summary>READ DATA with MT (multi-track: head 0 then head 1), MFM and SK (skip deleted).</summary>
        internal const byte CommandReadData = 0xE6;
        /// <summary>WRITE DATA with MT and MFM.</summary>
        internal const byte CommandWriteData = 0xC5;

        /// <summary>The VERSION answer of an 82077AA (a NEC 765 answers 0x80).</summary>
        internal const byte Version82077 = 0x90;

        /// <summary>
        /// Polls of the MSR before a byte exchange is declared timed out. A port read costs about a
        /// microsecond on ISA hardware (and more under emulation), so this is over a second.
        /// </summary>
        private const int ByteSpins = 2_000_000;
        /// <summary>Polls before a data transfer's result phase is declared timed out (~ 10 s: a 36-sector cylinder takes 400 ms on a real drive).</summary>
        internal const int TransferSpins = 10_000_000;

        /// <summary>True when a controller could be behind the ports (an empty ISA bus reads 0xFF).</summary>
        internal static bool Present => Ports.InB(MainStatus) != 0xFF;

        /// <summary>
        /// Resets the controller through the DOR (reset low, then high with DMA enabled and the
        /// motors off), collects the four reset interrupts (one per drive) with SENSE INTERRUPT, and
        /// sets the data rate <paramref name="dataRate"/> (a CCR code, see <see cref="FloppyFormats"/>).
        /// True when the controller came back ready for commands.
        /// </summary>
        internal static bool Reset(byte dataRate)
        {
            Ports.OutB(DigitalOutput, 0);
            // The 82077AA needs the reset held for a few hundred nanoseconds: a few port reads.
            for (int i = 0; i < 16; i++)
                Ports.InB(MainStatus);
            Ports.OutB(DigitalOutput, DorNotReset | DorDmaEnable);
            if (!WaitReady())
                return false;
            for (int drive = 0; drive < 4; drive++)
            {
                if (!SenseInterrupt(out _, out _))
                    return false;
            }
            SetDataRate(dataRate);
            return true;
        }

        /// <summary>
        /// Sets the data rate (CCR code): it must be the medium's, or READ ID and every transfer end
        /// with "missing address mark" (QEMU checks it as a real drive's read channel would).
        /// </summary>
        internal static void SetDataRate(byte dataRate) => Ports.OutB(ConfigControl, (byte)(dataRate & 3));

        /// <summary>
        /// True while drive 0's disk-change line is set: after power-on or a medium change, until a
        /// seek moves the head with a medium in the drive. Valid with the motor on and drive 0 selected.
        /// </summary>
        internal static bool DiskChangeLine => (Ports.InB(DigitalInput) & DirDiskChange) != 0;

        /// <summary>
        /// READ ID on drive 0, <paramref name="head"/>: the controller reads the next sector ID at
        /// the present data rate. Fills the 7 result bytes (ST0, ST1, ST2, C, H, R, N); false when
        /// the controller did not answer (timeout). A rate that does not match the medium, or no
        /// medium, shows in ST0/ST1, not here.
        /// </summary>
        internal static bool ReadId(byte head, byte* result)
        {
            if (!Send(CommandReadId) || !Send((byte)(head << 2)) || !WaitResultPhase())
                return false;
            return ReadResult(result, 7) == 7;
        }

        /// <summary>Holds the controller in reset with the motors off and DMA disabled: it requests nothing any more.</summary>
        internal static void Halt() => Ports.OutB(DigitalOutput, 0);

        /// <summary>Drive 0 selected, its motor on or off, DMA enabled, controller running.</summary>
        internal static void Motor(bool on)
            => Ports.OutB(DigitalOutput, (byte)(DorNotReset | DorDmaEnable | (on ? DorMotor0 : 0)));

        /// <summary>The VERSION command's answer, or 0 when the controller does not answer.</summary>
        internal static byte Version()
        {
            if (!Send(CommandVersion))
                return 0;
            byte* dummy = stackalloc byte[1];
            return ReadResult(dummy, 1) == 1 ? dummy[0] : (byte)0;
        }

        /// <summary>
        /// SPECIFY: step rate 3 ms (SRT 0xD at 500 kbit/s), head unload 240 ms (HUT 0xF), head load
        /// 4 ms (HLT 2), and ND = 0: data moves by DMA.
        /// </summary>
        internal static bool Specify()
            => Send(CommandSpecify) && Send(0xDF) && Send(0x02 << 1);

        /// <summary>RECALIBRATE drive 0 to cylinder 0, then its SENSE INTERRUPT; true when it ended with seek end on cylinder 0.</summary>
        internal static bool Recalibrate()
        {
            if (!Send(CommandRecalibrate) || !Send(0))
                return false;
            return WaitSeekEnd(out byte cylinder) && cylinder == 0;
        }

        /// <summary>SEEK drive 0's head to <paramref name="cylinder"/>; true when SENSE INTERRUPT reports it there.</summary>
        internal static bool Seek(byte cylinder, byte head)
        {
            if (!Send(CommandSeek) || !Send((byte)(head << 2)) || !Send(cylinder))
                return false;
            return WaitSeekEnd(out byte at) && at == cylinder;
        }

        /// <summary>
        /// After a seek or recalibrate: SENSE INTERRUPT until the controller reports the interrupt
        /// (ST0 seek end), since there is no IRQ 6 handler. A SENSE INTERRUPT with no interrupt
        /// pending answers "invalid command" (0x80) alone; the seek may still be stepping.
        /// </summary>
        private static bool WaitSeekEnd(out byte cylinder)
        {
            cylinder = 0;
            for (int attempt = 0; attempt < 10_000; attempt++)
            {
                if (!SenseInterrupt(out byte st0, out cylinder))
                    return false;
                if (st0 == 0x80)
                    continue;
                // ST0: bits 7-6 = 00 normal termination, bit 5 = seek end.
                return (st0 & 0xC0) == 0 && (st0 & 0x20) != 0;
            }
            return false;
        }

        /// <summary>SENSE INTERRUPT STATUS: ST0 and the present cylinder (PCN), or ST0 = 0x80 alone when nothing was pending.</summary>
        internal static bool SenseInterrupt(out byte st0, out byte cylinder)
        {
            st0 = 0;
            cylinder = 0;
            if (!Send(CommandSenseInterrupt))
                return false;
            byte* result = stackalloc byte[2];
            int n = ReadResult(result, 2);
            if (n < 1)
                return false;
            st0 = result[0];
            if (n > 1)
                cylinder = result[1];
            return true;
        }

        /// <summary>
        /// Sends the nine bytes of READ DATA or WRITE DATA for drive 0 at C/H/S, 512-byte sectors,
        /// the track ending at the format's last sector (EOT) with its gap. The transfer runs by DMA
        /// once the last byte is in.
        /// </summary>
        internal static bool StartTransfer(byte command, byte cylinder, byte head, byte sector, in FloppyFormat format)
        {
            return Send(command)
                && Send((byte)(head << 2))
                && Send(cylinder)
                && Send(head)
                && Send(sector)
                && Send(2)       // N: 128 << 2 = 512 bytes a sector
                && Send(format.SectorsPerTrack)   // EOT: last sector of a track
                && Send(format.Gap3)              // GPL
                && Send(0xFF);   // DTL: unused when N != 0
        }

        /// <summary>
        /// Waits (bounded) for the end of a data transfer: RQM with DIO set, the result phase.
        /// False on timeout, in which case the caller resets the controller.
        /// </summary>
        internal static bool WaitResultPhase()
        {
            for (int i = 0; i < TransferSpins; i++)
            {
                byte msr = Ports.InB(MainStatus);
                if ((msr & (MsrRqm | MsrDio)) == (MsrRqm | MsrDio))
                    return true;
                Clock.Pause();
            }
            return false;
        }

        /// <summary>Writes one command or parameter byte once the FIFO takes it (RQM set, DIO clear).</summary>
        internal static bool Send(byte value)
        {
            for (int i = 0; i < ByteSpins; i++)
            {
                byte msr = Ports.InB(MainStatus);
                if ((msr & (MsrRqm | MsrDio)) == MsrRqm)
                {
                    Ports.OutB(Fifo, value);
                    return true;
                }
                Clock.Pause();
            }
            return false;
        }

        /// <summary>
        /// Reads result bytes while the controller offers them (RQM and DIO set), at most
        /// <paramref name="capacity"/>; stops when it returns to the command phase (RQM set, DIO
        /// clear). Returns the count read, or -1 on timeout. Bytes beyond capacity are drained.
        /// </summary>
        internal static int ReadResult(byte* result, int capacity)
        {
            int n = 0;
            for (int i = 0; i < ByteSpins; i++)
            {
                byte msr = Ports.InB(MainStatus);
                if ((msr & MsrRqm) == 0)
                {
                    Clock.Pause();
                    continue;
                }
                if ((msr & MsrDio) == 0)
                    return n;
                byte value = Ports.InB(Fifo);
                if (n < capacity)
                    result[n] = value;
                n++;
                if (n > 16)
                    return -1;
            }
            return -1;
        }

        /// <summary>Waits about <paramref name="polls"/> microseconds by reading the MSR (there is no timer yet).</summary>
        internal static void Delay(int polls)
        {
            for (int i = 0; i < polls; i++)
                Ports.InB(MainStatus);
        }

        /// <summary>Waits (bounded) for RQM with DIO clear: ready for a command.</summary>
        private static bool WaitReady()
        {
            for (int i = 0; i < ByteSpins; i++)
            {
                if ((Ports.InB(MainStatus) & (MsrRqm | MsrDio)) == MsrRqm)
                    return true;
                Clock.Pause();
            }
            return false;
        }
    }
}
