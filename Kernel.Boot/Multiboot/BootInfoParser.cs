using PoolKernel.Boot.MemoryMap;
using PoolKernel.Memory;

namespace PoolKernel.Boot.Multiboot
{
    /// <summary>Entry point for the kernel: picks the parser by the magic the loader left in EAX.</summary>
    public static unsafe class BootInfoParser
    {
        /// <summary>
        /// Contract: <paramref name="output"/> is always cleared and filled; an unknown magic leaves
        /// <see cref="BootInfo.Loader"/> = None and one diagnostic.
        /// </summary>
        public static void Parse(uint magic, byte* info, BootInfo* output)
        {
            if (magic == Multiboot2Parser.BootloaderMagic)
            {
                Multiboot2Parser.Parse(info, output);
                return;
            }
            if (magic == Multiboot1Parser.BootloaderMagic)
            {
                Multiboot1Parser.Parse(info, output);
                return;
            }
            output->Clear();
            output->InfoAddress = (ulong)info;
            output->Diagnostics.Add(MultibootDiagnosticCode.UnknownMagic, -1, magic, 0);
        }

        /// <summary>
        /// Without a memory map the only RAM the kernel knows of is what mem_lower/mem_upper
        /// describe: [0, lower KiB) and [1 MiB, 1 MiB + upper KiB). Synthesize those two entries
        /// so everything downstream reads one format.
        /// </summary>
        internal static void FinishMemoryInformation(BootInfo* output)
        {
            if (output->MemoryMap.Count != 0 || output->MemoryMap.Dropped != 0)
                return;
            if (!output->HasBasicMemoryInfo)
            {
                output->Diagnostics.Add(MultibootDiagnosticCode.NoMemoryInformation, -1, 0, 0);
                return;
            }
            const ulong OneMiB = 1UL << 20;
            output->Diagnostics.Add(MultibootDiagnosticCode.MemoryMapFromBasicInfo, -1,
                output->MemoryLowerKiB, output->MemoryUpperKiB);
            output->MemoryMap.Add(0, (ulong)output->MemoryLowerKiB * 1024, (uint)MemoryType.Available);
            output->MemoryMap.Add(OneMiB, (ulong)output->MemoryUpperKiB * 1024, (uint)MemoryType.Available);
            output->MemoryMapSource = MemoryMapSource.BasicInfo;
        }
    }
}
