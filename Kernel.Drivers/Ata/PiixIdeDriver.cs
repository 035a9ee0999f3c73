using System;
using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Pci;
using PoolKernel.Drivers.Platform;
using static PoolKernel.Drivers.Ata.AtaRegisters;

namespace PoolKernel.Drivers.Ata
{
    /// <summary>
    /// Bus-master DMA on the Intel PIIX3/PIIX4 IDE function (8086:7010 / 8086:7111, class 0101),
    /// QEMU's `-M pc` disk controller. Finds ATA disks at the four positions with IDENTIFY DEVICE
    /// (PIO; packet devices such as CD-ROMs are skipped), then moves data with READ DMA / WRITE DMA
    /// (28-bit LBA) through bounce buffers from a DMA pool that obeys the engine's rules: 32-bit
    /// addresses, no buffer or descriptor table crossing a 64 KiB boundary, at most 64 KiB a
    /// descriptor. One command at a time, polled (interrupts masked), every wait bounded.
    /// </summary>
    internal sealed unsafe class PiixIdeDriver : Driver
    {
        private const string DriverName = "ata-piix";

        /// <summary>
        /// Bounce buffers: four of 32 KiB, 128 KiB in all, which is the 256 sectors one READ/WRITE DMA
        /// can move. Each is one PRD; 32 KiB pieces (rather than two of 64 KiB) keep a descriptor's
        /// byte count out of the "0 means 64 KiB" encoding and make a long transfer use several.
        /// </summary>
        private const int BounceCount = 4;
        private const ulong BounceBytes = 32 * 1024;
        private const uint BounceSectors = (uint)(BounceCount * BounceBytes / BlockDevice.SectorSize);

        /// <summary>A channel's PRD table: one descriptor per bounce buffer.</summary>
        private const int PrdEntries = BounceCount;
        /// <summary>PIIX needs the table dword-aligned; 16 keeps it on the DMA rules' default alignment.</summary>
        private const uint PrdAlignment = 16;

        private DmaDevice _rules;
        private DmaBlockPool _prdBlocks;
        private readonly DmaBuffer[] _bounce = new DmaBuffer[BounceCount];
        private int _bounceCount;
        private readonly AtaChannel[] _channels = new AtaChannel[2];
        private readonly AtaDisk[] _disks = new AtaDisk[4];
        private int _diskCount;

        public override string Name => DriverName;

        public DmaDevice Rules => _rules;

        public override bool Matches(in PciFunction function)
            => function.VendorId == 0x8086 && (function.DeviceId == 0x7010 || function.DeviceId == 0x7111)
               && function.Class == 0x01 && function.Subclass == 0x01;

        public override bool Load(PciFunction* function)
        {
            if (function == null || !function->HasBar(4) || !function->Bar(4).IsIo)
            {
                Console.WriteLine("ata: no bus-master I/O BAR4");
                return false;
            }
            ushort busMaster = (ushort)function->Bar(4).Address;
            // The device's DMA memory on its node (the firmware's, -1 for none: any node).
            _rules = new DmaDevice(DriverName, 32, PrdMaxBytes, 0, PrdMaxBytes, function->Node);
            _diskCount = 0;

            // Command and control blocks: legacy ports unless the programming interface says the
            // channel runs in native mode (PIIX never does; then BAR0/1 and BAR2/3 hold them).
            for (int c = 0; c < 2; c++)
            {
                bool native = (function->ProgIf & (c == 0 ? 0x01 : 0x04)) != 0;
                ushort commandBase = c == 0 ? (ushort)0x1F0 : (ushort)0x170;
                ushort control = c == 0 ? (ushort)0x3F6 : (ushort)0x376;
                if (native)
                {
                    if (!function->HasBar(c * 2) || !function->HasBar(c * 2 + 1))
                        continue;
                    commandBase = (ushort)function->Bar(c * 2).Address;
                    control = (ushort)(function->Bar(c * 2 + 1).Address + 2);
                }
                if (!ChannelDecodes(*function, c))
                {
                    Console.Write("ata: ");
                    Console.Write(c == 0 ? "primary" : "secondary");
                    Console.WriteLine(" channel disabled in the PIIX timing register");
                    continue;
                }
                AtaChannel channel = _channels[c] ?? new AtaChannel(c, commandBase, control, (ushort)(busMaster + c * BusMasterChannelStride));
                _channels[c] = channel;
                channel.MaskInterrupt();
                Probe(channel, false);
                Probe(channel, true);
            }
            if (_diskCount == 0)
            {
                Console.WriteLine("ata: no ATA disk found");
                return false;
            }

            DmaStatus status = KernelDma.Pools.Attach(_rules, BounceCount * BounceBytes + 4096, out DmaPool pool, Owner);
            if (status != DmaStatus.Ok)
            {
                Console.Write("ata: no DMA pool: ");
                Console.WriteLine(DmaStatusText.Describe(status));
                _diskCount = 0;
                return false;
            }
            Pool = pool;
            if (!AllocateDmaMemory(out status))
            {
                Console.Write("ata: DMA memory: ");
                Console.WriteLine(DmaStatusText.Describe(status));
                ReleaseDmaMemory();
                _diskCount = 0;
                return false;
            }
            PciBus.EnableBusMastering(*function);
            for (int i = 0; i < _diskCount; i++)
                DriverManager.RegisterDisk(_disks[i]);
            return true;
        }

