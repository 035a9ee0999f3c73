using System;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>The memory commands: reports, experiments (alloc/free), the checker and a stress test.</summary>
    internal static unsafe class MemoryCommands
    {
        private static PhysicalMemory* Pm => MemoryBringUp.Memory;

        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "meminfo", "memory totals; pools + reservations = usable RAM", &MemoryReports.MemInfo);
            Commands.Register(ref n, "pools", "pools: properties and sizes", &MemoryReports.Pools);
            Commands.Register(ref n, "buddyinfo", "free blocks per order per pool (/proc/buddyinfo)", &MemoryReports.BuddyInfo);
            Commands.Register(ref n, "zoneinfo", "the zone view (DMA, DMA32, Normal per node) derived from pools", &MemoryReports.ZoneInfo);
            Commands.Register(ref n, "pageblocks", "use of every page block, pool by pool", &MemoryReports.Pageblocks);
            Commands.Register(ref n, "alloc", "alloc ORDER [pool ID | node N | dma BITS]: allocate a block", &Alloc);
            Commands.Register(ref n, "free", "free PFN ORDER: free a block the shell allocated", &Free);
            Commands.Register(ref n, "check", "run the invariant checker", &Check);
            Commands.Register(ref n, "stress", "stress N [SEED]: N random allocations/frees across pools, checked", &Stress);
            Commands.Register(ref n, "membench", "membench [PAIRS]: allocation/free pairs timed in TSC ticks (order 0 named and by choice, order 9, DMA32 + 64 KiB)", &PairBench.Run);
            Commands.Register(ref n, "exhaust", "exhaust [pool ID]: allocate until out of memory, then give it all back", &ExhaustCommand.Run);
            HeapCommands.Register(ref n);
            Commands.Register(ref n, "dump", "the whole memory state, machine-readable, between markers", &MemoryReports.Dump);
        }

        private static void Alloc(ref CommandLineBuffer line)
        {
            if (!line.TryNumber(1, out ulong order))
            {
                Console.WriteLine("usage: alloc ORDER [pool ID | node N | dma BITS]");
                return;
            }
            AllocRequest request = AllocRequest.Any;
            if (line.WordIs(2, "pool") && line.TryNumber(3, out ulong pool))
                request = AllocRequest.InPool(new PoolId((byte)pool));
            else if (line.WordIs(2, "node") && line.TryNumber(3, out ulong node))
                request.PreferredNode = (byte)node;
            else if (line.WordIs(2, "dma") && line.TryNumber(3, out ulong bits))
                request = AllocRequest.Dma((byte)bits);
            else if (line.WordCount > 2)
            {
                Console.WriteLine("usage: alloc ORDER [pool ID | node N | dma BITS]");
                return;
            }
            request.Owner = Owners.Shell;
            ulong start = Cpu.ReadTsc();
            MemoryStatus status = Pm->Allocate(new Order((int)order), request, out Pfn pfn);
            ulong cycles = Cpu.ReadTsc() - start;
            if (status != MemoryStatus.Ok)
            {
                Console.Write("alloc: ");
                Console.WriteLine(MemoryText.Status(status));
                return;
            }
            Console.Write("alloc: pfn ");
            Console.WriteHex(pfn.Value);
            Console.Write(" address ");
            Console.WriteHex(pfn.Value << 12);
            Console.Write(" order ");
            Console.Write(order);
            Console.Write(" (");
            Console.Write(cycles);
            Console.WriteLine(" cycles)");
        }

        private static void Free(ref CommandLineBuffer line)
        {
            if (!line.TryNumber(1, out ulong pfn) || !line.TryNumber(2, out ulong order))
            {
                Console.WriteLine("usage: free PFN ORDER");
                return;
            }
            MemoryStatus status = Pm->Free(new Pfn(pfn), new Order((int)order), Owners.Shell);
            Console.Write("free: ");
            if (status == MemoryStatus.NotOwner)
            {
                // The shell frees only what it allocated; say whose block it is.
                byte owner = Pm->OwnerOf(new Pfn(pfn));
                Console.Write("refused, not the shell's: owned by ");
                Console.Write(Owners.Name(owner));
                Console.Write(" (owner ");
                Console.Write(owner);
                Console.WriteLine("), nothing freed");
                return;
            }
            Console.WriteLine(MemoryText.Status(status));
        }

        private static void Check(ref CommandLineBuffer line)
        {
            ulong start = Cpu.ReadTsc();
            InvariantReport report = Pm->Check();
            ulong cycles = Cpu.ReadTsc() - start;
            MemoryText.Report(report);
            HeapCommands.Report(Heap.KernelHeapGlue.Heap->Check());
            Console.Write("check: ");
            Console.Write(cycles);
            Console.WriteLine(" cycles");
        }

        private static void Stress(ref CommandLineBuffer line)
        {
            if (!line.TryNumber(1, out ulong operations))
            {
                Console.WriteLine("usage: stress N [SEED]");
                return;
            }
            ulong seed = line.TryNumber(2, out ulong s) ? s : 1;
            StressTest.Run(Pm, operations, seed);
        }
    }
}
