using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Memory;

namespace PoolKernel.Platform
{
    /// <summary>
    /// The realtime CPU (<c>rtcpu=N</c>, docs/realtime.md "The realtime CPU"): a CPU the collector's stop-the-world
    /// leaves alone. <see cref="Smp.StopOthers"/> neither parks it nor (so) does <see cref="Runtime.Gc"/> scan
    /// its stack and registers. That is sound only under the contract of RTSJ's NoHeapRealtimeThread, which the
    /// code it runs must keep: it <b>never allocates from the kernel heap</b> (managed objects or raw blocks: a
    /// collection holds the heap lock for its whole pause) and <b>holds no reference to a managed object across a
    /// collection</b> (its stack is not a root: an object only it refers to would be freed under it). It uses raw
    /// pages (the pools, a realtime pool's bounded path), memory handed to it by the CPU that posted its work,
    /// and TSC reads. What can be enforced is: the heap's entries (<see cref="Heap.KernelHeapGlue.AllocObject"/>,
    /// <see cref="Heap.KernelHeapGlue.TryAlloc"/>) stop the machine with a message naming the CPU when called on
    /// it (<see cref="RefuseHeap"/>), and <see cref="Smp.Post"/> refuses it (the shell's other commands, whose
    /// posted work allocates objects, skip it); only <see cref="Smp.PostRealtime"/> gives it work.
    /// Set once at boot by <see cref="Apply"/> (boot CPU, after the CPUs and the housekeeping CPU are up), read by every CPU.
    /// </summary>
    internal static unsafe class RealtimeCpu
    {
        /// <summary>The realtime CPU's number, or -1 (none: every CPU is parked by a collection).</summary>
        private static int s_number = -1;

        internal static int Number => s_number;

        /// <summary>True when <paramref name="cpu"/> is the realtime CPU.</summary>
        internal static bool Is(int cpu) => s_number >= 0 && cpu == s_number;

        /// <summary>True when the running CPU is the realtime CPU (one load and a branch when there is none).</summary>
        internal static bool IsCurrent => s_number >= 0 && Smp.CurrentNumber == s_number;

        /// <summary>
        /// The kernel heap was called on the realtime CPU: the contract (see the type) is broken, and a collection
        /// could free what this CPU is about to hold. Stops the machine naming the CPU.
        /// </summary>
        internal static void RefuseHeap()
        {
            // Panic names the CPU: " (cpu N)".
            Runtime.Panic.Halt("realtime cpu: the kernel heap was called on the realtime CPU (it must not allocate managed objects or heap blocks; docs/realtime.md)");
        }

        /// <summary>
        /// Applies <c>rtcpu=N</c> once the CPUs and the housekeeping CPU are known: refused (one <c>cmdline:</c>
        /// line naming the token, nothing changed) when CPU N is not online or is the housekeeping CPU (it runs
        /// the drivers' polls and the realtime pools' resize pass: work that allocates); otherwise one line saying
        /// what the CPU is now.
        /// </summary>
        internal static void Apply(BootOptions* options)
        {
            if (options == null || options->RealtimeCpu == 0)
                return;
            int cpu = options->RealtimeCpu;
            PerCpu* target = Smp.Started ? Smp.Get(cpu) : null;
            if (target == null || target->State != CpuState.Online || cpu == Smp.Housekeeper)
            {
                Console.Write("cmdline: '");
                TokenRecord* token = options->Token(options->RealtimeCpuToken);
                for (int i = 0; i < token->Length; i++)
                    Console.Write((char)options->Text[token->Offset + i]);
                Console.Write("': ");
                if (target == null || target->State != CpuState.Online)
                {
                    Console.Write("no CPU ");
                    Console.Write(cpu);
                    Console.Write(" is online (");
                    Console.Write(Smp.Started ? Smp.OnlineCount : 1);
                    Console.Write(" CPUs)");
                }
                else
                {
                    Console.Write("CPU ");
                    Console.Write(cpu);
                    Console.Write(" is the housekeeping CPU (drivers' polls, realtime pool resizing)");
                }
                Console.WriteLine("; rtcpu ignored");
                return;
            }
            s_number = cpu;
            MemoryStatus locked = Mm.PhysicalMemoryOwner.UseLockedCaches(cpu);
            Console.Write("smp:      cpu ");
            Console.Write(cpu);
            Console.Write(" is the realtime CPU: collections neither park it nor scan its stack; it runs no heap code; ");
            Console.WriteLine(locked == MemoryStatus.Ok ? "cache freezes send it no NMI" : "its caches stay lock-free (the allocator refused)");
        }
    }
}
