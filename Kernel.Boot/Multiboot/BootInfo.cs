using PoolKernel.Boot.MemoryMap;

namespace PoolKernel.Boot.Multiboot
{
    public enum BootLoaderKind : uint
    {
        None = 0,
        Multiboot1 = 1,
        Multiboot2 = 2,
    }

    /// <summary>Where <see cref="BootInfo.RsdpAddress"/> came from; values are the multiboot2 tag types.</summary>
    public enum RsdpSource : uint
    {
        None = 0,
        /// <summary>Tag 14: a copy of an ACPI 1.0 RSDP (20 bytes) inside the info block.</summary>
        Multiboot2AcpiOld = 14,
        /// <summary>Tag 15: a copy of an ACPI 2.0+ RSDP (36 bytes or more) inside the info block.</summary>
        Multiboot2AcpiNew = 15,
    }

    /// <summary>Which of the loader's descriptions of memory <see cref="BootInfo.MemoryMap"/> holds.</summary>
    public enum MemoryMapSource : uint
    {
        /// <summary>None: the kernel has no RAM to use.</summary>
        None = 0,
        /// <summary>The multiboot1 mmap_addr/mmap_length map (e820 types).</summary>
        Multiboot1 = 1,
        /// <summary>The multiboot2 memory map tag (type 6, e820 types).</summary>
        Multiboot2 = 2,
        /// <summary>The multiboot2 EFI memory map tag (type 17), translated by <see cref="EfiMemoryMap.ToMemoryType"/>.</summary>
        Efi = 3,
        /// <summary>Synthesized from mem_lower/mem_upper (no map given).</summary>
        BasicInfo = 4,
    }

    /// <summary>A boot module: [Start, End) and its NUL-terminated string (StringLength excludes the NUL).</summary>
    public struct BootModule
    {
        public ulong Start;
        public ulong End;
        public ulong String;
        public uint StringLength;
    }

    /// <summary>
    /// Everything the kernel takes from the boot loader, in loader-independent form. Addresses are
    /// physical (the kernel identity-maps all of physical memory). Strings are (address, length)
    /// pairs pointing into loader memory, which the kernel must keep until it has copied them.
    /// Filled by <see cref="BootInfoParser.Parse"/>; lives wherever the caller put it.
    /// </summary>
    public unsafe struct BootInfo
    {
        /// <summary>Modules beyond this are reported and skipped.</summary>
        public const int MaxModules = 16;

        public BootLoaderKind Loader;

        /// <summary>Physical address and byte size of the info block (multiboot1: the fixed part).</summary>
        public ulong InfoAddress;
        public uint InfoSize;

        /// <summary>True when multiboot2 parsing reached the end tag (always true for a parsed multiboot1 block).</summary>
        public bool Complete;

        public ulong CommandLine;
        public uint CommandLineLength;
        public bool HasCommandLine;

        public ulong LoaderName;
        public uint LoaderNameLength;
        public bool HasLoaderName;

        /// <summary>mem_lower / mem_upper in KiB, when the loader gave them.</summary>
        public bool HasBasicMemoryInfo;
        public uint MemoryLowerKiB;
        public uint MemoryUpperKiB;

        /// <summary>Physical address of a copy of the RSDP, or 0. Multiboot1 never has one: use RsdpScanner.</summary>
        public ulong RsdpAddress;
        public RsdpSource RsdpSource;

        public int ModuleCount;
        private fixed ulong _moduleStart[MaxModules];
        private fixed ulong _moduleEnd[MaxModules];
        private fixed ulong _moduleString[MaxModules];
        private fixed uint _moduleStringLength[MaxModules];

        /// <summary>The loader's memory map, unsanitized. Feed it to MemoryMapSanitizer.Sanitize.</summary>
        public RawMemoryMap MemoryMap;
        public MemoryMapSource MemoryMapSource;

        /// <summary>
        /// With <see cref="MemoryMapSource.Efi"/>: the descriptors in the loader's block (address, count,
        /// stride); otherwise zero.
        /// </summary>
        public ulong EfiMemoryMapAddress;
        public uint EfiDescriptorCount;
        public uint EfiDescriptorSize;

        /// <summary>The framebuffer tag (8), when the loader set a video mode (or left VGA text and said so).</summary>
        public FramebufferInfo Framebuffer;

        /// <summary>The loader handed over a UEFI machine: an EFI system table tag (11, 12) or an EFI memory map tag (17).</summary>
        public bool Efi;

        public MultibootDiagnostics Diagnostics;

        /// <summary>Resets every field the parsers set (fixed buffers are governed by their counts).</summary>
        public void Clear()
        {
            Loader = BootLoaderKind.None;
            InfoAddress = 0;
            InfoSize = 0;
            Complete = false;
            CommandLine = 0;
            CommandLineLength = 0;
            HasCommandLine = false;
            LoaderName = 0;
            LoaderNameLength = 0;
            HasLoaderName = false;
            HasBasicMemoryInfo = false;
            MemoryLowerKiB = 0;
            MemoryUpperKiB = 0;
            RsdpAddress = 0;
            RsdpSource = RsdpSource.None;
            ModuleCount = 0;
            MemoryMap.Clear();
            MemoryMapSource = MemoryMapSource.None;
            EfiMemoryMapAddress = 0;
            EfiDescriptorCount = 0;
            EfiDescriptorSize = 0;
            Efi = false;
            Framebuffer.Clear();
            Diagnostics.Clear();
        }

        internal bool AddModule(ulong start, ulong end, ulong str, uint strLength)
        {
            if ((uint)ModuleCount >= MaxModules)
                return false;
            _moduleStart[ModuleCount] = start;
            _moduleEnd[ModuleCount] = end;
            _moduleString[ModuleCount] = str;
            _moduleStringLength[ModuleCount] = strLength;
            ModuleCount++;
            return true;
        }

        public BootModule GetModule(int index)
        {
            BootModule m = default;
            if ((uint)index >= (uint)ModuleCount)
                return m;
            m.Start = _moduleStart[index];
            m.End = _moduleEnd[index];
            m.String = _moduleString[index];
            m.StringLength = _moduleStringLength[index];
            return m;
        }
    }
}
