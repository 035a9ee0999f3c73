using System;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>
    /// efimap: the EFI memory descriptors as the loader handed them over (they stay in the multiboot
    /// information block, which is a named reservation), each with the type the sanitizer was given.
    /// </summary>
    internal static unsafe class EfiMapCommand
    {
        internal static void Run(ref ShellLine line)
        {
            BootInfo* boot = Machine.Boot;
            if (boot->MemoryMapSource != MemoryMapSource.Efi)
            {
                Console.WriteLine("efimap: this boot's memory map is not an EFI map (see the banner's map: line)");
                return;
            }
            byte* d = (byte*)boot->EfiMemoryMapAddress;
            for (uint i = 0; i < boot->EfiDescriptorCount; i++, d += boot->EfiDescriptorSize)
            {
                uint type = *(uint*)d;
                ulong start = *(ulong*)(d + 8);
                ulong bytes = *(ulong*)(d + 24) * 4096;
                ulong attribute = *(ulong*)(d + 32);
                Console.Write("  ");
                Banner.Range(start, start + bytes);
                Console.Write(" ");
                Console.Write(EfiMemoryMap.TypeName(type));
                Console.Write(" (");
                Console.Write(type);
                Console.Write(") attr ");
                Console.WriteHex(attribute);
                Console.Write(" -> ");
                Console.Write(Banner.TypeName(EfiMemoryMap.ToMemoryType(type, attribute)));
                Console.Write(" ");
                Console.WriteSize(bytes);
                Console.WriteLine();
            }
            Console.Write(boot->EfiDescriptorCount);
            Console.Write(" descriptors of ");
            Console.Write(boot->EfiDescriptorSize);
            Console.Write(" bytes, ");
            Console.Write(boot->MemoryMap.Count);
            Console.WriteLine(" map entries once joined");
        }
    }
}
