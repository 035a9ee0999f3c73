using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Pci;
using PoolKernel.Memory;

namespace PoolKernel.Drivers
{
    /// <summary>
    /// A device driver. PCI drivers say which functions they take (<see cref="Matches"/>); drivers of
    /// legacy ISA devices probe for them (<see cref="ProbeLegacy"/>). Load gets the device going and
    /// takes its DMA pool; Unload stops the device and gives every buffer and the pool back.
    /// </summary>
    internal abstract unsafe class Driver
    {
        public abstract string Name { get; }

        /// <summary>True when this driver handles the PCI function.</summary>
        public virtual bool Matches(in PciFunction function) => false;

        /// <summary>True when a legacy (non-PCI) device this driver handles is present.</summary>
        public virtual bool ProbeLegacy() => false;

        /// <summary>Starts the device (<paramref name="function"/> is null for legacy devices). False = not loaded, reason printed.</summary>
        public abstract bool Load(PciFunction* function);

        /// <summary>Stops the device and returns all its memory.</summary>
        public abstract void Unload();

        /// <summary>
        /// Background work of a loaded driver that has no interrupt yet (the balloon following its
        /// target): called from the shell's idle loop, at most every <see cref="DriverManager.PollCycles"/>
        /// cycles, on the boot CPU with no lock held. Must return soon (a bounded piece of work per call).
        /// </summary>
        public virtual void Poll() { }

        public bool Loaded { get; internal set; }

        public PciFunction* Function { get; internal set; }

        /// <summary>
        /// The container the driver runs as, set by <see cref="DriverManager"/> before <see cref="Load"/>:
        /// every DMA buffer it takes is allocated and freed as this owner (pass it to
        /// <c>KernelDma.Pools.Attach</c>), charged to it and limited by its quota (docs/drivers.md).
        /// FrameOwner.None when the driver runs without one (then its buffers are the DMA pools' owner's).
        /// </summary>
        public byte Owner { get; internal set; } = FrameOwner.None;

        /// <summary>True when the driver manager created <see cref="Owner"/> for this load (destroyed at unload); false for the command line's container of the driver's name.</summary>
        internal bool OwnsContainer { get; set; }

        /// <summary>The DMA pool the driver took (for `dmapools`), or null.</summary>
        public DmaPool Pool { get; protected set; }
    }

    /// <summary>A disk: 512-byte sectors read and written by DMA.</summary>
    internal abstract unsafe class BlockDevice
    {
        public abstract string Name { get; }
        public abstract ulong SectorCount { get; }
        public const int SectorSize = 512;

        /// <summary>Reads <paramref name="count"/> sectors at <paramref name="lba"/> into <paramref name="destination"/>.</summary>
        public abstract bool Read(ulong lba, uint count, byte* destination);

        /// <summary>Writes <paramref name="count"/> sectors at <paramref name="lba"/> from <paramref name="source"/>.</summary>
        public abstract bool Write(ulong lba, uint count, byte* source);

        /// <summary>The device rules its DMA buffers obey (printed with every transfer).</summary>
        public abstract DmaDevice Rules { get; }
    }

    /// <summary>A network interface: raw Ethernet frames.</summary>
    internal abstract unsafe class NetworkDevice
    {
        public abstract string Name { get; }
        public abstract byte* MacAddress { get; }

        /// <summary>Queues one frame for sending; false when the transmitter is busy.</summary>
        public abstract bool Send(byte* frame, int length);

        /// <summary>Copies one received frame into <paramref name="buffer"/>; returns its length, or 0 when none is waiting.</summary>
        public abstract int Receive(byte* buffer, int capacity);

        public abstract DmaDevice Rules { get; }
    }
}
