namespace PoolKernel.Drivers.Pci
{
    /// <summary>
    /// The arithmetic of PCI configuration mechanism #1, apart from the port I/O (<see cref="PciBus"/>
    /// does that): the dword written to CONFIG_ADDRESS (0xCF8) to select a register, and the 16-bit
    /// views of the dword read back from CONFIG_DATA (0xCFC). Pure, host-tested.
    /// </summary>
    internal static class PciConfig
    {
        /// <summary>Bit 31 of CONFIG_ADDRESS: the next CONFIG_DATA access is a configuration cycle.</summary>
        internal const uint Enable = 0x80000000u;

        /// <summary>
        /// CONFIG_ADDRESS for one register: enable, bus in bits 16-23, device 11-15, function 8-10,
        /// and the register's dword (offset bits 2-7; bits 0-1 are always 0, so an unaligned offset
        /// selects the dword that holds it). Callers pass bus 0..255, device 0..31, function 0..7.
        /// </summary>
        internal static uint Address(int bus, int device, int function, int offset)
            => Enable | (uint)bus << 16 | (uint)device << 11 | (uint)function << 8 | ((uint)offset & 0xFC);

        /// <summary>The 16-bit register at <paramref name="offset"/> (2-aligned) inside the dword that holds it.</summary>
        internal static ushort Extract16(uint dword, int offset) => (ushort)(dword >> Shift16(offset));

        /// <summary>The dword with the 16-bit register at <paramref name="offset"/> replaced by <paramref name="value"/>, its other half unchanged.</summary>
        internal static uint Merge16(uint dword, int offset, ushort value)
        {
            int shift = Shift16(offset);
            return (dword & ~(0xFFFFu << shift)) | (uint)value << shift;
        }

        private static int Shift16(int offset) => (offset & 2) * 8;
    }
}
