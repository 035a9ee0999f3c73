using PoolKernel.Memory;

namespace PoolKernel.Mm
{
    /// <summary>
    /// What the kernel does before it reports "out of memory": the handlers registered here may give
    /// memory back to the pools (the virtio balloon deflates: docs/balloon.md). Where the pools answer
    /// OutOfMemory to a kernel allocation (<see cref="PhysicalMemoryOwner.Allocate"/>,
    /// <see cref="PhysicalMemoryOwner.AllocateRun"/>, and the heap after its collection,
    /// <see cref="Heap.KernelHeapGlue.TryAlloc"/>), <see cref="Relieve"/> runs the handlers and the
    /// allocation is tried once more if any of them gave memory back.
    ///
    /// A handler gets the frames the failed request asked for and returns the frames it gave back.
    /// It is called with no pools lock held, perhaps with the heap lock held and perhaps in an
    /// interrupt handler, on any CPU: it may take the pools' lock (the heap lock comes before it,
    /// docs/smp.md) but must allocate nothing from the heap and must not wait for a device, with one
    /// exception: the sector cache (Kernel.Drivers/BlockCache) writes a dirty page back to its disk
    /// before dropping it, only when it can take the flag every disk request is made under (so no
    /// other request is in flight; the disks poll with bounded waits and allocate nothing).
    /// Registration happens at driver load and unload on the boot CPU's shell; the slots are read
    /// without a lock (a handler is unregistered only after its driver stopped needing it).
    /// </summary>
    internal static unsafe class MemoryShortage
    {
        private static delegate*<ulong, ulong> s_first;
        private static delegate*<ulong, ulong> s_second;

        /// <summary>Adds a handler; its slot (for <see cref="Unregister"/>), or -1 when both slots are taken (nothing changed).</summary>
        internal static int Register(delegate*<ulong, ulong> handler)
        {
            if (s_first == null)
            {
                s_first = handler;
                return 0;
            }
            if (s_second == null)
            {
                s_second = handler;
                return 1;
            }
            return -1;
        }

        /// <summary>Empties the slot <see cref="Register"/> returned (a negative slot: nothing).</summary>
        internal static void Unregister(int slot)
        {
            if (slot == 0)
                s_first = null;
            else if (slot == 1)
                s_second = null;
        }

        /// <summary>Relieves a shortage that is not one pool's (<see cref="Relieve(PoolId, ulong)"/> with no pool).</summary>
        internal static ulong Relieve(ulong pages) => Relieve(PoolId.None, pages);

        /// <summary>
        /// Runs the handlers for a request of <paramref name="pages"/> frames that failed in <paramref name="pool"/>
        /// (the pool it named; <see cref="PoolId.None"/> when pool choice could take any); the frames they gave
        /// back (0: retrying is useless). Memory containers hold above their guarantees is asked back first
        /// (<see cref="Containers.Reclaim"/>, docs/containers.md "Pressure": reclaimable pages, then, for a named
        /// pool, movable pages migrated out of it), then the handlers, for what is still missing.
        /// </summary>
        internal static ulong Relieve(PoolId pool, ulong pages)
        {
            delegate*<ulong, ulong> first = s_first, second = s_second;
            ulong given = Containers.Reclaim(pool, pages);
            if (given >= pages)
                return given;
            if (first != null)
                given += first(pages - given);
            if (second != null && given < pages)
                given += second(pages - given);
            return given;
        }
    }
}
