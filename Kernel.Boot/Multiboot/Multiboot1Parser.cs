namespace PoolKernel.Boot.Multiboot
{
    /// <summary>
    /// Multiboot1 information: a fixed structure whose fields are valid when their flag bit is set,
    /// with 32-bit physical pointers to strings, the module list and the memory map. Unlike
    /// multiboot2 there is no overall size, so each pointed-to area is bounded by its own length
    /// field plus sanity limits.
    /// </summary>
    public static unsafe class Multiboot1Parser
    {
        public const uint BootloaderMagic = 0x2BADB002;

        private const uint FlagMemory = 1u << 0;
        private const uint FlagCommandLine = 1u << 2;
        private const uint FlagModules = 1u << 3;
        private const uint FlagMemoryMap = 1u << 6;
        private const uint FlagLoaderName = 1u << 9;

        private const int OffsetMemLower = 4;
        private const int OffsetMemUpper = 8;
        private const int OffsetCommandLine = 16;
        private const int OffsetModsCount = 20;
        private const int OffsetModsAddr = 24;
        private const int OffsetMmapLength = 44;
        private const int OffsetMmapAddr = 48;
        private const int OffsetLoaderName = 64;

        /// <summary>Size of the fixed structure up to and including the framebuffer fields.</summary>
        public const uint InfoSize = 116;

        /// <summary>Each module entry: mod_start, mod_end, string, reserved.</summary>
        private const uint ModuleEntrySize = 16;

        /// <summary>An entry's size field excludes itself; base_addr, length, type need 20 bytes.</summary>
        private const uint MinMemoryMapEntrySize = 20;

        /// <summary>
        /// Even 128 entries of 24 bytes are 3 KiB; a map claiming more than 64 KiB is a bad pointer
        /// or a bad length, not firmware.
        /// </summary>
        public const uint MaxMemoryMapLength = 64 * 1024;

        /// <summary>
        /// Contract: <paramref name="output"/> is cleared and filled from the fields whose flags are
        /// set. A malformed memory map stops the map walk at the bad entry (entries before it are
        /// kept); other problems skip only the field concerned.
        /// </summary>
        public static void Parse(byte* info, BootInfo* output)
        {
            output->Clear();
            output->Loader = BootLoaderKind.Multiboot1;
            output->InfoAddress = (ulong)info;
            if (info == null)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.NullInfo, -1, 0, 0);
                return;
            }
            output->InfoSize = InfoSize;
            output->Complete = true;
            uint flags = *(uint*)info;

            if ((flags & FlagMemory) != 0)
            {
                output->HasBasicMemoryInfo = true;
                output->MemoryLowerKiB = *(uint*)(info + OffsetMemLower);
                output->MemoryUpperKiB = *(uint*)(info + OffsetMemUpper);
            }

            if ((flags & FlagCommandLine) != 0)
            {
                uint address = *(uint*)(info + OffsetCommandLine);
                if (address == 0)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.NullPointer, 2, 0, 0);
                }
                else
                {
                    output->HasCommandLine = true;
                    output->CommandLine = address;
                    output->CommandLineLength = PointerString(address, BootStrings.MaxPointerCommandLineLength, 2, output);
                }
            }

            if ((flags & FlagLoaderName) != 0)
            {
                uint address = *(uint*)(info + OffsetLoaderName);
                if (address == 0)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.NullPointer, 9, 0, 0);
                }
                else
                {
                    output->HasLoaderName = true;
                    output->LoaderName = address;
                    output->LoaderNameLength = PointerString(address, BootStrings.MaxPointerStringLength, 9, output);
                }
            }

            if ((flags & FlagModules) != 0)
                ParseModules(*(uint*)(info + OffsetModsCount), *(uint*)(info + OffsetModsAddr), output);

            if ((flags & FlagMemoryMap) != 0)
                ParseMemoryMap(*(uint*)(info + OffsetMmapLength), *(uint*)(info + OffsetMmapAddr), output);
            if (output->MemoryMap.Count != 0 || output->MemoryMap.Dropped != 0)
                output->MemoryMapSource = MemoryMapSource.Multiboot1;

            BootInfoParser.FinishMemoryInformation(output);
        }

        private static uint PointerString(ulong address, uint limit, int flagBit, BootInfo* output)
        {
            if (!BootStrings.BoundedLength((byte*)address, limit, out uint length))
                output->Diagnostics.Add(MultibootDiagnosticCode.StringNotTerminated, flagBit, (ulong)flagBit, 0);
            return length;
        }

        private static void ParseModules(uint count, uint address, BootInfo* output)
        {
            if (count == 0)
                return;
            if (address == 0)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.NullPointer, 3, 0, 0);
                return;
            }
            // More than a page of module entries is not a module list.
            const uint MaxModuleEntries = 4096 / ModuleEntrySize;
            if (count > MaxModuleEntries)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.CountTooLarge, 3, count, MaxModuleEntries);
                return;
            }
            for (uint i = 0; i < count; i++)
            {
                uint* module = (uint*)((ulong)address + i * ModuleEntrySize);
                uint start = module[0];
                uint end = module[1];
                uint str = module[2];
                if (end < start)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.BadModuleRange, (int)i, start, end);
                    continue;
                }
                if (output->ModuleCount >= BootInfo.MaxModules)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.TooManyModules, (int)i, start, end);
                    continue;
                }
                uint length = 0;
                if (str != 0 && !BootStrings.BoundedLength((byte*)(ulong)str, BootStrings.MaxPointerStringLength, out length))
                    output->Diagnostics.Add(MultibootDiagnosticCode.StringNotTerminated, (int)i, 3, 0);
                output->AddModule(start, end, str, length);
            }
        }

        /// <summary>
        /// Entries are (u32 size, u64 base_addr, u64 length, u32 type); the next entry starts
        /// size + 4 bytes later. mmap_length bounds the walk.
        /// </summary>
        private static void ParseMemoryMap(uint length, uint address, BootInfo* output)
        {
            if (length == 0)
                return;
            if (address == 0)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.NullPointer, 6, 0, 0);
                return;
            }
            if (length > MaxMemoryMapLength)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.CountTooLarge, 6, length, MaxMemoryMapLength);
                return;
            }
            byte* map = (byte*)(ulong)address;
            uint offset = 0;
            uint dropped = 0;
            int index = 0;
            // Invariant: offset <= length.
            while (length - offset >= 4)
            {
                uint size = *(uint*)(map + offset);
                if (size < MinMemoryMapEntrySize)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.MemoryMapEntryTooSmall, index, size, 0);
                    break;
                }
                if (size > length - offset - 4)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.MemoryMapEntryOverrun, index, offset, length);
                    break;
                }
                byte* entry = map + offset + 4;
                if (!output->MemoryMap.Add(*(ulong*)entry, *(ulong*)(entry + 8), *(uint*)(entry + 16)))
                    dropped++;
                offset += size + 4;
                index++;
            }
            if (offset != length && length - offset < 4)
                output->Diagnostics.Add(MultibootDiagnosticCode.MemoryMapEntryOverrun, index, offset, length);
            if (dropped != 0)
                output->Diagnostics.Add(MultibootDiagnosticCode.MemoryMapFull, -1, dropped, 0);
        }
    }
}
