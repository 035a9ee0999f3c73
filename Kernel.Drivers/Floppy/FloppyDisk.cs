using System;
using PoolKernel.Drivers.Dma;

namespace PoolKernel.Drivers.Floppy
{
    /// <summary>
    /// "fd0": the diskette in drive 0, in the format the driver detected (<see cref="FloppyFormat"/>:
    /// 360 KB to 2.88 MB). Sectors move by ISA DMA (8237 channel 2) through one bounce buffer below
    /// 16 MiB that does not cross 64 KiB, one cylinder per command at most: READ DATA and WRITE DATA
    /// with MT run from head 0 into head 1 but never across cylinders. Every failure prints one line
    /// that names the operation, the LBA, the C/H/S and the controller's status decoded.
    /// </summary>
    internal sealed unsafe class FloppyDisk : BlockDevice
    {
        private const int Attempts = 3;
        /// <summary>ST1 bit 1: the medium is write-protected.</summary>
        private const byte St1NotWritable = 0x02;
        /// <summary>MSR polls while a stopped motor spins up (about 300 ms at ~1 us a port read).</summary>
        internal const int SpinUpPolls = 300_000;

        /// <summary>
        /// The bounce buffer holds one cylinder of the medium: the most one MT command moves
        /// (18 KiB for 1.44 MB, 36 KiB for 2.88 MB; always under the 8237's 64 KiB).
        /// </summary>
        internal static ulong BufferBytesFor(in FloppyFormat format) => (ulong)format.SectorsPerCylinder * SectorSize;

        private readonly DmaDevice _rules;
        private readonly FloppyFormat _format;
        private DmaBuffer _buffer;
        private bool _motorOn;

        internal FloppyDisk(in DmaDevice rules, DmaBuffer buffer, in FloppyFormat format)
        {
            _rules = rules;
            _buffer = buffer;
            _format = format;
        }

        public override string Name => "fd0";
        public override ulong SectorCount => _format.TotalSectors;
        public override DmaDevice Rules => _rules;

        internal FloppyFormat Format => _format;

        /// <summary>The bounce buffer, handed back by the driver at unload.</summary>
        internal ref DmaBuffer Buffer => ref _buffer;

        protected override bool ReadSectors(ulong lba, uint count, byte* destination) => Transfer(lba, count, destination, false);

        protected override bool WriteSectors(ulong lba, uint count, byte* source) => Transfer(lba, count, source, true);

        /// <summary>
        /// Reads sector <paramref name="lba"/> into the bounce buffer only: the driver's check that
        /// the detected geometry holds (the medium's last sector exists).
        /// </summary>
        internal bool Probe(ulong lba) => Transfer(lba, 1, null, false);

        /// <summary>
        /// Moves <paramref name="count"/> sectors at <paramref name="lba"/> a cylinder at a time,
        /// with the motor on for the duration. Refuses ranges past the end of the medium with a line.
        /// <paramref name="data"/> null: a read that stays in the bounce buffer.
        /// </summary>
        private bool Transfer(ulong lba, uint count, byte* data, bool write)
        {
            ulong total = _format.TotalSectors;
            if (count == 0 || lba >= total || count > total - lba)
            {
                Console.Write("floppy: ");
                Console.Write(write ? "write" : "read");
                Console.Write(" of LBA ");
                Console.Write(lba);
                Console.Write(" count ");
                Console.Write(count);
                Console.Write(" refused: past the end of the ");
                Console.Write(_format.Name);
                Console.Write(" medium (");
                Console.Write(total);
                Console.WriteLine(" sectors)");
                return false;
            }
            if (!_buffer.IsValid)
            {
                Console.WriteLine("floppy: no bounce buffer (driver unloaded)");
                return false;
            }
            MotorOn();
            bool ok = true;
            uint perCylinder = (uint)_format.SectorsPerCylinder;
            while (count > 0)
            {
                uint inCylinder = perCylinder - (uint)(lba % perCylinder);
                uint n = count < inCylinder ? count : inCylinder;
                if (!TransferCylinder(lba, n, data, write))
                {
                    ok = false;
                    break;
                }
                lba += n;
                count -= n;
                if (data != null)
                    data += n * SectorSize;
            }
            MotorOff();
            return ok;
        }

