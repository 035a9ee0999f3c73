using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory;

namespace PoolKernel.Boot.Layout
{
    /// <summary>
    /// Where the application processors' real-mode start code goes: a STARTUP IPI names a 4 KiB page
    /// below 1 MiB by its number (Intel SDM vol. 3A, 8.4.4.1), and the page must be RAM the kernel
    /// may overwrite. The kernel reserves the page chosen here as "SMP trampoline" (docs/smp.md).
    /// </summary>
    public static unsafe class TrampolinePage
    {
        public const ulong Size = 4096;
        /// <summary>Page 0 holds the real-mode interrupt table and the BIOS data area.</summary>
        public const ulong Lowest = 0x1000;
        /// <summary>Conventional memory ends at 640 KiB (the EBDA and the VGA window follow).</summary>
        public const ulong Limit = 0xA0000;

        /// <summary>
        /// The lowest page in [<see cref="Lowest"/>, <see cref="Limit"/>) that <paramref name="map"/>
        /// calls available as a whole and that holds none of the loader's data the kernel keeps
        /// (the multiboot information, command line, loader name, modules and their names); 0 when
        /// there is none.
        /// </summary>
        public static ulong Choose(BootInfo* boot, SanitizedMemoryMap* map)
        {
            for (ulong page = Lowest; page < Limit; page += Size)
            {
                if (IsAvailable(map, page) && !HoldsLoaderData(boot, page))
                    return page;
            }
            return 0;
        }

        private static bool IsAvailable(SanitizedMemoryMap* map, ulong page)
        {
            for (int i = 0; i < map->Count; i++)
            {
                MemoryMapEntry e = map->Get(i);
                if (e.Type == MemoryType.Available && e.Base <= page && e.End >= page + Size)
                    return true;
            }
            return false;
        }

        private static bool HoldsLoaderData(BootInfo* boot, ulong page)
        {
            if (boot->InfoAddress != 0 && Overlaps(page, boot->InfoAddress, boot->InfoAddress + boot->InfoSize))
                return true;
            if (boot->HasCommandLine && Overlaps(page, boot->CommandLine, boot->CommandLine + boot->CommandLineLength + 1))
                return true;
            if (boot->HasLoaderName && Overlaps(page, boot->LoaderName, boot->LoaderName + boot->LoaderNameLength + 1))
                return true;
            for (int i = 0; i < boot->ModuleCount; i++)
            {
                BootModule m = boot->GetModule(i);
                if (Overlaps(page, m.Start, m.End) || (m.String != 0 && Overlaps(page, m.String, m.String + m.StringLength + 1)))
                    return true;
            }
            return false;
        }

        private static bool Overlaps(ulong page, ulong start, ulong end) => start < page + Size && end > page;
    }
}
