namespace PoolKernel.Drivers.Platform
{
    /// <summary>
    /// What the drivers learn from the firmware's tables: a PCI bus's NUMA node (the DSDT root
    /// bridge's _PXM through the SRAT). Declared here, implemented by the kernel
    /// (Kernel/Platform/DriverFirmware.cs). Kernel-only, like <see cref="Ports"/>.
    /// </summary>
    internal static partial class Firmware
    {
        /// <summary>The node of PCI bus <paramref name="bus"/>, or -1 when the firmware gives it none.</summary>
        internal static partial int PciBusNode(int bus);
    }
}
