namespace PoolKernel.Drivers.Platform
{
    // The kernel's side of the drivers' firmware seam (Kernel.Drivers/Platform/Firmware.cs).
    internal static partial class Firmware
    {
        internal static partial int PciBusNode(int bus) => PoolKernel.Startup.PciNodes.NodeOfBus(bus);
    }
}
