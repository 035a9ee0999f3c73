using System;
using PoolKernel.Boot.Reports;
using System.Runtime;
using System.Runtime.CompilerServices;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;
using PoolKernel.Runtime;
using PoolKernel.Startup;

namespace PoolKernel.Heap
{
    /// <summary>
    /// The kernel heap (Kernel.Memory/Heap/KernelHeap) on the machine's pools: the managed heap
    /// behind `new` (the runtime's RhpNewFast etc.) and the raw Alloc/Free of kernel code.
    /// Small objects come from size-class slabs, large ones from whole pages, all from the pools
    /// of the current CPU's node. Managed objects are collected (Runtime/Gc, docs/gc.md): when the
    /// bytes allocated since the last collection pass a threshold, and before an allocation would
    /// fail for lack of memory. Managed <c>new</c> and collections run on any CPU: a collection stops
    /// every other CPU and scans their stacks and registers (docs/gc.md, docs/smp.md), never from an
    /// interrupt handler.
    ///
    /// Locking: <see cref="s_lock"/> (the heap lock) around every call into <c>s_heap</c>, on any CPU
    /// and in interrupt handlers (interrupts stay off while it is held). KernelHeap takes and returns pages
    /// through its own <see cref="PhysicalMemory"/> pointer, whose calls take the pools' own locks inside
    /// the heap lock (and find interrupts off, as the pools' per-CPU state needs); the heap's frame-kind
    /// reads concern its own pages, which no other path changes. The order is always heap lock, then
    /// the pools' locks (docs/smp.md). The runtime reserve (<see cref="RefillReserve"/>) is the managed allocator's;
    /// its state is guarded by the heap lock (any CPU may run short and release it).
    /// </summary>
    internal static unsafe class KernelHeapGlue
    {
        /// <summary>Set once by <see cref="Initialize"/> (boot CPU, before the other CPUs start); everything it points to is guarded by <see cref="s_lock"/>.</summary>
        private static KernelHeap* s_heap;

        /// <summary>
        /// The heap lock: guards all of <c>*s_heap</c> (size-class slabs, large objects, the run-head
        /// bitmap, totals, the last failure). Taken before the pools' lock, never after it.
        /// </summary>
        private static SpinLock s_lock;
        private static ulong s_metadataPages;

        /// <summary>The NUMA node of the CPU running (its per-CPU area's; the boot CPU's before the CPUs are started).</summary>
        internal static int CurrentNode => Smp.Started ? Smp.Current->Node : Machine.CpuNodeOfBoot;

        /// <summary>
        /// Builds the heap (its metadata from the pools), installs it as the runtime's object heap
        /// and retires the boot allocator.
        /// </summary>
        internal static void Initialize()
        {
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            if (KernelHeap.ComputeSize(pm, out ulong bytes) != HeapStatus.Ok)
                Panic.Halt("heap: cannot size the heap metadata");
            s_metadataPages = (bytes + 4095) / 4096;
            AllocRequest request = AllocRequest.Any;
            request.PreferredNode = (byte)CurrentNode;
            request.Owner = Owners.Heap;
            if (PhysicalMemoryOwner.AllocateRun(s_metadataPages, request, out Pfn first) != MemoryStatus.Ok)
                Panic.Halt("heap: no pool memory for the heap metadata, pages", s_metadataPages);
            byte* block = (byte*)(first.Value << 12);
            ArchZero(block, s_metadataPages * 4096);
            CheckZeroing(block);
            if (KernelHeap.Initialize(block, s_metadataPages * 4096, pm, null, Owners.Heap, out s_heap) != HeapStatus.Ok)
                Panic.Halt("heap: set-up refused");
            s_heap->SetZeroing(&Zero);
            s_heap->BindNodes(NumaPolicies.HeapBinding);
            s_lock.SetInterruptHooks(&Cpu.SaveAndDisableInterrupts, &Cpu.RestoreInterrupts);
            Gc.Initialize(s_heap);
            ObjectAllocator.SetHeap(&AllocObject, &ReleaseReserve);
            ContainerArenas.Initialize();
            BootAllocator.Retire();
            RefillReserve();
        }

