using System;
using PoolKernel.Runtime;

namespace PoolKernel.Mm
{
    /// <summary>
    /// The early bump allocator. It serves, from one arena in the kernel's .bss, the runtime (statics,
    /// the first objects), the direct map's page tables and the boot structures (boot information,
    /// sanitized map, ACPI tables, command line, reservation table, pool map, boot layout result).
    /// The arena lies inside the kernel image's reservation, so the pools never see it. It hands out
    /// no RAM outside the arena: the pools' metadata is carved from RAM by MemoryBringUp and reserved
    /// there. Retired by KernelHeapGlue once the heap serves object allocation. Never frees.
    /// </summary>
    internal static unsafe class BootAllocator
    {
        private static byte* s_next;
        private static byte* s_end;
        private static ulong s_used;

        internal static void InitializeEarly(byte* start, byte* end)
        {
            s_next = start;
            s_end = end;
        }

        /// <summary>
        /// Ends the boot allocator once the pools and the heap exist: later calls get null. Its arena
        /// stays inside the kernel image's reservation; meminfo shows how much of it was used.
        /// </summary>
        internal static void Retire()
        {
            s_end = s_next;
            Retired = true;
        }

        internal static bool Retired;

        /// <summary>Bytes handed out from the early arena so far.</summary>
        internal static ulong Used => s_used;

        /// <summary>A zeroed 4 KiB page (as a physical address; identity-mapped), or 0.</summary>
        internal static ulong AllocPage() => (ulong)AllocZeroed(4096, 4096);

        /// <summary>Zeroed memory or null when the arena is exhausted. Matches the heap interface.</summary>
        internal static void* AllocZeroed(nuint size, nuint align)
        {
            if (align < 8)
                align = 8;
            ulong start = ((ulong)s_next + align - 1) & ~((ulong)align - 1);
            ulong end = start + size;
            if (end > (ulong)s_end || end < start)
                return null;
            byte* p = (byte*)start;
            for (ulong i = 0; i < size; i++)
                p[i] = 0;
            s_used += end - (ulong)s_next;
            s_next = (byte*)end;
            return p;
        }
    }
}
