using System;
using System.Runtime.CompilerServices;
using PoolKernel.Memory;
using PoolKernel.Runtime;

namespace PoolKernel.Mm
{
    /// <summary>
    /// The one holder of the kernel's <see cref="PhysicalMemory"/> (the pools and their buddy
    /// allocators, set up by <see cref="MemoryBringUp"/>); the heap, the DMA pools and the shell
    /// reach the pools through it. It applies the error policy once, for every status the pools
    /// return through it: Corruption fails fast (the invariant checker runs, its report is printed,
    /// the kernel panics); every other status goes back to the caller as the pools gave it.
    ///
    /// Locking: nothing guards the instance yet, because only the boot CPU allocates or frees (the
    /// other CPUs run no allocating code, docs/smp.md) and no interrupt handler does. The SMP issue adds the pools' lock here, as a field of this class
    /// taken around every call below; Kernel.Memory takes no locks of its own.
    /// </summary>
    internal static unsafe class PhysicalMemoryOwner
    {
        private static PhysicalMemory* s_memory;

        /// <summary>Takes the instance <see cref="MemoryBringUp"/> set up; once, before anything allocates.</summary>
        internal static void Install(PhysicalMemory* memory)
        {
            if (s_memory != null)
                Panic.Halt("pools: physical memory installed twice");
            s_memory = memory;
        }

        /// <summary>
        /// The instance itself, for code that cannot go through the methods below, and why:
        /// the layers built over it once at boot (KernelHeap, DmaPoolManager, PoolPlanner) take a
        /// <see cref="PhysicalMemory"/> pointer so that they stay pure and host-tested, and bring
        /// their statuses to this owner's policy (<see cref="Passed"/>, <see cref="FailFast"/>);
        /// reports that walk the pools read-only (meminfo, pools, buddyinfo, dump, pool names); and
        /// the shell's stress test, which checks every status itself. Calls through it bypass the
        /// error policy and, once there is one, the lock: the SMP issue makes these callers take it.
        /// </summary>
        internal static PhysicalMemory* Unguarded => s_memory;

        /// <summary>
        /// The owner's error policy: Corruption fails fast (<see cref="FailFast"/>, does not return);
        /// any other status is returned as it is.
        /// </summary>
        internal static MemoryStatus Passed(MemoryStatus status)
        {
            if (status == MemoryStatus.Corruption)
                FailFast();
            return status;
        }

        /// <summary>
        /// The pools' metadata contradicts itself: runs the invariant checker, prints its report (the
        /// first broken invariant and its numbers) and ends the kernel. Also handed to the DMA pools,
        /// which reach the pools directly.
        /// </summary>
        internal static void FailFast()
        {
            Console.WriteLine("pools: an operation answered 'metadata corruption'; the invariant checker says:");
            MemoryText.Report(s_memory->Check());
            Panic.Halt("physical memory metadata corrupt");
        }

        /// <summary><see cref="PhysicalMemory.Allocate"/> under the owner's policy.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static MemoryStatus Allocate(Order order, in AllocRequest request, out Pfn pfn)
        {
            MemoryStatus status = s_memory->Allocate(order, request, out pfn);
            return status == MemoryStatus.Ok ? status : Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.Free"/> under the owner's policy.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static MemoryStatus Free(Pfn pfn, Order order, byte owner)
        {
            MemoryStatus status = s_memory->Free(pfn, order, owner);
            return status == MemoryStatus.Ok ? status : Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.AllocateRun"/> under the owner's policy.</summary>
        internal static MemoryStatus AllocateRun(ulong pages, in AllocRequest request, out Pfn first)
            => Passed(s_memory->AllocateRun(pages, request, out first));

        /// <summary><see cref="PhysicalMemory.FreeRun"/> under the owner's policy.</summary>
        internal static MemoryStatus FreeRun(Pfn first, ulong pages, byte owner)
            => Passed(s_memory->FreeRun(first, pages, owner));

        internal static MemoryStatus GetPoolProperties(PoolId id, out PoolProperties properties)
            => Passed(s_memory->GetPoolProperties(id, out properties));

        internal static MemoryTotals GetTotals() => s_memory->GetTotals();

        /// <summary>The pools' invariant checker; the report is the caller's to print (the shell's check).</summary>
        internal static InvariantReport Check() => s_memory->Check();

        internal static PoolId PoolOf(Pfn pfn) => s_memory->PoolOf(pfn);

        internal static byte OwnerOf(Pfn pfn) => s_memory->OwnerOf(pfn);

        internal static int MaxOrder => s_memory->MaxOrder;

        internal static int PoolCapacity => s_memory->PoolCapacity;

        internal static int NodeCount => s_memory->NodeCount;
    }
}
