using System.Threading;
using PoolKernel.Runtime;

namespace PoolKernel.Platform
{
    /// <summary>
    /// The kernel's process-wide memory barrier (<see cref="PoolKernel.Memory.MemoryConfig.ProcessWideBarrier"/>,
    /// docs/smp.md "A lock-free own cache"): every other online CPU gets a work NMI (<see cref="Smp.SendWorkNmi"/>),
    /// executes a full barrier in its NMI handler (<see cref="Poll"/>, called by <see cref="Smp.OnNmi"/> and by the
    /// collector's park loop) and acknowledges; <see cref="Run"/> returns when every one has. What the allocator
    /// needs from it: any store a CPU made before the NMI is visible to the caller afterwards, and any load the CPU
    /// makes after it sees what the caller stored before calling.
    ///
    /// An NMI, as the TLB shootdown's (<see cref="TlbShootdown"/>): the caller holds allocator locks with interrupts
    /// off, and another CPU may be spinning on one of them with interrupts off. No lock: each call takes a new
    /// request number with one compare-exchange and waits until every CPU has answered a number at least as new, so
    /// calls from several CPUs at once overlap safely (a CPU answering the newest request answers the older ones).
    /// </summary>
    internal static unsafe class NmiBarrier
    {
        /// <summary>The newest request's number (0: none yet); taken with a compare-exchange, read by <see cref="Poll"/>.</summary>
        private static int s_request;
        /// <summary>Barriers that reached at least one other CPU (a snapshot).</summary>
        private static int s_sent;

        /// <summary>How long to wait for one CPU's acknowledgement, in TSC ticks, before the kernel panics (as the shootdown's).</summary>
        private const ulong AnswerTimeoutTicks = 1UL << 36;

        internal static int Sent => s_sent;

        /// <summary>
        /// Returns once every online CPU in <paramref name="cpus"/> (bit i: CPU i) other than this one has executed a
        /// full barrier after this call began; only those get the NMI (the allocator names the owners of the caches it
        /// froze, never a CPU that takes its caches' locks such as the realtime CPU). May be called with interrupts off
        /// and any lock held; takes none and allocates nothing. Before the other CPUs start, or with one online, only
        /// this CPU's own barrier (the compare-exchange).
        /// </summary>
        internal static void Run(ulong cpus)
        {
            int request;
            fixed (int* r = &s_request)
            {
                int seen;
                do
                    seen = *r;
                while (Cpu.CompareExchange(r, seen, seen + 1) != seen); // a locked instruction: this CPU's barrier
                request = seen + 1;
            }
            if (!Smp.Started || Smp.OnlineCount < 2)
                return;
            PerCpu* self = Cpu.CurrentPerCpu();
            bool sent = false;
            for (int i = 0; i < Smp.Count && i < 64; i++)
            {
                PerCpu* cpu = Smp.Get(i);
                if (cpu != self && cpu->State == CpuState.Online && ((cpus >> i) & 1) != 0)
                {
                    Smp.AddAtomic(&cpu->BarrierNmis, 1);
                    Smp.SendWorkNmi(cpu);
                    sent = true;
                }
            }
            if (!sent)
                return;
            s_sent++;
            for (int i = 0; i < Smp.Count && i < 64; i++)
            {
                PerCpu* cpu = Smp.Get(i);
                if (cpu == self || cpu->State != CpuState.Online || ((cpus >> i) & 1) == 0)
                    continue;
                ulong start = Cpu.ReadTsc();
                while (Volatile.Read(ref cpu->BarrierDone) - request < 0)
                {
                    if (Smp.InFatalPath)
                        Smp.StopHere();
                    if (Cpu.ReadTsc() - start > AnswerTimeoutTicks)
                        Panic.Halt("barrier: a CPU did not acknowledge, cpu", (ulong)i);
                    Cpu.Pause();
                }
            }
        }

        /// <summary>
        /// Answers the newest request if this CPU has not: a full barrier (a locked instruction), then the request's
        /// number as acknowledgement. From every work NMI (<see cref="Smp.OnNmi"/>) and the collector's park loop.
        /// </summary>
        internal static void Poll(PerCpu* cpu)
        {
            int request = Volatile.Read(ref s_request);
            if (cpu->BarrierDone == request)
                return;
            fixed (int* r = &s_request)
                Cpu.CompareExchange(r, request, request); // changes nothing; the locked instruction drains this CPU's stores
            Volatile.Write(ref cpu->BarrierDone, request);
        }
    }
}
