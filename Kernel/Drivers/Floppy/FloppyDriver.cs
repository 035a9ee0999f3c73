using System;
using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Pci;
using PoolKernel.Platform;

namespace PoolKernel.Drivers.Floppy
{
    /// <summary>
    /// The legacy floppy: an 82077AA-compatible controller at 0x3F0 with a 1.44 MB drive 0, its
    /// data moved by ISA DMA channel 2. Not a PCI device: it is found by the CMOS drive type and a
    /// controller that answers VERSION with 0x90. Its DMA pool obeys the 8237's rules (24 address
    /// bits, no buffer across 64 KiB), so it is a pool below 16 MiB of its own.
    /// </summary>
    internal sealed unsafe class FloppyDriver : Driver
    {
        private const ushort CmosIndex = 0x70;
        private const ushort CmosData = 0x71;
        /// <summary>CMOS register 0x10: drive 0's type in the high nibble, drive 1's in the low (0 = none).</summary>
        private const byte CmosFloppyTypes = 0x10;
        /// <summary>Type 4: 3.5" 1.44 MB.</summary>
        private const byte Type144 = 4;

        /// <summary>What the 8237 reaches: below 2^24, never across 64 KiB, at most 64 KiB at once.</summary>
        private readonly DmaDevice _rules = new DmaDevice("floppy", 24, IsaDmaChannel2.MaxBytes, 0, IsaDmaChannel2.MaxBytes);

        private FloppyDisk _disk;

        public override string Name => "floppy";

        /// <summary>
        /// True when CMOS lists a drive 0, something answers at 0x3F4, and after a reset the
        /// controller answers VERSION with 0x90 (82077AA and compatibles).
        /// </summary>
        public override bool ProbeLegacy()
        {
            byte type = (byte)(ReadCmos(CmosFloppyTypes) >> 4);
            if (type == 0 || !FloppyController.Present)
                return false;
            if (!FloppyController.Reset())
                return false;
            byte version = FloppyController.Version();
            Console.Write("floppy: cmos drive 0 type ");
            Console.Write((uint)type);
            Console.Write(type == Type144 ? " (1.44 MB)" : " (not 1.44 MB)");
            Console.Write(", controller version ");
            Console.WriteHex(version);
            Console.WriteLine();
            if (version != FloppyController.Version82077 || type != Type144)
            {
                FloppyController.Halt();
                return false;
            }
            return true;
        }

        /// <summary>
        /// Takes the 24-bit DMA pool and one cylinder's bounce buffer from it, resets and specifies
        /// the controller, recalibrates drive 0, and registers "fd0". Undoes all of it on failure.
        /// </summary>
        public override bool Load(PciFunction* function)
        {
            DmaStatus status = KernelDma.Pools.Attach(_rules, IsaDmaChannel2.MaxBytes, out DmaPool pool);
            if (status != DmaStatus.Ok)
            {
                Console.Write("floppy: no DMA pool: ");
                Console.WriteLine(DmaStatusText.Describe(status));
                return false;
            }
            status = pool.Allocate(_rules, FloppyDisk.BufferBytes, out DmaBuffer buffer);
            if (status != DmaStatus.Ok)
            {
                Console.Write("floppy: no DMA buffer: ");
                Console.WriteLine(DmaStatusText.Describe(status));
                KernelDma.Pools.Detach(pool, _rules.Name);
                return false;
            }
            if (!FloppyController.Reset() || !FloppyController.Specify())
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
            Pool = pool;
            _disk = new FloppyDisk(_rules, buffer);
            DriverManager.RegisterDisk(_disk);
            Console.Write("floppy: fd0 ");
            Console.Write(FloppyDisk.TotalSectors);
            Console.Write(" sectors (80/2/18), bounce buffer phys=");
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
            Cpu.OutB(CmosIndex, register);
            return Cpu.InB(CmosData);
        }
    }
}
