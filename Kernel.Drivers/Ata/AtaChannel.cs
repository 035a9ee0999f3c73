using System;
using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Platform;
using static PoolKernel.Drivers.Ata.AtaRegisters;

namespace PoolKernel.Drivers.Ata
{
    /// <summary>What IDENTIFY DEVICE found at one position of a channel.</summary>
    internal enum AtaProbe : byte
    {
        /// <summary>Nothing answers (status 0 as QEMU reports it, or a floating bus reading 0xFF).</summary>
        Absent,
        /// <summary>An ATA disk; its 256 IDENTIFY words were read.</summary>
        Disk,
        /// <summary>A packet device (CD/DVD): aborted IDENTIFY with the 0x14/0xEB signature. Not handled.</summary>
        Atapi,
        /// <summary>IDENTIFY was aborted without a packet signature: QEMU's answer at an empty position next to a present device.</summary>
        Aborted,
        /// <summary>Another signature (e.g. 0x3C/0xC3 of a SATA bridge): not a parallel ATA disk.</summary>
        Other,
        /// <summary>The device stayed busy or never raised DRQ within the bound.</summary>
        Timeout,
    }

    /// <summary>
    /// One IDE channel: its command and control block ports, its slice of the bus-master registers
    /// and its Physical Region Descriptor table. Everything is polled with bounded waits: the
    /// device's interrupt is masked (nIEN) and no wait can hang the kernel. One command at a time;
    /// the caller (the driver) serializes.
    /// </summary>
    internal sealed unsafe class AtaChannel
    {
        /// <summary>
        /// Upper bound on any wait, in TSC cycles: 2^33 is about 3 s at 3 GHz and 8 s at 1 GHz, far
        /// more than a 128 KiB transfer or a reset needs, and short enough to report a dead device.
        /// </summary>
        private const ulong TimeoutCycles = 1UL << 33;
        /// <summary>A second bound in loop turns, should the TSC not advance.</summary>
        private const int MaxSpins = 50_000_000;

        private readonly ushort _base;
        private readonly ushort _control;
        private readonly ushort _busMaster;

        public AtaChannel(int index, ushort commandBase, ushort control, ushort busMaster)
        {
            Index = index;
            _base = commandBase;
            _control = control;
            _busMaster = busMaster;
        }

        /// <summary>0 primary, 1 secondary.</summary>
        public int Index { get; }

        /// <summary>Bus address of the PRD table (4-byte aligned, within one 64 KiB window) and the kernel's view of it.</summary>
        public ulong PrdPhysical { get; private set; }
        private uint* _prd;
        private int _prdCapacity;

        public bool HasPrdTable => _prd != null;

        public void SetPrdTable(ulong physical, byte* pointer, int entries)
        {
            PrdPhysical = physical;
            _prd = (uint*)pointer;
            _prdCapacity = entries;
        }

        public void ClearPrdTable()
        {
            PrdPhysical = 0;
            _prd = null;
            _prdCapacity = 0;
        }

        private byte AltStatus() => Ports.InB(_control);

        /// <summary>The ATA spec's 400 ns after selecting a device: four reads of alternate status.</summary>
        private void Delay400ns()
        {
            for (int i = 0; i < 4; i++)
                AltStatus();
        }

        /// <summary>Masks the devices' interrupt line: completion is found by polling.</summary>
        public void MaskInterrupt() => Ports.OutB(_control, ControlNoInterrupt);

        /// <summary>Waits for BSY to clear; false on timeout. <paramref name="status"/> is the last alternate status read.</summary>
        private bool WaitNotBusy(out byte status)
        {
            ulong start = Clock.ReadTsc();
            for (int spin = 0; spin < MaxSpins; spin++)
            {
                status = AltStatus();
                if ((status & StatusBusy) == 0)
                    return true;
                if (Clock.ReadTsc() - start > TimeoutCycles)
                    break;
                Clock.Pause();
            }
            status = AltStatus();
            return false;
        }

        private void Select(bool slave, byte head)
        {
            Ports.OutB((ushort)(_base + DriveHead), (byte)(head | (slave ? DriveHeadSlave : 0)));
            Delay400ns();
        }

