using System;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>
    /// `compact [POOL]`: a full compaction pass (docs/antifrag.md) over one pool or every pool, one line
    /// each: pages and blocks moved, page blocks emptied, why it stopped, TSC ticks. `fragindex`: Linux's
    /// external fragmentation index per order per pool, in thousandths (-1000: a block of the order is free).
    /// </summary>
    internal static unsafe class CompactCommands
    {
        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "compact", "compact [pool ID]: move movable blocks out of the cheapest page blocks (every pool, or one)", &Compact);
            Commands.Register(ref n, "fragindex", "external fragmentation index per order per pool, in thousandths (-1000: a block is free)", &FragIndex);
            Commands.Register(ref n, "churn", "churn [SEED]: fill the largest open pool with a movable/unmovable/reclaimable mix, free half, order-9 share without and with compaction", &ChurnCommand.Run);
        }

        private static void Compact(ref ShellLine line)
        {
            PoolId only = PoolId.None;
            if (line.WordIs(1, "pool"))
            {
                if (!MemoryCommands.LivePoolArg(ref line, 2, "compact", out only) || !line.NoMoreArgs(3))
                    return;
            }
            else if (!line.NoMoreArgs(1))
                return;
            // The reclaimable pages that can be dropped go first (written back if dirty): dropping frees
            // their frames where moving would only shift them.
            ulong dropped = Drivers.BlockCache.SectorCache.DropAll(out ulong written);
            if (dropped != 0)
            {
                Console.Write("compact: sector cache dropped ");
                Console.Write(dropped);
                Console.Write(" pages (");
                Console.Write(written);
                Console.WriteLine(" written back)");
            }
            for (int id = 0; id < PhysicalMemoryOwner.PoolCapacity; id++)
            {
                PoolId pool = new PoolId((byte)id);
                if ((!only.IsNone && pool != only) || PhysicalMemoryOwner.GetPoolProperties(pool, out _) != MemoryStatus.Ok)
                    continue;
                ulong start = Cpu.ReadTsc();
                PhysicalMemoryOwner.Compact(pool, -1, out CompactionResult r);
                ulong ticks = Cpu.ReadTsc() - start;
                Console.Write("compact: pool ");
                Console.Write(id);
                Console.Write(": ");
                Console.Write(r.PagesMoved);
                Console.Write(" pages moved in ");
                Console.Write(r.BlocksMoved);
                Console.Write(" blocks, ");
                Console.Write(r.PageblocksFreed);
                Console.Write(" page blocks freed, ");
                Console.Write(r.PageblocksScanned);
                Console.Write(" scanned, stopped: ");
                Console.Write(r.Stop == CompactionStop.Satisfied ? "satisfied" : r.Stop == CompactionStop.NoCandidates ? "no more candidates"
                    : r.Stop == CompactionStop.NoTarget ? "no target" : "mover declined");
                Console.Write("; ");
                Console.Write(ticks);
                Console.WriteLine(" ticks");
            }
        }

        private static void FragIndex(ref ShellLine line)
        {
            if (!line.NoMoreArgs(1))
                return;
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                Console.Write("fragindex: pool ");
                Console.Write(id.Value);
                Console.Write(':');
                for (int o = 0; o <= pm->MaxOrder; o++)
                {
                    Console.Write(' ');
                    Console.Write(pm->FragmentationIndex(id, o));
                }
                Console.Write("  score ");
                Console.Write(pm->FragmentationScore(id));
                Console.WriteLine();
            }
            PhysicalMemoryOwner.Unlock(state);
        }
    }
}
