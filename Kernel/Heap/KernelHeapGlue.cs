using System;
using PoolKernel.Memory;
using PoolKernel.Mm;

namespace PoolKernel.Heap
{
    /// <summary>
    /// The kernel's raw allocation entry points (Alloc/Free) and the managed heap behind `new`,
    /// backed by pools. Whole blocks from the node-local pool for now.
    /// </summary>
    internal static unsafe class KernelHeapGlue
    {
        internal static ulong PagesHeld;
        internal static ulong BytesInUse;

        internal static void* Alloc(nuint size, nuint align)
        {
            PhysicalMemory* pm = MemoryBringUp.Memory;
            ulong pages = ((ulong)size + 4095) / 4096;
            if (pages == 0)
                pages = 1;
            Order order = Order.Covering(pages);
            AllocRequest request = AllocRequest.Any;
            if (pm->Allocate(order, request, out Pfn pfn) != MemoryStatus.Ok)
                return null;
            byte* p = (byte*)(pfn.Value << 12);
            for (ulong i = 0; i < order.Bytes; i++)
                p[i] = 0;
            PagesHeld += order.Pages;
            BytesInUse += (ulong)size;
            return p;
        }

        internal static void Free(void* pointer)
        {
            PhysicalMemory* pm = MemoryBringUp.Memory;
            Pfn pfn = new Pfn((ulong)pointer >> 12);
            pm->KindOf(pfn, out Order order);
            if (pm->Free(pfn, order) == MemoryStatus.Ok)
                PagesHeld -= order.Pages;
        }
    }
}
