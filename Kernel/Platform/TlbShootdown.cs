using System.Threading;
using PoolKernel.Memory;
using PoolKernel.Runtime;

namespace PoolKernel.Platform
{
    /// <summary>
    /// Invalidates a kernel translation on every online CPU (docs/antifrag.md "Movable areas"): the
    /// running CPU does its own <c>invlpg</c>, every other online CPU gets an NMI (<see cref="Smp.SendWorkNmi"/>),
    /// carries out the request in its NMI handler (<see cref="Poll"/>, called by <see cref="Smp.OnNmi"/>)
    /// and acknowledges it; <see cref="Invalidate"/> returns when every one has.
    ///
    /// Why an NMI and not the 0xF0 call IPI (<see cref="Smp.RunOn"/>): the movers that rewrite a mapping
    /// run under the pools' lock with interrupts off (compaction), and another CPU may be spinning on
    /// that very lock with interrupts off; a maskable IPI would never be taken and both would wait for
    /// ever. An NMI is taken there too. A CPU parked by a collector (already in its NMI handler, so
    /// the new NMI is held back) polls for requests in its park loop (<see cref="Poll"/>); a CPU in a
    /// fatal path never answers, and the waiting CPU then stops as well.
    ///
    /// One shootdown at a time: <see cref="s_lock"/> (a leaf, taken with interrupts off; under the
    /// pools' lock or without it) guards <see cref="s_address"/> and <see cref="s_generation"/>.
    /// </summary>
    internal static unsafe class TlbShootdown
    {
        /// <summary><see cref="s_address"/> meaning "every translation" (a CR3 reload): page tables were taken away.</summary>
        internal const ulong Everything = ulong.MaxValue;

        private static SpinLock s_lock;
        private static bool s_hooked;
        /// <summary>The page to invalidate (or <see cref="Everything"/>), written before <see cref="s_generation"/>.</summary>
        private static ulong s_address;
        /// <summary>The current request's number; a CPU whose <see cref="PerCpu.TlbDone"/> equals it has carried it out.</summary>
        private static volatile uint s_generation;
        /// <summary>Shootdowns sent (requests that reached at least one other CPU); under <see cref="s_lock"/>.</summary>
        private static ulong s_sent;

        /// <summary>How long to wait for one CPU's acknowledgement, in TSC ticks, before the kernel panics (as the collector's stop).</summary>
        private const ulong AnswerTimeoutTicks = 1UL << 36;

        internal static ulong Sent => s_sent;

        /// <summary>
        /// Invalidates the translation of <paramref name="address"/> (or every translation, with
        /// <see cref="Everything"/>) on this CPU and every other online CPU; returns once all did.
        /// The caller has already written the new entry. May be called with interrupts off and any lock
        /// held except this one; allocates nothing.
        /// </summary>
        internal static void Invalidate(ulong address)
        {
            if (address == Everything)
                Cpu.WriteCr3(Cpu.ReadCr3());
            else
                Cpu.InvalidatePage(address);
            if (!Smp.Started || Smp.OnlineCount < 2)
                return;
            if (!s_hooked)
            {
                s_lock.SetInterruptHooks(&Cpu.SaveAndDisableInterrupts, &Cpu.RestoreInterrupts);
                s_hooked = true;
            }
            ulong state = s_lock.Acquire();
            PerCpu* self = Cpu.CurrentPerCpu();
            s_address = address;
            uint generation = s_generation + 1;
            s_generation = generation;
            s_sent++;
            for (int i = 0; i < Smp.Count; i++)
            {
                PerCpu* cpu = Smp.Get(i);
                if (cpu == self || cpu->State != CpuState.Online)
                    continue;
                Smp.SendWorkNmi(cpu);
            }
            for (int i = 0; i < Smp.Count; i++)
            {
                PerCpu* cpu = Smp.Get(i);
                if (cpu == self || cpu->State != CpuState.Online)
                    continue;
                ulong start = Cpu.ReadTsc();
                while (cpu->TlbDone != generation)
                {
                    if (Smp.InFatalPath)
                        Smp.StopHere();
                    if (Cpu.ReadTsc() - start > AnswerTimeoutTicks)
                        Panic.Halt("tlb: a CPU did not acknowledge a shootdown, cpu", (ulong)i);
                    Cpu.Pause();
                }
            }
            s_lock.Release(state);
        }

        /// <summary>Carries out the current request if this CPU has not yet: from every work NMI (<see cref="Smp.OnNmi"/>) and the collector's park loop.</summary>
        internal static void Poll(PerCpu* cpu)
        {
            uint generation = s_generation;
            if (cpu->TlbDone == generation)
                return;
            ulong address = s_address;
            if (address == Everything)
                Cpu.WriteCr3(Cpu.ReadCr3());
            else
                Cpu.InvalidatePage(address);
            cpu->TlbShootdowns++;
            cpu->TlbDone = generation;
        }
    }
}
