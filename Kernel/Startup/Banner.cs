using System;
using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.Console;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Platform;
using PoolKernel.Memory;

namespace PoolKernel.Startup
{
    /// <summary>The boot banner: what the loader and the firmware told the kernel.</summary>
    internal static unsafe class Banner
    {
        internal static void Print()
        {
            BootInfo* boot = Machine.Boot;
            Console.Write("loader:   ");
            Console.Write(boot->Loader == BootLoaderKind.Multiboot2 ? "multiboot2" : boot->Loader == BootLoaderKind.Multiboot1 ? "multiboot1" : "unknown");
            if (boot->HasLoaderName)
            {
                Console.Write(" (");
                Console.WriteAscii((byte*)boot->LoaderName, boot->LoaderNameLength);
                Console.Write(")");
            }
            Console.WriteLine();
            Console.Write("cmdline:  ");
            if (boot->HasCommandLine)
                Console.WriteAscii((byte*)boot->CommandLine, boot->CommandLineLength);
            Console.WriteLine();
            PrintScreen();
            Console.Write("kernel:   ");
            Range(Cpu.KernelStart(), Cpu.KernelEnd());
            Console.Write(" (");
            Console.WriteSize(Cpu.KernelEnd() - Cpu.KernelStart());
            Console.WriteLine(")");
            for (int i = 0; i < boot->ModuleCount; i++)
            {
                BootModule m = boot->GetModule(i);
                Console.Write("module:   ");
                Range(m.Start, m.End);
                Console.Write(" ");
                Console.WriteAscii((byte*)m.String, m.StringLength);
                Console.WriteLine();
            }

            PrintMapSource(boot);
            Console.WriteLine("memory map (sanitized):");
            SanitizedMemoryMap* map = Machine.Map;
            for (int i = 0; i < map->Count; i++)
            {
                MemoryMapEntry r = map->Get(i);
                Console.Write("  ");
                Range(r.Base, r.End);
                Console.Write(" ");
                Console.Write(TypeName(r.Type));
                Console.Write(" ");
                Console.WriteSize(r.Length);
                Console.WriteLine();
            }
            Console.Write("usable:   ");
            Console.WriteSize(map->AvailableBytes);
            Console.Write(" (");
            Console.Write(map->AvailableBytes / 4096);
            Console.WriteLine(" pages)");
            Console.Write("direct map: 0 - ");
            Console.WriteHex(DirectMap.MappedLimit);
            Console.WriteLine();

            PrintNuma();
        }

        /// <summary>Where the console is mirrored besides COM1.</summary>
        private static void PrintScreen()
        {
            Console.Write("screen:   ");
            FramebufferInfo* fb = &Machine.Boot->Framebuffer;
            if (Screen.Kind == ScreenKind.Framebuffer)
            {
                Console.Write("framebuffer ");
                Console.Write(fb->Width);
                Console.Write("x");
                Console.Write(fb->Height);
                Console.Write("x32 at ");
                Console.WriteHex(fb->Address);
                Console.Write(", ");
                Console.Write(FramebufferConsole.Columns);
                Console.Write("x");
                Console.Write(FramebufferConsole.Rows);
                Console.Write(" characters (font: ");
                Console.Write(FramebufferConsole.FontGlyphs);
                Console.WriteLine(" glyphs, 8x16)");
            }
            else if (Screen.Kind == ScreenKind.VgaText)
                Console.WriteLine("VGA text 80x25");
            else
            {
                Console.Write("none, serial only (");
                if (fb->Present)
                {
                    Console.Write("framebuffer ");
                    Console.Write(fb->Width);
                    Console.Write("x");
                    Console.Write(fb->Height);
                    Console.Write("x");
                    Console.Write((uint)fb->BitsPerPixel);
                    Console.Write(": ");
                    Console.Write(Screen.Refusal);
                }
                else
                    Console.Write("UEFI without a framebuffer");
                Console.WriteLine(")");
            }
        }

