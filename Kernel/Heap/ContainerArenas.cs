using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Heap
{
    /// <summary>
    /// Per-container heap arenas for raw blocks (docs/containers.md "Heap arenas"): a raw heap block
    /// allocated while acting as a container comes from that container's own <see cref="KernelHeap"/>
    /// instance, whose pages (its metadata, its slabs, its large blocks) are allocated as the container,
    /// so they are charged to it and limited by its quota (a refusal is the heap's OutOfMemory with the
    /// pools' QuotaExceeded behind it). The arena is made at the container's first block and forgotten
    /// when the container is destroyed, whose destruction frees every page the owner holds: the arena
    /// needs no teardown of its own. Any other owner's blocks go to the kernel's heap
    /// (<see cref="KernelHeapGlue"/>), as before.
    ///
    /// Raw blocks only: managed objects stay in the kernel's one collected heap (the collector marks and
    /// sweeps one instance). Locking: <see cref="s_lock"/> guards the table and every arena (the arenas
    /// take the pools' locks inside it, as the kernel heap does under its own lock). Nothing here is called
    /// from an interrupt handler.
    /// </summary>
    internal static unsafe class ContainerArenas
    {
        private static SpinLock s_lock;
        private static bool s_ready;
        /// <summary>Each owner number's arena, or null. Written under <see cref="s_lock"/>.</summary>
        private static nint[] s_arenas;

        private static void EnsureTable()
        {
            if (s_ready)
                return;
            s_lock.SetInterruptHooks(&Cpu.SaveAndDisableInterrupts, &Cpu.RestoreInterrupts);
            s_arenas = new nint[FrameOwner.Count];
            s_ready = true;
        }

        /// <summary>
        /// A zeroed raw block of <paramref name="size"/> bytes for <paramref name="owner"/>: from its arena when it is a
        /// container (the arena made at the first block, its metadata charged to the container too; a refusal is
        /// quiet, the status in <paramref name="status"/>), else from the kernel heap (<see cref="KernelHeapGlue.Alloc"/>,
        /// which reports its failures as before). Null when refused.
        /// </summary>
        internal static void* Alloc(byte owner, nuint size, nuint align, out HeapStatus status)
        {
            if (!Containers.Usage(owner, out _))
            {
                void* p = KernelHeapGlue.Alloc(size, align);
                status = p == null ? HeapStatus.OutOfMemory : HeapStatus.Ok;
                return p;
            }
            void* pointer = null;
            EnsureTable();
            ulong state = s_lock.Acquire();
            KernelHeap* arena = (KernelHeap*)s_arenas[owner];
            status = HeapStatus.Ok;
            if (arena == null)
                status = Create(owner, out arena);
            if (status == HeapStatus.Ok)
                status = arena->Alloc(size, align, KernelHeapGlue.CurrentNode, out pointer);
            s_lock.Release(state);
            return status == HeapStatus.Ok ? pointer : null;
        }

        /// <summary>
        /// Frees a raw block <see cref="Alloc"/> gave <paramref name="owner"/>: to its arena (the heap's status: refused,
        /// not a block of that arena), or, for an owner without one, to the kernel heap (<see cref="KernelHeapGlue.Free"/>, which reports a refusal).
        /// </summary>
        internal static HeapStatus Free(byte owner, void* pointer)
        {
            if (!s_ready || s_arenas[owner] == 0)
            {
                KernelHeapGlue.Free(pointer);
                return HeapStatus.Ok;
            }
            ulong state = s_lock.Acquire();
            KernelHeap* arena = (KernelHeap*)s_arenas[owner];
            HeapStatus status = arena == null ? HeapStatus.InvalidArgument : arena->Free(pointer);
            s_lock.Release(state);
            return status;
        }

        /// <summary>
        /// Forgets <paramref name="owner"/>'s arena, right before its container is destroyed (which frees the
        /// arena's pages with everything else the owner holds). The arena's pages, 0 without one.
        /// </summary>
        internal static ulong Forget(byte owner)
        {
            if (!s_ready)
                return 0;
            ulong state = s_lock.Acquire();
            KernelHeap* arena = (KernelHeap*)s_arenas[owner];
            ulong pages = arena == null ? 0 : arena->GetTotals().PagesHeld;
            s_arenas[owner] = 0;
            s_lock.Release(state);
            return pages;
        }

        /// <summary>The pages <paramref name="owner"/>'s arena holds besides its metadata; false without an arena.</summary>
        internal static bool PagesOf(byte owner, out ulong pages)
        {
            pages = 0;
            if (!s_ready)
                return false;
            ulong state = s_lock.Acquire();
            KernelHeap* arena = (KernelHeap*)s_arenas[owner];
            if (arena != null)
                pages = arena->GetTotals().PagesHeld;
            s_lock.Release(state);
            return arena != null;
        }

        /// <summary>Makes <paramref name="owner"/>'s arena: its metadata pages allocated as the container (quota-limited). Under the lock.</summary>
        private static HeapStatus Create(byte owner, out KernelHeap* arena)
        {
            arena = null;
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            if (KernelHeap.ComputeSize(pm, out ulong bytes) != HeapStatus.Ok)
                return HeapStatus.InvalidArgument;
            ulong pages = (bytes + 4095) / 4096;
            AllocRequest request = AllocRequest.Any;
            request.PreferredNode = (byte)KernelHeapGlue.CurrentNode;
            request.Owner = owner;
            MemoryStatus status = PhysicalMemoryOwner.AllocateRun(pages, request, out Pfn first);
            if (status != MemoryStatus.Ok)
                return status == MemoryStatus.Corruption ? HeapStatus.Corruption : HeapStatus.OutOfMemory;
            byte* block = (byte*)(first.Value << 12);
            for (ulong i = 0; i < pages * 4096; i++)
                block[i] = 0;
            HeapStatus made = KernelHeap.Initialize(block, pages * 4096, pm, null, owner, out arena);
            if (made != HeapStatus.Ok)
            {
                PhysicalMemoryOwner.FreeRun(first, pages, owner);
                arena = null;
                return made;
            }
            s_arenas[owner] = (nint)arena;
            return HeapStatus.Ok;
        }
    }
}
