using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.PoolPlan;
using PoolKernel.Startup;

namespace PoolKernel.Mm
{
    /// <summary>
    /// What the command line does to memory (docs/cmdline.md), in two steps around the pools' set-up.
    /// <see cref="ApplyEarly"/>, from MemoryBringUp.Run after the kernel's own reservations and before
    /// set-up: <see cref="BootLayout.Apply"/> turns mem= and memmap= into named reservations and
    /// decides the node layout (numa=off, numa=fake=N), which this applies to <see cref="Machine"/>.
    /// <see cref="Apply"/>, right after set-up and before anything allocates: the pool specs are
    /// carved by <see cref="PoolPlanner"/>. Both record into one <see cref="BootLayoutResult"/>,
    /// which CommandLineText (Kernel.Boot/Reports) prints at boot (one console line per outcome) and again
    /// under each token for the shell's <c>cmdline</c>.
    /// </summary>
    internal static unsafe class BootPools
    {
        private static BootLayoutResult* s_result;

        /// <summary>Everything the command line did to memory; null before <see cref="ApplyEarly"/>.</summary>
        internal static BootLayoutResult* Result => s_result;

        internal static void ApplyEarly()
        {
            BootOptions* o = KernelCommandLine.Options;
            s_result = (BootLayoutResult*)BootAllocator.AllocZeroed((nuint)sizeof(BootLayoutResult), 8);
            if (s_result == null)
                Runtime.Panic.Halt("boot arena too small for the pool plan");
            int firmwareNodes = PoolBringUp.ApplyLayout(Machine.Map, o, Reservations.Table, Machine.Nodes, s_result);
            KernelCommandLine.Text.Result = s_result;
            KernelCommandLine.Text.WriteEarly(o, s_result, firmwareNodes);
        }

        /// <summary>Carves the command line's pools; call right after MemoryBringUp.Run.</summary>
        internal static void Apply()
        {
            PoolPlanResult* pools = &s_result->Pools;
            PoolPlanner.Apply(PhysicalMemoryOwner.Unguarded, KernelCommandLine.Options, pools);
            KernelCommandLine.Text.Memory = PhysicalMemoryOwner.Unguarded;
            KernelCommandLine.Text.WritePools(KernelCommandLine.Options, pools);
            if (pools->PresentPagesBefore != pools->PresentPagesAfter)
                Runtime.Panic.Halt("boot pools lost memory, pages", pools->PresentPagesBefore - pools->PresentPagesAfter);
        }
    }
}
