namespace PoolKernel.Boot.Multiboot
{
    /// <summary>
    /// Problems in a multiboot information block. <see cref="MultibootDiagnostic.Index"/> is the byte
    /// offset of the tag (multiboot2) or the entry/module index (multiboot1); the values are given per code.
    /// Codes marked "stop" end parsing: everything gathered before the bad point is kept.
    /// </summary>
    public enum MultibootDiagnosticCode : uint
    {
        None = 0,
        /// <summary>Value0 = the magic EAX held. Nothing parsed.</summary>
        UnknownMagic = 1,
        /// <summary>The info pointer is null. Nothing parsed.</summary>
        NullInfo = 2,
        /// <summary>Value0 = info address; multiboot2 promises 8-byte alignment. Parsing continues.</summary>
        MisalignedInfo = 3,
        /// <summary>Value0 = total_size, smaller than header plus end tag. Stop.</summary>
        TotalSizeTooSmall = 4,
        /// <summary>Value0 = total_size, Value1 = the limit. Stop.</summary>
        TotalSizeTooLarge = 5,
        /// <summary>Index = tag offset, Value0 = type, Value1 = size (below 8). Stop.</summary>
        TagTooSmall = 6,
        /// <summary>Index = tag offset, Value0 = type, Value1 = size; the tag runs past total_size. Stop.</summary>
        TagOverrunsInfo = 7,
        /// <summary>Index = offset where a tag header would not fit, Value0 = total_size. Stop.</summary>
        MissingEndTag = 8,
        /// <summary>Index = tag offset, Value0 = size; the end tag should be 8 bytes. Parsing ends normally.</summary>
        BadEndTagSize = 9,
        /// <summary>Index = tag offset, Value0 = type, Value1 = size too small for the tag's fields. Tag skipped.</summary>
        TagBodyTooSmall = 10,
        /// <summary>Index = tag offset (or module index), Value0 = type; no NUL within bounds, length clamped.</summary>
        StringNotTerminated = 11,
        /// <summary>Index = tag offset, Value0 = type; a second tag of a kind that appears once. Ignored.</summary>
        DuplicateTag = 12,
        /// <summary>Index = tag offset or module index, Value0 = start, Value1 = end (end before start). Module skipped.</summary>
        BadModuleRange = 13,
        /// <summary>Index = tag offset or module index; more than 16 modules. Module skipped.</summary>
        TooManyModules = 14,
        /// <summary>Index = tag offset, Value0 = entry_size (under 24 or not a multiple of 8). Map skipped.</summary>
        BadMemoryMapEntrySize = 15,
        /// <summary>Index = tag offset or entry index, Value0 = entries dropped because the raw map is full.</summary>
        MemoryMapFull = 16,
        /// <summary>Index = entry index, Value0 = the entry's size field (under 20). Multiboot1 map walk stops.</summary>
        MemoryMapEntryTooSmall = 17,
        /// <summary>Index = entry index, Value0 = byte offset, Value1 = mmap_length; the entry runs past the map. Stop.</summary>
        MemoryMapEntryOverrun = 18,
        /// <summary>Value0 = mmap_length (or mods_count), Value1 = the limit; absurd, ignored.</summary>
        CountTooLarge = 19,
        /// <summary>Index = the flag bit whose pointer is zero. That field ignored.</summary>
        NullPointer = 20,
        /// <summary>No memory map: two entries synthesized from mem_lower (Value0, KiB) and mem_upper (Value1, KiB).</summary>
        MemoryMapFromBasicInfo = 21,
        /// <summary>No memory map and no basic memory information: the kernel has no RAM to use.</summary>
        NoMemoryInformation = 22,
        /// <summary>Index = tag offset, Value0 = descriptor_size (under 40 or not a multiple of 8). EFI map not used.</summary>
        BadEfiDescriptorSize = 23,
        /// <summary>Index = tag offset, Value0 = descriptor_version, Value1 = the version read. EFI map not used.</summary>
        BadEfiDescriptorVersion = 24,
        /// <summary>Index = tag offset, Value0 = tag size; no whole descriptor. EFI map not used.</summary>
        EfiMapEmpty = 25,
        /// <summary>Index = tag offset, Value0 = descriptor index, Value1 = its start: not page-aligned, or it runs past 2^64. EFI map not used.</summary>
        BadEfiDescriptor = 26,
        /// <summary>Index = tag offset, Value0 = descriptors; none of them is RAM. EFI map not used.</summary>
        EfiMapWithoutRam = 27,
    }

    public struct MultibootDiagnostic
    {
        public MultibootDiagnosticCode Code;
        public int Index;
        public ulong Value0;
        public ulong Value1;
    }

    /// <summary>Fixed-capacity list of multiboot diagnostics over <see cref="DiagnosticLog"/>; further problems are only counted.</summary>
    public struct MultibootDiagnostics
    {
        public const int Capacity = 32;
        /// <summary>Does not compile if <see cref="Capacity"/> exceeds the shared log's storage.</summary>
        private const uint CapacityFitsLog = (uint)(DiagnosticLog.MaxCapacity - Capacity);

