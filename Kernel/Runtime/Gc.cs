using System;
using System.Runtime;
using System.Runtime.CompilerServices;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Runtime
{
    /// <summary>
    /// The kernel's collector: stop-the-world mark and sweep of the managed objects in the kernel heap
    /// and in every container's heap arena (<see cref="AttachHeap"/>; docs/containers.md "Heap arenas")
    /// (the pure core is Kernel.Memory/Heap/HeapCollector; docs/gc.md). It runs on whichever CPU needs
    /// it (an allocation there passed the threshold or ran short, or `gc`), holding the heap lock with
    /// interrupts off; it takes every lock of the pools (<see cref="PhysicalMemory.LockAll"/>), parks every
    /// other online CPU in its NMI handler (<see cref="Smp.StopOthers"/>), lets the pools' locks go, scans their stacks and saved registers too, and releases them
    /// after the sweep. Never from an interrupt handler (<see cref="Heap.KernelHeapGlue"/> refuses it).
    ///
    /// Roots:
    /// * the GC static bases the module initializer set up, traced precisely through their types'
    ///   GC descriptors (ModuleInitializer.TraceStaticBases);
    /// * the objects made before the heap existed, in the boot allocator's arena (the static bases
    ///   among them), found by their header tags and traced precisely; the arena's other contents
    ///   (page tables, raw blocks) are skipped;
    /// * ilc's frozen objects (literals and preinitialised data ilc put in the image, which kernel
    ///   code may still store references into), those whose type has references; the rest of .data
    ///   (static cells) and .bss's non-GC statics that hold object addresses; all conservatively;
    ///   not .text and .rodata (constants such as 8 MiB look like addresses and kept objects alive),
    ///   not strings (their characters do too), not boot.S's page tables;
    /// * this CPU's stack from the collector's own frame up (boot.S's stack: [rsp, boot_stack_top), or
    ///   an AP's in its per-CPU block), and its callee-saved registers (spilled into that frame by
    ///   arch_save_context), conservatively;
    /// * every parked CPU's registers (its NMI frame and saved SSE state) and its stack from the
    ///   interrupted stack pointer up, interrupt frames on it included, conservatively
    ///   (<see cref="MarkParkedCpu"/>);
    /// * the strong handle table (<see cref="GcHandles"/>), a static array: objects only native memory
    ///   points at are kept by a handle.
    /// Conservative, not precise, for stacks and registers: ilc does emit GC info (which stack slots and
    /// registers hold references at each safe point), but this runtime has no decoder or unwinder for
    /// it yet; a word that looks like a pointer into a live object keeps that object (interior pointers
    /// too), which can retain garbage but never frees a live object. References inside heap objects are
    /// precise (the GC descriptors).
    /// </summary>
    internal static unsafe class Gc
    {
        /// <summary>Mark stack entries: 8192 x 8 B = 64 KiB (deeper graphs use the overflow walk).</summary>
        private const ulong MarkStackEntries = 8192;

        /// <summary>Collect when this many bytes were allocated since the last collection, or the live bytes then if more.</summary>
        internal const ulong MinBytesBetweenCollections = 8UL << 20;

        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_kernel_start")] private static extern byte* KernelStart();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_kernel_end")] private static extern byte* KernelEnd();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_frozen_segment")] private static extern byte* FrozenSegment();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_boot_page_tables")] private static extern byte* BootPageTables();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_early_heap")] private static extern byte* BootArena();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_early_heap_end")] private static extern byte* BootArenaEnd();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_boot_stack")] private static extern byte* BootStack();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_boot_stack_top")] private static extern byte* BootStackTop();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_save_context")] private static extern ulong SaveContext(ulong* context);

        private static HeapCollector* s_collector;
        private static bool s_collecting;

        /// <summary>
        /// The collector's counters. They live in the collector's own pages (pool memory, which no root
        /// scan reads), not in .bss: .bss is scanned conservatively, and on a small machine a tick count
        /// or a byte total is as likely as not the address of some heap object, which it would then keep.
        /// Written under the heap lock (by the collecting CPU).
        /// </summary>
        private struct Counters
        {
            public ulong Collections, FreedObjectsTotal, FreedBytesTotal;
            public HeapSweepResult Last;
            public ulong LastPauseTicks, LastOverflows, LastStopTicks;
            public int LastParked;
            public ulong TotalPauseTicks, MaxPauseTicks;
        }

        private static Counters* s_counters;

        /// <summary>Collections so far, and the totals they freed (0 before the collector exists).</summary>
        internal static ulong Collections => s_counters != null ? s_counters->Collections : 0;
        internal static ulong FreedObjectsTotal => s_counters != null ? s_counters->FreedObjectsTotal : 0;
        internal static ulong FreedBytesTotal => s_counters != null ? s_counters->FreedBytesTotal : 0;
        /// <summary>The last collection: what the sweep found, its pause in TSC ticks, the mark stack's overflows.</summary>
        internal static HeapSweepResult Last => s_counters != null ? s_counters->Last : default;
        internal static ulong LastPauseTicks => s_counters != null ? s_counters->LastPauseTicks : 0;
        internal static ulong LastOverflows => s_counters != null ? s_counters->LastOverflows : 0;
        /// <summary>The last collection: TSC ticks until every other CPU was parked (part of the pause), and how many were.</summary>
        internal static ulong LastStopTicks => s_counters != null ? s_counters->LastStopTicks : 0;
        internal static int LastParked => s_counters != null ? s_counters->LastParked : 0;
        /// <summary>Pauses of every collection so far: the total and the longest, in TSC ticks (gcstress sets the longest aside for its run).</summary>
        internal static ulong TotalPauseTicks => s_counters != null ? s_counters->TotalPauseTicks : 0;
        internal static ulong MaxPauseTicks
        {
            get => s_counters != null ? s_counters->MaxPauseTicks : 0;
            set
            {
                if (s_counters != null)
                    s_counters->MaxPauseTicks = value;
            }
        }

        /// <summary>
        /// Sets up the collector over <paramref name="heap"/>: its state and mark stack in pages from
        /// the pools (as the heap's owner), the image as the range of valid non-heap references.
        /// </summary>
        internal static void Initialize(KernelHeap* heap)
        {
            ulong bytes = (ulong)sizeof(HeapCollector) + (ulong)sizeof(Counters) + 16 + MarkStackEntries * 8;
            ulong pages = (bytes + 4095) / 4096;
            AllocRequest request = AllocRequest.Any;
            request.Owner = Owners.Heap;
            if (PhysicalMemoryOwner.AllocateRun(pages, request, out Pfn first) != MemoryStatus.Ok)
                Panic.Halt("gc: no pool memory for the mark stack, pages", pages);
            byte* block = (byte*)(first.Value << 12);
            HeapCollector* collector = (HeapCollector*)block;
            Counters* counters = (Counters*)(block + (((ulong)sizeof(HeapCollector) + 15) & ~15UL));
            *counters = default;
            byte* stack = (byte*)counters + (((ulong)sizeof(Counters) + 15) & ~15UL);
            if (HeapCollector.Initialize(collector, heap, stack, MarkStackEntries, KernelStart(), KernelEnd()) != HeapStatus.Ok)
                Panic.Halt("gc: set-up refused");
            s_counters = counters;
            s_collector = collector;
        }

        internal static bool Ready => s_collector != null;

        /// <summary>
        /// Adds a container's heap arena to what every collection marks through and sweeps
        /// (<see cref="HeapCollector.Attach"/>); the heap lock held (collections run under it). InvalidArgument before the collector exists.
        /// </summary>
        internal static HeapStatus AttachHeap(KernelHeap* heap) => s_collector == null ? HeapStatus.InvalidArgument : s_collector->Attach(heap);

        /// <summary>Removes an arena that holds no managed object any more (<see cref="HeapCollector.Detach"/>); the heap lock held.</summary>
        internal static HeapStatus DetachHeap(KernelHeap* heap) => s_collector == null ? HeapStatus.InvalidArgument : s_collector->Detach(heap);

        /// <summary>
        /// One collection. Returns false (and does nothing) before the heap exists or when called from
        /// inside a collection. A corrupt reference stops the machine before anything is freed.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        internal static bool Collect()
        {
            if (s_collector == null || s_collecting)
                return false;
            s_collecting = true;
            ulong start = Cpu.ReadTsc();
            // Every other online CPU parks in its NMI handler (docs/smp.md): nothing mutates the heap
            // or the objects while this runs, and their stacks and registers hold still to be scanned.
            // Every pool and cache lock is taken first (the heap lock, held, ranks above them), so no
            // CPU is parked holding one; they are let go once the others are parked, before the sweep
            // gives pages back through them (a parked CPU cannot take one).
            ulong pools = PhysicalMemoryOwner.Unguarded->LockAll();
            uint stop = Smp.StopOthers();
            PhysicalMemoryOwner.Unguarded->UnlockAll(pools);
            Counters* counters = s_counters;
            counters->LastStopTicks = Cpu.ReadTsc() - start;
            // Spill the callee-saved registers into this frame: the stack scan below covers them.
            ulong* registers = stackalloc ulong[8];
            SaveContext(registers);
            HeapCollector* c = s_collector;
            c->Begin();
            if (ModuleInitializer.TraceStaticBases(c) != HeapStatus.Ok)
                Corrupt(c);
            byte* sp = (byte*)registers[6];
            c->MarkConservative((byte*)registers, (byte*)(registers + 8));
            // .data from ilc's frozen objects on: the objects with references (strings' characters
            // look like small addresses), then the rest (static cells) up to boot.S's page tables; past the boot stack, the rest of .bss up to the boot allocator's arena; the
            // arena's objects by their tags, precisely. Not .text and .rodata: they hold no
            // references, only constants that look like addresses (8 MiB...) and would keep objects.
            byte* pageTables = BootPageTables(), bootStack = BootStack(), bootStackTop = BootStackTop();
            byte* arena = BootArena(), arenaEnd = BootArenaEnd();
            byte* afterFrozen = c->MarkFrozenObjects(FrozenSegment(), pageTables, KernelStart(), pageTables);
            c->MarkConservative(afterFrozen, pageTables);
            c->MarkConservative(bootStackTop, arena);
            if (c->TraceTaggedObjects(arena, arenaEnd) != HeapStatus.Ok)
                Corrupt(c);
            if (sp >= bootStack && sp < bootStackTop)
            {
                // The live part of the boot stack: below this frame it is dead and would keep garbage.
                c->MarkConservative(sp, bootStackTop);
            }
            else
            {
                // An AP's stack (its per-CPU block), not boot.S's inside the image.
                PerCpu* cpu = Smp.Current;
                if (cpu == null || cpu->StackTop <= (ulong)sp)
                    Panic.Halt("gc: collecting on a stack it does not know, rsp", (ulong)sp);
                c->MarkConservative(sp, (byte*)cpu->StackTop);
            }
            for (int i = 0; i < Smp.Count; i++)
            {
                PerCpu* other = Smp.Get(i);
                if (Smp.IsParked(other, stop))
                    MarkParkedCpu(c, other);
            }
            if (c->Drain() != HeapStatus.Ok)
                Corrupt(c);
            if (c->Sweep(out HeapSweepResult result) != HeapStatus.Ok)
                Panic.Halt("gc: the pools refused a page the heap freed");
            Smp.ResumeOthers(stop);
            if (Smp.Started)
                Smp.Current->Collections++;
            counters->LastParked = 0;
            for (int i = 0; i < Smp.Count; i++)
            {
                if (Smp.IsParked(Smp.Get(i), stop))
                    counters->LastParked++;
            }
            ulong pause = Cpu.ReadTsc() - start;
            counters->LastPauseTicks = pause;
            counters->TotalPauseTicks += pause;
            if (pause > counters->MaxPauseTicks)
                counters->MaxPauseTicks = pause;
            counters->LastOverflows = c->Overflows;
            counters->Last = result;
            counters->Collections++;
            counters->FreedObjectsTotal += result.FreedObjects;
            counters->FreedBytesTotal += result.FreedBytes;
            s_collecting = false;
            return true;
        }

        /// <summary>
        /// Bytes below a parked CPU's stack pointer that are scanned too: the System V red zone, which
        /// leaf code may use without moving the stack pointer (the NMI runs on its own IST stack, so
        /// the interrupted code's red zone is intact).
        /// </summary>
        private const ulong RedZoneBytes = 128;

        /// <summary>
        /// The roots of a CPU parked by <see cref="Smp.StopOthers"/>, conservatively: the registers its
        /// NMI entry saved (the <see cref="TrapFrame"/> and, below it on the IST2 stack, the SSE state
        /// that traps.S's fxsave wrote: xmm registers may hold references mid-copy), then its stack
        /// from the interrupted stack pointer (less the red zone) to its top, which holds every frame
        /// of the code it was running, and the frames and saved registers of any interrupt it was
        /// handling (those run on the same stack).
        /// </summary>
        private static void MarkParkedCpu(HeapCollector* c, PerCpu* cpu)
        {
            TrapFrame* frame = cpu->ParkedFrame;
            byte* sse = (byte*)(((ulong)frame - 512) & ~15UL);
            c->MarkConservative(sse, (byte*)(frame + 1));
            byte* low, high;
            if (cpu->Number == 0)
            {
                low = BootStack();
                high = BootStackTop();
            }
            else
            {
                low = (byte*)cpu + Smp.StackBottomOffset;
                high = (byte*)cpu->StackTop;
            }
            byte* sp = (byte*)frame->Rsp;
            if (sp < low || sp > high)
                Panic.Halt("gc: a CPU was stopped on a stack the collector does not know, rsp", frame->Rsp);
            c->MarkConservative(sp - low >= (long)RedZoneBytes ? sp - RedZoneBytes : low, high);
        }

        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_zero")] private static extern void ArchZero(byte* at, ulong bytes);

        /// <summary>
        /// Zeroes the boot stack below the caller's frame (less a margin for this call): the shell
        /// calls it before each command, so the slots a command's frames leave uninitialised do not
        /// hold what an earlier, deeper command left there, which the conservative scan would keep
        /// alive. Interrupts may come in meanwhile: their frames are below and finished before the
        /// zeroing goes on.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        internal static void ClearDeadStack()
        {
            ulong* registers = stackalloc ulong[8];
            SaveContext(registers);
            byte* sp = (byte*)registers[6];
            byte* bottom = BootStack();
            const ulong Margin = 64;   // below this frame: arch_zero's return address only
            if (sp < bottom + Margin || sp >= BootStackTop())
                return;
            ArchZero(bottom, (ulong)(sp - bottom) - Margin);
        }

        /// <summary>A traced reference points outside every object: report it and stop (nothing was freed).</summary>
        private static void Corrupt(HeapCollector* c)
        {
            GcCorruption bad = c->Corruption;
            Console.Write("gc: HEAP CORRUPTION: object ");
            Console.WriteHex((ulong)bad.Object);
            Console.Write(" of type ");
            Console.WriteHex((ulong)bad.Type);
            Console.Write(", field at +");
            Console.Write(bad.FieldOffset);
            Console.Write(" holds ");
            Console.WriteHex((ulong)bad.Value);
            Console.WriteLine(bad.Reason == GcCorruptionReason.InsideAnObject ? ", inside an object" : ", outside every object");
            Panic.Halt("gc: heap corruption; nothing was freed");
        }
    }
}
