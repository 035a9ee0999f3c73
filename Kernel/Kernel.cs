using System;
using PoolKernel.Startup;

namespace PoolKernel
{
    /// <summary>The boot sequence after the runtime is up (see KernelMain for what comes before).</summary>
    internal static unsafe class Kernel
    {
        internal static void Start(uint magic, ulong info)
        {
            // The boot information decides the screen (VGA text, a framebuffer, or serial only), so it is
            // read before the first line; what it found wrong is printed by Discover.
            Machine.ReadBootInformation(magic, info);
            Platform.Screen.Select(Machine.Boot);
            Console.WriteLine("PoolKernel - generic physical memory pools, in C#");
            SelfTest.RuntimeSelfTest.Run();
            Machine.Discover();
            KernelCommandLine.Parse(Machine.Boot);
            Banner.Print();
            // MemoryBringUp applies mem=, memmap= and numa= (BootPools.ApplyEarly) before it builds
            // the pools; the pool specs are carved right after, before anything can allocate.
            Mm.MemoryBringUp.Run();
            Mm.BootPools.Apply();
            Mm.MemoryBringUp.PrintSummary();
            Mm.MemoryBringUp.KeepPoolsAtSetUp();
            // The first allocations: the NUMA policies' copies of the distance table (after the
            // set-up table is kept, which is what Kernel.Sim computes).
            Mm.NumaPolicies.Install();
            Mm.Containers.Apply();
            Heap.KernelHeapGlue.Initialize();
            SelfTest.CollectorSelfTest.Run();
            // Interrupts and the other CPUs; from here on interrupts are on (docs/smp.md).
            Platform.Smp.Start();
            Drivers.DriverManager.LoadAll();
            // The drivers' polls (the balloon following the host) and the realtime pools' resize pass run
            // on the last AP at every timer tick, so they go on while a shell command runs; with one CPU,
            // the shell's idle loop runs them.
            Platform.Smp.StartHousekeeping(&Platform.Housekeeping.Run);
            // rtcpu=N: known to exist (or not) and not to be the housekeeping CPU only now.
            Platform.RealtimeCpu.Apply(KernelCommandLine.Options);
            SelfTest.BootTestHooks.Run();
            Shell.KernelShell.Run();
        }
    }
}
