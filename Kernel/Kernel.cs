using System;
using PoolKernel.Startup;

namespace PoolKernel
{
    /// <summary>The boot sequence after the runtime is up (see KernelMain for what comes before).</summary>
    internal static unsafe class Kernel
    {
        internal static void Start(uint magic, ulong info)
        {
            Console.WriteLine("PoolKernel - generic physical memory pools, in C#");
            SelfTest.RuntimeSelfTest.Run();
            Machine.Discover(magic, info);
            KernelCommandLine.Parse(Machine.Boot);
            Banner.Print();
            // mem=, memmap= and numa= shape the map the pools are built from; the pool specs are
            // carved right after set-up, before anything can allocate.
            Mm.BootPools.ApplyEarly();
            Mm.MemoryBringUp.Run();
            Mm.BootPools.Apply();
            Mm.MemoryBringUp.PrintSummary();
            SelfTest.BootTestHooks.Run();
            Shell.KernelShell.Run();
        }
    }
}
