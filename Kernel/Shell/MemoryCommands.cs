using System;
using PoolKernel.Startup;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>The memory commands: reports, experiments (alloc/free), the checker and a stress test.</summary>
    internal static unsafe class MemoryCommands
    {
        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "meminfo", "memory totals; pools + reservations = usable RAM", &MemoryReports.MemInfo);
            Commands.Register(ref n, "pools", "pools [boot]: properties and sizes, now or as set-up left them", &MemoryReports.Pools);
            Commands.Register(ref n, "buddyinfo", "free blocks per order per pool (/proc/buddyinfo)", &MemoryReports.BuddyInfo);
            Commands.Register(ref n, "zoneinfo", "the zone view (DMA, DMA32, Normal per node) derived from pools", &MemoryReports.ZoneInfo);
            Commands.Register(ref n, "pageblocks", "use of every page block, pool by pool", &MemoryReports.Pageblocks);
            Commands.Register(ref n, "pagetypeinfo", "free blocks per order per mobility class, page blocks per class, pool by pool (/proc/pagetypeinfo)", &MemoryReports.PageTypeInfo);
            Commands.Register(ref n, "alloc", "alloc ORDER [pool ID | node N | dma BITS]: allocate a block as the shell (ORDER 0..max order, BITS 12..63)", &Alloc);
            Commands.Register(ref n, "free", "free PFN ORDER: free a block the shell allocated", &Free);
            Commands.Register(ref n, "check", "run the invariant checker", &Check);
            Commands.Register(ref n, "stress", "stress N [SEED] [compact]: N (1..100000000) random allocations/frees across pools on every CPU, checked; SEED 1 if not given; compact: this CPU compacts every pool over a scattered movable area meanwhile, the area checksummed", &Stress);
            Commands.Register(ref n, "membench", "membench [PAIRS]: PAIRS (1..100000000, default 20000) allocation/free pairs timed in TSC ticks (order 0 named and by choice, order 9, DMA32 + 64 KiB)", &PairBench.Run);
            Commands.Register(ref n, "exhaust", "exhaust [pool ID] [hold]: allocate until out of memory, then give it all back (hold: keep it until 'exhaust release')", &ExhaustCommand.Run);
            CompactCommands.Register(ref n);
            HeapCommands.Register(ref n);
            Commands.Register(ref n, "dump", "the whole memory state, machine-readable, between markers", &MemoryReports.Dump);
        }

        private const string AllocUsage = "usage: alloc ORDER [pool ID | node N | dma BITS]";

        /// <summary>Highest frame number of a 64-bit physical address (4 KiB frames).</summary>
        internal const ulong MaxPfn = (1UL << 52) - 1;

        /// <summary>The range of a device address width (AllocRequest.DmaAddressBits: 12..63).</summary>
        internal const ulong MinDmaBits = 12, MaxDmaBits = 63;

        /// <summary>Reads word <paramref name="index"/> as the ID of a slot in the pool table (0..capacity-1).</summary>
        internal static bool PoolArg(ref ShellLine line, int index, out PoolId pool)
        {
            pool = default;
            if (!line.Arg(index, "ID", 0, (ulong)PhysicalMemoryOwner.PoolCapacity - 1, out ulong id))
                return false;
            pool = new PoolId((byte)id);
            return true;
        }

        /// <summary>
        /// Word <paramref name="index"/> as the ID of a live pool (<see cref="PoolArg"/>, then the pool looked up):
        /// false, with the usage error or "<paramref name="command"/>: no pool N (see pools)" printed, when it is not.
        /// </summary>
        internal static bool LivePoolArg(ref ShellLine line, int index, string command, out PoolId pool)
        {
            if (!PoolArg(ref line, index, out pool))
                return false;
            if (PhysicalMemoryOwner.GetPoolProperties(pool, out _) == MemoryStatus.Ok)
                return true;
            Console.Write(command);
            Console.Write(": no pool ");
            Console.Write(pool.Value);
            Console.WriteLine(" (see pools)");
            return false;
        }

        private static void Alloc(ref ShellLine line)
        {
            if (!line.Arg(1, "ORDER", 0, (ulong)PhysicalMemoryOwner.MaxOrder, out ulong order))
                return;
            AllocRequest request = AllocRequest.Any;
            if (line.WordCount > 2)
            {
                if (line.WordIs(2, "pool"))
                {
                    if (!PoolArg(ref line, 3, out PoolId pool))
                        return;
                    request = AllocRequest.InPool(pool);
                }
                else if (line.WordIs(2, "node"))
                {
                    if (!line.Arg(3, "N", 0, (ulong)PhysicalMemoryOwner.NodeCount - 1, out ulong node))
                        return;
                    request.PreferredNode = (byte)node;
                }
                else if (line.WordIs(2, "dma"))
                {
                    if (!line.Arg(3, "BITS", MinDmaBits, MaxDmaBits, out ulong bits))
                        return;
                    request = AllocRequest.Dma((byte)bits);
                }
                else
                {
                    Console.WriteLine(AllocUsage);
                    return;
                }
                if (!line.NoMoreArgs(4))
                    return;
            }
            request.Owner = ShellOwner.Current;
            ulong start = Cpu.ReadTsc();
            MemoryStatus status = PhysicalMemoryOwner.Allocate(new Order((int)order), request, out Pfn pfn);
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

        private static void Free(ref ShellLine line)
        {
            if (!line.Arg(1, "PFN", 0, MaxPfn, out ulong pfn) || !line.Arg(2, "ORDER", 0, (ulong)PhysicalMemoryOwner.MaxOrder, out ulong order) || !line.NoMoreArgs(3))
                return;
            MemoryStatus status = PhysicalMemoryOwner.Free(new Pfn(pfn), new Order((int)order), ShellOwner.Current);
            Console.Write("free: ");
            if (status == MemoryStatus.NotOwner)
            {
                // The shell frees only what it allocated; say whose block it is.
                byte owner = PhysicalMemoryOwner.OwnerOf(new Pfn(pfn));
                Console.Write(ShellOwner.Current == Owners.Shell ? "refused, not the shell's: owned by " : "refused, not this container's: owned by ");
                Console.Write(Owners.Name(owner));
                Console.Write(" (owner ");
                Console.Write(owner);
                Console.WriteLine("), nothing freed");
                return;
            }
            Console.WriteLine(MemoryText.Status(status));
        }

        /// <summary>The DMA pools' ownership (drivers as containers: docs/drivers.md): one line, "check: dma ok (...)" or what broke.</summary>
        private static void DmaCheck()
        {
            Drivers.Dma.DmaPoolManager dma = Drivers.KernelDma.Pools;
            if (dma == null)
                return;
            string broken = dma.Check(out int pools, out int buffers, out PoolId pool, out ulong physical);
            Console.Write("check: dma ");
            if (broken == null)
            {
                Console.Write("ok (");
                Console.Write(pools);
                Console.Write(" pools, ");
                Console.Write(buffers);
                Console.WriteLine(" buffers: each owned by its driver's container, which counts exactly them)");
                return;
            }
            Console.Write("BROKEN: ");
            Console.Write(broken);
            Console.Write(" (pool ");
            Console.Write(pool.Value);
            Console.Write(", phys ");
            Console.WriteHex(physical);
            Console.WriteLine(")");
        }

        private static void Check(ref ShellLine line)
        {
            ulong start = Cpu.ReadTsc();
            InvariantReport report = PhysicalMemoryOwner.Check();
            ulong cycles = Cpu.ReadTsc() - start;
            MemoryText.Report(ConsoleOut.Instance, report);
            HeapCommands.Report(Heap.KernelHeapGlue.Check());
            DmaCheck();
            string numa = NumaPolicies.Check();
            Console.Write("check: numa ");
            Console.WriteLine(numa == null ? "ok (policies valid, counters consistent)" : numa);
            string areas = VmAreas.Check(out int areaCount, out ulong areaPages, out int area, out ulong page);
            Console.Write("check: vmareas ");
            if (areas == null)
            {
                Console.Write("ok (");
                Console.Write(areaCount);
                Console.Write(" areas, ");
                Console.Write(areaPages);
                Console.WriteLine(" pages: every frame owned by its area's owner, reverse map and page tables agree)");
            }
            else
            {
                Console.Write("BROKEN: ");
                Console.Write(areas);
                Console.Write(" (area ");
                Console.Write(area);
                Console.Write(", page ");
                Console.Write(page);
                Console.WriteLine(")");
            }
            BlockCacheCommands.Report(false);
            Console.Write("check: ");
            Console.Write(cycles);
            Console.WriteLine(" cycles");
        }

        /// <summary>The most operations one stress command runs (a few minutes under QEMU's TCG).</summary>
        internal const ulong MaxStressOperations = 100000000;

        private static void Stress(ref ShellLine line)
        {
            // A last word "compact" (after N, and SEED if given) asks for compaction on this CPU meanwhile.
            bool compact = line.WordCount >= 3 && line.WordIs(line.WordCount - 1, "compact");
            int end = compact ? line.WordCount - 1 : line.WordCount;
            if (!line.Arg(1, "N", 1, MaxStressOperations, out ulong operations))
                return;
            ulong seed = 1;
            if (end > 2 && !line.Arg(2, "SEED", 0, ulong.MaxValue, out seed))
                return;
            if (end > 3)
            {
                line.NoMoreArgs(3);
                return;
            }
            StressTest.Run(operations, seed, compact);
        }
    }
}