        /// <summary>
        /// Sets <paramref name="bytes"/> bytes at <paramref name="at"/> to zero (any alignment and length):
        /// <c>rep stos</c> in Arch/x64/cpu.S, the CPU's fast-string stores.
        /// </summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_zero")]
        private static extern void ArchZero(byte* at, ulong bytes);

        /// <summary>
        /// Proves <see cref="ArchZero"/> before the heap relies on it, on the first bytes of the (zeroed)
        /// metadata block: lengths 0..143 at offsets 0..8 (so the word loop, the byte tail and unaligned
        /// starts all run) zero exactly their range and leave the bytes around it. Halts otherwise.
        /// </summary>
        private static void CheckZeroing(byte* scratch)
        {
            const int Window = 160;
            for (ulong offset = 0; offset < 9; offset++)
            {
                for (ulong length = 0; length < 144; length += 11)
                {
                    for (int i = 0; i < Window; i++)
                        scratch[i] = 0xA5;
                    ArchZero(scratch + offset, length);
                    for (ulong i = 0; i < Window; i++)
                    {
                        byte expected = i >= offset && i < offset + length ? (byte)0 : (byte)0xA5;
                        if (scratch[i] != expected)
                            Panic.Halt("heap: arch_zero is wrong at offset x 256 + length", offset * 256 + length);
                    }
                }
            }
            ArchZero(scratch, Window);
        }

        /// <summary>The heap's zeroing routine (<see cref="KernelHeap.SetZeroing"/>): page runs and cells above the inline limit.</summary>
        private static void Zero(byte* at, ulong bytes) => ArchZero(at, bytes);

        /// <summary>
        /// Pages kept back from the pools for the runtime's own allocations: when the heap cannot
        /// give an object, the runtime hands them to the pools (<see cref="ReleaseReserve"/>) so
        /// the shell that ends the command, its report lines and the next command have memory.
        /// 16 pages = 64 KiB: a few slabs of every small size class the shell path uses.
        /// </summary>
        internal const ulong ReservePages = 16;

        /// <summary>The reserve's first page and whether it is held; guarded by <see cref="s_lock"/>.</summary>
        private static Pfn s_reserve;
        private static bool s_reserveHeld;

        /// <summary>
        /// Takes the reserve from the pools again if it was released and memory has come back;
        /// the shell calls it before every command. Quiet: no memory now just means no reserve yet.
        /// </summary>
        internal static void RefillReserve()
        {
            AllocRequest request = AllocRequest.Any;
            request.PreferredNode = (byte)CurrentNode;
            request.Owner = Owners.Heap;
            ulong state = s_lock.Acquire();
            if (!s_reserveHeld)
                s_reserveHeld = PhysicalMemoryOwner.AllocateRun(ReservePages, request, out s_reserve) == MemoryStatus.Ok;
            s_lock.Release(state);
        }

        /// <summary>Gives the reserve to the pools; false when it was not held (already used, or never refilled). Any CPU; the heap lock, then the pools'.</summary>
        internal static bool ReleaseReserve()
        {
            ulong state = s_lock.Acquire();
            bool held = s_reserveHeld;
            MemoryStatus status = held ? PhysicalMemoryOwner.FreeRun(s_reserve, ReservePages, Owners.Heap) : MemoryStatus.Ok;
            s_reserveHeld = false;
            s_lock.Release(state);
            if (status != MemoryStatus.Ok)
                Panic.Halt("heap: the pools refused the runtime reserve back", (ulong)status);
            return held;
        }

        /// <summary>The interrupt state saved by the heap lock (<see cref="Lock"/>).</summary>
        internal struct LockState
        {
            public ulong Heap;
        }

        /// <summary>Takes the heap lock (it guards the kernel's heap and the containers' arenas); the state to hand to <see cref="Unlock"/>.</summary>
        internal static LockState Lock()
        {
            LockState state;
            state.Heap = s_lock.Acquire();
            return state;
        }

        /// <summary>Releases what <see cref="Lock"/> took.</summary>
        internal static void Unlock(LockState state)
        {
            s_lock.Release(state.Heap);
        }

