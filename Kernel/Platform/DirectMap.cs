using System;

namespace PoolKernel.Platform
{
    /// <summary>
    /// The kernel's view of physical memory: an identity map (virtual == physical) in 2 MiB pages.
    /// The boot stub maps the first 4 GiB (RAM below the PCI hole, ACPI tables, MMIO); <see cref="Extend"/>
    /// maps everything up to the end of the highest RAM range, so the allocator can reach every frame.
    /// </summary>
    internal static unsafe class DirectMap
    {
        private const ulong Present = 0x1, Writable = 0x2, LargePage = 0x80;
        private const ulong AddressMask = 0x000F_FFFF_FFFF_F000;
        private const ulong LargePageSize = 2UL << 20;
        private const ulong BootMappedLimit = 4UL << 30;

        /// <summary>End of the identity map (exclusive).</summary>
        internal static ulong MappedLimit { get; private set; } = BootMappedLimit;

        /// <summary>Page-table pages allocated by <see cref="Extend"/>.</summary>
        internal static ulong TablePages { get; private set; }

        /// <summary>
        /// Maps [MappedLimit, limit) with 2 MiB pages. <paramref name="allocPage"/> returns a zeroed,
        /// 4 KiB-aligned page inside the current map, or null; on null the map stays as it was up to the
        /// last fully mapped 2 MiB page and false is returned.
        /// </summary>
        internal static bool Extend(ulong limit, delegate*<ulong> allocPage)
        {
            limit = (limit + LargePageSize - 1) & ~(LargePageSize - 1);
            ulong* pml4 = Cpu.Pml4();
            for (ulong address = MappedLimit; address < limit; address += LargePageSize)
            {
                ulong* pdpt = Next(pml4, (address >> 39) & 511, allocPage);
                if (pdpt == null)
                    return false;
                ulong* pd = Next(pdpt, (address >> 30) & 511, allocPage);
                if (pd == null)
                    return false;
                pd[(address >> 21) & 511] = address | Present | Writable | LargePage;
                MappedLimit = address + LargePageSize;
            }
            Cpu.WriteCr3(Cpu.ReadCr3());
            return true;
        }

        /// <summary>
        /// Identity-maps the 2 MiB pages that cover [start, end) (a device above <see cref="MappedLimit"/>,
        /// e.g. a framebuffer) without moving MappedLimit; a later <see cref="Extend"/> writes the same
        /// entries again. Same allocation contract and failure behaviour as Extend.
        /// </summary>
        internal static bool MapRange(ulong start, ulong end, delegate*<ulong> allocPage)
        {
            ulong* pml4 = Cpu.Pml4();
            for (ulong address = start & ~(LargePageSize - 1); address < end; address += LargePageSize)
            {
                ulong* pdpt = Next(pml4, (address >> 39) & 511, allocPage);
                if (pdpt == null)
                    return false;
                ulong* pd = Next(pdpt, (address >> 30) & 511, allocPage);
                if (pd == null)
                    return false;
                pd[(address >> 21) & 511] = address | Present | Writable | LargePage;
            }
            Cpu.WriteCr3(Cpu.ReadCr3());
            return true;
        }

        private static ulong* Next(ulong* table, ulong index, delegate*<ulong> allocPage)
        {
            if ((table[index] & Present) != 0)
                return (ulong*)(table[index] & AddressMask);
            ulong page = allocPage();
            if (page == 0)
                return null;
            TablePages++;
            table[index] = page | Present | Writable;
            return (ulong*)page;
        }
    }
}
