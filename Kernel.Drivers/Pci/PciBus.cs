using System;
using PoolKernel.Drivers.Platform;

namespace PoolKernel.Drivers.Pci
{
    /// <summary>
    /// PCI configuration space through mechanism #1 (ports 0xCF8/0xCFC), which both QEMU machines
    /// (pc/i440FX and q35/ICH9) provide. Enumerates every bus, device and function once at boot.
    /// </summary>
    internal static unsafe class PciBus
    {
        private const ushort ConfigAddress = 0xCF8;
        private const ushort ConfigData = 0xCFC;
        internal const int MaxFunctions = 64;

        internal const ushort CommandIoSpace = 1 << 0;
        internal const ushort CommandMemorySpace = 1 << 1;
        internal const ushort CommandBusMaster = 1 << 2;

        private static PciFunction* s_functions;
        private static int s_count;

        internal static int Count => s_count;

        internal static PciFunction* Get(int i) => (uint)i < (uint)s_count ? s_functions + i : null;

        internal static uint Read32(in PciFunction f, int offset) => Read32(f.Bus, f.Device, f.Function, offset);

        internal static uint Read32(int bus, int device, int function, int offset)
        {
            Ports.OutD(ConfigAddress, PciConfig.Address(bus, device, function, offset));
            return Ports.InD(ConfigData);
        }

        internal static void Write32(in PciFunction f, int offset, uint value)
        {
            Ports.OutD(ConfigAddress, PciConfig.Address(f.Bus, f.Device, f.Function, offset));
            Ports.OutD(ConfigData, value);
        }

        internal static ushort Read16(in PciFunction f, int offset) => PciConfig.Extract16(Read32(f, offset), offset);

        internal static void Write16(in PciFunction f, int offset, ushort value)
            => Write32(f, offset, PciConfig.Merge16(Read32(f, offset), offset, value));

        /// <summary>Turns on I/O and memory decoding and bus mastering (the device may now DMA).</summary>
        internal static void EnableBusMastering(in PciFunction f)
            => Write16(f, 0x04, (ushort)(Read16(f, 0x04) | CommandIoSpace | CommandMemorySpace | CommandBusMaster));

        internal static void Enumerate(void* storage)
        {
            s_functions = (PciFunction*)storage;
            s_count = 0;
            for (int bus = 0; bus < 256; bus++)
            {
                for (int device = 0; device < 32; device++)
                {
                    if ((ushort)Read32(bus, device, 0, 0) == 0xFFFF)
                        continue;
                    byte header = (byte)(Read32(bus, device, 0, 0x0C) >> 16);
                    int functions = (header & 0x80) != 0 ? 8 : 1;
                    for (int function = 0; function < functions; function++)
                    {
                        uint id = Read32(bus, device, function, 0);
                        if ((ushort)id == 0xFFFF || s_count == MaxFunctions)
                            continue;
                        Add(bus, device, function, id);
                    }
                }
            }
        }

        private static void Add(int bus, int device, int function, uint id)
        {
            PciFunction* f = s_functions + s_count++;
            *f = default;
            f->Bus = (byte)bus;
            f->Device = (byte)device;
            f->Function = (byte)function;
            f->Node = Firmware.PciBusNode(bus);
            f->VendorId = (ushort)id;
            f->DeviceId = (ushort)(id >> 16);
            uint classReg = Read32(bus, device, function, 0x08);
            f->Revision = (byte)classReg;
            f->ProgIf = (byte)(classReg >> 8);
            f->Subclass = (byte)(classReg >> 16);
            f->Class = (byte)(classReg >> 24);
            f->HeaderType = (byte)(Read32(bus, device, function, 0x0C) >> 16);
            f->InterruptLine = (byte)Read32(bus, device, function, 0x3C);
            f->SubsystemId = (ushort)(Read32(bus, device, function, 0x2C) >> 16);
            if ((f->HeaderType & 0x7F) == 0)
                DecodeBars(f);
        }

        // Size each BAR by writing all ones and reading back the mask, with decoding off meanwhile.
        private static void DecodeBars(PciFunction* f)
        {
            ushort command = Read16(*f, 0x04);
            Write16(*f, 0x04, (ushort)(command & ~(CommandIoSpace | CommandMemorySpace)));
            for (int i = 0; i < 6; i++)
            {
                int offset = 0x10 + i * 4;
                uint original = Read32(*f, offset);
                Write32(*f, offset, 0xFFFFFFFF);
                uint mask = Read32(*f, offset);
                Write32(*f, offset, original);
                if (mask == 0 || mask == 0xFFFFFFFF && original == 0)
                    continue;
                if ((original & 1) != 0)
                {
                    f->BarAddress[i] = original & ~3u;
                    f->BarSize[i] = (~(mask & ~3u) + 1) & 0xFFFF;
                    f->BarFlags[i] = 0x81;
                    continue;
                }
                bool is64 = ((original >> 1) & 3) == 2;
                ulong address = original & ~0xFu;
                ulong sizeMask = mask & ~0xFu;
                if (is64 && i < 5)
                {
                    uint high = Read32(*f, offset + 4);
                    Write32(*f, offset + 4, 0xFFFFFFFF);
                    uint highMask = Read32(*f, offset + 4);
                    Write32(*f, offset + 4, high);
                    address |= (ulong)high << 32;
                    sizeMask |= (ulong)highMask << 32;
                }
                else
                {
                    sizeMask |= 0xFFFFFFFF00000000UL;
                }
                f->BarAddress[i] = address;
                f->BarSize[i] = ~sizeMask + 1;
                f->BarFlags[i] = (byte)(0x80 | (is64 ? 2 : 0) | ((original & 8) != 0 ? 4 : 0));
                if (is64)
                    i++;
            }
            Write16(*f, 0x04, command);
        }
    }
}
