using System;
using PoolKernel.Drivers.Dma;

namespace PoolKernel.Drivers.Floppy
{
    /// <summary>
    /// "fd0": a 1.44 MB diskette in drive 0 (80 cylinders, 2 heads, 18 sectors of 512 bytes =
    /// 2880 sectors). Sectors move by ISA DMA (8237 channel 2) through one bounce buffer below
    /// 16 MiB that does not cross 64 KiB, one cylinder (36 sectors) per command at most: READ DATA
    /// and WRITE DATA with MT run from head 0 into head 1 but never across cylinders.
    /// </summary>
    internal sealed unsafe class FloppyDisk : BlockDevice
    {
        internal const int Cylinders = 80;
        internal const int Heads = 2;
        internal const int SectorsPerTrack = 18;
        internal const int SectorsPerCylinder = Heads * SectorsPerTrack;
        internal const ulong TotalSectors = Cylinders * SectorsPerCylinder;   // 2880
        /// <summary>The bounce buffer holds one cylinder: the most one MT command moves.</summary>
        internal const ulong BufferBytes = SectorsPerCylinder * SectorSize;   // 18 KiB

        private const int Attempts = 3;
        /// <summary>MSR polls while a stopped motor spins up (about 300 ms at ~1 us a port read).</summary>
        private const int SpinUpPolls = 300_000;

        private readonly DmaDevice _rules;
        private DmaBuffer _buffer;
        private bool _motorOn;

        internal FloppyDisk(in DmaDevice rules, DmaBuffer buffer)
        {
            _rules = rules;
            _buffer = buffer;
        }

        public override string Name => "fd0";
        public override ulong SectorCount => TotalSectors;
        public override DmaDevice Rules => _rules;

        /// <summary>The bounce buffer, handed back by the driver at unload.</summary>
        internal ref DmaBuffer Buffer => ref _buffer;

        public override bool Read(ulong lba, uint count, byte* destination) => Transfer(lba, count, destination, false);

        public override bool Write(ulong lba, uint count, byte* source) => Transfer(lba, count, source, true);

        /// <summary>
        /// Moves <paramref name="count"/> sectors at <paramref name="lba"/> a cylinder at a time,
        /// with the motor on for the duration. Refuses ranges past the end of the disk.
        /// </summary>
        private bool Transfer(ulong lba, uint count, byte* data, bool write)
        {
            if (count == 0 || lba >= TotalSectors || count > TotalSectors - lba || !_buffer.IsValid)
                return false;
            MotorOn();
            bool ok = true;
            while (count > 0)
            {
                uint inCylinder = (uint)(SectorsPerCylinder - (int)(lba % SectorsPerCylinder));
                uint n = count < inCylinder ? count : inCylinder;
                if (!TransferCylinder(lba, n, data, write))
                {
                    ok = false;
                    break;
                }
                lba += n;
                count -= n;
                data += n * SectorSize;
            }
            MotorOff();
            return ok;
        }

        /// <summary>
        /// One READ DATA / WRITE DATA of <paramref name="n"/> sectors that stay in one cylinder,
        /// retried after a controller reset and recalibrate when it fails.
        /// </summary>
        private bool TransferCylinder(ulong lba, uint n, byte* data, bool write)
        {
            byte cylinder = (byte)(lba / SectorsPerCylinder);
            byte head = (byte)(lba / SectorsPerTrack % Heads);
            byte sector = (byte)(lba % SectorsPerTrack + 1);
            ulong bytes = n * (ulong)SectorSize;
            if (write)
            {
                for (ulong i = 0; i < bytes; i++)
                    _buffer.Pointer[i] = data[i];
            }
            for (int attempt = 0; attempt < Attempts; attempt++)
            {
                if (attempt > 0 && !Recover())
                    return false;
                if (!FloppyController.Seek(cylinder, head))
                {
                    Fail("seek failed", cylinder, head, sector, 0, 0, 0);
                    continue;
                }
                // The device gets this address: report it (checked against the rules) first.
                if (!KernelDma.Report(_rules, write ? "write" : "read", _buffer.Physical, bytes))
                    return false;
                if (!IsaDmaChannel2.Program(_buffer.Physical, bytes, !write))
                    return false;
                if (!FloppyController.StartTransfer(write ? FloppyController.CommandWriteData : FloppyController.CommandReadData, cylinder, head, sector)
                    || !FloppyController.WaitResultPhase())
                {
                    IsaDmaChannel2.Stop();
                    Fail("timeout", cylinder, head, sector, 0, 0, 0);
                    continue;
                }
                byte* result = stackalloc byte[7];
                int got = FloppyController.ReadResult(result, 7);
                IsaDmaChannel2.Stop();
                // ST0 bits 7-6 = 00: normal termination. ST1/ST2 all clear.
                if (got != 7 || (result[0] & 0xC0) != 0 || result[1] != 0 || result[2] != 0)
                {
                    Fail(write ? "write error" : "read error", cylinder, head, sector, result[0], result[1], result[2]);
                    continue;
                }
                if (!write)
                {
                    for (ulong i = 0; i < bytes; i++)
                        data[i] = _buffer.Pointer[i];
                }
                return true;
            }
            return false;
        }

        /// <summary>Reset, SPECIFY and RECALIBRATE: the standard way back from an error.</summary>
        private bool Recover()
        {
            _motorOn = false;
            if (!FloppyController.Reset() || !FloppyController.Specify())
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

        private static void Fail(string what, byte cylinder, byte head, byte sector, byte st0, byte st1, byte st2)
        {
            Console.Write("floppy: ");
            Console.Write(what);
            Console.Write(" at C/H/S ");
            Console.Write((uint)cylinder);
            Console.Write("/");
            Console.Write((uint)head);
            Console.Write("/");
            Console.Write((uint)sector);
            Console.Write(" st0=");
            Console.WriteHex(st0);
            Console.Write(" st1=");
            Console.WriteHex(st1);
            Console.Write(" st2=");
            Console.WriteHex(st2);
            Console.WriteLine();
        }
    }
}
