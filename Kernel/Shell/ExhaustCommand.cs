using System;
using PoolKernel.Memory;
using PoolKernel.Mm;

namespace PoolKernel.Shell
{
    /// <summary>
    /// 'exhaust [pool ID]': takes every free block (largest orders first) until the allocator says
    /// out of memory, prints what was asked and what was left, gives everything back and checks.
    /// Shows that running out of memory is a clean result, not a hang, and that the kernel stays usable.
    /// The taken blocks are chained through their own first bytes, so no other memory is needed.
    /// </summary>
    internal static unsafe class ExhaustCommand
    {
        private struct Link
        {
            public Link* Next;
            public int Order;
        }

        internal static void Run(ref CommandLineBuffer line)
        {
            PhysicalMemory* pm = MemoryBringUp.Memory;
            AllocRequest request = AllocRequest.Any;
            if (line.WordIs(1, "pool") && line.TryNumber(2, out ulong pool))
                request = AllocRequest.InPool(new PoolId((byte)pool));
            request.Owner = Owners.Shell;
            ulong freeBefore = pm->GetTotals().FreePages;
            Link* chain = null;
            ulong taken = 0;
            MemoryStatus last = MemoryStatus.Ok;
            for (int order = pm->MaxOrder; order >= 0; order--)
            {
                while ((last = pm->Allocate(new Order(order), request, out Pfn pfn)) == MemoryStatus.Ok)
                {
                    Link* link = (Link*)(pfn.Value << 12);
                    link->Next = chain;
                    link->Order = order;
                    chain = link;
                    taken += 1UL << order;
                }
            }
            MemoryTotals t = pm->GetTotals();
            Console.Write("exhaust: out of memory after taking ");
            Console.Write(taken);
            Console.Write(" pages: an order-0 request got '");
            Console.Write(MemoryText.Status(last));
            Console.Write("' with ");
            Console.Write(t.FreePages);
            Console.WriteLine(" pages free in all pools");
            ulong returned = 0;
            while (chain != null)
            {
                Link* next = chain->Next;
                int order = chain->Order;
                if (pm->Free(new Pfn((ulong)chain >> 12), new Order(order), Owners.Shell) == MemoryStatus.Ok)
                    returned += 1UL << order;
                chain = next;
            }
            Console.Write("exhaust: returned ");
            Console.Write(returned);
            Console.Write(" pages; free pages ");
            Console.Write(pm->GetTotals().FreePages);
            Console.Write(" (before ");
            Console.Write(freeBefore);
            Console.WriteLine(")");
            MemoryText.Report(pm->Check());
        }
    }
}
