using System;
using PoolKernel.Startup;
using PoolKernel.Boot.Reports;
using System.Runtime.CompilerServices;
using PoolKernel.Memory;
using PoolKernel.Platform;
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
    /// Locking: <see cref="s_lock"/>, one spin lock for the whole instance (interrupts off while held,
    /// so interrupt handlers may allocate), taken around every call below; Kernel.Memory takes no locks
    /// of its own. Lock order (docs/smp.md): the heap lock (<see cref="Heap.KernelHeapGlue"/>) before
    /// this one, never the reverse; nothing is allocated from the heap while this lock is held.
    /// </summary>
    internal static unsafe partial class PhysicalMemoryOwner
    {
        /// <summary>Written once by <see cref="Install"/> (boot CPU, before the other CPUs start); read-only after.</summary>
        private static PhysicalMemory* s_memory;

        /// <summary>
        /// Guards everything <see cref="s_memory"/> points to: every pool, its buddy lists, frame cache,
        /// descriptors and pageblock table, the pool table, and the DMA pools' calls into them. Taken by
        /// every method below that reads or changes the pools, by <see cref="Heap.KernelHeapGlue"/> (after
        /// the heap lock) around every heap call (the heap reaches the pools through its own pointer), and
        /// by the shell's reports (<see cref="LockForReport"/>). Never held while allocating from the heap.
        /// </summary>
        private static SpinLock s_lock;

        /// <summary>Takes the instance <see cref="MemoryBringUp"/> set up; once, before anything allocates.</summary>
        internal static void Install(PhysicalMemory* memory)
        {
            if (s_memory != null)
                Panic.Halt("pools: physical memory installed twice");
            s_lock.SetInterruptHooks(&Cpu.SaveAndDisableInterrupts, &Cpu.RestoreInterrupts);
            s_memory = memory;
        }

        /// <summary>Takes the pools' lock (interrupts off); returns the interrupt state for <see cref="Unlock"/>.</summary>
        internal static ulong Lock() => s_lock.Acquire();

        /// <summary>Releases the pools' lock taken by <see cref="Lock"/> or <see cref="LockForReport"/>.</summary>
        internal static void Unlock(ulong state) => s_lock.Release(state);

        /// <summary>
        /// For the shell's reports, which walk the pools: takes the lock and returns the instance, to be
        /// read until <see cref="Unlock"/>. The report must allocate nothing from the heap meanwhile (the
        /// heap lock comes first, docs/smp.md); the pure reports (Kernel.Boot/Reports) allocate nothing.
        /// </summary>
        internal static PhysicalMemory* LockForReport(out ulong state)
        {
            state = s_lock.Acquire();
            return s_memory;
        }

        /// <summary>True while some CPU holds the pools' lock (a snapshot, for assertions).</summary>
        internal static bool IsLocked => s_lock.IsHeld;

        /// <summary>
        /// The instance itself, without the lock, for: the boot CPU's set-up before the other CPUs start
        /// (PoolPlanner, the heap's and the DMA pools' construction, the boot summary); layers built over it
        /// once at boot that keep the pointer (KernelHeap: its calls run under this lock, taken by
        /// <see cref="Heap.KernelHeapGlue"/>; DmaPoolManager: given this lock, <see cref="LockPointer"/>);
        /// <see cref="FailFast"/>'s checker; and values fixed at set-up (max order, pool capacity, node
        /// count). Anything else takes the lock (<see cref="Lock"/>, <see cref="LockForReport"/>).
        /// </summary>
        internal static PhysicalMemory* Unguarded => s_memory;

        /// <summary>The lock itself, for a layer that reaches the pools through its own pointer (the DMA pool manager).</summary>
        internal static SpinLock* LockPointer
        {
            get
            {
                fixed (SpinLock* l = &s_lock)
                    return l;
            }
        }

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
            MemoryText.Report(ConsoleOut.Instance, s_memory->Check());
            Panic.Halt("physical memory metadata corrupt");
        }

        /// <summary><see cref="PhysicalMemory.Allocate"/> under the lock and the owner's policy.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static MemoryStatus Allocate(Order order, in AllocRequest request, out Pfn pfn)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->Allocate(order, request, out pfn);
            s_lock.Release(state);
            return status == MemoryStatus.Ok ? status : AfterFailure(status, order, request, out pfn);
        }

        /// <summary>
        /// A failed <see cref="Allocate"/>: out of memory runs the shortage handlers
        /// (<see cref="MemoryShortage"/>: the balloon deflates) and, if they gave memory back, tries once
        /// more; any other status goes through the owner's policy.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static MemoryStatus AfterFailure(MemoryStatus status, Order order, in AllocRequest request, out Pfn pfn)
        {
            pfn = default;
            if (status != MemoryStatus.OutOfMemory || MemoryShortage.Relieve(order.Pages) == 0)
                return Passed(status);
            ulong state = s_lock.Acquire();
            status = s_memory->Allocate(order, request, out pfn);
            s_lock.Release(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.Free"/> under the lock and the owner's policy.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static MemoryStatus Free(Pfn pfn, Order order, byte owner)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->Free(pfn, order, owner);
            s_lock.Release(state);
            return status == MemoryStatus.Ok ? status : Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.AllocateRun"/> under the lock and the owner's policy.</summary>
        internal static MemoryStatus AllocateRun(ulong pages, in AllocRequest request, out Pfn first)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->AllocateRun(pages, request, out first);
            s_lock.Release(state);
            if (status == MemoryStatus.OutOfMemory && MemoryShortage.Relieve(pages) != 0)
            {
                state = s_lock.Acquire();
                status = s_memory->AllocateRun(pages, request, out first);
                s_lock.Release(state);
            }
            return Passed(status);
        }

        /// <summary><see cref="PolicyAllocator.Allocate"/> (a NUMA policy's plan, <see cref="NumaPolicies"/>) under the lock and the owner's policy.</summary>
        internal static MemoryStatus AllocateByPlan(in PolicyPlan plan, Order order, in AllocRequest request, out Pfn pfn, out int node)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = PolicyAllocator.Allocate(ref *s_memory, plan, order, request, out pfn, out node);
            s_lock.Release(state);
            return Passed(status);
        }

        /// <summary><see cref="PolicyAllocator.AllocateRun"/> under the lock and the owner's policy.</summary>
        internal static MemoryStatus AllocateRunByPlan(in PolicyPlan plan, ulong pages, in AllocRequest request, out Pfn first, out int node)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = PolicyAllocator.AllocateRun(ref *s_memory, plan, pages, request, out first, out node);
            s_lock.Release(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.FreeRun"/> under the lock and the owner's policy.</summary>
        internal static MemoryStatus FreeRun(Pfn first, ulong pages, byte owner)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->FreeRun(first, pages, owner);
            s_lock.Release(state);
            return Passed(status);
        }

        /// <summary>
        /// <see cref="PhysicalMemory.AllocateCompacting"/> under the lock and the owner's policy. The
        /// movers compaction calls run with the lock held (docs/antifrag.md): they must not allocate.
        /// </summary>
        internal static MemoryStatus AllocateCompacting(Order order, in AllocRequest request, out Pfn pfn)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->AllocateCompacting(order, request, out pfn);
            s_lock.Release(state);
            return status == MemoryStatus.Ok ? status : Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.Compact"/> under the lock (the movers run with it held).</summary>
        internal static MemoryStatus Compact(PoolId id, int order, out CompactionResult result)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->Compact(id, order, out result);
            s_lock.Release(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.RegisterMover"/> under the lock.</summary>
        internal static MemoryStatus RegisterMover(byte owner, in FrameMover mover)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->RegisterMover(owner, mover);
            s_lock.Release(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.UnregisterMover"/> under the lock.</summary>
        internal static MemoryStatus UnregisterMover(byte owner)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->UnregisterMover(owner);
            s_lock.Release(state);
            return Passed(status);
        }

        internal static MemoryStatus GetPoolStats(PoolId id, out PoolStats stats)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->GetPoolStats(id, out stats);
            s_lock.Release(state);
            return Passed(status);
        }

        internal static MemoryStatus GetPoolProperties(PoolId id, out PoolProperties properties)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->GetPoolProperties(id, out properties);
            s_lock.Release(state);
            return Passed(status);
        }

        internal static MemoryTotals GetTotals()
        {
            ulong state = s_lock.Acquire();
            MemoryTotals totals = s_memory->GetTotals();
            s_lock.Release(state);
            return totals;
        }

        /// <summary>The pools' invariant checker, under the lock; the report is the caller's to print (the shell's check).</summary>
        internal static InvariantReport Check()
        {
            ulong state = s_lock.Acquire();
            InvariantReport report = s_memory->Check();
            s_lock.Release(state);
            return report;
        }

        internal static PoolId PoolOf(Pfn pfn)
        {
            ulong state = s_lock.Acquire();
            PoolId id = s_memory->PoolOf(pfn);
            s_lock.Release(state);
            return id;
        }

        internal static byte OwnerOf(Pfn pfn)
        {
            ulong state = s_lock.Acquire();
            byte owner = s_memory->OwnerOf(pfn);
            s_lock.Release(state);
            return owner;
        }

        /// <summary>The node of the page block holding <paramref name="pfn"/>; -1 outside the pools' span.</summary>
        internal static int NodeOf(Pfn pfn)
        {
            ulong state = s_lock.Acquire();
            int node = s_memory->NodeOf(pfn);
            s_lock.Release(state);
            return node;
        }

        /// <summary>Fixed at set-up: read without the lock.</summary>
        internal static int MaxOrder => s_memory->MaxOrder;

        /// <summary>Fixed at set-up: read without the lock.</summary>
        internal static int PoolCapacity => s_memory->PoolCapacity;

        /// <summary>Fixed at set-up: read without the lock.</summary>
        internal static int NodeCount => s_memory->NodeCount;
    }
}
