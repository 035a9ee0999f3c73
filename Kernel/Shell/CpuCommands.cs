using System;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>'cpus' (every CPU, asked on that CPU) and the test commands 'cpu N fault' and 'cpu N irqalloc'.</summary>
    internal static unsafe class CpuCommands
    {
        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "cpus", "every CPU: number, APIC id, node, state, timer ticks, interrupts taken; each online CPU answers from itself; each CPU's frame cache fill per pool", &Cpus);
            Commands.Register(ref n, "sleep", "sleep MS: wait MS (1..600000) milliseconds on this CPU, interrupts on (timer ticks; the housekeeping CPU goes on polling the drivers)", &Sleep);
            Commands.Register(ref n, "cpu", "cpu N fault|irqalloc: a page fault on CPU N (0..CPUs-1), a test of the report (the machine ends, status 37); or a page and a heap block allocated and freed in CPU N's timer interrupt", &CpuCommand);
        }

        /// <summary>What a CPU reports about itself when asked through <see cref="Smp.RunOn"/>.</summary>
        private struct SelfReport
        {
            public int Number;
            public uint ApicId;
        }

        /// <summary>Runs on the CPU asked: its number through GS and its APIC id from its own local APIC.</summary>
        private static void ReportSelf(ulong argument)
        {
            SelfReport* report = (SelfReport*)argument;
            report->Number = Cpu.CurrentPerCpu()->Number;
            report->ApicId = LocalApic.Id;
        }

        /// <summary>
        /// 'sleep MS': halts between timer interrupts until MS milliseconds of this CPU's ticks have
        /// passed (rounded up to whole ticks), then says how many ticks it waited. Without a running
        /// timer it says so and waits for nothing.
        /// </summary>
        private static void Sleep(ref ShellLine line)
        {
            if (!line.Arg(1, "MS", 1, 600_000, out ulong ms) || !line.NoMoreArgs(2))
                return;
            if (!Smp.TimerRunning)
            {
                Console.WriteLine("sleep: no timer running; not waited");
                return;
            }
            ulong ticks = (ms * (ulong)Smp.TimerHertz + 999) / 1000;
            PerCpu* cpu = Cpu.CurrentPerCpu();
            ulong start = cpu->TimerTicks;
            while (cpu->TimerTicks - start < ticks)
                Cpu.IdleHalt();
            Console.Write("sleep: ");
            Console.Write(ms);
            Console.Write(" ms (");
            Console.Write(ticks);
            Console.Write(" timer ticks");
            if (Smp.Housekeeper >= 0)
            {
                Console.Write("; drivers polled by cpu ");
                Console.Write(Smp.Housekeeper);
            }
            Console.WriteLine(")");
        }

        private static void Cpus(ref ShellLine line)
        {
            Console.Write("cpus: ");
            Console.Write(Smp.OnlineCount);
            Console.Write(" of ");
            Console.Write(Smp.Count);
            Console.Write(" online; timer ");
            if (Smp.TimerRunning)
            {
                Console.Write(Smp.TimerHertz);
                Console.Write(" Hz");
            }
            else
            {
                Console.Write("not running");
            }
            // Process-wide barriers the allocator's freezes ran since boot (docs/smp.md, "A lock-free own cache").
            Console.Write("; ");
            Console.Write(NmiBarrier.Sent);
            Console.WriteLine(" barriers sent");
            Console.WriteLine("  cpu  apic  node  state     timer ticks  interrupts  answers");
            for (int i = 0; i < Smp.Count; i++)
            {
                PerCpu* cpu = Smp.Get(i);
                // Read before the call, which itself is an interrupt on that CPU.
                ulong ticks = cpu->TimerTicks;
                ulong interrupts = cpu->Interrupts;
                SelfReport report = default;
                report.Number = -1;
                bool ran = Smp.RunOn(i, &ReportSelf, (ulong)&report);
                Console.Write("  ");
                Banner.Pad(i, 3);
                Banner.Pad(cpu->ApicId, 6);
                Banner.Pad(cpu->Node, 6);
                Console.Write("  ");
                string state = StateName(cpu->State);
                Console.Write(state);
                for (int pad = state.Length; pad < 8; pad++)
                    Console.Write(' ');
                Banner.Pad((long)ticks, 13);
                Banner.Pad((long)interrupts, 12);
                Console.Write("  ");
                if (!ran)
                    Console.WriteLine("-");
                else if (report.Number == i && report.ApicId == cpu->ApicId)
                    Console.WriteLine("yes");
                else
                {
                    Console.Write("WRONG: cpu ");
                    Console.Write(report.Number);
                    Console.Write(" apic ");
                    Console.Write(report.ApicId);
                    Console.WriteLine();
                }
            }
            CacheFill();
        }

        /// <summary>
        /// Each CPU's order-0 frame caches (one a pool and CPU, docs/smp.md): "cached/high" for every pool
        /// large enough to have caches. Snapshots, read without the caches' locks while the CPUs go on.
        /// </summary>
        private static void CacheFill()
        {
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            for (int i = 0; i < Smp.Count && i < pm->MaxCpus; i++)
            {
                Console.Write("  cpu ");
                Console.Write(i);
                Console.Write(" frame caches:");
                int shown = 0;
                for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
                {
                    if (pm->GetCpuCache(id, i, out int count, out int high) != MemoryStatus.Ok || high == 0)
                        continue;
                    Console.Write(shown++ == 0 ? " " : ", ");
                    MemoryText.PoolName(ConsoleOut.Instance, pm, id);
                    Console.Write(" ");
                    Console.Write(count);
                    Console.Write("/");
                    Console.Write(high);
                }
                Console.WriteLine(shown == 0 ? " none (no pool large enough)" : "");
            }
        }

        private static string StateName(CpuState state) => state switch
        {
            CpuState.Offline => "offline",
            CpuState.Starting => "starting",
            CpuState.Online => "online",
            CpuState.NoAnswer => "no answer",
            CpuState.Stopped => "stopped",
            _ => "?",
        };

        private static void FaultHere(ulong argument) => Cpu.FaultPage();

        /// <summary>How long `cpu N irqalloc` waits for the CPU's next timer interrupt (ten periods at 100 Hz).</summary>
        private const int IrqAllocTimeoutMilliseconds = 100;

        /// <summary>
        /// Arms <see cref="IrqAllocTest"/> on CPU <paramref name="n"/>, waits (bounded) for its timer
        /// interrupt to run it, and prints what it got:
        /// `cpu N irqalloc: page 0x... and heap block 0x... (node K) allocated and freed in the timer interrupt`.
        /// </summary>
        private static void IrqAlloc(int n)
        {
            PerCpu* cpu = Smp.Get(n);
            if (cpu->State != CpuState.Online || !Smp.TimerRunning)
            {
                Console.Write("cpu ");
                Console.Write(n);
                Console.WriteLine(" is not online or has no timer; nothing run");
                return;
            }
            cpu->IrqAllocPending = 1;
            for (int ms = 0; ms < IrqAllocTimeoutMilliseconds && cpu->IrqAllocPending != 0; ms++)
                Pit.Wait(1000);
            Console.Write("cpu ");
            Console.Write(n);
            if (cpu->IrqAllocPending != 0)
            {
                cpu->IrqAllocPending = 0;
                Console.Write(" irqalloc: FAILED no timer interrupt within ");
                Console.Write(IrqAllocTimeoutMilliseconds);
                Console.WriteLine(" ms");
                return;
            }
            if (cpu->IrqAllocPfn == 0 || cpu->IrqAllocHeap == 0 || cpu->IrqAllocFreeStatus != 0)
            {
                Console.Write(" irqalloc: FAILED page pfn ");
                Console.WriteHex(cpu->IrqAllocPfn);
                Console.Write(", heap block ");
                Console.WriteHex(cpu->IrqAllocHeap);
                Console.Write(", free statuses ");
                Console.WriteHex((ulong)cpu->IrqAllocFreeStatus);
                Console.WriteLine();
                return;
            }
            Console.Write(" irqalloc: page ");
            Console.WriteHex(cpu->IrqAllocPfn << 12);
            Console.Write(" and heap block ");
            Console.WriteHex(cpu->IrqAllocHeap);
            Console.Write(" (node ");
            Console.Write(cpu->IrqAllocHeapNode);
            Console.WriteLine(") allocated and freed in the timer interrupt");
            if (cpu->IrqAllocRtPool >= 0)
                IrqAllocRealtimeLine(n, cpu);
            IrqAllocObjectLine(n, cpu);
        }

        /// <summary>
        /// The last line: `cpu N irqalloc: a managed object made in the timer interrupt, charged to the kernel, is in the
        /// kernel's heap (the interrupted code acted as web)`; whom the handler's objects are charged to, whose heap actually
        /// holds the object, and what the CPU acted as when the interrupt came (docs/containers.md, "Who acts as a container").
        /// </summary>
        private static void IrqAllocObjectLine(int n, PerCpu* cpu)
        {
            Console.Write("cpu ");
            Console.Write(n);
            Console.Write(" irqalloc: a managed object made in the timer interrupt, charged to ");
            Heap.ContainerArenas.WriteObjectOwner(cpu->IrqAllocObjectOwner);
            if (cpu->IrqAllocObjectHeap == FrameOwner.None)
                Console.Write(", is in no heap");
            else if (cpu->IrqAllocObjectHeap == Owners.Kernel)
                Console.Write(", is in the kernel's heap");
            else
            {
                Console.Write(", is in ");
                Heap.ContainerArenas.WriteName(cpu->IrqAllocObjectHeap);
                Console.Write("'s heap arena");
            }
            Console.Write(" (the interrupted code acted as ");
            Heap.ContainerArenas.WriteObjectOwner(cpu->IrqAllocActing);
            Console.WriteLine(")");
        }

        /// <summary>
        /// The second line when a realtime pool exists (docs/realtime.md):
        /// `cpu N irqalloc: realtime pool NAME orders 0-3 allocated and freed in the timer interrupt, steps max S (bound B)`,
        /// or a FAILED line with the orders served and the first refusal.
        /// </summary>
        private static void IrqAllocRealtimeLine(int n, PerCpu* cpu)
        {
            Console.Write("cpu ");
            Console.Write(n);
            Console.Write(" irqalloc: realtime pool ");
            PhysicalMemoryOwner.GetPoolProperties(new PoolId((byte)cpu->IrqAllocRtPool), out PoolProperties props);
            MemoryText.PoolName(ConsoleOut.Instance, props);
            ulong bound = PhysicalMemoryOwner.RealtimeStepBound;
            if (cpu->IrqAllocRtOrders != 0xF || cpu->IrqAllocRtStatus != 0 || cpu->IrqAllocRtSteps > bound)
            {
                Console.Write(" FAILED orders served ");
                Console.WriteHex((ulong)cpu->IrqAllocRtOrders);
                Console.Write(", status ");
                Console.Write(cpu->IrqAllocRtStatus);
                Console.Write(", steps max ");
                Console.Write(cpu->IrqAllocRtSteps);
                Console.Write(" (bound ");
                Console.Write(bound);
                Console.WriteLine(")");
                return;
            }
            Console.Write(" orders 0-3 allocated and freed in the timer interrupt, steps max ");
            Console.Write(cpu->IrqAllocRtSteps);
            Console.Write(" (bound ");
            Console.Write(bound);
            Console.WriteLine(")");
        }

        private static void CpuCommand(ref ShellLine line)
        {
            if (Smp.Count == 0)
            {
                Console.WriteLine("cpu: the CPUs are not started");
                return;
            }
            if (!line.Arg(1, "N", 0, (ulong)(Smp.Count - 1), out ulong n))
                return;
            if (line.WordIs(2, "irqalloc") && line.WordCount == 3)
            {
                IrqAlloc((int)n);
                return;
            }
            if (!line.WordIs(2, "fault") || line.WordCount != 3)
            {
                Console.WriteLine("cpu: usage: cpu N fault|irqalloc");
                return;
            }
            Console.Write("cpu ");
            Console.Write(n);
            Console.WriteLine(": page fault on purpose");
            if (!Smp.RunOn((int)n, &FaultHere, 0))
            {
                Console.Write("cpu ");
                Console.Write(n);
                Console.WriteLine(" is not online; nothing run");
            }
        }
    }
}
