namespace PoolKernel.Drivers.Pci
{
    /// <summary>A decoded base address register.</summary>
    internal struct PciBar
    {
        public ulong Address;
        public ulong Size;
        public bool IsIo;
        public bool Is64Bit;
        public bool Prefetchable;
    }

    /// <summary>One PCI function found by enumeration: its address, identity and decoded BARs.</summary>
    internal unsafe struct PciFunction
    {
        public byte Bus, Device, Function;
        /// <summary>The NUMA node of the function's bus, from the firmware (Startup/PciNodes: the root bridge's _PXM); -1 for none.</summary>
        public int Node;
        public ushort VendorId, DeviceId;
        public byte Class, Subclass, ProgIf, Revision;
        public byte HeaderType;
        public byte InterruptLine;
        public ushort SubsystemId;
        public fixed ulong BarAddress[6];
        public fixed ulong BarSize[6];
        public fixed byte BarFlags[6];   // bit 0 I/O, bit 1 64-bit, bit 2 prefetchable, bit 7 present

        public readonly PciBar Bar(int i)
        {
            PciBar b = default;
            if ((uint)i >= 6)
                return b;
            b.Address = BarAddress[i];
            b.Size = BarSize[i];
            b.IsIo = (BarFlags[i] & 1) != 0;
            b.Is64Bit = (BarFlags[i] & 2) != 0;
            b.Prefetchable = (BarFlags[i] & 4) != 0;
            return b;
        }

        public readonly bool HasBar(int i) => (uint)i < 6 && (BarFlags[i] & 0x80) != 0;
    }
}
