using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Reports;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Mm;

namespace PoolKernel.Startup
{
    /// <summary>
    /// The kernel command line, parsed once at boot (syntax: docs/cmdline.md). Every bad token
    /// was reported on one console line (Kernel.Boot/Reports/CommandLineText.cs); everything else applies.
    /// </summary>
    internal static unsafe class KernelCommandLine
    {
        internal static BootOptions* Options;

        /// <summary>The command line's text on the console (diagnostics, what it did to memory).</summary>
        internal static CommandLineText Text;

        internal static void Parse(BootInfo* boot)
        {
            Options = (BootOptions*)BootAllocator.AllocZeroed((nuint)sizeof(BootOptions), 8);
            if (Options == null)
                Runtime.Panic.Halt("boot arena too small for the command line");
            byte* text = boot->HasCommandLine ? (byte*)boot->CommandLine : null;
            int length = boot->HasCommandLine ? (int)boot->CommandLineLength : 0;
            SkipImagePath(boot, ref text, ref length);
            CommandLineParser.Parse(text, length, Options);
            Text = new CommandLineText(ConsoleOut.Instance, Options, Machine.Nodes);
            Text.WriteDiagnostics();
        }

        // Multiboot1 loaders (QEMU -kernel, GRUB's multiboot) put the image path first.
        private static void SkipImagePath(BootInfo* boot, ref byte* text, ref int length)
        {
            if (boot->Loader != BootLoaderKind.Multiboot1 || text == null)
                return;
            int end = 0;
            while (end < length && text[end] != ' ' && text[end] != 0)
            {
                if (text[end] == '=')
                    return;
                end++;
            }
            while (end < length && text[end] == ' ')
                end++;
            text += end;
            length -= end;
        }
    }
}
