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

        /// <summary>
        /// Around each of a driver's entry points (load, poll, its devices' I/O, unload; <see cref="DriverManager"/> and the
        /// device classes call it): the running CPU acts as <paramref name="driver"/>'s container (<see cref="Owner"/>; the
        /// kernel when it has none or <paramref name="driver"/> is null), so the managed objects its code makes come from
        /// that container's heap arena, charged to it (docs/containers.md "A driver's objects"). Returns what the CPU
        /// acted as before, for <see cref="Leave"/>: entries nest (a disk read inside the shell's <c>as</c>).
        /// </summary>
        internal static Heap.ContainerArenas.DriverScope Enter(Driver driver, string entry)
            => Heap.ContainerArenas.EnterDriver(driver == null || driver.Owner == FrameOwner.None ? Mm.Owners.Kernel : driver.Owner,
                driver == null ? "a driver" : driver.Name, entry);

        /// <summary>
        /// The end of the entry point <see cref="Enter"/> began: one line when its container refused objects the kernel's heap
        /// made instead (<see cref="Heap.ContainerArenas.LeaveDriver"/>), then the CPU acts as it did before again.
        /// </summary>
        internal static void Leave(in Heap.ContainerArenas.DriverScope scope) => Heap.ContainerArenas.LeaveDriver(scope);
    }

    /// <summary>A disk: 512-byte sectors read and written by DMA.</summary>
    internal abstract unsafe class BlockDevice
    {
        public abstract string Name { get; }
        public abstract ulong SectorCount { get; }
        public const int SectorSize = 512;

        /// <summary>The driver that registered the disk (<see cref="DriverManager.RegisterDisk"/>): its I/O runs as that driver's container.</summary>
        internal Driver Driver { get; set; }

        /// <summary>Reads <paramref name="count"/> sectors at <paramref name="lba"/> into <paramref name="destination"/>, as the driver's container.</summary>
        public bool Read(ulong lba, uint count, byte* destination)
        {
            Heap.ContainerArenas.DriverScope scope = Driver.Enter(Driver, "read");
            bool ok = ReadSectors(lba, count, destination);
            Driver.Leave(scope);
            return ok;
        }

        /// <summary>Writes <paramref name="count"/> sectors at <paramref name="lba"/> from <paramref name="source"/>, as the driver's container.</summary>
        public bool Write(ulong lba, uint count, byte* source)
        {
            Heap.ContainerArenas.DriverScope scope = Driver.Enter(Driver, "write");
            bool ok = WriteSectors(lba, count, source);
            Driver.Leave(scope);
            return ok;
        }

        /// <summary>The driver's read (<see cref="Read"/>'s body).</summary>
        protected abstract bool ReadSectors(ulong lba, uint count, byte* destination);

        /// <summary>The driver's write (<see cref="Write"/>'s body).</summary>
        protected abstract bool WriteSectors(ulong lba, uint count, byte* source);

        /// <summary>The device rules its DMA buffers obey (printed with every transfer).</summary>
        public abstract DmaDevice Rules { get; }
    }

    /// <summary>A network interface: raw Ethernet frames.</summary>
    internal abstract unsafe class NetworkDevice
    {
        public abstract string Name { get; }
        public abstract byte* MacAddress { get; }

        /// <summary>The driver that registered the interface (<see cref="DriverManager.RegisterNic"/>): its I/O runs as that driver's container.</summary>
        internal Driver Driver { get; set; }

        /// <summary>Queues one frame for sending, as the driver's container; false when the transmitter is busy.</summary>
        public bool Send(byte* frame, int length)
        {
            Heap.ContainerArenas.DriverScope scope = Driver.Enter(Driver, "send");
            bool ok = SendFrame(frame, length);
            Driver.Leave(scope);
            return ok;
        }

        /// <summary>Copies one received frame into <paramref name="buffer"/>, as the driver's container; returns its length, or 0 when none is waiting.</summary>
        public int Receive(byte* buffer, int capacity)
        {
            Heap.ContainerArenas.DriverScope scope = Driver.Enter(Driver, "receive");
            int length = ReceiveFrame(buffer, capacity);
            Driver.Leave(scope);
            return length;
        }

        /// <summary>The driver's send (<see cref="Send"/>'s body).</summary>
        protected abstract bool SendFrame(byte* frame, int length);

        /// <summary>The driver's receive (<see cref="Receive"/>'s body).</summary>
        protected abstract int ReceiveFrame(byte* buffer, int capacity);

        public abstract DmaDevice Rules { get; }
    }
}
