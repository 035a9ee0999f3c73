using System;
using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Platform;

namespace PoolKernel.Drivers.VirtioBlock
{
    /// <summary>
    /// "vda": a legacy virtio-blk disk. One request at a time on queue 0, each a three-descriptor
    /// chain (16-byte header the device reads, the data, one status byte the device writes), data
    /// bounced through a DMA buffer of <see cref="MaxSectorsPerRequest"/> sectors, completion polled
    /// on the used ring with a bounded spin.
    /// </summary>
    internal sealed unsafe class VirtioBlockDevice : BlockDevice
    {
        internal const uint MaxSectorsPerRequest = 64;
        internal const uint HeaderBytes = 16;

        private const uint RequestIn = 0;    // VIRTIO_BLK_T_IN: device to memory (read)
        private const uint RequestOut = 1;   // VIRTIO_BLK_T_OUT: memory to device (write)
        private const byte StatusOk = 0;
        private const byte StatusNotWritten = 0xFF;
        // Polls of the used ring before a request is declared lost (a few seconds under TCG).
        private const ulong SpinLimit = 200_000_000;

        private readonly VirtioBlockDriver _driver;
        private readonly DmaDevice _rules;
        private readonly ulong _sectors;

        internal VirtioBlockDevice(VirtioBlockDriver driver, in DmaDevice rules, ulong sectors)
        {
            _driver = driver;
            _rules = rules;
            _sectors = sectors;
        }

        public override string Name => "vda";
        public override ulong SectorCount => _sectors;
        public override DmaDevice Rules => _rules;

        protected override bool ReadSectors(ulong lba, uint count, byte* destination) => Transfer(lba, count, destination, false);

        protected override bool WriteSectors(ulong lba, uint count, byte* source) => Transfer(lba, count, source, true);

        private bool Transfer(ulong lba, uint count, byte* memory, bool write)
        {
            if (count == 0 || lba >= _sectors || count > _sectors - lba)
            {
                Console.WriteLine("virtio-blk: request beyond the end of the disk");
                return false;
            }
            while (count != 0)
            {
                uint n = count < MaxSectorsPerRequest ? count : MaxSectorsPerRequest;
                if (!Request(lba, n, memory, write))
                    return false;
                lba += n;
                count -= n;
                memory += n * SectorSize;
            }
            return true;
        }

        /// <summary>One request of at most <see cref="MaxSectorsPerRequest"/> sectors, issued and waited for.</summary>
        private bool Request(ulong lba, uint count, byte* memory, bool write)
        {
            VirtioBlockDriver d = _driver;
            if (d.Broken)
            {
                Console.WriteLine("virtio-blk: device was reset after a lost request; reload the driver");
                return false;
            }
            uint bytes = count * SectorSize;
            ulong dataPhysical = d.Bounce.Physical;
            if (!KernelDma.Report(_rules, "header", d.HeaderPhysical, HeaderBytes)
                || !KernelDma.Report(_rules, write ? "data-out" : "data-in", dataPhysical, bytes)
                || !KernelDma.Report(_rules, "status", d.StatusPhysical, 1))
                return false;

            if (write)
            {
                for (uint i = 0; i < bytes; i++)
                    d.Bounce.Pointer[i] = memory[i];
            }
            uint* header = (uint*)d.HeaderPointer;
            header[0] = write ? RequestOut : RequestIn;
            header[1] = 0;
            *(ulong*)(header + 2) = lba;
            *d.StatusPointer = StatusNotWritten;

            VirtqDescriptor* h = d.Queue.Descriptor(0);
            h->Address = d.HeaderPhysical;
            h->Length = HeaderBytes;
            h->Flags = VirtqDescriptor.FlagNext;
            h->Next = 1;
            VirtqDescriptor* data = d.Queue.Descriptor(1);
            data->Address = dataPhysical;
            data->Length = bytes;
            data->Flags = (ushort)(VirtqDescriptor.FlagNext | (write ? 0 : VirtqDescriptor.FlagWrite));
            data->Next = 2;
            VirtqDescriptor* s = d.Queue.Descriptor(2);
            s->Address = d.StatusPhysical;
            s->Length = 1;
            s->Flags = VirtqDescriptor.FlagWrite;
            s->Next = 0;

            d.Queue.Publish(0);
            d.Registers.Notify(0);

            ulong spin = 0;
            while (!d.Queue.HasUsed && spin < SpinLimit)
            {
                Clock.Pause();
                spin++;
            }
            if (spin == SpinLimit)
            {
                // The device still owns the buffers: reset it so it can never write them later.
                d.Registers.Reset();
                d.Broken = true;
                Console.Write("virtio-blk: request at lba ");
                Console.Write(lba);
                Console.WriteLine(" timed out; device reset");
                return false;
            }
            VirtqUsedElement used = d.Queue.TakeUsed();
            byte status = *d.StatusPointer;
            if (used.Id != 0 || status != StatusOk)
            {
                Console.Write("virtio-blk: request at lba ");
                Console.Write(lba);
                Console.Write(" failed, status ");
                Console.Write((uint)status);
                Console.Write(", used id ");
                Console.Write(used.Id);
                Console.WriteLine();
                return false;
            }
            if (!write)
            {
                for (uint i = 0; i < bytes; i++)
                    memory[i] = d.Bounce.Pointer[i];
            }
            return true;
        }
    }
}