        /// <summary>Which of the loader's memory maps the kernel used (the EFI one wins under UEFI).</summary>
        private static void PrintMapSource(BootInfo* boot)
        {
            Console.Write("map:      ");
            switch (boot->MemoryMapSource)
            {
                case MemoryMapSource.Efi:
                    Console.Write("EFI memory map (multiboot2 tag 17): ");
                    Console.Write(boot->EfiDescriptorCount);
                    Console.Write(" descriptors, ");
                    Console.Write(boot->MemoryMap.Count);
                    Console.WriteLine(" entries once joined");
                    break;
                case MemoryMapSource.Multiboot2:
                    Console.WriteLine(boot->Efi ? "multiboot2 memory map (tag 6; the EFI map was not usable)" : "multiboot2 memory map (tag 6)");
                    break;
                case MemoryMapSource.Multiboot1:
                    Console.WriteLine("multiboot1 memory map");
                    break;
                case MemoryMapSource.BasicInfo:
                    Console.WriteLine("mem_lower/mem_upper only (no memory map)");
                    break;
                default:
                    Console.WriteLine("none");
                    break;
            }
        }

        /// <summary>CPUs, NUMA nodes with their memory ranges, and the distance matrix.</summary>
        internal static void PrintNuma()
        {
            AcpiInfo* acpi = Machine.Acpi;
            Console.Write("cpus:     ");
            Console.Write(Machine.CpuCount);
            Console.Write(" (apic ids");
            for (int c = 0; c < acpi->CpuCount; c++)
            {
                Console.Write(" ");
                Console.Write(acpi->CpuApicId(c));
                Console.Write("@node");
                Console.Write(Machine.CpuNode(c));
            }
            Console.WriteLine(")");
            Console.Write("numa:     ");
            Console.Write(Machine.NodeCount);
            if (Machine.Numa == NumaMode.Off)
                Console.WriteLine(" node (numa=off)");
            else if (Machine.Numa == NumaMode.Fake)
                Console.WriteLine(" nodes (numa=fake)");
            else
                Console.WriteLine(acpi->SratAddress != 0 ? " nodes (SRAT)" : " node (no SRAT)");
            if (Machine.Numa == NumaMode.Fake)
            {
                for (int n = 0; n < Machine.NodeCount; n++)
                {
                    Console.Write("  node ");
                    Console.Write(n);
                    Console.Write(": from ");
                    Console.WriteHex(Machine.FakeNodeStart(n), 12);
                    Console.WriteLine();
                }
            }
            else if (Machine.Numa == NumaMode.Firmware)
            {
                for (int r = 0; r < acpi->MemoryRangeCount; r++)
                {
                    MemoryAffinity a = acpi->GetMemoryRange(r);
                    Console.Write("  node ");
                    Console.Write(a.Node);
                    Console.Write(": ");
                    Range(a.Base, a.Base + a.Length);
                    Console.Write(" ");
                    Console.WriteSize(a.Length);
                    Console.WriteLine(a.HotPluggable ? " hot-pluggable" : "");
                }
            }
            Console.Write("distances");
            Console.WriteLine(Machine.Numa != NumaMode.Firmware ? " (from the command line):" : acpi->SlitAddress != 0 ? " (SLIT):" : " (default, no SLIT):");
            Console.Write("       ");
            for (int to = 0; to < Machine.NodeCount; to++)
            {
                Console.Write(" ");
                Pad(to, 4);
            }
            Console.WriteLine();
            for (int from = 0; from < Machine.NodeCount; from++)
            {
                Console.Write("  node");
                Console.Write(from);
                for (int to = 0; to < Machine.NodeCount; to++)
                {
                    Console.Write(" ");
                    Pad(Machine.Distance(from, to), 4);
                }
                Console.WriteLine();
            }
        }

        internal static void Range(ulong start, ulong end) => ConsoleOut.Instance.Range(start, end);

        internal static void Pad(long value, int width) => ConsoleOut.Instance.Pad(value, width);

        internal static string TypeName(MemoryType type) => type switch
        {
            MemoryType.Available => "available",
            MemoryType.Reserved => "reserved",
            MemoryType.AcpiReclaimable => "acpi-reclaimable",
            MemoryType.AcpiNvs => "acpi-nvs",
            MemoryType.BadMemory => "bad",
            _ => "unknown",
        };
    }
}
