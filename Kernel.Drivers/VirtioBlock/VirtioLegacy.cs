using PoolKernel.Drivers.Platform;

namespace PoolKernel.Drivers.VirtioBlock
{
    /// <summary>
    /// The legacy (virtio 0.9.5, "transitional") PCI register block: an I/O-port window in BAR0.
    /// Offsets are those of a device whose MSI-X is not enabled by the driver (the device-specific
    /// configuration then starts at 0x14; with MSI-X on it would move to 0x18).
    /// </summary>
    internal readonly struct VirtioLegacy
    {
        private const ushort HostFeatures = 0x00;   // 32-bit, read: features the device offers
        private const ushort GuestFeatures = 0x04;  // 32-bit, write: features the driver accepts
        private const ushort QueuePfn = 0x08;       // 32-bit: queue address >> 12, 0 = no queue
        private const ushort QueueSize = 0x0C;      // 16-bit, read: entries of the selected queue
        private const ushort QueueSelect = 0x0E;    // 16-bit
        private const ushort QueueNotify = 0x10;    // 16-bit, write a queue index to kick it
        private const ushort DeviceStatus = 0x12;   // 8-bit, 0 = reset
        private const ushort DeviceConfig = 0x14;

        internal const byte StatusAcknowledge = 1;
        internal const byte StatusDriver = 2;
        internal const byte StatusDriverOk = 4;
        internal const byte StatusFailed = 128;

        /// <summary>The legacy interface takes the queue's frame number in 32 bits of 4 KiB frames: 2^44 bytes.</summary>
        internal const byte QueueAddressBits = 32 + 12;

        private readonly ushort _base;

        internal VirtioLegacy(ushort ioBase) => _base = ioBase;

        internal ushort Base => _base;

        /// <summary>Writing 0 resets the device: it forgets its queues and stops all DMA.</summary>
        internal void Reset() => Ports.OutB((ushort)(_base + DeviceStatus), 0);

        internal byte Status => Ports.InB((ushort)(_base + DeviceStatus));

        internal void AddStatus(byte bits) => Ports.OutB((ushort)(_base + DeviceStatus), (byte)(Status | bits));

        internal uint DeviceFeatures => Ports.InD((ushort)(_base + HostFeatures));

        internal void SetDriverFeatures(uint features) => Ports.OutD((ushort)(_base + GuestFeatures), features);

        internal void SelectQueue(ushort queue) => Ports.OutW((ushort)(_base + QueueSelect), queue);

        internal ushort SelectedQueueSize => Ports.InW((ushort)(_base + QueueSize));

        internal uint SelectedQueuePfn => Ports.InD((ushort)(_base + QueuePfn));

        internal void SetSelectedQueuePfn(uint pfn) => Ports.OutD((ushort)(_base + QueuePfn), pfn);

        internal void Notify(ushort queue) => Ports.OutW((ushort)(_base + QueueNotify), queue);

        internal uint ReadConfig32(ushort offset) => Ports.InD((ushort)(_base + DeviceConfig + offset));

        internal void WriteConfig32(ushort offset, uint value) => Ports.OutD((ushort)(_base + DeviceConfig + offset), value);
    }
}