        private DiagnosticLog _log;

        public int Count => _log.Count;
        /// <summary>Problems found after the list was full.</summary>
        public int Dropped => _log.Dropped;

        public void Clear() => _log.Clear();

        public void Add(MultibootDiagnosticCode code, int index, ulong value0, ulong value1)
            => _log.Add(Capacity, (uint)code, index, -1, 0, value0, value1);

        public MultibootDiagnostic Get(int i)
        {
            DiagnosticLog.Entry e = _log.Get(i);
            MultibootDiagnostic d = default;
            d.Code = (MultibootDiagnosticCode)e.Code;
            d.Index = e.Index;
            d.Value0 = e.Value0;
            d.Value1 = e.Value1;
            return d;
        }

        public int CountOf(MultibootDiagnosticCode code) => _log.CountOf((uint)code);

        /// <summary>A constant sentence for <paramref name="code"/>; the caller prints index and values around it.</summary>
        public static string Describe(MultibootDiagnosticCode code)
        {
            switch (code)
            {
                case MultibootDiagnosticCode.None: return "no problem";
                case MultibootDiagnosticCode.UnknownMagic: return "boot loader magic is neither multiboot1 nor multiboot2; nothing parsed (magic)";
                case MultibootDiagnosticCode.NullInfo: return "boot information pointer is null; nothing parsed";
                case MultibootDiagnosticCode.MisalignedInfo: return "boot information is not 8-byte aligned (address)";
                case MultibootDiagnosticCode.TotalSizeTooSmall: return "total_size too small for header and end tag; nothing parsed (total_size)";
                case MultibootDiagnosticCode.TotalSizeTooLarge: return "total_size is absurd; nothing parsed (total_size, limit)";
                case MultibootDiagnosticCode.TagTooSmall: return "tag size below 8; parsing stopped here (type, size)";
                case MultibootDiagnosticCode.TagOverrunsInfo: return "tag runs past total_size; parsing stopped here (type, size)";
                case MultibootDiagnosticCode.MissingEndTag: return "no end tag before total_size; parsing stopped (total_size)";
                case MultibootDiagnosticCode.BadEndTagSize: return "end tag size is not 8 (size)";
                case MultibootDiagnosticCode.TagBodyTooSmall: return "tag too small for its fields; tag skipped (type, size)";
                case MultibootDiagnosticCode.StringNotTerminated: return "string has no terminating NUL within bounds; length clamped (type)";
                case MultibootDiagnosticCode.DuplicateTag: return "tag appears twice; second ignored (type)";
                case MultibootDiagnosticCode.BadModuleRange: return "module ends before it starts; module skipped (start, end)";
                case MultibootDiagnosticCode.TooManyModules: return "more than 16 modules; module skipped";
                case MultibootDiagnosticCode.BadMemoryMapEntrySize: return "memory map entry_size invalid; map skipped (entry_size)";
                case MultibootDiagnosticCode.MemoryMapFull: return "memory map has more entries than fit; extra entries dropped (dropped)";
                case MultibootDiagnosticCode.MemoryMapEntryTooSmall: return "memory map entry size field below 20; map walk stopped (size)";
                case MultibootDiagnosticCode.MemoryMapEntryOverrun: return "memory map entry runs past mmap_length; map walk stopped (offset, mmap_length)";
                case MultibootDiagnosticCode.CountTooLarge: return "count or length is absurd; field ignored (value, limit)";
                case MultibootDiagnosticCode.NullPointer: return "flag set but its pointer is zero; field ignored (flag bit in index)";
                case MultibootDiagnosticCode.MemoryMapFromBasicInfo: return "no memory map; using mem_lower/mem_upper instead (KiB lower, KiB upper)";
                case MultibootDiagnosticCode.NoMemoryInformation: return "neither memory map nor basic memory information present";
                case MultibootDiagnosticCode.BadEfiDescriptorSize: return "EFI memory map descriptor_size invalid; EFI map not used, the plain memory map is (descriptor_size)";
                case MultibootDiagnosticCode.BadEfiDescriptorVersion: return "EFI memory map descriptor_version unknown; EFI map not used, the plain memory map is (version, expected)";
                case MultibootDiagnosticCode.EfiMapEmpty: return "EFI memory map has no descriptor; EFI map not used, the plain memory map is (tag size)";
                case MultibootDiagnosticCode.BadEfiDescriptor: return "EFI memory descriptor not page-aligned or past 2^64; EFI map not used, the plain memory map is (descriptor, start)";
                case MultibootDiagnosticCode.EfiMapWithoutRam: return "EFI memory map lists no RAM; EFI map not used, the plain memory map is (descriptors)";
                default: return "unknown multiboot diagnostic";
            }
        }
    }
}