        /// <summary>
        /// IDENTIFY DEVICE by PIO at one position. On <see cref="AtaProbe.Disk"/> the 256 words are
        /// in <paramref name="words"/>. Packet devices and empty positions are told apart, not read.
        /// </summary>
        public AtaProbe Identify(bool slave, ushort* words)
        {
            Select(slave, DriveHeadChs);
            byte status = AltStatus();
            if (status == 0xFF)
                return AtaProbe.Absent;
            if (!WaitNotBusy(out _))
                return AtaProbe.Timeout;
            Ports.OutB((ushort)(_base + SectorCount), 0);
            Ports.OutB((ushort)(_base + LbaLow), 0);
            Ports.OutB((ushort)(_base + LbaMid), 0);
            Ports.OutB((ushort)(_base + LbaHigh), 0);
            Ports.OutB((ushort)(_base + StatusCommand), CommandIdentify);
            Delay400ns();
            status = Ports.InB((ushort)(_base + StatusCommand));
            if (status == 0 || status == 0xFF)
                return AtaProbe.Absent;
            if (!WaitNotBusy(out status))
                return AtaProbe.Timeout;
            byte mid = Ports.InB((ushort)(_base + LbaMid));
            byte high = Ports.InB((ushort)(_base + LbaHigh));
            if (mid == AtapiSignatureMid && high == AtapiSignatureHigh)
                return AtaProbe.Atapi;
            if (mid != 0 || high != 0)
                return AtaProbe.Other;
            ulong start = Clock.ReadTsc();
            for (int spin = 0; ; spin++)
            {
                status = AltStatus();
                if ((status & StatusError) != 0)
                    return AtaProbe.Aborted;
                if ((status & StatusDataRequest) != 0)
                    break;
                if (spin >= MaxSpins || Clock.ReadTsc() - start > TimeoutCycles)
                    return AtaProbe.Timeout;
                Clock.Pause();
            }
            for (int i = 0; i < 256; i++)
                words[i] = Ports.InW((ushort)(_base + Data));
            Ports.InB((ushort)(_base + StatusCommand));
            return AtaProbe.Disk;
        }

