using System;
using PoolKernel.Startup;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Mm;

namespace PoolKernel.Shell
{
    /// <summary>
    /// 'exhaust [pool ID] [hold]': takes every free block (largest orders first) until the allocator
    /// refuses, prints what was asked, what was left and the allocator's answer, gives everything
    /// back and checks. Shows that running out of memory is a clean result, not a hang, and that the
    /// kernel stays usable. With 'hold' the blocks are kept (so later commands run with no free
    /// memory) until 'exhaust release'. The taken blocks are chained through their own first bytes,
    /// so no other memory is needed.
    /// </summary>
    internal static unsafe class ExhaustCommand
    {
        private struct Link
        {
            public Link* Next;
            public int Order;
        }

        /// <summary>Blocks kept by 'exhaust hold' until 'exhaust release'.</summary>
        private static Link* s_held;

        internal static void Run(ref ShellLine line)
        {
            if (line.WordIs(1, "release"))
            {
                if (!line.NoMoreArgs(2))
                    return;
                ulong freeBefore = PhysicalMemoryOwner.GetTotals().FreePages;
                Console.Write("exhaust: released ");
                Console.Write(Release(ref s_held));
                Console.Write(" held pages; free pages ");
                Console.Write(PhysicalMemoryOwner.GetTotals().FreePages);
                Console.Write(" (before ");
                Console.Write(freeBefore);
                Console.WriteLine(")");
                MemoryText.Report(ConsoleOut.Instance, PhysicalMemoryOwner.Check());
                return;
            }
            AllocRequest request = AllocRequest.Any;
            int next = 1;
            if (line.WordIs(next, "pool"))
            {
                if (!MemoryCommands.LivePoolArg(ref line, next + 1, "exhaust", out PoolId pool))
                    return;
                request = AllocRequest.InPool(pool);
                next += 2;
            }
            bool hold = line.WordIs(next, "hold");
            if (hold)
                next++;
            if (!line.NoMoreArgs(next))
                return;
            request.Owner = Owners.Shell;
            ulong* movedBefore = stackalloc ulong[FrameOwner.Count];
            ulong* noRoomBefore = stackalloc ulong[FrameOwner.Count];
            PressureCounts(movedBefore, noRoomBefore);
            ulong freeAtStart = PhysicalMemoryOwner.GetTotals().FreePages;
            Link* chain = null;
            ulong taken = 0;
            MemoryStatus last = MemoryStatus.Ok;
            for (int order = PhysicalMemoryOwner.MaxOrder; order >= 0; order--)
            {
                while ((last = PhysicalMemoryOwner.Allocate(new Order(order), request, out Pfn pfn)) == MemoryStatus.Ok)
                {
                    Link* link = (Link*)(pfn.Value << 12);
                    link->Next = chain;
                    link->Order = order;
                    chain = link;
                    taken += 1UL << order;
                }
            }
            MemoryTotals t = PhysicalMemoryOwner.GetTotals();
            Console.Write(last == MemoryStatus.OutOfMemory ? "exhaust: out of memory after taking " : "exhaust: stopped after taking ");
            Console.Write(taken);
            Console.Write(" pages: an order-0 request got '");
            Console.Write(MemoryText.Status(last));
            Console.Write("' with ");
            Console.Write(t.FreePages);
            Console.WriteLine(" pages free in all pools");
            ReportMoves(request.Pool, movedBefore, noRoomBefore);
            if (hold)
            {
                while (chain != null)
                {
                    Link* link = chain;
                    chain = chain->Next;
                    link->Next = s_held;
                    s_held = link;
                }
                Console.Write("exhaust: holding ");
                Console.Write(taken);
                Console.WriteLine(" pages until 'exhaust release'");
                return;
            }
            ulong returned = Release(ref chain);
            Console.Write("exhaust: returned ");
            Console.Write(returned);
            Console.Write(" pages; free pages ");
            Console.Write(PhysicalMemoryOwner.GetTotals().FreePages);
            Console.Write(" (before ");
            Console.Write(freeAtStart);
            Console.WriteLine(")");
            MemoryText.Report(ConsoleOut.Instance, PhysicalMemoryOwner.Check());
        }

        /// <summary>Every container's pages migrated under pressure and pages that found no room, so far (0 for other owners).</summary>
        private static void PressureCounts(ulong* moved, ulong* noRoom)
        {
            for (int o = 0; o < FrameOwner.Count; o++)
            {
                moved[o] = noRoom[o] = 0;
                if (o >= Owners.FirstContainer && Containers.Usage((byte)o, out ContainerUsage u))
                {
                    moved[o] = u.MovedUnderPressurePages;
                    noRoom[o] = u.PressureNoRoomStops;
                }
            }
        }

        /// <summary>
        /// One line per container whose movable pages the shortage migrated out of <paramref name="pool"/> (docs/containers.md
        /// "Pressure"): <c>exhaust: web: 1024 movable pages migrated out of pool 1 to pools it may use</c>, with how many times no other pool it may use had room.
        /// </summary>
        private static void ReportMoves(PoolId pool, ulong* movedBefore, ulong* noRoomBefore)
        {
            ulong* moved = stackalloc ulong[FrameOwner.Count];
            ulong* noRoom = stackalloc ulong[FrameOwner.Count];
            PressureCounts(moved, noRoom);
            for (int o = Owners.FirstContainer; o < FrameOwner.Count; o++)
            {
                if (moved[o] == movedBefore[o] && noRoom[o] == noRoomBefore[o])
                    continue;
                if (!Containers.Usage((byte)o, out ContainerUsage u))
                    continue;
                Console.Write("exhaust: ");
                for (int i = 0; i < u.Name.Length; i++)
                    Console.Write((char)u.Name[i]);
                Console.Write(": ");
                Console.Write(moved[o] - movedBefore[o]);
                Console.Write(" movable pages migrated out of pool ");
                Console.Write(pool.Value);
                Console.Write(" to pools it may use");
                if (noRoom[o] != noRoomBefore[o])
                {
                    Console.Write("; no other pool it may use had room, ");
                    Console.Write(noRoom[o] - noRoomBefore[o]);
                    Console.Write(" times: its pages there stay");
                }
                Console.WriteLine();
            }
        }

        /// <summary>Frees every block of <paramref name="chain"/> (emptied); returns the pages the pools took back.</summary>
        private static ulong Release(ref Link* chain)
        {
            ulong returned = 0;
            while (chain != null)
            {
                Link* next = chain->Next;
                int order = chain->Order;
                if (PhysicalMemoryOwner.Free(new Pfn((ulong)chain >> 12), new Order(order), Owners.Shell) == MemoryStatus.Ok)
                    returned += 1UL << order;
                chain = next;
            }
            return returned;
        }
    }
}
