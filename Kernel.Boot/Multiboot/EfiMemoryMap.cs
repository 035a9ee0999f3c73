using PoolKernel.Memory;

namespace PoolKernel.Boot.Multiboot
{
    /// <summary>EFI_MEMORY_TYPE values (UEFI 2.10, 7.2 "EFI_BOOT_SERVICES.AllocatePages()").</summary>
    public enum EfiMemoryType : uint
    {
        Reserved = 0,
        LoaderCode = 1,
        LoaderData = 2,
        BootServicesCode = 3,
        BootServicesData = 4,
        RuntimeServicesCode = 5,
        RuntimeServicesData = 6,
        Conventional = 7,
        Unusable = 8,
        AcpiReclaim = 9,
        AcpiNvs = 10,
        MemoryMappedIo = 11,
        MemoryMappedIoPortSpace = 12,
        PalCode = 13,
        Persistent = 14,
        Unaccepted = 15,
    }

    /// <summary>
    /// The multiboot2 EFI memory map tag (type 17): u32 descriptor_size, u32 descriptor_version, then
    /// EFI_MEMORY_DESCRIPTORs (u32 Type, u32 pad, u64 PhysicalStart, u64 VirtualStart,
    /// u64 NumberOfPages in 4 KiB pages, u64 Attribute), each descriptor_size bytes apart (firmware
    /// may make them longer than the 40 bytes defined). GRUB writes it after ExitBootServices, so
    /// under UEFI it is the final word on memory; the plain map (tag 6) was taken earlier.
    /// </summary>
    public static unsafe class EfiMemoryMap
    {
        /// <summary>The descriptor layout this reader knows; later versions must stay compatible with it.</summary>
        public const uint DescriptorVersion = 1;
        /// <summary>Type, pad, PhysicalStart, VirtualStart, NumberOfPages, Attribute.</summary>
        public const uint MinDescriptorSize = 40;
        /// <summary>EFI_MEMORY_RUNTIME: the firmware keeps using this range after boot.</summary>
        public const ulong AttributeRuntime = 1UL << 63;
        /// <summary>EFI_MEMORY_SP: "specific purpose" memory set aside for a particular user, not general RAM.</summary>
        public const ulong AttributeSpecificPurpose = 1UL << 18;

        private const uint TagBodyOffset = 16;
        private const ulong PageSize = 4096;

        /// <summary>
        /// The sanitizer's type for an EFI descriptor, once the kernel owns the machine (boot services
        /// have exited): what the loader and boot services used is RAM; what the runtime services,
        /// the ACPI tables (not yet read; reclaimable only after) and devices use stays out, as does
        /// persistent, unaccepted, specific-purpose and unknown memory (only certain RAM is used).
        /// </summary>
        public static MemoryType ToMemoryType(uint efiType, ulong attribute)
        {
            if ((attribute & (AttributeRuntime | AttributeSpecificPurpose)) != 0)
                return MemoryType.Reserved;
            switch ((EfiMemoryType)efiType)
            {
                case EfiMemoryType.LoaderCode:
                case EfiMemoryType.LoaderData:
                case EfiMemoryType.BootServicesCode:
                case EfiMemoryType.BootServicesData:
                case EfiMemoryType.Conventional:
                    return MemoryType.Available;
                case EfiMemoryType.Unusable:
                    return MemoryType.BadMemory;
                case EfiMemoryType.AcpiReclaim:
                    return MemoryType.AcpiReclaimable;
                case EfiMemoryType.AcpiNvs:
                    return MemoryType.AcpiNvs;
                default:
                    return MemoryType.Reserved;
            }
        }

