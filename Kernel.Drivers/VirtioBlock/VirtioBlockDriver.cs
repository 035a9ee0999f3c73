using System;
using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Pci;

namespace PoolKernel.Drivers.VirtioBlock
{
    /// <summary>
    /// Legacy (transitional) virtio-blk over PCI: vendor 0x1af4, device 0x1001, register block in
    /// the I/O BAR0. Load resets the device, accepts no optional features, sets up queue 0 in one
    /// page-aligned region below 2^44 (the legacy queue register holds a 32-bit frame number), and
    /// registers "vda". Unload resets the device (it stops all DMA) and returns every buffer and the
    /// DMA pool.
    /// </summary>
    internal sealed unsafe class VirtioBlockDriver : Driver
    {
        private const ushort VendorVirtio = 0x1AF4;
        private const ushort DeviceLegacyBlock = 0x1001;
        private const string DeviceName = "virtio-blk";
        /// <summary>Bounce buffer for one request's data.</summary>
        private const uint BounceBytes = VirtioBlockDevice.MaxSectorsPerRequest * BlockDevice.SectorSize;

        // The queue region: one contiguous, 4 KiB-aligned run below 2^44.
        private DmaDevice _queueRules = new DmaDevice(DeviceName, VirtioLegacy.QueueAddressBits, 0, LegacyVirtqueueLayout.RingAlignment);
        // Headers, status bytes and data: the same reach, 16-byte aligned.
        private DmaDevice _bufferRules = new DmaDevice(DeviceName, VirtioLegacy.QueueAddressBits, 0, 16);

        internal VirtioLegacy Registers;
        internal LegacyVirtqueue Queue;
        internal DmaBuffer Bounce;
        internal ulong HeaderPhysical;
        internal byte* HeaderPointer;
        internal ulong StatusPhysical;
        internal byte* StatusPointer;
        /// <summary>Set when a request was lost and the device reset; the disk refuses further requests.</summary>
        internal bool Broken;

        private DmaBuffer _ring;
        private DmaBlockPool _blocks;
        private VirtioBlockDevice _disk;

        public override string Name => DeviceName;

        public override bool Matches(in PciFunction function)
            => function.VendorId == VendorVirtio && function.DeviceId == DeviceLegacyBlock;

        public override bool Load(PciFunction* function)
        {
            if (function == null || !function->HasBar(0) || !function->Bar(0).IsIo)
                return Fail("BAR0 is not an I/O window (is disable-modern=on set?)");
            Registers = new VirtioLegacy((ushort)function->Bar(0).Address);
            PciBus.EnableBusMastering(*function);
            Broken = false;

            // Reset, then tell the device a driver has found it and knows how to drive it.
            Registers.Reset();
            Registers.AddStatus(VirtioLegacy.StatusAcknowledge);
            Registers.AddStatus(VirtioLegacy.StatusDriver);
            uint offered = Registers.DeviceFeatures;
            // Nothing optional is needed: capacity is always present and the 3-descriptor chain
            // (header, data, status apart) is the layout legacy devices require without ANY_LAYOUT.
            Registers.SetDriverFeatures(0);

            Registers.SelectQueue(0);
            LegacyVirtqueueLayout layout = new LegacyVirtqueueLayout(Registers.SelectedQueueSize);
            if (!layout.IsValid || Registers.SelectedQueuePfn != 0)
                return FailDevice("queue 0 is missing, malformed or already in use");

            // The device's DMA memory on its node (the firmware's, -1 for none: any node).
            _queueRules = new DmaDevice(DeviceName, VirtioLegacy.QueueAddressBits, 0, LegacyVirtqueueLayout.RingAlignment, node: function->Node);
            _bufferRules = new DmaDevice(DeviceName, VirtioLegacy.QueueAddressBits, 0, 16, node: function->Node);
            DmaStatus status = KernelDma.Pools.Attach(_queueRules, layout.TotalBytes + BounceBytes + 4096, out DmaPool pool, Owner);
            if (status != DmaStatus.Ok)
                return FailDevice(DmaStatusText.Describe(status));
            Pool = pool;

            status = pool.Allocate(_queueRules, layout.TotalBytes, out _ring);
            if (status != DmaStatus.Ok)
                return FailAndRelease(DmaStatusText.Describe(status));
            _blocks = pool.CreateBlockPool(_bufferRules, VirtioBlockDevice.HeaderBytes, 16);
            status = _blocks.Allocate(out HeaderPhysical, out HeaderPointer);
            if (status == DmaStatus.Ok)
                status = _blocks.Allocate(out StatusPhysical, out StatusPointer);
            if (status == DmaStatus.Ok)
                status = pool.Allocate(_bufferRules, BounceBytes, out Bounce);
            if (status != DmaStatus.Ok)
                return FailAndRelease(DmaStatusText.Describe(status));

            if (!KernelDma.Report(_queueRules, "queue", _ring.Physical, layout.TotalBytes))
                return FailAndRelease("queue region breaks the device's rules");
            Queue.Initialize(_ring.Pointer, layout);
            Registers.SetSelectedQueuePfn((uint)(_ring.Physical >> 12));
            Registers.AddStatus(VirtioLegacy.StatusDriverOk);
            if ((Registers.Status & VirtioLegacy.StatusFailed) != 0)
                return FailAndRelease("device refused DRIVER_OK");

            ulong sectors = Registers.ReadConfig32(0) | (ulong)Registers.ReadConfig32(4) << 32;
            _disk = new VirtioBlockDevice(this, _bufferRules, sectors);
            DriverManager.RegisterDisk(_disk);

            Console.Write("virtio-blk: io ");
            Console.WriteHex(Registers.Base);
            Console.Write(", features offered ");
            Console.WriteHex(offered);
            Console.Write(" accepted 0x0, queue 0: ");
            Console.Write(layout.Size);
            Console.Write(" entries at ");
            Console.WriteHex(_ring.Physical);
            Console.Write(" (used ring +");
            Console.WriteHex(layout.UsedOffset);
            Console.Write("), vda ");
            Console.Write(sectors);
            Console.WriteLine(" sectors");
            return true;
        }

        public override void Unload()
        {
            // Reset first: the device drops the queue and will not touch the memory below again.
            Registers.Reset();
            if (_disk != null)
            {
                DriverManager.UnregisterDisk(_disk);
                _disk = null;
            }
            ReleaseMemory();
        }

        private void ReleaseMemory()
        {
            if (_blocks != null)
            {
                if (HeaderPointer != null)
                    _blocks.Free(HeaderPhysical);
                if (StatusPointer != null)
                    _blocks.Free(StatusPhysical);
                _blocks.Release();
                _blocks = null;
            }
            HeaderPointer = null;
            StatusPointer = null;
            if (Bounce.IsValid)
                Bounce.Release();
            if (_ring.IsValid)
                _ring.Release();
            if (Pool != null)
            {
                DmaStatus status = KernelDma.Pools.Detach(Pool, DeviceName);
                if (status != DmaStatus.Ok)
                {
                    Console.Write("virtio-blk: detach from DMA pool refused: ");
                    Console.WriteLine(DmaStatusText.Describe(status));
                }
                Pool = null;
            }
        }

        private bool FailAndRelease(string reason)
        {
            Registers.Reset();
            ReleaseMemory();
            return Fail(reason);
        }

        private bool FailDevice(string reason)
        {
            Registers.AddStatus(VirtioLegacy.StatusFailed);
            return Fail(reason);
        }

        private static bool Fail(string reason)
        {
            Console.Write("virtio-blk: ");
            Console.WriteLine(reason);
            return false;
        }
    }
}
