using PoolKernel.Heap;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Startup;

namespace PoolKernel.Platform
{
    /// <summary>
    /// The test hook behind `cpu N irqalloc` (docs/smp.md): armed in a CPU's <see cref="PerCpu"/> by
    /// the shell, run by that CPU's next timer interrupt (<see cref="Interrupts.Handle"/>), interrupts
    /// off. It takes one page from the pools (the CPU's node preferred) and 64 bytes from the heap
    /// through their owners' locks, writes to both, frees both, and records what it got and how the
    /// frees went, so the shell can print it. Proves that allocating in interrupt context works on
    /// every CPU: the locks save and disable interrupts, so the interrupted code holds none of them.
    /// </summary>
    internal static unsafe class IrqAllocTest
    {
        private const nuint HeapBytes = 64;

        /// <summary>In the timer interrupt of the CPU <paramref name="cpu"/> (the running one).</summary>
        internal static void Run(PerCpu* cpu)
        {
            AllocRequest request = AllocRequest.Any;
            request.PreferredNode = (byte)cpu->Node;
            request.Owner = Owners.Kernel;
            int freeStatus = 0;
            cpu->IrqAllocPfn = 0;
            cpu->IrqAllocHeap = 0;
            cpu->IrqAllocHeapNode = -1;
            if (PhysicalMemoryOwner.Allocate(new Order(0), request, out Pfn pfn) == MemoryStatus.Ok)
            {
                *(ulong*)(pfn.Value << 12) = pfn.Value;
                cpu->IrqAllocPfn = pfn.Value;
                freeStatus |= (int)PhysicalMemoryOwner.Free(pfn, new Order(0), Owners.Kernel);
            }
            if (KernelHeapGlue.TryAlloc(HeapBytes, 8, out void* block) == HeapStatus.Ok)
            {
                *(ulong*)block = (ulong)block;
                cpu->IrqAllocHeap = (ulong)block;
                cpu->IrqAllocHeapNode = Machine.NodeOf((ulong)block);
                freeStatus |= (int)KernelHeapGlue.TryFree(block) << 8;
            }
            cpu->IrqAllocFreeStatus = freeStatus;
            cpu->IrqAllocPending = 0;
        }
    }
}
