using System;
using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.Layout;
using PoolKernel.Mm;

namespace PoolKernel.Startup
{
    /// <summary>
    /// The NUMA node of each PCI bus, from the firmware: the DSDT's PCI root bridges (their _BBN and
    /// _PXM, read by <see cref="AmlRootBridges"/>) and the SRAT's proximity domains. A bus under a root
    /// bridge without _PXM (QEMU's main PCI0, machines without expander bridges) has no node (-1), nor
    /// does any bus when the DSDT could not be read whole, under numa=off or numa=fake. Read once at
    /// discovery, before the ACPI tables' memory is reclaimed; read-only after.
    /// </summary>
    internal static unsafe class PciNodes
    {
        private static RootBridges* s_bridges;

        /// <summary>Reads the DSDT's root bridges and prints one line saying what was found or why not.</summary>
        internal static void Read(AcpiInfo* acpi)
        {
            s_bridges = (RootBridges*)BootAllocator.AllocZeroed((nuint)sizeof(RootBridges), 8);
            if (s_bridges == null)
                return;
            AcpiParser.ReadRootBridges(acpi, s_bridges);
            switch (s_bridges->Status)
            {
                case AmlStatus.Ok:
                    Console.Write("acpi:     DSDT: ");
                    Console.Write(s_bridges->Count);
                    Console.Write(s_bridges->Count == 1 ? " PCI root bridge" : " PCI root bridges");
                    for (int i = 0; i < s_bridges->Count; i++)
                    {
                        Console.Write(i == 0 ? ": " : ", ");
                        WriteName(s_bridges->Name(i));
                        Console.Write(" bus ");
                        Console.WriteHex(s_bridges->BaseBus(i));
                        int pxm = s_bridges->Proximity(i);
                        if (pxm < 0)
                        {
                            Console.Write(" no _PXM");
                        }
                        else
                        {
                            Console.Write(" _PXM ");
                            Console.Write(pxm);
                        }
                    }
                    Console.WriteLine();
                    break;
                case AmlStatus.NoDsdt:
                    Console.WriteLine("acpi:     no valid DSDT; PCI devices have no node");
                    break;
                default:
                    Console.Write("acpi:     DSDT not read: ");
                    Console.Write(s_bridges->Status == AmlStatus.UnknownOpcode ? "AML opcode " : s_bridges->Status == AmlStatus.Truncated ? "object cut short, opcode " : "limit reached at opcode ");
                    Console.WriteHex((ulong)s_bridges->StoppedOpcode);
                    Console.Write(" at offset ");
                    Console.WriteHex((ulong)s_bridges->StoppedAt);
                    Console.WriteLine(" not understood; PCI devices have no node");
                    break;
            }
        }

        private static void WriteName(uint name)
        {
            for (int i = 0; i < 4; i++)
            {
                byte c = (byte)(name >> (8 * i));
                if (c != (byte)'_' || i == 0)
                    Console.WriteVisible(c);
            }
        }

        /// <summary>The node of PCI bus <paramref name="bus"/> (see the type), or -1.</summary>
        internal static int NodeOfBus(int bus)
        {
            if (s_bridges == null || Machine.Numa != NumaMode.Firmware)
                return -1;
            int bridge = s_bridges->BridgeOfBus(bus);
            if (bridge < 0 || s_bridges->Proximity(bridge) < 0)
                return -1;
            int node = Machine.Acpi->NodeOfDomain((uint)s_bridges->Proximity(bridge));
            return node < Machine.NodeCount ? node : -1;
        }
    }
}
