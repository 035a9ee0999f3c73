using System;
using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Pci;
using PoolKernel.Drivers.Platform;

namespace PoolKernel.Drivers.Floppy
{
    /// <summary>
    /// The legacy floppy: an 82077AA-compatible controller at 0x3F0 with drive 0, its data moved by
    /// ISA DMA channel 2. Not a PCI device: it is found by the CMOS drive type and a controller that
    /// answers VERSION with 0x90; the medium's format is detected, not assumed (see
    /// <see cref="ProbeLegacy"/>). Its DMA pool obeys the 8237's rules (24 address bits, no buffer
    /// across 64 KiB), so it is a pool below 16 MiB of its own.
    /// </summary>
    internal sealed unsafe class FloppyDriver : Driver
    {
        private const ushort CmosIndex = 0x70;
        private const ushort CmosData = 0x71;
        /// <summary>CMOS register 0x10: drive 0's type in the high nibble, drive 1's in the low (0 = none).</summary>
        private const byte CmosFloppyTypes = 0x10;

        /// <summary>What the 8237 reaches: below 2^24, never across 64 KiB, at most 64 KiB at once.</summary>
        private readonly DmaDevice _rules = new DmaDevice("floppy", 24, IsaDmaChannel2.MaxBytes, 0, IsaDmaChannel2.MaxBytes);

        private FloppyDisk _disk;
        /// <summary>The medium's format, found by <see cref="ProbeLegacy"/> and used by <see cref="Load"/>.</summary>
        private FloppyFormat _format;

        public override string Name => "floppy";

        /// <summary>
        /// True when CMOS lists a drive 0 of a known type, the controller answers VERSION with 0x90
        /// after a reset, and a medium is in the drive whose format is one the drive reads. The
        /// medium is found without DMA: a seek away from cylinder 0 and back must clear the
        /// disk-change line (it stays set with no medium), then READ ID is tried at the data rate
        /// of each format the drive reads, densest first; within one drive type the rates differ,
        /// so the rate that reads an ID (with 512-byte sectors) names the format. One line says
        /// the drive, the controller and the medium (or why there is none).
        /// </summary>
        public override bool ProbeLegacy()
        {
            byte type = (byte)(ReadCmos(CmosFloppyTypes) >> 4);
            if (type == 0 || !FloppyController.Present)
                return false;
            if (!FloppyController.Reset(FloppyFormats.Rate500K))
                return false;
            byte version = FloppyController.Version();
            string drive = FloppyFormats.DriveName(type);
            Console.Write("floppy: cmos drive 0 type ");
            Console.Write((uint)type);
            Console.Write(" (");
            Console.Write(drive ?? "unknown type");
            Console.Write("), controller version ");
            Console.WriteHex(version);
            bool found = version == FloppyController.Version82077 && drive != null && DetectMedium(type);
            Console.WriteLine();
            if (!found)
                FloppyController.Halt();
            return found;
        }

        /// <summary>
        /// Finishes <see cref="ProbeLegacy"/>'s line with the medium found (and sets
        /// <see cref="_format"/>) or the reason there is none. Leaves the motor off.
        /// </summary>
        private bool DetectMedium(byte type)
        {
            if (!FloppyController.Specify())
            {
                Console.Write(", SPECIFY not taken");
                return false;
            }
            FloppyController.Motor(true);
            FloppyController.Delay(FloppyDisk.SpinUpPolls);
            bool moved = (FloppyController.Recalibrate() || FloppyController.Recalibrate())
                && FloppyController.Seek(1, 0) && FloppyController.Recalibrate();
            bool noMedium = moved && FloppyController.DiskChangeLine;
            byte* result = stackalloc byte[7];
            bool answered = false;
            int count = FloppyFormats.CandidateCount(type);
            for (int i = 0; moved && !noMedium && i < count; i++)
            {
                FloppyFormat candidate = FloppyFormats.Candidate(type, i);
                FloppyController.SetDataRate(candidate.DataRate);
                answered = FloppyController.ReadId(0, result);
                // Normal termination, no ST1/ST2 error, N = 2 (512-byte sectors).
                if (answered && (result[0] & 0xC0) == 0 && result[1] == 0 && result[2] == 0 && result[6] == 2)
                {
                    _format = candidate;
                    break;
                }
            }
            FloppyController.Motor(false);
            if (!moved)
            {
                Console.Write(", recalibrate/seek failed: no usable drive");
                return false;
            }
            if (noMedium)
            {
                Console.Write(", no medium (the disk-change line stays set after a seek)");
                return false;
            }
            if (!_format.IsValid)
            {
                Console.Write(", medium unreadable: READ ID fails at every data rate of the drive (last: ");
                if (answered)
                    FloppyDisk.WriteStatus(result);
                else
                    Console.Write("timeout");
                Console.Write(")");
                return false;
            }
            Console.Write(", medium ");
            WriteFormat(_format);
            return true;
        }

