using System;
using PoolKernel.Drivers.Dma;

namespace PoolKernel.Drivers
{
    /// <summary>
    /// The machine's DMA pools (over the kernel's pools), and the one place drivers report the
    /// DMA addresses they hand to devices: every report is checked against the device's rules and
    /// printed as "dma: DEVICE phys=... len=... ok" so boot tests can verify them.
    /// </summary>
    internal static unsafe class KernelDma
    {
        internal static DmaPoolManager Pools;

        internal static void Initialize() => Pools = new DmaPoolManager(Mm.PhysicalMemoryOwner.Unguarded, null, Mm.Owners.Dma, &Mm.PhysicalMemoryOwner.FailFast, Mm.PhysicalMemoryOwner.CallsLock);

        /// <summary>Prints and checks one address a device is about to use; false (and no transfer) on a violation.</summary>
        internal static bool Report(in DmaDevice device, string what, ulong physical, ulong length)
        {
            bool ok = device.Admits(physical, length);
            Console.Write("dma: ");
            Console.Write(device.Name);
            Console.Write(" ");
            Console.Write(what);
            Console.Write(" phys=");
            Console.WriteHex(physical);
            Console.Write(" len=");
            Console.WriteHex(length);
            Console.Write(" bits=");
            Console.Write(device.AddressBits);
            Console.Write(" boundary=");
            Console.WriteHex(device.Boundary);
            Console.WriteLine(ok ? " ok" : " VIOLATION (refused)");
            return ok;
        }
    }
}
