using System;
using PoolKernel.Boot.Reports;
using PoolKernel.Drivers.VirtioBalloon;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>
    /// 'balloon': the virtio balloon's state (docs/balloon.md): the device's target and the actual
    /// size (MiB), the page blocks lent per pool, why inflation stopped short of the target (a
    /// guarantee, or no wholly free page block), the moves so far with their rates, deflations on
    /// out of memory, stats buffers sent, and the last free page report.
    /// </summary>
    internal static unsafe class BalloonCommand
    {
        internal static void Run(ref ShellLine line)
        {
            if (!line.NoMoreArgs(1))
                return;
            VirtioBalloonDriver d = VirtioBalloonDriver.Active;
            if (d == null)
            {
                Console.WriteLine("balloon: no virtio-balloon device (QEMU: -device virtio-balloon-pci,disable-modern=on)");
                return;
            }
            VirtioBalloonDriver.Report r = d.Snapshot();
            Console.Write("balloon: target ");
            Console.Write((ulong)r.TargetPages >> 8);
            Console.Write(" MiB, actual ");
            Console.Write((ulong)r.ActualPages >> 8);
            Console.Write(" MiB (");
            Console.Write(r.LentPageblocks);
            Console.Write(" page blocks of ");
            Console.Write(r.PageblockPages * 4);
            Console.Write(" kB)");
            if (r.Broken)
                Console.Write(", device reset after a lost request");
            Console.WriteLine();

            Console.Write("balloon: lent by pool:");
            bool any = false;
            for (int p = 0; p < PhysicalMemoryOwner.PoolCapacity; p++)
            {
                PoolId id = new PoolId((byte)p);
                if (PhysicalMemoryOwner.GetPoolStats(id, out PoolStats s) != MemoryStatus.Ok || s.BalloonedPages == 0)
                    continue;
                PhysicalMemoryOwner.GetPoolProperties(id, out PoolProperties props);
                Console.Write(any ? ", " : " ");
                Console.Write(p);
                Console.Write(" ");
                MemoryText.PoolName(ConsoleOut.Instance, props);
                Console.Write(" ");
                Console.Write(s.BalloonedPages * 4);
                Console.Write(" kB");
                any = true;
            }
            Console.WriteLine(any ? "" : " none");

            if (r.LastStop == MemoryStatus.BelowMinimum)
                Console.WriteLine("balloon: stopped at the guarantees: every pool it may take from is at its minimum");
            else if (r.LastStop == MemoryStatus.OutOfMemory)
                Console.WriteLine("balloon: stopped short: no wholly free page block above the guarantees (memory in use)");
            else if (r.LastStop != MemoryStatus.Ok)
            {
                Console.Write("balloon: stopped: ");
                Console.WriteLine(MemoryText.Status(r.LastStop));
            }

            Console.Write("balloon: inflated ");
            Console.Write(r.Inflated);
            Console.Write(" deflated ");
            Console.Write(r.Deflated);
            Console.Write(" page blocks (");
            Console.Write(r.InflateCycles);
            Console.Write(" / ");
            Console.Write(r.DeflateCycles);
            Console.Write(" cycles), deflated on out of memory ");
            Console.Write(r.OomDeflated);
            Console.Write(", stats sent ");
            Console.Write(r.StatsSent);
            Console.Write(", features ");
            Console.WriteHex(r.Accepted);
            Console.WriteLine();

            Console.Write("balloon: free page reports ");
            Console.Write(r.Reports);
            Console.Write(", last ");
            Console.Write(r.LastReportBlocks);
            Console.Write(" blocks (");
            Console.Write(r.LastReportBlocks * r.PageblockPages >> 8);
            Console.Write(" MiB) in ");
            Console.Write(r.LastReportCycles);
            Console.Write(" cycles, ");
            Console.Write(r.ReportedBlocks * r.PageblockPages >> 8);
            Console.WriteLine(" MiB reported in all");
        }
    }
}
