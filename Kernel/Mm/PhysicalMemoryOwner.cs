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
    /// Locking: the instance locks itself, a lock a pool and one for the pool table (Kernel.Memory,
    /// PhysicalMemory.Locks.cs; interrupts off while held, so interrupt handlers may allocate). What stays
    /// here: interrupts off around each call (<see cref="Cpu.SaveAndDisableInterrupts"/>), because the
    /// instance's per-CPU state (its remembered pool choices) is touched without a lock by its own CPU only,
    /// and an interrupt handler on that CPU must not find it half written; and the reports, which take every
    /// lock of the instance in its order but the realtime pools' (<see cref="LockForReport"/>). Lock order (docs/smp.md): the heap
    /// lock (<see cref="Heap.KernelHeapGlue"/>) before the pools' locks, never the reverse; nothing is
    /// allocated from the heap while a pool lock is held.
    /// </summary>
    internal static unsafe partial class PhysicalMemoryOwner
    {
        /// <summary>Written once by <see cref="Install"/> (boot CPU, before the other CPUs start); read-only after.</summary>
        private static PhysicalMemory* s_memory;

        /// <summary>
        /// The kernel's settings of the instance's hooks (before <see cref="PhysicalMemory.Initialize"/>): its locks
        /// turn interrupts off, the running CPU's number comes from the per-CPU block (GS), it serves every
        /// CPU the MADT lists, and each CPU uses its own caches without a lock, other CPUs' drains reaching them
        /// through an NMI barrier (<see cref="NmiBarrier"/>, docs/smp.md "A lock-free own cache").
        /// </summary>
        internal static void Configure(ref MemoryConfig config)
        {
            config.SaveAndDisableInterrupts = &Cpu.SaveAndDisableInterrupts;
            config.RestoreInterrupts = &Cpu.RestoreInterrupts;
            config.CurrentCpu = &CurrentCpu;
            config.ProcessWideBarrier = &NmiBarrier.Run;
        }

        /// <summary>
        /// For a layer that calls the instance through its own pointer (the DMA pool manager, KernelDma): held
        /// around each such call, it keeps interrupts off there, as the instance's per-CPU state needs, and
        /// serialises that layer's calls. A leaf above the instance's locks: only they are taken under it.
        /// </summary>
        private static SpinLock s_callsLock;

        /// <summary>The lock of <see cref="s_callsLock"/>, its interrupt hooks set.</summary>
        internal static SpinLock* CallsLock
        {
            get
            {
                fixed (SpinLock* l = &s_callsLock)
                {
                    l->SetInterruptHooks(&Cpu.SaveAndDisableInterrupts, &Cpu.RestoreInterrupts);
                    return l;
                }
            }
        }

        /// <summary>The running CPU's number (<see cref="MemoryConfig.CurrentCpu"/>): 0 before the per-CPU blocks exist.</summary>
        private static int CurrentCpu() => Smp.CurrentNumber;

        /// <summary>Takes the instance <see cref="MemoryBringUp"/> set up; once, before anything allocates.</summary>
        internal static void Install(PhysicalMemory* memory)
        {
            if (s_memory != null)
                Panic.Halt("pools: physical memory installed twice");
            s_memory = memory;
        }

        /// <summary>
        /// For a layer that calls the instance's self-locking methods through <see cref="Unguarded"/> (containers,
        /// NUMA policies): interrupts off until <see cref="LeaveCalls"/>, as the instance's per-CPU state needs.
        /// Takes no lock: the instance's methods take theirs.
        /// </summary>
        internal static ulong EnterCalls() => Cpu.SaveAndDisableInterrupts();

        /// <summary>Ends what <see cref="EnterCalls"/> began.</summary>
        internal static void LeaveCalls(ulong state) => Cpu.RestoreInterrupts(state);

        /// <summary>
        /// The table lock and every non-realtime pool's locks with their caches' (<see cref="PhysicalMemory.LockAllButRealtime"/>),
        /// interrupts off, until <see cref="Unlock"/>: for a layer whose own state must not change under a mover (the movable
        /// areas' page tables and reverse map, Mm/VmAreas.cs). Every mover runs under the table lock: a compaction pass holds
        /// it from start to end, pressure's movable step under LockAllButRealtime; neither ever acts on a realtime pool, so
        /// no realtime pool's lock is needed (docs/realtime.md, "Administration"). Call no self-locking method of the instance meanwhile.
        /// </summary>
        internal static ulong Lock() => s_memory->LockAllButRealtime();

        /// <summary>Releases what <see cref="Lock"/> or <see cref="LockForReport"/> took.</summary>
        internal static void Unlock(ulong state) => s_memory->UnlockAllButRealtime(state);

        /// <summary>
        /// For the shell's reports, which walk the pools (the pool reports `pools`, `meminfo`, `buddyinfo`, `pagetypeinfo`,
        /// `zoneinfo`, `pageblocks`, `dump`; `fragindex`, churn's pool choice, `dmapools`, `heaptest`, `bcache`'s and the
        /// movable areas' checks): the table lock and every lock but the realtime pools' (<see cref="Lock"/>), so a report
        /// never holds a realtime pool's lock (docs/realtime.md, "Administration"). What a report reads of a realtime pool
        /// is a snapshot without its lock: its properties and liveness (changed only under the table lock, held), each
        /// counter one word read once (<see cref="PhysicalMemory.GetPoolStats"/> and <see cref="PhysicalMemory.GetTotals"/>
        /// keep free within present), its list counts, a page block's bytes and a frame's owner byte. Returned to be
        /// read until <see cref="Unlock"/>. The report must allocate nothing from the heap meanwhile (the heap lock comes
        /// first, docs/smp.md) and must not call a method that locks; the pure reports (Kernel.Boot/Reports) allocate nothing.
        /// </summary>
        internal static PhysicalMemory* LockForReport(out ulong state)
        {
            state = s_memory->LockAllButRealtime();
            return s_memory;
        }

        /// <summary>
        /// The instance itself, for: the boot CPU's set-up before the other CPUs start (PoolPlanner, the heap's
        /// and the DMA pools' construction, the boot summary); layers built over it once at boot that keep the
        /// pointer and call it with interrupts off (KernelHeap: under the heap lock; DmaPoolManager: under its
        /// own lock, <see cref="Drivers.KernelDma"/>); <see cref="FailFast"/>'s checker; and values fixed at
        /// set-up (max order, pool capacity, node count). Its methods take their own locks.
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
            MemoryText.Report(ConsoleOut.Instance, s_memory->Check());
            Panic.Halt("physical memory metadata corrupt");
        }

        /// <summary>
        /// <see cref="PhysicalMemory.Allocate"/> with interrupts off (the instance locks itself) and the owner's policy;
        /// a container with a NUMA policy of its own has its node chosen by it (<see cref="NumaPolicies.PlacesForOwner"/>).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static MemoryStatus Allocate(Order order, in AllocRequest request, out Pfn pfn)
        {
            if (NumaPolicies.PlacesForOwner(request))
                return NumaPolicies.AllocateAsOwner(order, 0, request, out pfn);
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->Allocate(order, request, out pfn);
            Cpu.RestoreInterrupts(state);
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
            if (status != MemoryStatus.OutOfMemory || MemoryShortage.Relieve(request.Pool, order.Pages) == 0)
                return Passed(status);
            ulong state = Cpu.SaveAndDisableInterrupts();
            status = s_memory->Allocate(order, request, out pfn);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.Free"/> with interrupts off (the instance locks itself) and the owner's policy.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static MemoryStatus Free(Pfn pfn, Order order, byte owner)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->Free(pfn, order, owner);
            Cpu.RestoreInterrupts(state);
            return status == MemoryStatus.Ok ? status : Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.AllocateRun"/> with interrupts off (the instance locks itself) and the owner's policy; a container's NUMA policy as <see cref="Allocate"/>.</summary>
        internal static MemoryStatus AllocateRun(ulong pages, in AllocRequest request, out Pfn first)
        {
            if (NumaPolicies.PlacesForOwner(request))
                return NumaPolicies.AllocateAsOwner(default, pages, request, out first);
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->AllocateRun(pages, request, out first);
            Cpu.RestoreInterrupts(state);
            if (status == MemoryStatus.OutOfMemory && MemoryShortage.Relieve(request.Pool, pages) != 0)
            {
                state = Cpu.SaveAndDisableInterrupts();
                status = s_memory->AllocateRun(pages, request, out first);
                Cpu.RestoreInterrupts(state);
            }
            return Passed(status);
        }

        /// <summary><see cref="PolicyAllocator.Allocate"/> (a NUMA policy's plan, <see cref="NumaPolicies"/>) with interrupts off (the instance locks itself) and the owner's policy.</summary>
        internal static MemoryStatus AllocateByPlan(in PolicyPlan plan, Order order, in AllocRequest request, out Pfn pfn, out int node)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = PolicyAllocator.Allocate(ref *s_memory, plan, order, request, out pfn, out node);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        /// <summary><see cref="PolicyAllocator.AllocateRun"/> with interrupts off and the owner's policy.</summary>
        internal static MemoryStatus AllocateRunByPlan(in PolicyPlan plan, ulong pages, in AllocRequest request, out Pfn first, out int node)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = PolicyAllocator.AllocateRun(ref *s_memory, plan, pages, request, out first, out node);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.FreeRun"/> with interrupts off (the instance locks itself) and the owner's policy.</summary>
        internal static MemoryStatus FreeRun(Pfn first, ulong pages, byte owner)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->FreeRun(first, pages, owner);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        /// <summary>
        /// <see cref="PhysicalMemory.AllocateCompacting"/> with interrupts off (the instance locks itself) and the owner's policy. The
        /// movers compaction calls run with the lock held (docs/antifrag.md): they must not allocate.
        /// Reclaim comes before compaction: on out of memory the shortage handlers (<see cref="MemoryShortage"/>:
        /// the sector cache drops pages, the balloon deflates) run first, and compaction only if the
        /// request still fails after them.
        /// </summary>
        internal static MemoryStatus AllocateCompacting(Order order, in AllocRequest request, out Pfn pfn)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->Allocate(order, request, out pfn);
            Cpu.RestoreInterrupts(state);
            if (status == MemoryStatus.Ok)
                return status;
            if (status == MemoryStatus.OutOfMemory && MemoryShortage.Relieve(request.Pool, order.Pages) != 0)
            {
                state = Cpu.SaveAndDisableInterrupts();
                status = s_memory->Allocate(order, request, out pfn);
                Cpu.RestoreInterrupts(state);
                if (status == MemoryStatus.Ok)
                    return status;
            }
            if (status != MemoryStatus.OutOfMemory)
                return Passed(status);
            state = Cpu.SaveAndDisableInterrupts();
            status = s_memory->AllocateCompacting(order, request, out pfn);
            Cpu.RestoreInterrupts(state);
            return status == MemoryStatus.Ok ? status : Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.Compact"/> with interrupts off (the instance locks itself; the movers run with its locks held).</summary>
        internal static MemoryStatus Compact(PoolId id, int order, out CompactionResult result)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->Compact(id, order, out result);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.RegisterMover"/> with interrupts off (the instance locks itself).</summary>
        internal static MemoryStatus RegisterMover(byte owner, in FrameMover mover)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->RegisterMover(owner, mover);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.UnregisterMover"/> with interrupts off (the instance locks itself).</summary>
        internal static MemoryStatus UnregisterMover(byte owner)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->UnregisterMover(owner);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        internal static MemoryStatus GetPoolStats(PoolId id, out PoolStats stats)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->GetPoolStats(id, out stats);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        internal static MemoryStatus GetPoolProperties(PoolId id, out PoolProperties properties)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->GetPoolProperties(id, out properties);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        internal static MemoryTotals GetTotals()
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryTotals totals = s_memory->GetTotals();
            Cpu.RestoreInterrupts(state);
            return totals;
        }

        /// <summary>The pools' invariant checker, under every pool lock (it takes them); the report is the caller's to print (the shell's check).</summary>
        internal static InvariantReport Check() => s_memory->Check();

        internal static PoolId PoolOf(Pfn pfn)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            PoolId id = s_memory->PoolOf(pfn);
            Cpu.RestoreInterrupts(state);
            return id;
        }

        internal static byte OwnerOf(Pfn pfn)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            byte owner = s_memory->OwnerOf(pfn);
            Cpu.RestoreInterrupts(state);
            return owner;
        }

        /// <summary>The node of the page block holding <paramref name="pfn"/>; -1 outside the pools' span.</summary>
        internal static int NodeOf(Pfn pfn)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            int node = s_memory->NodeOf(pfn);
            Cpu.RestoreInterrupts(state);
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
