using System;
using System.Runtime.InteropServices;
using PoolKernel.Mm;
using PoolKernel.Platform;
using PoolKernel.Runtime;

namespace PoolKernel
{
    /// <summary>The C# entry, called by Arch/x64/boot.S in long mode.</summary>
    internal static unsafe class KernelMain
    {
        [UnmanagedCallersOnly(EntryPoint = "KernelEntry")]
        private static void Entry(uint magic, ulong info)
        {
            Serial.Initialize();
            BootAllocator.InitializeEarly(Cpu.EarlyHeapStart(), Cpu.EarlyHeapEnd());
            ObjectAllocator.SetHeap(&BootAllocator.AllocZeroed, null);   // no reserve before the heap
            ModuleInitializer.Run();
            Kernel.Start(magic, info);
            QemuExit.Exit(ExitCode.Halt);
        }
    }
}
