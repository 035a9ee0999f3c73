using System;
using PoolKernel.Startup;
using PoolKernel.Boot.Reports;
using PoolKernel.Drivers;
using PoolKernel.Drivers.BlockCache;
using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Pci;
using PoolKernel.Memory;
using PoolKernel.Mm;

namespace PoolKernel.Shell
{
    /// <summary>Device commands: lspci, drivers, unload, disks, read, write, netloop, dmapools.</summary>
    internal static unsafe class DriverCommands
    {
        internal const uint MaxSectors = 256;   // the most one 28-bit ATA command moves
        private const ulong MaxFrames = 1000000;   // netloop N: each frame may wait 2M polls

        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "lspci", "PCI functions, their BARs and the driver that took each", &Lspci);
            Commands.Register(ref n, "drivers", "drivers, whether they are loaded, the container each runs as and the pages it holds", &Drivers);
            Commands.Register(ref n, "unload", "unload NAME: stop a driver and give its memory back", &Unload);
            Commands.Register(ref n, "disks", "block devices", &Disks);
            Commands.Register(ref n, "read", "read DEV LBA COUNT: hex dump of sectors (DMA); COUNT 1..256", &Read);
            Commands.Register(ref n, "write", "write DEV LBA BYTE COUNT: fill sectors with BYTE 0..255 (DMA); COUNT 1..256", &Write);
            Commands.Register(ref n, "netloop", "netloop [N]: send N (1..1000000, default 10) frames through the NIC, count the intact ones back", &NetLoop);
            Commands.Register(ref n, "dmapools", "DMA pools: rules, users, sizes", &DmaPools);
            Commands.Register(ref n, "balloon", "virtio balloon: target, actual, memory lent per pool, stats sent, last free page report", &BalloonCommand.Run);
        }

        private static void Lspci(ref ShellLine line)
        {
            for (int i = 0; i < PciBus.Count; i++)
            {
                PciFunction* f = PciBus.Get(i);
                DriverManager.WriteAddress(*f);
                Console.Write(" ");
                DriverManager.WriteHex4(f->VendorId);
                Console.Write(":");
                DriverManager.WriteHex4(f->DeviceId);
                Console.Write(" class ");
                DriverManager.WriteHex2(f->Class);
                DriverManager.WriteHex2(f->Subclass);
                Console.Write(" ");
                Console.Write(ClassName(f->Class, f->Subclass));
                Driver owner = OwnerOf(f);
                if (owner != null)
                {
                    Console.Write("  [driver ");
                    Console.Write(owner.Name);
                    Console.Write("]");
                }
                // The firmware's node of the function (its root bridge's _PXM), "-" for none.
                Console.Write("  node ");
                if (f->Node >= 0)
                    Console.Write(f->Node);
                else
                    Console.Write("-");
                Console.WriteLine();
                for (int b = 0; b < 6; b++)
                {
                    if (!f->HasBar(b))
                        continue;
                    PciBar bar = f->Bar(b);
                    Console.Write("    bar");
                    Console.Write(b);
                    Console.Write(bar.IsIo ? " io  " : bar.Is64Bit ? " mem64 " : " mem32 ");
                    Console.WriteHex(bar.Address);
                    Console.Write(" size ");
                    Console.WriteHex(bar.Size);
                    Console.WriteLine(bar.Prefetchable ? " prefetchable" : "");
                }
            }
        }

        private static Driver OwnerOf(PciFunction* f)
        {
            for (int d = 0; d < DriverManager.DriverCount; d++)
            {
                Driver driver = DriverManager.GetDriver(d);
                if (driver.Loaded && driver.Function == f)
                    return driver;
            }
            return null;
        }

        private static string ClassName(byte cls, byte sub) => cls switch
        {
            0x01 => sub == 0x01 ? "IDE controller" : sub == 0x06 ? "SATA controller" : sub == 0x00 ? "SCSI controller" : "storage controller",
            0x02 => "network controller",
            0x03 => "display controller",
            0x06 => sub == 0x00 ? "host bridge" : sub == 0x01 ? "ISA bridge" : sub == 0x04 ? "PCI bridge" : "bridge",
            0x0C => sub == 0x05 ? "SMBus" : "serial bus controller",
            _ => "device",
        };

        private static void Drivers(ref ShellLine line)
        {
            for (int d = 0; d < DriverManager.DriverCount; d++)
            {
                Driver driver = DriverManager.GetDriver(d);
                Console.Write("  ");
                Console.Write(driver.Name);
                if (!driver.Loaded)
                {
                    Console.WriteLine("  not loaded");
                    continue;
                }
                Console.Write("  loaded");
                if (driver.Owner != FrameOwner.None && Containers.Usage(driver.Owner, out ContainerUsage u))
                {
                    Console.Write("  container owner ");
                    Console.Write((ulong)driver.Owner);
                    Console.Write(", ");
                    Console.Write(u.HeldPages);
                    Console.Write(" pages held (");
                    Console.Write(Heap.ContainerArenas.PagesOf(driver.Owner));
                    Console.Write(" in its heap arena), quota ");
                    Console.Write(u.QuotaPages);
                }
                Console.WriteLine();
            }
        }

        private static void Unload(ref ShellLine line)
        {
            for (int d = 0; d < DriverManager.DriverCount; d++)
            {
                Driver driver = DriverManager.GetDriver(d);
                if (!line.WordIs(1, driver.Name))
                    continue;
                if (!DriverManager.Unload(driver, out DriverManager.UnloadReport report))
                {
                    Console.WriteLine("unload: driver not loaded");
                    return;
                }
                Console.Write("unload: ");
                Console.Write(driver.Name);
                Console.WriteLine(report.Refused ? " stopped; its memory could not all be given back (see check)" : " stopped, memory returned");
                if (report.Owner == FrameOwner.None)
                    return;
                // The container's side: what it held, what had to be taken back, and that nothing is left.
                Console.Write("unload: ");
                Console.Write(driver.Name);
                Console.Write("'s container (owner ");
                Console.Write((ulong)report.Owner);
                Console.Write(") held ");
                Console.Write(report.HeldBefore);
                Console.Write(" pages, ");
                Console.Write(report.TakenBack);
                Console.Write(" taken back from the DMA pools, ");
                if (report.Destroyed)
                {
                    Console.Write("container destroyed, ");
                    Console.Write(report.GivenBack);
                    Console.Write(" pages given back");
                    ContainerCommands.WriteAdopted(report.Adopted);
                    Console.WriteLine();
                }
                else
                {
                    Console.Write(Containers.Usage(report.Owner, out ContainerUsage after) ? after.HeldPages : 0);
                    Console.WriteLine(" pages held now");
                }
                return;
            }
            if (line.WordCount < 2)
            {
                Console.WriteLine("usage: unload NAME (see drivers)");
                return;
            }
            Console.Write("unload: no driver '");
            line.WriteWord(1);
            Console.WriteLine("' (see drivers)");
        }

        private static void Disks(ref ShellLine line)
        {
            for (int i = 0; i < DriverManager.DiskCount; i++)
            {
                BlockDevice disk = DriverManager.GetDisk(i);
                Console.Write("  ");
                Console.Write(disk.Name);
                Console.Write("  ");
                Console.Write(disk.SectorCount);
                Console.Write(" sectors (");
                Console.WriteSize(disk.SectorCount * BlockDevice.SectorSize);
                Console.Write(")  dma ");
                Console.Write(disk.Rules.AddressBits);
                Console.Write("-bit boundary ");
                Console.WriteHex(disk.Rules.Boundary);
                Console.WriteLine();
            }
            if (DriverManager.DiskCount == 0)
                Console.WriteLine("no disks");
        }

        internal static BlockDevice FindDisk(ref ShellLine line)
        {
            for (int i = 0; i < DriverManager.DiskCount; i++)
            {
                if (line.WordIs(1, DriverManager.GetDisk(i).Name))
                    return DriverManager.GetDisk(i);
            }
            Console.WriteLine("no such disk (see disks)");
            return null;
        }

        /// <summary>
        /// The widest block address any disk here takes (LBA48). read/write check only the range;
        /// whether the sectors are on the disk is the driver's answer (a line of its own).
        /// </summary>
        internal const ulong MaxLba = (1UL << 48) - 1;

        private static void Read(ref ShellLine line)
        {
            BlockDevice disk = FindDisk(ref line);
            if (disk == null)
                return;
            if (!line.Arg(2, "LBA", 0, MaxLba, out ulong lba) || !line.Arg(3, "COUNT", 1, MaxSectors, out ulong count) || !line.NoMoreArgs(4))
                return;
            byte* data = (byte*)Heap.KernelHeapGlue.Alloc((nuint)(count * BlockDevice.SectorSize), 16);
            if (data == null || !SectorCache.ReadDirect(disk, lba, (uint)count, data))
            {
                Console.WriteLine("read: failed");
                Heap.KernelHeapGlue.Free(data);
                return;
            }
            HexDump(data, count * BlockDevice.SectorSize, lba * BlockDevice.SectorSize);
            Heap.KernelHeapGlue.Free(data);
        }

        private static void Write(ref ShellLine line)
        {
            BlockDevice disk = FindDisk(ref line);
            if (disk == null)
                return;
            if (!line.Arg(2, "LBA", 0, MaxLba, out ulong lba) || !line.Arg(3, "BYTE", 0, 255, out ulong value)
                || !line.Arg(4, "COUNT", 1, MaxSectors, out ulong count) || !line.NoMoreArgs(5))
                return;
            byte* data = (byte*)Heap.KernelHeapGlue.Alloc((nuint)(count * BlockDevice.SectorSize), 16);
            if (data == null)
            {
                Console.WriteLine("write: no memory");
                return;
            }
            for (ulong i = 0; i < count * BlockDevice.SectorSize; i++)
                data[i] = (byte)value;
            Console.WriteLine(SectorCache.WriteDirect(disk, lba, (uint)count, data) ? "write: ok" : "write: failed");
            Heap.KernelHeapGlue.Free(data);
        }

        /// <summary>16 bytes a line: offset, hex, ASCII.</summary>
        internal static void HexDump(byte* data, ulong length, ulong baseOffset)
        {
            for (ulong row = 0; row < length; row += 16)
            {
                Console.WriteHex(baseOffset + row, 8);
                Console.Write(" ");
                for (ulong i = 0; i < 16; i++)
                {
                    Console.Write(" ");
                    DriverManager.WriteHex2(data[row + i]);
                }
                Console.Write("  |");
                for (ulong i = 0; i < 16; i++)
                {
                    byte c = data[row + i];
                    Console.Write(c >= 32 && c < 127 ? (char)c : '.');
                }
                Console.WriteLine("|");
            }
        }

        private static void NetLoop(ref ShellLine line)
        {
            if (!line.OptionalArg(1, "N", 1, MaxFrames, 10, out ulong frames) || !line.NoMoreArgs(2))
                return;
            if (DriverManager.NicCount == 0)
            {
                Console.WriteLine("netloop: no network device");
                return;
            }
            NetLoopTest.Run(DriverManager.GetNic(0), frames);
        }

        private static void DmaPools(ref ShellLine line)
        {
            DmaPoolManager pools = KernelDma.Pools;
            if (pools == null || pools.Count == 0)
            {
                Console.WriteLine("no DMA pools");
                return;
            }
            for (int i = 0; i < pools.Count; i++)
            {
                DmaPool p = pools[i];
                p.GetSize(out ulong present, out ulong free);
                Console.Write("dma pool ");
                PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
                MemoryText.PoolName(ConsoleOut.Instance, pm, p.Id);
                PhysicalMemoryOwner.Unlock(state);
                Console.Write(" (pool ");
                Console.Write(p.Id.Value);
                Console.Write("): below 2^");
                Console.Write(p.AddressBits);
                Console.Write(", node ");
                Console.Write(p.Node);
                if (p.DeviceNode >= 0 && p.DeviceNode == p.Node)
                {
                    Console.Write(" (the device's node)");
                }
                else if (p.DeviceNode >= 0)
                {
                    Console.Write(" (device on node ");
                    Console.Write(p.DeviceNode);
                    Console.Write(", which had no memory for it: nearest by distance)");
                }
                Console.Write(", ");
                Console.WriteSize(present * 4096);
                Console.Write(" (");
                Console.WriteSize(free * 4096);
                Console.Write(" free), ");
                Console.Write(p.OutstandingBuffers);
                Console.Write(" buffers, grown ");
                Console.Write(p.GrowCount);
                Console.WriteLine(" times");
                if (p.GrownFromNodes != 0)
                {
                    // Page blocks taken from other nodes when the pool's own had none left, nearest first.
                    Console.Write("    grew from node");
                    for (int n = 0; n < 64; n++)
                    {
                        if (((p.GrownFromNodes >> n) & 1) != 0)
                        {
                            Console.Write(' ');
                            Console.Write(n);
                        }
                    }
                    Console.Write(" (node ");
                    Console.Write(p.Node);
                    Console.WriteLine(" had no page block left: nearest by distance)");
                }
                for (int u = 0; u < p.UserCount; u++)
                {
                    Console.Write("    user ");
                    Console.Write(p.User(u));
                    Console.Write(": ");
                    Console.Write(p.BuffersOf(u));
                    Console.Write(" buffers, owner ");
                    Console.Write((ulong)p.OwnerOf(u));
                    Console.Write(" (");
                    Console.Write(Owners.Name(p.OwnerOf(u)));
                    Console.WriteLine(")");
                }
            }
        }
    }
}