        /// <summary>
        /// For the shell's heap report: takes the heap lock (<see cref="Lock"/>) and returns the heap, to be
        /// read until <see cref="UnlockReport"/>; nothing may be allocated or printed meanwhile.
        /// </summary>
        internal static KernelHeap* LockForReport(out LockState state)
        {
            state = Lock();
            return s_heap;
        }

        internal static void UnlockReport(LockState state) => Unlock(state);

        /// <summary>
        /// The kernel's heap adopts <paramref name="arena"/>'s managed objects (<see cref="KernelHeap.Adopt"/>: their slabs and
        /// runs re-owned to the heap owner in place). The heap lock held, outside a collection. A Corruption answer (the
        /// pools refused a re-own they had just allowed) is fatal.
        /// </summary>
        internal static HeapStatus AdoptLocked(KernelHeap* arena, out HeapAdoption adopted)
        {
            HeapStatus status = s_heap->Adopt(arena, out adopted);
            if (status == HeapStatus.Corruption)
                Panic.Halt("heap: adopting a container's objects: the pools refused a block they had allowed, status", (ulong)adopted.Refusal);
            return status;
        }

        /// <summary>The heap's checker, then every container arena's (<see cref="ContainerArenas.CheckLocked"/>), under the locks: the first finding.</summary>
        internal static HeapCheckReport Check()
        {
            LockState state = Lock();
            HeapCheckReport report = s_heap->Check();
            if (report.IsOk)
                report = ContainerArenas.CheckLocked(out _);
            Unlock(state);
            return report;
        }

        /// <summary>What the heap knows of the block at <paramref name="block"/> (<see cref="KernelHeap.Describe"/>), under the locks.</summary>
        internal static HeapStatus Describe(byte* block, out HeapObjectInfo info)
        {
            LockState state = Lock();
            HeapStatus status = s_heap->Describe(block, out info);
            Unlock(state);
            return status;
        }

        internal static HeapTotals GetTotals()
        {
            LockState state = Lock();
            HeapTotals totals = s_heap->GetTotals();
            Unlock(state);
            return totals;
        }

        internal static ulong MetadataBytes => s_metadataPages * 4096;

        internal static ulong PagesHeld => s_heap == null ? 0 : GetTotals().PagesHeld;

        internal static ulong BytesInUse
        {
            get
            {
                if (s_heap == null)
                    return 0;
                HeapTotals t = GetTotals();
                return t.SmallBytesInUse + t.LargePages * 4096;
            }
        }

        /// <summary>Bytes of managed objects allocated since the last collection; guarded by <see cref="s_lock"/>.</summary>
        private static ulong s_allocatedSinceCollection;

        /// <summary>
        /// A managed object's block (ObjectAllocator's heap): zeroed, tagged as managed
        /// (<see cref="KernelHeap.AllocObject(ulong, int)"/>), or null after printing why. Collects
        /// first when <see cref="NextCollectionBytes"/> were allocated since the last collection, and
        /// collects then retries when the heap is out of memory. <paramref name="align"/> is at most 8
        /// (ObjectAllocator's), below every cell's. Any CPU.
        /// </summary>
        internal static void* AllocObject(nuint size, nuint align)
        {
            if (RealtimeCpu.IsCurrent)
                RealtimeCpu.RefuseHeap();
            if (ContainerArenas.s_actingCpus != 0)
            {
                // An owner that is no longer a container (a driver's, destroyed at its unload) has no arena: the kernel's heap.
                byte owner = ContainerArenas.ObjectOwner;
                if (owner != Owners.Kernel)
                {
                    void* inArena = AllocArenaObject(owner, size, out bool fallBack);
                    if (inArena != null || !fallBack)
                        return inArena;
                }
            }
            int cpuNode = CurrentNode;
            int node = NumaPolicies.HeapNode(cpuNode, out int interleaveNode);
            LockState state = Lock();
            s_allocatedSinceCollection += size;
            if (s_allocatedSinceCollection >= NextCollectionBytes)
                CollectLocked();
            ulong refills = s_heap->Refills;
            void* p = s_heap->AllocObject(size, node);
            if (p == null && ShortOfMemoryLocked() && CollectLocked())
                p = s_heap->AllocObject(size, node);
            HeapStatus failure = p == null ? s_heap->LastFailure.Status : HeapStatus.Ok;
            bool refilled = s_heap->Refills != refills;
            int landed = s_heap->LastRefillNode;
            Unlock(state);
            if (refilled)
                NumaPolicies.RecordHeapRefill(node, interleaveNode, cpuNode, landed);
            if (p == null)
                ReportFailure(failure);
            return p;
        }