        /// <summary>
        /// One READ DATA / WRITE DATA of <paramref name="n"/> sectors that stay in one cylinder,
        /// retried after a controller reset and recalibrate when it fails (not when the medium is
        /// write-protected). Each failed attempt prints its line, numbered "attempt K of 3".
        /// </summary>
        private bool TransferCylinder(ulong lba, uint n, byte* data, bool write)
        {
            _format.ToChs(lba, out byte cylinder, out byte head, out byte sector);
            ulong bytes = n * (ulong)SectorSize;
            if (write)
            {
                for (ulong i = 0; i < bytes; i++)
                    _buffer.Pointer[i] = data[i];
            }
            string what = write ? "write" : "read";
            for (int attempt = 1; attempt <= Attempts; attempt++)
            {
                if (attempt > 1 && !Recover())
                {
                    Failure(what, "controller reset/recalibrate failed", lba, n, cylinder, head, sector, attempt, null);
                    return false;
                }
                if (!FloppyController.Seek(cylinder, head))
                {
                    Failure(what, "seek failed", lba, n, cylinder, head, sector, attempt, null);
                    continue;
                }
                // The device gets this address: report it (checked against the rules) first.
                if (!KernelDma.Report(_rules, what, _buffer.Physical, bytes))
                    return false;
                if (!IsaDmaChannel2.Program(_buffer.Physical, bytes, !write))
                {
                    Failure(what, "bounce buffer breaks the 8237's rules", lba, n, cylinder, head, sector, Attempts, null);
                    return false;
                }
                if (!FloppyController.StartTransfer(write ? FloppyController.CommandWriteData : FloppyController.CommandReadData, cylinder, head, sector, _format)
                    || !FloppyController.WaitResultPhase())
                {
                    IsaDmaChannel2.Stop();
                    Failure(what, "controller timeout", lba, n, cylinder, head, sector, attempt, null);
                    continue;
                }
                byte* result = stackalloc byte[7];
                int got = FloppyController.ReadResult(result, 7);
                IsaDmaChannel2.Stop();
                if (got != 7)
                {
                    Failure(what, "short result phase", lba, n, cylinder, head, sector, attempt, null);
                    continue;
                }
                // ST0 bits 7-6 = 00: normal termination. ST1/ST2 all clear.
                if ((result[0] & 0xC0) != 0 || result[1] != 0 || result[2] != 0)
                {
                    // A write-protected medium stays so: the next attempts would only repeat this line.
                    bool lasting = (result[1] & St1NotWritable) != 0;
                    Failure(what, "error", lba, n, cylinder, head, sector, lasting ? Attempts : attempt, result);
                    if (lasting)
                        return false;
                    continue;
                }
                if (!write && data != null)
                {
                    for (ulong i = 0; i < bytes; i++)
                        data[i] = _buffer.Pointer[i];
                }
                return true;
            }
            return false;
        }

        /// <summary>Reset at the medium's data rate, SPECIFY and RECALIBRATE: the standard way back from an error.</summary>
        private bool Recover()
        {
            _motorOn = false;
            if (!FloppyController.Reset(_format.DataRate) || !FloppyController.Specify())
                return false;
            MotorOn();
            return FloppyController.Recalibrate();
        }

        private void MotorOn()
        {
            FloppyController.Motor(true);
            if (_motorOn)
                return;
            FloppyController.Delay(SpinUpPolls);
            _motorOn = true;
        }

        private void MotorOff()
        {
            FloppyController.Motor(false);
            _motorOn = false;
        }

        /// <summary>
        /// One line for a failed attempt, e.g. "floppy: read error at LBA 1439 (C/H/S 79/1/9, 1
        /// sectors, 720 KB at 250 kbit/s), attempt 3 of 3: st0=0x44 abnormal termination, head 1;
        /// st1=0x80 end of cylinder ...; st2=0x00 -". <paramref name="result"/> (the 7 result
        /// bytes) is null when the controller gave none.
        /// </summary>
        private void Failure(string what, string how, ulong lba, uint count, byte cylinder, byte head, byte sector, int attempt, byte* result)
        {
            Console.Write("floppy: ");
            Console.Write(what);
            Console.Write(" ");
            Console.Write(how);
            Console.Write(" at LBA ");
            Console.Write(lba);
            Console.Write(" (C/H/S ");
            Console.Write((uint)cylinder);
            Console.Write("/");
            Console.Write((uint)head);
            Console.Write("/");
            Console.Write((uint)sector);
            Console.Write(", ");
            Console.Write(count);
            Console.Write(count == 1 ? " sector, " : " sectors, ");
            Console.Write(_format.Name);
            Console.Write(" at ");
            Console.Write(_format.KbitPerSecond);
            Console.Write(" kbit/s), attempt ");
            Console.Write(attempt);
            Console.Write(" of ");
            Console.Write(Attempts);
            if (result != null)
            {
                Console.Write(": ");
                WriteStatus(result);
            }
            if (FloppyController.DiskChangeLine)
                Console.Write("; disk-change line set: medium removed or changed");
            Console.WriteLine();
        }

        /// <summary>"st0=0x44 abnormal termination, head 1; st1=0x01 missing address mark ...; st2=0x00 -".</summary>
        internal static void WriteStatus(byte* result)
        {
            Console.Write("st0=");
            Console.WriteHex(result[0], 2);
            Console.Write(" ");
            Console.Write(FloppyStatus.Termination(result[0]));
            Console.Write(", head ");
            Console.Write(FloppyStatus.Head(result[0]));
            WriteFlags(0, result[0], true);
            for (int register = 1; register <= 2; register++)
            {
                Console.Write("; st");
                Console.Write(register);
                Console.Write("=");
                Console.WriteHex(result[register], 2);
                WriteFlags(register, result[register], false);
            }
        }

        /// <summary>The names of the set flags of one status register, comma-separated; " -" when none is set.</summary>
        private static void WriteFlags(int register, byte value, bool afterText)
        {
            bool any = false;
            for (int bit = 7; bit >= 0; bit--)
            {
                if ((value & (1 << bit)) == 0)
                    continue;
                string name = FloppyStatus.Flag(register, bit);
                if (name == null)
                    continue;
                Console.Write(any || afterText ? ", " : " ");
                Console.Write(name);
                any = true;
            }
            if (!any && !afterText)
                Console.Write(" -");
        }
    }
}