        /// <summary>PIIX IDETIM bit 15: the channel's ports are decoded at all. Other functions are taken as enabled.</summary>
        private static bool ChannelDecodes(in PciFunction function, int channel)
        {
            if (function.VendorId != 0x8086)
                return true;
            ushort timing = PciBus.Read16(function, channel == 0 ? PiixTimingPrimary : PiixTimingSecondary);
            return (timing & PiixTimingDecodeEnable) != 0;
        }

        private void Probe(AtaChannel channel, bool slave)
        {
            ushort* words = stackalloc ushort[256];
            AtaProbe found = channel.Identify(slave, words);
            string name = AtaDisk.NameOf(channel.Index, slave);
            if (found == AtaProbe.Absent)
                return;
            Console.Write("ata: ");
            Console.Write(name);
            if (found != AtaProbe.Disk)
            {
                Console.WriteLine(found == AtaProbe.Atapi ? ": packet device (CD/DVD), skipped"
                    : found == AtaProbe.Timeout ? ": no answer to IDENTIFY (timed out), skipped"
                    : found == AtaProbe.Aborted ? ": IDENTIFY aborted, no ATA disk" : ": unknown device signature, skipped");
                return;
            }
            // Word 49: bit 9 LBA, bit 8 DMA. Words 60-61: sectors addressable with 28-bit LBA.
            ushort capabilities = words[49];
            ulong sectors = words[60] | (ulong)words[61] << 16;
            Console.Write(": ");
            WriteModel(words);
            Console.Write(", ");
            Console.Write(sectors);
            Console.Write(" sectors (");
            Console.WriteSize(sectors * BlockDevice.SectorSize);
            Console.Write(")");
            if ((capabilities & (1 << 9)) == 0 || (capabilities & (1 << 8)) == 0 || sectors == 0)
            {
                Console.WriteLine(", no LBA or no DMA, skipped");
                return;
            }
            Console.WriteLine(", LBA28, bus-master DMA");
            _disks[_diskCount++] = new AtaDisk(this, channel, slave, name, sectors);
        }

        /// <summary>Model number, IDENTIFY words 27..46: two ASCII characters a word, high byte first, space-padded.</summary>
        private static void WriteModel(ushort* words)
        {
            int end = 40;
            while (end > 0 && ModelChar(words, end - 1) == ' ')
                end--;
            for (int i = 0; i < end; i++)
            {
                char c = ModelChar(words, i);
                Console.Write(c >= ' ' && c < (char)127 ? c : '?');
            }
        }

        private static char ModelChar(ushort* words, int i)
        {
            ushort w = words[27 + i / 2];
            return (char)((i & 1) == 0 ? w >> 8 : w & 0xFF);
        }

        /// <summary>Bounce buffers, and one PRD table for each channel that has a disk.</summary>
        private bool AllocateDmaMemory(out DmaStatus status)
        {
            _prdBlocks = Pool.CreateBlockPool(_rules, PrdEntries * PrdBytes, PrdAlignment);
            for (int c = 0; c < 2; c++)
            {
                if (_channels[c] == null || !HasDiskOn(_channels[c]))
                    continue;
                status = _prdBlocks.Allocate(out ulong physical, out byte* pointer);
                if (status != DmaStatus.Ok)
                    return false;
                _channels[c].SetPrdTable(physical, pointer, PrdEntries);
            }
            for (_bounceCount = 0; _bounceCount < BounceCount; _bounceCount++)
            {
                status = Pool.Allocate(_rules, BounceBytes, out _bounce[_bounceCount]);
                if (status != DmaStatus.Ok)
                    return false;
            }
            status = DmaStatus.Ok;
            return true;
        }

