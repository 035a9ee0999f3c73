namespace PoolKernel.Mm
{
    /// <summary>
    /// The kernel's well-known owners: the <c>AllocRequest.Owner</c> each part of the kernel allocates
    /// as, and the owner it must name to free (Kernel.Memory records the number on every block and
    /// refuses a free by another owner with NotOwner). Kernel.Memory knows only the numbers 0..63;
    /// this is the one place that says what they are. Owner 0 is the kernel itself, which is also
    /// the one owner a command-line pool without <c>owner=</c> admits.
    /// </summary>
    internal static class Owners
    {
        /// <summary>The kernel's own allocations (owner 0: what <c>pool=</c> without <c>owner=</c> admits).</summary>
        internal const byte Kernel = 0;
        /// <summary>The kernel heap: its metadata, slab pages and large objects.</summary>
        internal const byte Heap = 1;
        /// <summary>The DMA pools' own owner (Kernel.Drivers/Dma): the buffers of a device attached without a container. Loaded drivers run as containers of their own (DriverManager; docs/drivers.md).</summary>
        internal const byte Dma = 2;
        /// <summary>The shell's experiments: alloc/free, exhaust, stress, membench.</summary>
        internal const byte Shell = 3;
        /// <summary>The virtio balloon's free page reports: free blocks held while the host is told it may discard them (docs/balloon.md).</summary>
        internal const byte Balloon = 4;
        /// <summary>
        /// The first owner number containers get (Mm/Containers.cs, docs/containers.md): 16..63 are for
        /// containers, each created with the lowest free one; 4..15 stay for the kernel's own parts.
        /// </summary>
        internal const byte FirstContainer = 16;
        /// <summary>The movable memory of the shell's churn test (a mover registered for it: docs/antifrag.md).</summary>
        internal const byte Churn = 5;
        /// <summary>The movable kernel virtual-memory areas (Mm/VmAreas.cs): their frames and page tables; a mover registered for it.</summary>
        internal const byte VmArea = 6;
        /// <summary>The block-device sector cache (Kernel.Drivers/BlockCache): its pages, of the reclaimable class, dropped under pressure.</summary>
        internal const byte BlockCache = 7;

        /// <summary>The name of a well-known owner for messages; "owner" for the others (the caller prints the number).</summary>
        internal static string Name(byte owner) => owner switch
        {
            Kernel => "kernel",
            Heap => "heap",
            Dma => "dma",
            Shell => "shell",
            Balloon => "balloon",
            >= FirstContainer and < 64 => "container",
            Churn => "churn",
            VmArea => "vmarea",
            BlockCache => "bcache",
            _ => "owner",
        };
    }
}