        /// <summary>
        /// A managed object's block while the running CPU acts as container <paramref name="owner"/>
        /// (<see cref="ContainerArenas.ActAs"/>): from its arena (made at the first one), charged to it and limited by
        /// its quota; counted towards the next collection like the kernel heap's objects, and, when refused for want of
        /// memory (the quota's included), retried once after a collection (which sweeps the arena too). Null after
        /// printing one line naming the container and the pools' answer: the runtime's out of memory for the command; or,
        /// inside a driver's entry point (<see cref="ContainerArenas.ActingForDriver"/>), which must not be ended, quietly:
        /// <paramref name="fallBack"/> asks the caller to make the object in the kernel's heap, and the refusal is counted for
        /// the entry point's one line (<see cref="ContainerArenas.NoteFallback"/>, printed when it ends).
        /// </summary>
        private static void* AllocArenaObject(byte owner, nuint size, out bool fallBack)
        {
            fallBack = false;
            int node = NumaPolicies.HeapNode(CurrentNode, out _);
            LockState state = Lock();
            s_allocatedSinceCollection += size;
            if (s_allocatedSinceCollection >= NextCollectionBytes)
                CollectLocked();
            void* p = null;
            KernelHeap* arena = ContainerArenas.ArenaLocked(owner, out HeapStatus made, out MemoryStatus pools);
            HeapFailure failure = default;
            failure.Status = made;
            failure.MemoryStatus = pools;
            if (arena != null)
            {
                p = arena->AllocObject(size, node);
                HeapStatus status = p == null ? arena->LastFailure.Status : HeapStatus.Ok;
                if (p == null && (status == HeapStatus.OutOfMemory || status == HeapStatus.NoPoolSatisfies) && CollectLocked())
                    p = arena->AllocObject(size, node);
                if (p == null)
                    failure = arena->LastFailure;
            }
            Unlock(state);
            if (p == null)
            {
                fallBack = ContainerArenas.ActingForDriver && failure.Status != HeapStatus.Corruption && failure.MemoryStatus != MemoryStatus.Corruption;
                if (fallBack)
                {
                    // Said once for the whole entry point when it ends (ContainerArenas.LeaveDriver), not object by object.
                    ContainerArenas.NoteFallback(size, failure);
                    return null;
                }
                Console.Write("heap: an object of ");
                Console.Write((ulong)size);
                Console.Write(" bytes for container ");
                ContainerArenas.WriteName(owner);
                Console.Write(" refused: ");
                WriteRefusal(failure.Status, failure.MemoryStatus);
                Console.WriteLine();
                if (failure.MemoryStatus == MemoryStatus.Corruption)
                    PhysicalMemoryOwner.FailFast();
                if (failure.Status == HeapStatus.Corruption)
                {
                    Shell.HeapCommands.Report(Check());
                    Panic.Halt("container heap arena corrupt");
                }
            }
            return p;
        }

        /// <summary>
        /// Hands the heap its NUMA binding (<see cref="NumaPolicies.HeapBinding"/>: the nodes its page refills
        /// may come from under a <c>bind</c> heap policy, 0 = any), read under the heap lock so the last
        /// policy set wins. <see cref="NumaPolicies"/> calls it after every policy change; nothing before the heap exists.
        /// </summary>
        internal static void ApplyNodeBinding()
        {
            if (s_heap == null)
                return;
            LockState state = Lock();
            s_heap->BindNodes(NumaPolicies.HeapBinding);
            Unlock(state);
        }

        /// <summary>Runs a collection under the heap's locks; false when none ran (no heap yet, inside one, or in an interrupt handler).</summary>
        internal static bool Collect()
        {
            LockState state = Lock();
            bool ran = CollectLocked();
            Unlock(state);
            return ran;
        }

