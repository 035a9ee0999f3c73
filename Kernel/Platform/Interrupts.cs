using System;
using PoolKernel.Runtime;

namespace PoolKernel.Platform
{
    /// <summary>
    /// The interrupt vectors (32..255) and their handlers, called from <see cref="Traps"/> on the CPU
    /// that took the interrupt, with interrupts off (interrupt gates). Handlers touch only the running
    /// CPU's <see cref="PerCpu"/> (and, for a call, what the called function does); the one that
    /// allocates is the timer's test hook (<see cref="IrqAllocTest"/>), through the pools' and heap's locks. Interrupts are enabled on a CPU only after <see cref="Smp"/> has set its GS base.
    /// </summary>
    internal static unsafe class Interrupts
    {
        /// <summary>The local APIC timer, periodic at <see cref="Smp.TimerHertz"/> on every CPU.</summary>
        internal const byte TimerVector = 0x20;
        /// <summary>The 8259 PICs' 16 lines after <see cref="LegacyPic.Disable"/> (all masked; only spurious ones arrive).</summary>
        internal const byte LegacyFirst = 0x30;
        /// <summary>IPI: run the function in this CPU's mailbox (<see cref="Smp.RunOn"/>).</summary>
        internal const byte CallVector = 0xF0;
        /// <summary>The local APIC's spurious vector (no EOI).</summary>
        internal const byte SpuriousVector = 0xFF;

        internal static void Handle(TrapFrame* frame)
        {
            PerCpu* cpu = Cpu.CurrentPerCpu();
            cpu->Interrupts++;
            cpu->InterruptDepth++;
            Dispatch(cpu, frame);
            cpu->InterruptDepth--;
        }

        private static void Dispatch(PerCpu* cpu, TrapFrame* frame)
        {
            ulong vector = frame->Vector;
            if (vector == TimerVector)
            {
                cpu->TimerTicks++;
                if (cpu->IrqAllocPending != 0)
                    IrqAllocTest.Run(cpu);
                LocalApic.EndOfInterrupt();
            }
            else if (vector == CallVector)
            {
                Smp.RunPostedCall(cpu);
                LocalApic.EndOfInterrupt();
            }
            else if (vector == SpuriousVector || (vector >= LegacyFirst && vector < LegacyFirst + 16u))
            {
                // Spurious (APIC or PIC): counted above, and no EOI.
            }
            else
            {
                Panic.Halt("interrupt on a vector nothing sends", vector);
            }
        }
    }
}