        /// <summary>"720 KB (80/2/9, 1440 sectors at 250 kbit/s)".</summary>
        private static void WriteFormat(in FloppyFormat format)
        {
            Console.Write(format.Name);
            Console.Write(" (");
            Console.Write((uint)format.Cylinders);
            Console.Write("/");
            Console.Write((uint)format.Heads);
            Console.Write("/");
            Console.Write((uint)format.SectorsPerTrack);
            Console.Write(", ");
            Console.Write(format.TotalSectors);
            Console.Write(" sectors at ");
            Console.Write(format.KbitPerSecond);
            Console.Write(" kbit/s)");
        }

        /// <summary>
        /// Takes the 24-bit DMA pool and one cylinder's bounce buffer from it, resets the controller
        /// at the medium's data rate, specifies, recalibrates drive 0, reads the medium's last
        /// sector (the detected geometry holds only if it exists), and registers "fd0". Undoes all
        /// of it on failure.
        /// </summary>
        public override bool Load(PciFunction* function)
        {
            if (!_format.IsValid)
            {
                Console.WriteLine("floppy: no medium format detected");
                return false;
            }
            DmaStatus status = KernelDma.Pools.Attach(_rules, IsaDmaChannel2.MaxBytes, out DmaPool pool, Owner);
            if (status != DmaStatus.Ok)
            {
                Console.Write("floppy: no DMA pool: ");
                Console.WriteLine(DmaStatusText.Describe(status));
                return false;
            }
            status = pool.Allocate(_rules, FloppyDisk.BufferBytesFor(_format), out DmaBuffer buffer);
            if (status != DmaStatus.Ok)
            {
                Console.Write("floppy: no DMA buffer: ");
                Console.WriteLine(DmaStatusText.Describe(status));
                KernelDma.Pools.Detach(pool, _rules.Name);
                return false;
            }
            if (!FloppyController.Reset(_format.DataRate) || !FloppyController.Specify())
            {
                Console.WriteLine("floppy: controller did not take reset/specify");
                Abandon(pool, ref buffer);
                return false;
            }
            FloppyController.Motor(true);
            bool calibrated = FloppyController.Recalibrate() || FloppyController.Recalibrate();
            FloppyController.Motor(false);
            if (!calibrated)
            {
                Console.WriteLine("floppy: recalibrate failed");
                Abandon(pool, ref buffer);
                return false;
            }
            var disk = new FloppyDisk(_rules, buffer, _format);
            ulong last = _format.TotalSectors - 1;
            if (!disk.Probe(last))
            {
                Console.Write("floppy: the last sector of a ");
                Console.Write(_format.Name);
                Console.Write(" medium (LBA ");
                Console.Write(last);
                Console.WriteLine(") does not read: geometry not confirmed, fd0 not registered");
                Abandon(pool, ref disk.Buffer);
                return false;
            }
            Pool = pool;
            _disk = disk;
            DriverManager.RegisterDisk(_disk);
            Console.Write("floppy: fd0 ");
            WriteFormat(_format);
            Console.Write(", bounce buffer phys=");
            Console.WriteHex(buffer.Physical);
            Console.Write(" len=");
            Console.WriteHex(buffer.Length);
            Console.WriteLine(" via 8237 channel 2");
            return true;
        }

        /// <summary>Stops the controller (held in reset, channel 2 masked), returns the buffer and the pool, removes fd0.</summary>
        public override void Unload()
        {
            IsaDmaChannel2.Stop();
            FloppyController.Halt();
            if (_disk != null)
            {
                DriverManager.UnregisterDisk(_disk);
                DmaStatus released = _disk.Buffer.Release();
                if (released != DmaStatus.Ok)
                {
                    Console.Write("floppy: buffer not returned: ");
                    Console.WriteLine(DmaStatusText.Describe(released));
                }
                _disk = null;
            }
            if (Pool != null)
            {
                DmaStatus detached = KernelDma.Pools.Detach(Pool, _rules.Name);
                if (detached != DmaStatus.Ok)
                {
                    Console.Write("floppy: pool not detached: ");
                    Console.WriteLine(DmaStatusText.Describe(detached));
                }
                Pool = null;
            }
        }

        private void Abandon(DmaPool pool, ref DmaBuffer buffer)
        {
            IsaDmaChannel2.Stop();
            FloppyController.Halt();
            buffer.Release();
            KernelDma.Pools.Detach(pool, _rules.Name);
        }

        private static byte ReadCmos(byte register)
        {
            Ports.OutB(CmosIndex, register);
            return Ports.InB(CmosData);
        }
    }
}