        /// <summary>
        /// A collection (both locks held: the sweep gives pages back to the pools; no parked CPU can
        /// hold either) and a restarted allocation count. Refused in an interrupt handler: the
        /// allocation there (`cpu N irqalloc`) fails instead, as the issue asks.
        /// </summary>
        internal static bool CollectLocked()
        {
            if (Smp.Started && Smp.Current->InterruptDepth != 0)
                return false;
            s_allocatedSinceCollection = 0;
            return Gc.Collect();
        }

        /// <summary>
        /// Bytes allocated between two threshold collections: the live bytes after the last one, at
        /// least <see cref="Gc.MinBytesBetweenCollections"/>, so a collection's work is paid for by as
        /// many bytes of allocation as it had to trace.
        /// </summary>
        internal static ulong NextCollectionBytes
            => Gc.Last.LiveBytes > Gc.MinBytesBetweenCollections ? Gc.Last.LiveBytes : Gc.MinBytesBetweenCollections;

        /// <summary>The last failure was a shortage a collection can help (not a refusal or corruption); the locks held.</summary>
        private static bool ShortOfMemoryLocked()
        {
            HeapStatus status = s_heap->LastFailure.Status;
            return status == HeapStatus.OutOfMemory || status == HeapStatus.NoPoolSatisfies;
        }

        /// <summary>
        /// Zeroed memory from the current node's pools, or null after printing why. Corruption fails
        /// fast: the pools' through their owner (<see cref="PhysicalMemoryOwner.FailFast"/>, the
        /// checker's report), the heap's own with its checker's first finding.
        /// </summary>
        internal static void* Alloc(nuint size, nuint align)
        {
            HeapStatus status = TryAlloc(size, align, out void* p);
            if (status != HeapStatus.Ok)
                ReportFailure(status);
            return p;
        }

        /// <summary>
        /// Like <see cref="Alloc"/> but quiet: the status, and the block (zeroed, on the running CPU's
        /// node preferred) or null. Safe on any CPU and in interrupt handlers; corruption is the caller's
        /// to report (<see cref="ReportFailure"/> through <see cref="Alloc"/>).
        /// </summary>
        internal static HeapStatus TryAlloc(nuint size, nuint align, out void* p)
        {
            if (RealtimeCpu.IsCurrent)
                RealtimeCpu.RefuseHeap();
            int cpuNode = CurrentNode;
            int node = NumaPolicies.HeapNode(cpuNode, out int interleaveNode);
            LockState state = Lock();
            // One page refill at most per call: a retry below follows only a failed attempt, which refilled nothing.
            ulong refills = s_heap->Refills;
            HeapStatus status = s_heap->Alloc(size, align, node, out p);
            // Collect only when objects were made since the last collection: otherwise it would find
            // about what the last one left (a loop of failing raw requests must not collect each time).
            if ((status == HeapStatus.OutOfMemory || status == HeapStatus.NoPoolSatisfies) && s_allocatedSinceCollection != 0 && CollectLocked())
                status = s_heap->Alloc(size, align, node, out p);
            // Then the kernel's shortage handlers (the balloon gives lent memory back), once; they take
            // the pools' locks themselves, under the heap lock (it comes first).
            if (status == HeapStatus.OutOfMemory)
            {
                ulong given = MemoryShortage.Relieve((ulong)(size + align) / 4096 + 1);
                if (given != 0)
                    status = s_heap->Alloc(size, align, node, out p);
            }
            bool refilled = s_heap->Refills != refills;
            int landed = s_heap->LastRefillNode;
            Unlock(state);
            if (refilled)
                NumaPolicies.RecordHeapRefill(node, interleaveNode, cpuNode, landed);
            return status;
        }

        /// <summary>Frees quietly (any CPU, interrupt handlers too): the heap's status, nothing printed.</summary>
        internal static HeapStatus TryFree(void* pointer)
        {
            if (RealtimeCpu.IsCurrent)
                RealtimeCpu.RefuseHeap();
            LockState state = Lock();
            HeapStatus status = s_heap->Free(pointer);
            Unlock(state);
            return status;
        }

        private static void ReportFailure(HeapStatus status)
        {
            if (status == HeapStatus.Corruption)
            {
                if (LastFailure.MemoryStatus == MemoryStatus.Corruption)
                    PhysicalMemoryOwner.FailFast();
                Console.WriteLine("heap: an allocation answered 'CORRUPTION'; the heap checker says:");
                Shell.HeapCommands.Report(Check());
                Panic.Halt("heap metadata corrupt");
            }
            ReportOutOfMemory();
        }

