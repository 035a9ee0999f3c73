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
    /// frees went, so the shell can print it; then makes a managed object and records whose heap holds it
    /// (<see cref="MakeObject"/>). Proves that allocating in interrupt context works on
    /// every CPU: the locks save and disable interrupts, so the interrupted code holds none of them.
    /// When a realtime pool exists it also takes and frees a block of orders 0-3 through the realtime path
    /// (<see cref="RunRealtime"/>).
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
            MakeObject(cpu);
            RunRealtime(cpu);
            cpu->IrqAllocPending = 0;
        }

        /// <summary>Bytes of the managed array the hook makes.</summary>
        private const int ObjectBytes = 48;

        /// <summary>
        /// A managed object made in this timer interrupt, whatever the interrupted code acts as (docs/containers.md: an interrupt
        /// handler's objects are the kernel's): records what the code acted as, whom the handler's objects are charged to and
        /// whose heap the object landed in. Left to the collector.
        /// </summary>
        private static void MakeObject(PerCpu* cpu)
        {
            cpu->IrqAllocActing = cpu->ActingOwner;
            cpu->IrqAllocObjectOwner = ContainerArenas.ObjectOwner;
            byte[] made = new byte[ObjectBytes];
            made[0] = (byte)cpu->Number;
            fixed (byte* p = made)
                cpu->IrqAllocObjectHeap = KernelHeapGlue.HolderOf(p);
        }

        /// <summary>The realtime orders the hook tries: 0 (the cache) to 3 (the lists, split and merged).</summary>
        private const int RealtimeOrders = 4;

        /// <summary>
        /// When a realtime pool exists (docs/realtime.md): a block of each order 0..3 from the first one through
        /// the counted realtime path, written and freed, in this timer interrupt; records the orders served, the
        /// first refusal and the most steps an operation took (this CPU's <see cref="RealtimeSteps.Last"/>).
        /// </summary>
        private static void RunRealtime(PerCpu* cpu)
        {
            cpu->IrqAllocRtOrders = 0;
            cpu->IrqAllocRtStatus = 0;
            cpu->IrqAllocRtSteps = 0;
            PoolId pool = PhysicalMemoryOwner.FirstRealtimePool();
            cpu->IrqAllocRtPool = pool.IsNone ? -1 : pool.Value;
            if (pool.IsNone)
                return;
            for (int order = 0; order < RealtimeOrders && cpu->IrqAllocRtStatus == 0; order++)
            {
                MemoryStatus status = PhysicalMemoryOwner.AllocateRealtime(pool, new Order(order), Owners.Kernel, out Pfn pfn);
                NoteSteps(cpu);
                if (status == MemoryStatus.Ok)
                {
                    *(ulong*)(pfn.Value << 12) = pfn.Value;
                    status = PhysicalMemoryOwner.FreeRealtime(pfn, new Order(order), Owners.Kernel);
                    NoteSteps(cpu);
                }
                if (status == MemoryStatus.Ok)
                    cpu->IrqAllocRtOrders |= 1 << order;
                else
                    cpu->IrqAllocRtStatus = (int)status;
            }
        }

        private static void NoteSteps(PerCpu* cpu)
        {
            ulong last = PhysicalMemoryOwner.GetRealtimeSteps(cpu->Number).Last;
            if (last > cpu->IrqAllocRtSteps)
                cpu->IrqAllocRtSteps = last;
        }
    }
}