        private bool HasDiskOn(AtaChannel channel)
        {
            for (int i = 0; i < _diskCount; i++)
            {
                if (_disks[i].Channel == channel)
                    return true;
            }
            return false;
        }

        /// <summary>Gives back every buffer, the PRD tables and the pool; what is left over is printed.</summary>
        private void ReleaseDmaMemory()
        {
            int buffers = 0;
            for (int i = 0; i < _bounceCount; i++)
            {
                if (_bounce[i].Release() == DmaStatus.Ok)
                    buffers++;
            }
            _bounceCount = 0;
            int tables = 0;
            for (int c = 0; c < 2; c++)
            {
                AtaChannel channel = _channels[c];
                if (channel == null || !channel.HasPrdTable)
                    continue;
                if (_prdBlocks.Free(channel.PrdPhysical) == DmaStatus.Ok)
                    tables++;
                channel.ClearPrdTable();
            }
            DmaStatus blocks = _prdBlocks == null ? DmaStatus.Ok : _prdBlocks.Release();
            _prdBlocks = null;
            DmaStatus detach = Pool == null ? DmaStatus.Ok : KernelDma.Pools.Detach(Pool, DriverName);
            Pool = null;
            Console.Write("ata: returned ");
            Console.Write(buffers);
            Console.Write(" bounce buffers and ");
            Console.Write(tables);
            Console.Write(" PRD tables; block pool ");
            Console.Write(DmaStatusText.Describe(blocks));
            Console.Write(", pool detach ");
            Console.WriteLine(DmaStatusText.Describe(detach));
        }

        public override void Unload()
        {
            // Stop the engines and reset the devices first, then take bus mastering away, so no
            // DMA can land in memory that is about to be given back.
            for (int c = 0; c < 2; c++)
            {
                if (_channels[c] != null && _channels[c].HasPrdTable)
                    _channels[c].Reset();
            }
            if (Function != null)
                PciBus.Write16(*Function, 0x04, (ushort)(PciBus.Read16(*Function, 0x04) & ~PciBus.CommandBusMaster));
            for (int i = 0; i < _diskCount; i++)
            {
                DriverManager.UnregisterDisk(_disks[i]);
                _disks[i] = null;
            }
            _diskCount = 0;
            ReleaseDmaMemory();
        }

        /// <summary>
        /// Moves <paramref name="count"/> sectors between <paramref name="data"/> and the disk, in
        /// commands of at most 256 sectors, each through the bounce buffers. The range must lie on
        /// the disk and below 2^28. False (reason printed) on the first failed command.
        /// </summary>
        internal bool Transfer(AtaDisk disk, ulong lba, uint count, byte* data, bool write)
        {
            if (_bounceCount != BounceCount || count == 0)
                return false;
            if (lba >= disk.SectorCount || count > disk.SectorCount - lba || lba + count > Lba28Limit)
            {
                Console.Write("ata: ");
                Console.Write(disk.Name);
                Console.WriteLine(": sectors beyond the disk");
                return false;
            }
            uint most = BounceSectors < MaxSectorsPerCommand ? BounceSectors : MaxSectorsPerCommand;
            while (count > 0)
            {
                uint n = count < most ? count : most;
                ulong bytes = (ulong)n * BlockDevice.SectorSize;
                if (write)
                    CopyBounce(data, bytes, true);
                if (!disk.Channel.Dma(disk.Name, disk.Slave, (uint)lba, n, write, _bounce, _bounceCount, BounceBytes, _rules))
                    return false;
                if (!write)
                    CopyBounce(data, bytes, false);
                data += bytes;
                lba += n;
                count -= n;
            }
            return true;
        }

        /// <summary>Copies <paramref name="bytes"/> (a multiple of 8) between <paramref name="data"/> and the bounce buffers in order.</summary>
        private void CopyBounce(byte* data, ulong bytes, bool toBounce)
        {
            for (int i = 0; i < _bounceCount && bytes > 0; i++)
            {
                ulong n = bytes < BounceBytes ? bytes : BounceBytes;
                ulong* bounce = (ulong*)_bounce[i].Pointer;
                ulong* other = (ulong*)data;
                for (ulong w = 0; w < n / 8; w++)
                {
                    if (toBounce)
                        bounce[w] = other[w];
                    else
                        other[w] = bounce[w];
                }
                data += n;
                bytes -= n;
            }
        }
    }
}
