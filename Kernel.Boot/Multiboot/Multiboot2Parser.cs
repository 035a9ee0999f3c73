namespace PoolKernel.Boot.Multiboot
{
    /// <summary>
    /// Multiboot2 boot information: u32 total_size, u32 reserved, then tags (u32 type, u32 size,
    /// body) each starting 8-byte aligned, ended by a tag of type 0. total_size bounds every read.
    /// </summary>
    public static unsafe class Multiboot2Parser
    {
        public const uint BootloaderMagic = 0x36D76289;

        /// <summary>
        /// GRUB's blocks are a few KiB (the memory map and framebuffer tags dominate); a size beyond
        /// 1 MiB means EBX did not point at boot information.
        /// </summary>
        public const uint MaxTotalSize = 1u << 20;

        private const uint TagEnd = 0;
        private const uint TagCommandLine = 1;
        private const uint TagLoaderName = 2;
        private const uint TagModule = 3;
        private const uint TagBasicMemoryInfo = 4;
        private const uint TagMemoryMap = 6;
        private const uint TagFramebuffer = 8;
        private const uint TagEfi32SystemTable = 11;
        private const uint TagEfi64SystemTable = 12;
        private const uint TagAcpiOld = 14;
        private const uint TagAcpiNew = 15;
        private const uint TagEfiMemoryMap = 17;

        private const uint TagHeaderSize = 8;
        /// <summary>Fixed header of the info block, also the offset of the first tag.</summary>
        private const uint InfoHeaderSize = 8;
        /// <summary>u64 base_addr, u64 length, u32 type, u32 reserved.</summary>
        private const uint MinMemoryMapEntrySize = 24;
        private const uint RsdpV1Size = 20;
        private const uint RsdpV2Size = 36;

        /// <summary>
        /// Contract: <paramref name="output"/> is cleared and filled. Parsing stops at the first
        /// structural error (a tag that does not fit, a size below 8); everything before it is kept
        /// and the error is a diagnostic. A malformed tag body skips only that tag.
        /// The memory map is the EFI memory map tag (17) when there is one that reads cleanly, else
        /// the plain memory map tag (6), whatever their order; <see cref="BootInfo.MemoryMapSource"/> says which.
        /// </summary>
        public static void Parse(byte* info, BootInfo* output)
        {
            output->Clear();
            output->Loader = BootLoaderKind.Multiboot2;
            output->InfoAddress = (ulong)info;
            if (info == null)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.NullInfo, -1, 0, 0);
                return;
            }
            if (((ulong)info & 7) != 0)
                output->Diagnostics.Add(MultibootDiagnosticCode.MisalignedInfo, -1, (ulong)info, 0);

            uint total = *(uint*)info;
            output->InfoSize = total;
            if (total < InfoHeaderSize + TagHeaderSize)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.TotalSizeTooSmall, -1, total, 0);
                return;
            }
            if (total > MaxTotalSize)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.TotalSizeTooLarge, -1, total, MaxTotalSize);
                return;
            }

            bool seenCommandLine = false, seenLoaderName = false, seenBasic = false;
            byte* mapTag = null, efiMapTag = null;
            uint mapSize = 0, mapOffset = 0, efiMapSize = 0, efiMapOffset = 0;
            uint offset = InfoHeaderSize;
            while (true)
            {
                // Invariant: offset <= total, so total - offset does not wrap.
                if (total - offset < TagHeaderSize)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.MissingEndTag, (int)offset, total, 0);
                    break;
                }
                byte* tag = info + offset;
                uint type = *(uint*)tag;
                uint size = *(uint*)(tag + 4);
                if (size < TagHeaderSize)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.TagTooSmall, (int)offset, type, size);
                    break;
                }
                if (size > total - offset)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.TagOverrunsInfo, (int)offset, type, size);
                    break;
                }
                if (type == TagEnd)
                {
                    if (size != TagHeaderSize)
                        output->Diagnostics.Add(MultibootDiagnosticCode.BadEndTagSize, (int)offset, size, 0);
                    output->Complete = true;
                    break;
                }

                switch (type)
                {
                    case TagCommandLine:
                        if (seenCommandLine)
                        {
                            output->Diagnostics.Add(MultibootDiagnosticCode.DuplicateTag, (int)offset, type, 0);
                            break;
                        }
                        seenCommandLine = true;
                        output->HasCommandLine = true;
                        output->CommandLine = (ulong)(tag + TagHeaderSize);
                        output->CommandLineLength = TagString(tag, size, TagHeaderSize, offset, type, output);
                        break;

                    case TagLoaderName:
                        if (seenLoaderName)
                        {
                            output->Diagnostics.Add(MultibootDiagnosticCode.DuplicateTag, (int)offset, type, 0);
                            break;
                        }
                        seenLoaderName = true;
                        output->HasLoaderName = true;
                        output->LoaderName = (ulong)(tag + TagHeaderSize);
                        output->LoaderNameLength = TagString(tag, size, TagHeaderSize, offset, type, output);
                        break;

                    case TagModule:
                        ParseModule(tag, size, offset, output);
                        break;

                    case TagBasicMemoryInfo:
                        if (size < TagHeaderSize + 8)
                        {
                            output->Diagnostics.Add(MultibootDiagnosticCode.TagBodyTooSmall, (int)offset, type, size);
                            break;
                        }
                        if (seenBasic)
                        {
                            output->Diagnostics.Add(MultibootDiagnosticCode.DuplicateTag, (int)offset, type, 0);
                            break;
                        }
                        seenBasic = true;
                        output->HasBasicMemoryInfo = true;
                        output->MemoryLowerKiB = *(uint*)(tag + 8);
                        output->MemoryUpperKiB = *(uint*)(tag + 12);
                        break;

                    case TagMemoryMap:
                        if (mapTag != null)
                        {
                            output->Diagnostics.Add(MultibootDiagnosticCode.DuplicateTag, (int)offset, type, 0);
                            break;
                        }
                        mapTag = tag;
                        mapSize = size;
                        mapOffset = offset;
                        break;

                    case TagEfiMemoryMap:
                        output->Efi = true;
                        if (efiMapTag != null)
                        {
                            output->Diagnostics.Add(MultibootDiagnosticCode.DuplicateTag, (int)offset, type, 0);
                            break;
                        }
                        efiMapTag = tag;
                        efiMapSize = size;
                        efiMapOffset = offset;
                        break;

                    case TagFramebuffer:
                        if (output->Framebuffer.Present)
                        {
                            output->Diagnostics.Add(MultibootDiagnosticCode.DuplicateTag, (int)offset, type, 0);
                            break;
                        }
                        ParseFramebuffer(tag, size, offset, output);
                        break;

                    case TagEfi32SystemTable:
                    case TagEfi64SystemTable:
                        output->Efi = true;
                        break;

                    case TagAcpiOld:
                        if (size < TagHeaderSize + RsdpV1Size)
                        {
                            output->Diagnostics.Add(MultibootDiagnosticCode.TagBodyTooSmall, (int)offset, type, size);
                            break;
                        }
                        // The new-style copy, when present, is preferred whatever the tag order.
                        if (output->RsdpSource == RsdpSource.None)
                        {
                            output->RsdpAddress = (ulong)(tag + TagHeaderSize);
                            output->RsdpSource = RsdpSource.Multiboot2AcpiOld;
                        }
                        break;

                    case TagAcpiNew:
                        if (size < TagHeaderSize + RsdpV2Size)
                        {
                            output->Diagnostics.Add(MultibootDiagnosticCode.TagBodyTooSmall, (int)offset, type, size);
                            break;
                        }
                        if (output->RsdpSource != RsdpSource.Multiboot2AcpiNew)
                        {
                            output->RsdpAddress = (ulong)(tag + TagHeaderSize);
                            output->RsdpSource = RsdpSource.Multiboot2AcpiNew;
                        }
                        break;

                    default:
                        // ELF sections, APM, EFI image handles and future types: not needed here.
                        break;
                }

                // size <= total <= 1 MiB, so neither the rounding nor the sum can wrap.
                uint advance = (size + 7) & ~7u;
                if (advance > total - offset)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.MissingEndTag, (int)(offset + size), total, 0);
                    break;
                }
                offset += advance;
            }

            if (efiMapTag != null && EfiMemoryMap.Read(efiMapTag, efiMapSize, efiMapOffset, output))
                output->MemoryMapSource = MemoryMapSource.Efi;
            else if (mapTag != null && ParseMemoryMap(mapTag, mapSize, mapOffset, output))
                output->MemoryMapSource = MemoryMapSource.Multiboot2;
            BootInfoParser.FinishMemoryInformation(output);
        }

        /// <summary>Length of the NUL-terminated string at tag + bodyOffset, bounded by the tag.</summary>
        private static uint TagString(byte* tag, uint size, uint bodyOffset, uint offset, uint type, BootInfo* output)
        {
            if (size <= bodyOffset)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.StringNotTerminated, (int)offset, type, 0);
                return 0;
            }
            if (!BootStrings.BoundedLength(tag + bodyOffset, size - bodyOffset, out uint length))
                output->Diagnostics.Add(MultibootDiagnosticCode.StringNotTerminated, (int)offset, type, 0);
            return length;
        }

        /// <summary>Tag 3: u32 mod_start, u32 mod_end, then the module's string.</summary>
        private static void ParseModule(byte* tag, uint size, uint offset, BootInfo* output)
        {
            if (size < TagHeaderSize + 8)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.TagBodyTooSmall, (int)offset, TagModule, size);
                return;
            }
            uint start = *(uint*)(tag + 8);
            uint end = *(uint*)(tag + 12);
            if (end < start)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.BadModuleRange, (int)offset, start, end);
                return;
            }
            if (output->ModuleCount >= BootInfo.MaxModules)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.TooManyModules, (int)offset, start, end);
                return;
            }
            uint length = TagString(tag, size, TagHeaderSize + 8, offset, TagModule, output);
            output->AddModule(start, end, (ulong)(tag + TagHeaderSize + 8), length);
        }

        /// <summary>
        /// Tag 8: u64 address, u32 pitch, u32 width, u32 height, u8 bpp, u8 type, u16 reserved (GRUB's
        /// layout; the colour information starts at body offset 24), then for direct colour six u8:
        /// red position and size, green, blue. A tag too short for what its type needs is skipped.
        /// </summary>
        private static void ParseFramebuffer(byte* tag, uint size, uint offset, BootInfo* output)
        {
            const uint CommonSize = TagHeaderSize + 24, RgbSize = CommonSize + 6;
            if (size < CommonSize || (tag[TagHeaderSize + 21] == (byte)FramebufferType.Rgb && size < RgbSize))
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.TagBodyTooSmall, (int)offset, TagFramebuffer, size);
                return;
            }
            FramebufferInfo* fb = &output->Framebuffer;
            byte* body = tag + TagHeaderSize;
            fb->Present = true;
            fb->Address = *(ulong*)body;
            fb->Pitch = *(uint*)(body + 8);
            fb->Width = *(uint*)(body + 12);
            fb->Height = *(uint*)(body + 16);
            fb->BitsPerPixel = body[20];
            fb->Type = (FramebufferType)body[21];
            if (fb->Type == FramebufferType.Rgb)
            {
                fb->RedPosition = body[24];
                fb->RedSize = body[25];
                fb->GreenPosition = body[26];
                fb->GreenSize = body[27];
                fb->BluePosition = body[28];
                fb->BlueSize = body[29];
            }
        }

        /// <summary>Tag 6: u32 entry_size, u32 entry_version, then entries. Returns whether the map was taken.</summary>
        private static bool ParseMemoryMap(byte* tag, uint size, uint offset, BootInfo* output)
        {
            if (size < TagHeaderSize + 8)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.TagBodyTooSmall, (int)offset, TagMemoryMap, size);
                return false;
            }
            uint entrySize = *(uint*)(tag + 8);
            if (entrySize < MinMemoryMapEntrySize || (entrySize & 7) != 0)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.BadMemoryMapEntrySize, (int)offset, entrySize, 0);
                return false;
            }
            // Trailing bytes that do not make a whole entry are ignored.
            uint entries = (size - 16) / entrySize;
            uint dropped = 0;
            byte* entry = tag + 16;
            for (uint i = 0; i < entries; i++, entry += entrySize)
            {
                if (!output->MemoryMap.Add(*(ulong*)entry, *(ulong*)(entry + 8), *(uint*)(entry + 16)))
                    dropped++;
            }
            if (dropped != 0)
                output->Diagnostics.Add(MultibootDiagnosticCode.MemoryMapFull, (int)offset, dropped, 0);
            return true;
        }
    }
}
