using System;
using PoolKernel.Drivers;
using PoolKernel.Drivers.BlockCache;

namespace PoolKernel.Shell
{
    /// <summary>
    /// `bcache`: the block-device sector cache (docs/antifrag.md): its counts and consistency;
    /// `bcache drop` (write back, then drop every page), `bcache sync` (write back, keep),
    /// `bcache read DEV LBA COUNT` and `bcache write DEV LBA BYTE COUNT` (the disk commands through the cache).
    /// </summary>
    internal static unsafe class BlockCacheCommands
    {
        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "bcache", "bcache [drop|sync|read DEV LBA COUNT|write DEV LBA BYTE COUNT]: the sector cache (reclaimable pages)", &Run);
        }

        private static void Run(ref ShellLine line)
        {
            if (line.WordIs(1, "read") || line.WordIs(1, "write"))
            {
                Transfer(ref line, line.WordIs(1, "write"));
                return;
            }
            if (line.WordIs(1, "drop"))
            {
                if (!line.NoMoreArgs(2))
                    return;
                ulong dropped = SectorCache.DropAll(out ulong written);
                Console.Write("bcache: dropped ");
                Console.Write(dropped);
                Console.Write(" pages, ");
                Console.Write(written);
                Console.WriteLine(" written back first");
                return;
            }
            if (line.WordIs(1, "sync"))
            {
                if (!line.NoMoreArgs(2))
                    return;
                bool ok = SectorCache.Sync(out ulong written);
                Console.Write("bcache: ");
                Console.Write(written);
                Console.WriteLine(ok ? " pages written back" : " pages written back, then a disk refused one");
                return;
            }
            if (!line.NoMoreArgs(1))
                return;
            Report(true);
        }

        /// <summary>One line: the counts, or the broken invariant. <paramref name="counts"/> false: only `check: bcache ...`.</summary>
        internal static void Report(bool counts)
        {
            string broken = SectorCache.Check(out SectorCache.Stats s, out int slot);
            if (broken != null)
            {
                Console.Write(counts ? "bcache: BROKEN: " : "check: bcache BROKEN: ");
                Console.Write(broken);
                Console.Write(" (slot ");
                Console.Write(slot);
                Console.WriteLine(")");
                return;
            }
            if (!counts)
            {
                Console.Write("check: bcache ok (");
                Console.Write(s.Pages);
                Console.Write(" pages: every frame owned by bcache, ");
                Console.Write(s.InReclaimableBlocks);
                Console.WriteLine(" in reclaimable page blocks)");
                return;
            }
            Console.Write("bcache: ");
            Console.Write(s.Pages);
            Console.Write(" pages (");
            Console.Write(s.Pages * 4);
            Console.Write(" KiB, reclaimable, ");
            Console.Write(s.InReclaimableBlocks);
            Console.Write(" in reclaimable page blocks), ");
            Console.Write(s.Dirty);
            Console.Write(" dirty; ");
            Console.Write(s.Hits);
            Console.Write(" hits, ");
            Console.Write(s.Misses);
            Console.Write(" misses, ");
            Console.Write(s.Dropped);
            Console.Write(" dropped, ");
            Console.Write(s.WrittenBack);
            Console.Write(" written back, ");
            Console.Write(s.Lost);
            Console.WriteLine(" lost");
        }

        private static void Transfer(ref ShellLine line, bool write)
        {
            // Words: bcache read DEV LBA COUNT / bcache write DEV LBA BYTE COUNT; FindDisk reads word 1, so
            // the line is taken from word 1 on (which the caller found: read or write).
            ShellLine rest = default;
            rest.SetFromWord(ref line, 1);
            BlockDevice disk = DriverCommands.FindDisk(ref rest);
            if (disk == null)
                return;
            ulong value = 0, count;
            if (!rest.Arg(2, "LBA", 0, DriverCommands.MaxLba, out ulong lba))
                return;
            if (write && !rest.Arg(3, "BYTE", 0, 255, out value))
                return;
            int countWord = write ? 4 : 3;
            if (!rest.Arg(countWord, "COUNT", 1, DriverCommands.MaxSectors, out count) || !rest.NoMoreArgs(countWord + 1))
                return;
            byte* data = (byte*)Heap.KernelHeapGlue.Alloc((nuint)(count * BlockDevice.SectorSize), 16);
            if (data == null)
            {
                Console.WriteLine("bcache: no memory");
                return;
            }
            if (write)
            {
                for (ulong i = 0; i < count * BlockDevice.SectorSize; i++)
                    data[i] = (byte)value;
            }
            bool ok = write ? SectorCache.Write(disk, lba, (uint)count, data, out uint hits, out uint misses)
                : SectorCache.Read(disk, lba, (uint)count, data, out hits, out misses);
            Console.Write(write ? "bcache write: " : "bcache read: ");
            Console.Write(ok ? "ok, " : "failed, ");
            Console.Write(hits);
            Console.Write(" pages hit, ");
            Console.Write(misses);
            Console.WriteLine(" missed");
            if (ok && !write)
                DriverCommands.HexDump(data, count * BlockDevice.SectorSize, lba * BlockDevice.SectorSize);
            Heap.KernelHeapGlue.Free(data);
        }
    }
}