        /// <summary>The specification's name of an EFI memory type, without the Efi prefix and suffix.</summary>
        public static string TypeName(uint efiType)
        {
            switch ((EfiMemoryType)efiType)
            {
                case EfiMemoryType.Reserved: return "Reserved";
                case EfiMemoryType.LoaderCode: return "LoaderCode";
                case EfiMemoryType.LoaderData: return "LoaderData";
                case EfiMemoryType.BootServicesCode: return "BootServicesCode";
                case EfiMemoryType.BootServicesData: return "BootServicesData";
                case EfiMemoryType.RuntimeServicesCode: return "RuntimeServicesCode";
                case EfiMemoryType.RuntimeServicesData: return "RuntimeServicesData";
                case EfiMemoryType.Conventional: return "Conventional";
                case EfiMemoryType.Unusable: return "Unusable";
                case EfiMemoryType.AcpiReclaim: return "ACPIReclaim";
                case EfiMemoryType.AcpiNvs: return "ACPINVS";
                case EfiMemoryType.MemoryMappedIo: return "MMIO";
                case EfiMemoryType.MemoryMappedIoPortSpace: return "MMIOPortSpace";
                case EfiMemoryType.PalCode: return "PalCode";
                case EfiMemoryType.Persistent: return "Persistent";
                case EfiMemoryType.Unaccepted: return "Unaccepted";
                default: return "unknown";
            }
        }

        /// <summary>
        /// Contract: reads tag 17 at <paramref name="tag"/> (<paramref name="size"/> bytes, already
        /// bounded by the info block) into <c>output->MemoryMap</c>, which must be empty, joining
        /// descriptors of the same sanitizer type that touch. Returns false and leaves the map empty,
        /// with one diagnostic, when the tag is malformed (too small, a descriptor size or version it
        /// cannot read, no descriptors, a descriptor not page-aligned or running past 2^64, no RAM at
        /// all): the caller then uses the plain memory map tag. Sets the EFI fields of <paramref name="output"/>.
        /// </summary>
        public static bool Read(byte* tag, uint size, uint offset, BootInfo* output)
        {
            const uint Type = 17;
            if (size < TagBodyOffset)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.TagBodyTooSmall, (int)offset, Type, size);
                return false;
            }
            uint descriptorSize = *(uint*)(tag + 8);
            uint version = *(uint*)(tag + 12);
            if (descriptorSize < MinDescriptorSize || (descriptorSize & 7) != 0)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.BadEfiDescriptorSize, (int)offset, descriptorSize, 0);
                return false;
            }
            if (version != DescriptorVersion)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.BadEfiDescriptorVersion, (int)offset, version, DescriptorVersion);
                return false;
            }
            // Trailing bytes that do not make a whole descriptor are ignored, as in tag 6.
            uint count = (size - TagBodyOffset) / descriptorSize;
            if (count == 0)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.EfiMapEmpty, (int)offset, size, 0);
                return false;
            }
            byte* d = tag + TagBodyOffset;
            for (uint i = 0; i < count; i++, d += descriptorSize)
            {
                ulong start = *(ulong*)(d + 8);
                ulong pages = *(ulong*)(d + 24);
                if ((start & (PageSize - 1)) != 0 || pages > (ulong.MaxValue - start) / PageSize)
                {
                    output->Diagnostics.Add(MultibootDiagnosticCode.BadEfiDescriptor, (int)offset, i, start);
                    return false;
                }
            }

            bool anyRam = false;
            uint dropped = 0;
            d = tag + TagBodyOffset;
            for (uint i = 0; i < count; i++, d += descriptorSize)
            {
                ulong length = *(ulong*)(d + 24) * PageSize;
                if (length == 0)
                    continue;
                MemoryType type = ToMemoryType(*(uint*)d, *(ulong*)(d + 32));
                anyRam |= type == MemoryType.Available;
                if (!output->MemoryMap.AddJoined(*(ulong*)(d + 8), length, (uint)type))
                    dropped++;
            }
            if (!anyRam)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.EfiMapWithoutRam, (int)offset, count, 0);
                output->MemoryMap.Clear();
                return false;
            }
            if (dropped != 0)
                output->Diagnostics.Add(MultibootDiagnosticCode.MemoryMapFull, (int)offset, dropped, 0);
            output->EfiDescriptorCount = count;
            output->EfiDescriptorSize = descriptorSize;
            output->EfiMemoryMapAddress = (ulong)(tag + TagBodyOffset);
            return true;
        }
    }
}
