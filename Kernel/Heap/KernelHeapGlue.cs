using System;
using PoolKernel.Boot.Reports;
using System.Runtime;
using System.Runtime.CompilerServices;
using PoolKernel.Memory;
using PoolKernel.Mm;
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
    /// fail for lack of memory.
    /// Nothing guards the heap yet: one CPU runs kernel code and no interrupt handler allocates.
    /// The SMP issue adds the heap's lock here, taken around every call into <c>s_heap</c>.
    /// </summary>
    internal static unsafe class KernelHeapGlue
    {
        private static KernelHeap* s_heap;
        private static ulong s_metadataPages;

        /// <summary>The NUMA node of the CPU running (the boot CPU, until SMP).</summary>
        internal static int CurrentNode => Machine.CpuNodeOfBoot;

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
            Gc.Initialize(s_heap);
            ObjectAllocator.SetHeap(&AllocObject, &ReleaseReserve);
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

        private static Pfn s_reserve;
        private static bool s_reserveHeld;

        /// <summary>
        /// Takes the reserve from the pools again if it was released and memory has come back;
        /// the shell calls it before every command. Quiet: no memory now just means no reserve yet.
        /// </summary>
        internal static void RefillReserve()
        {
            if (s_reserveHeld)
                return;
            AllocRequest request = AllocRequest.Any;
            request.PreferredNode = (byte)CurrentNode;
            request.Owner = Owners.Heap;
            s_reserveHeld = PhysicalMemoryOwner.AllocateRun(ReservePages, request, out s_reserve) == MemoryStatus.Ok;
        }

        /// <summary>Gives the reserve to the pools; false when it was not held (already used, or never refilled).</summary>
        internal static bool ReleaseReserve()
        {
            if (!s_reserveHeld)
                return false;
            MemoryStatus status = PhysicalMemoryOwner.FreeRun(s_reserve, ReservePages, Owners.Heap);
            if (status != MemoryStatus.Ok)
                Panic.Halt("heap: the pools refused the runtime reserve back", (ulong)status);
            s_reserveHeld = false;
            return true;
        }

        internal static KernelHeap* Heap => s_heap;

        internal static ulong MetadataBytes => s_metadataPages * 4096;

        internal static ulong PagesHeld => s_heap == null ? 0 : s_heap->GetTotals().PagesHeld;

        internal static ulong BytesInUse
        {
            get
            {
                if (s_heap == null)
                    return 0;
                HeapTotals t = s_heap->GetTotals();
                return t.SmallBytesInUse + t.LargePages * 4096;
            }
        }

        private static ulong s_allocatedSinceCollection;

        /// <summary>
        /// A managed object's block (ObjectAllocator's heap): zeroed, tagged as managed
        /// (<see cref="KernelHeap.AllocObject(ulong, int)"/>), or null after printing why. Collects
        /// first when <see cref="NextCollectionBytes"/> were allocated since the last collection, and
        /// collects then retries when the heap is out of memory. <paramref name="align"/> is at most 8
        /// (ObjectAllocator's), below every cell's.
        /// </summary>
        internal static void* AllocObject(nuint size, nuint align)
        {
            s_allocatedSinceCollection += size;
            if (s_allocatedSinceCollection >= NextCollectionBytes)
                Collect();
            void* p = s_heap->AllocObject(size, CurrentNode);
            if (p != null)
                return p;
            if (ShortOfMemory() && Collect())
                p = s_heap->AllocObject(size, CurrentNode);
            if (p == null)
                ReportFailure(s_heap->LastFailure.Status);
            return p;
        }

        /// <summary>Runs a collection and restarts the allocation count; false when none ran (inside one).</summary>
        internal static bool Collect()
        {
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

        /// <summary>The last failure was a shortage a collection can help (not a refusal or corruption).</summary>
        private static bool ShortOfMemory()
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
            HeapStatus status = s_heap->Alloc(size, align, CurrentNode, out void* p);
            // Collect only when objects were made since the last collection: otherwise it would find
            // about what the last one left (a loop of failing raw requests must not collect each time).
            if ((status == HeapStatus.OutOfMemory || status == HeapStatus.NoPoolSatisfies) && s_allocatedSinceCollection != 0 && Collect())
                status = s_heap->Alloc(size, align, CurrentNode, out p);
            if (status != HeapStatus.Ok)
                ReportFailure(status);
            return p;
        }

        private static void ReportFailure(HeapStatus status)
        {
            if (status == HeapStatus.Corruption)
            {
                if (s_heap->LastFailure.MemoryStatus == MemoryStatus.Corruption)
                    PhysicalMemoryOwner.FailFast();
                Console.WriteLine("heap: an allocation answered 'CORRUPTION'; the heap checker says:");
                Shell.HeapCommands.Report(s_heap->Check());
                Panic.Halt("heap metadata corrupt");
            }
            ReportOutOfMemory();
        }

        /// <summary>Frees raw memory; a foreign pointer or double free is refused and reported, nothing changes.</summary>
        internal static void Free(void* pointer)
        {
            HeapStatus status = s_heap->Free(pointer);
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
            HeapFailure f = s_heap->LastFailure;
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