        /// <summary>
        /// One READ DMA or WRITE DMA command of <paramref name="count"/> (1..256) sectors at a 28-bit
        /// <paramref name="lba"/>, through the bounce <paramref name="buffers"/> (each at most
        /// <paramref name="bufferBytes"/>, each obeying <paramref name="rules"/>). Every address is
        /// reported and checked before the device gets it; a refused address starts nothing.
        /// Returns false, with the reason printed, on a refused address, a device error or a timeout;
        /// the engine is stopped in every case.
        /// </summary>
        public bool Dma(string disk, bool slave, uint lba, uint count, bool write, DmaBuffer[] buffers, int bufferCount, ulong bufferBytes, in DmaDevice rules)
        {
            if (_prd == null || count == 0 || count > MaxSectorsPerCommand || (ulong)lba + count > Lba28Limit)
                return false;
            // The table: one descriptor per bounce buffer used, the last one marked end of table.
            ulong remaining = (ulong)count * BlockDevice.SectorSize;
            int entries = 0;
            for (int i = 0; i < bufferCount && remaining > 0; i++)
            {
                if (entries == _prdCapacity)
                    return false;
                ulong length = AtaPrd.EntryLength(remaining, bufferBytes);
                ulong physical = buffers[i].Physical;
                if (length > PrdMaxBytes || !KernelDma.Report(rules, write ? "write" : "read", physical, length))
                    return false;
                remaining -= length;
                AtaPrd.Write(_prd, entries, physical, length, remaining == 0);
                entries++;
            }
            if (remaining != 0)
                return false;
            if (!KernelDma.Report(rules, "prd-table", PrdPhysical, (ulong)entries * PrdBytes))
                return false;

            ushort bmCommand = (ushort)(_busMaster + BusMasterCommand);
            ushort bmStatus = (ushort)(_busMaster + BusMasterStatus);
            // Engine stopped, table given, Error and Interrupt cleared, direction set.
            Ports.OutB(bmCommand, 0);
            Ports.OutD((ushort)(_busMaster + BusMasterPrdTable), (uint)PrdPhysical);
            Ports.OutB(bmStatus, (byte)((Ports.InB(bmStatus) & BusMasterDriveCapable) | BusMasterError | BusMasterInterrupt));
            byte direction = write ? (byte)0 : BusMasterToMemory;
            Ports.OutB(bmCommand, direction);

            Select(slave, (byte)(DriveHeadLba | ((lba >> 24) & 0x0F)));
            if (!WaitNotBusy(out byte status) || (status & StatusDataRequest) != 0)
            {
                Fail(disk, write, lba, "device busy before the command", status, 0);
                return false;
            }
            Ports.OutB((ushort)(_base + SectorCount), (byte)(count == MaxSectorsPerCommand ? 0 : count));
            Ports.OutB((ushort)(_base + LbaLow), (byte)lba);
            Ports.OutB((ushort)(_base + LbaMid), (byte)(lba >> 8));
            Ports.OutB((ushort)(_base + LbaHigh), (byte)(lba >> 16));
            Ports.OutB((ushort)(_base + StatusCommand), write ? CommandWriteDma : CommandReadDma);
            Ports.OutB(bmCommand, (byte)(direction | BusMasterStart));

            // Done when the engine has gone idle (the table was exactly the transfer) or raised
            // Interrupt/Error, and the device is no longer busy.
            bool finished = false;
            byte bm = 0;
            ulong start = Clock.ReadTsc();
            for (int spin = 0; spin < MaxSpins; spin++)
            {
                bm = Ports.InB(bmStatus);
                status = AltStatus();
                if ((bm & BusMasterError) != 0)
                    break;
                if ((status & StatusBusy) == 0 && ((bm & BusMasterActive) == 0 || (bm & BusMasterInterrupt) != 0 || (status & StatusError) != 0))
                {
                    finished = true;
                    break;
                }
                if (Clock.ReadTsc() - start > TimeoutCycles)
                    break;
                Clock.Pause();
            }
            Ports.OutB(bmCommand, 0);
            status = Ports.InB((ushort)(_base + StatusCommand));
            bm = Ports.InB(bmStatus);
            Ports.OutB(bmStatus, (byte)((bm & BusMasterDriveCapable) | BusMasterError | BusMasterInterrupt));
            if (!finished)
            {
                Fail(disk, write, lba, (bm & BusMasterError) != 0 ? "bus-master error" : "timed out", status, bm);
                Reset();
                return false;
            }
            if ((status & (StatusBusy | StatusError | StatusDeviceFault | StatusDataRequest)) != 0 || (bm & BusMasterError) != 0)
            {
                Fail(disk, write, lba, "device error", status, bm);
                return false;
            }
            return true;
        }

        private void Fail(string disk, bool write, uint lba, string why, byte status, byte bm)
        {
            Console.Write("ata: ");
            Console.Write(disk);
            Console.Write(write ? " write" : " read");
            Console.Write(" at lba ");
            Console.Write(lba);
            Console.Write(" failed: ");
            Console.Write(why);
            Console.Write(" (status ");
            Console.WriteHex(status);
            Console.Write(" error ");
            Console.WriteHex(Ports.InB((ushort)(_base + Error)));
            Console.Write(" bus-master ");
            Console.WriteHex(bm);
            Console.WriteLine(")");
        }

        /// <summary>
        /// Stops the engine and resets both devices of the channel, so nothing on it still DMAs;
        /// interrupts stay masked. Bounded: a device that stays busy is left as it is.
        /// </summary>
        public void Reset()
        {
            Ports.OutB((ushort)(_busMaster + BusMasterCommand), 0);
            ushort bmStatus = (ushort)(_busMaster + BusMasterStatus);
            Ports.OutB(bmStatus, (byte)((Ports.InB(bmStatus) & BusMasterDriveCapable) | BusMasterError | BusMasterInterrupt));
            Ports.OutB(_control, (byte)(ControlReset | ControlNoInterrupt));
            // SRST must be held at least 5 us; each port read is on the order of a microsecond.
            for (int i = 0; i < 16; i++)
                AltStatus();
            Ports.OutB(_control, ControlNoInterrupt);
            Delay400ns();
            WaitNotBusy(out _);
        }
    }
}