        /// <summary>Frees raw memory; a foreign pointer or double free is refused and reported, nothing changes.</summary>
        internal static void Free(void* pointer)
        {
            HeapStatus status = TryFree(pointer);
            if (status == HeapStatus.Ok)
                return;
            Console.Write("heap: free of ");
            Console.WriteHex((ulong)pointer);
            Console.Write(" refused: ");
            Console.WriteLine(StatusText(status));
        }

        /// <summary>
        /// The last failure, one line: "heap: out of memory: ..." when memory ran out (or no pool
        /// can serve the node), "heap: refused (REASON): ..." for a request that freeing memory would
        /// not help.
        /// </summary>
        internal static void ReportOutOfMemory()
        {
            HeapFailure f = LastFailure;
            if (f.Status == HeapStatus.OutOfMemory || f.Status == HeapStatus.NoPoolSatisfies)
            {
                Console.Write("heap: out of memory: asked ");
            }
            else
            {
                Console.Write("heap: refused (");
                Console.Write(StatusText(f.Status));
                Console.Write("): asked ");
            }
            Console.Write(f.RequestedBytes);
            Console.Write(" bytes (align ");
            Console.Write(f.Alignment);
            Console.Write(", ");
            Console.Write(f.PagesAsked);
            Console.Write(" pages) on node ");
            Console.Write(f.Node);
            Console.Write(": pools answered '");
            Console.Write(MemoryText.Status(f.MemoryStatus));
            Console.Write("'; free pages ");
            Console.Write(f.FreePagesAtFailure);
            Console.Write(" in all pools, ");
            Console.Write(f.FreePagesOnNode);
            Console.Write(" on node ");
            Console.Write(f.Node);
            Console.Write("; the heap holds ");
            Console.Write(f.HeapPagesHeld);
            Console.WriteLine(" pages");
        }

        /// <summary>The heap's last failure, read under the locks (another CPU may fail after it; a report names the latest).</summary>
        private static HeapFailure LastFailure
        {
            get
            {
                LockState state = Lock();
                HeapFailure f = s_heap->LastFailure;
                Unlock(state);
                return f;
            }
        }

        /// <summary>
        /// Whose heap holds the managed object containing byte <paramref name="p"/>: <see cref="Owners.Kernel"/> for the kernel's
        /// heap, a container for its arena (<see cref="ContainerArenas"/>), <see cref="FrameOwner.None"/> for none. Under the heap
        /// lock; any CPU, interrupt handlers included (the lock turns interrupts off, so the interrupted code holds none).
        /// </summary>
        internal static byte HolderOf(void* p)
        {
            LockState state = Lock();
            byte holder = s_heap != null && s_heap->ManagedBlockContaining((byte*)p, out _, out _, out _) != null
                ? Owners.Kernel : ContainerArenas.ArenaHoldingLocked((byte*)p);
            Unlock(state);
            return holder;
        }

        /// <summary>Why a container's arena refused an object: the pools' answer behind the heap's out of memory (`over the container's quota`), else the heap's.</summary>
        internal static void WriteRefusal(HeapStatus heap, MemoryStatus pools)
            => Console.Write(heap == HeapStatus.OutOfMemory ? MemoryText.Status(pools) : StatusText(heap));

        internal static string StatusText(HeapStatus s) => s switch
        {
            HeapStatus.Ok => "ok",
            HeapStatus.OutOfMemory => "out of memory",
            HeapStatus.NoPoolSatisfies => "no pool satisfies the request",
            HeapStatus.InvalidArgument => "invalid argument",
            HeapStatus.BadAlignment => "bad alignment",
            HeapStatus.BadNode => "bad node",
            HeapStatus.Foreign => "not a heap pointer",
            HeapStatus.DoubleFree => "double free",
            HeapStatus.InteriorPointer => "pointer into the middle of an object",
            HeapStatus.MetadataTooSmall => "metadata too small",
            HeapStatus.PoolsRefused => "the pools refused the request",
            _ => "CORRUPTION",
        };
    }
}
