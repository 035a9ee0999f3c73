using System;
using System.Threading;
using PoolKernel.Boot.Reports;
using PoolKernel.Heap;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;
using PoolKernel.Runtime;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>
    /// `rtbench [N]` (docs/realtime.md): N seeded allocations and frees (orders 0-3, at most
    /// <see cref="MaxHeld"/> blocks held) on the first realtime pool, as the kernel's owner, each timed alone in
    /// TSC ticks, with the timer interrupt running and, when the other CPUs are up, those CPUs running the
    /// `stress` sequence at the same time (<see cref="StressTest.Run(ulong, ulong, delegate*{ulong, void}, ulong)"/>).
    /// Prints one line: `rtbench: N ops on POOL (cpu C, timer on|off, stress on K other CPUs): min A median B
    /// p99.9 C max D ticks; steps max S (bound B)`, after the stress lines when stress ran. Percentiles come
    /// from a histogram exact below <see cref="ExactTicks"/> ticks and to a power of two above (the bucket's
    /// lower end); min and max are exact. Afterwards the pool's free frames must be what they were and the
    /// checker clean, else a FAILED line.
    /// </summary>
    internal static unsafe class RtBench
    {
        private const ulong DefaultOperations = 100000;
        /// <summary>The most operations (minutes under QEMU's TCG).</summary>
        private const ulong MaxOperations = 10000000;
        /// <summary>Blocks held at most: the sequence keeps the pool partly used, with a cache that fills and drains.</summary>
        private const int MaxHeld = 256;
        /// <summary>Ticks counted one by one in the histogram; larger ones by power of two.</summary>
        private const int ExactTicks = 16384;
        private const int LogBuckets = 64;

        private struct Block
        {
            public ulong Pfn;
            public int Order;
        }

        /// <summary>What the measuring CPU is given and fills in.</summary>
        private struct Run
        {
            public PoolId Pool;
            public ulong Operations;
            public ulong Seed;
            public Block* Held;
            public uint* Exact;
            public ulong* Log;
            public ulong Min, Max, Counted;
            public int Cpu;
            /// <summary>0, or the status of the first refused call other than OutOfMemory.</summary>
            public MemoryStatus Failed;
            public ulong OutOfMemory;
            /// <summary>Nonzero on the realtime CPU (`rtbench N rtcpu CMD`): go on past Operations until <see cref="Stop"/> (at most MaxOperations).</summary>
            public int UntilStopped;
            /// <summary>Set by the shell's CPU when its command has ended.</summary>
            public int Stop;
        }

        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "rtbench", "rtbench [N [check]] | rtbench N rtcpu CMD... | rtbench hold CMD...: N (default 100000) timed alloc/free operations, orders 0-3, on the first realtime pool with the timer on and the other CPUs running stress (with check: another CPU running the checker in a loop; with rtcpu: on the realtime CPU while this CPU runs CMD, e.g. gcstress 64); min, median, p99.9, max ticks and the most realtime steps; with hold: another CPU holds the realtime pool's locks as its realtime path does while this CPU runs CMD (did CMD end under the hold?)", &Command);
        }

        private static void Command(ref ShellLine line)
        {
            if (line.WordIs(2, "rtcpu"))
            {
                OnRealtimeCpu(ref line);
                return;
            }
            if (line.WordIs(1, "hold"))
            {
                HoldWhile(ref line);
                return;
            }
            if (line.WordIs(1, "heap"))
            {
                if (line.NoMoreArgs(2))
                    BreakTheContract();
                return;
            }
            if (!line.OptionalArg(1, "N", 1, MaxOperations, DefaultOperations, out ulong operations))
                return;
            bool checkMode = line.WordCount > 2 && line.WordIs(2, "check");
            if (!line.NoMoreArgs(checkMode ? 3 : 2))
                return;
            PoolId pool = PhysicalMemoryOwner.FirstRealtimePool();
            if (pool.IsNone)
            {
                Console.WriteLine("rtbench: no realtime pool (boot with pool=NAME:SIZE,rt); nothing run");
                return;
            }
            Run run = default;
            run.Pool = pool;
            run.Operations = operations;
            run.Seed = 1;
            run.Held = (Block*)KernelHeapGlue.Alloc((nuint)(sizeof(Block) * MaxHeld), 8);
            run.Exact = (uint*)KernelHeapGlue.Alloc((nuint)(sizeof(uint) * ExactTicks), 8);
            run.Log = (ulong*)KernelHeapGlue.Alloc((nuint)(sizeof(ulong) * LogBuckets), 8);
            if (run.Held == null || run.Exact == null || run.Log == null)
            {
                Console.WriteLine("rtbench: no memory for the histogram; nothing run");
                Release(ref run);
                return;
            }
            for (int i = 0; i < ExactTicks; i++)
                run.Exact[i] = 0;
            for (int i = 0; i < LogBuckets; i++)
                run.Log[i] = 0;
            PhysicalMemoryOwner.GetPoolStats(pool, out PoolStats before);
            int others = Smp.Started ? Smp.OnlineCount - 1 : 0;
            CheckLoop loop = default;
            int checker = -1;
            if (checkMode)
            {
                checker = OtherOnlineCpu();
                if (checker < 0)
                {
                    Console.WriteLine("rtbench: check needs another online CPU to run the checker; nothing run");
                    Release(ref run);
                    return;
                }
                PhysicalMemoryOwner.ResetRealtimeAdminHold();
                Smp.Post(checker, &CheckUntilStopped, (ulong)&loop);
                Measure((ulong)&run);
                Volatile.Write(ref loop.Stop, 1);
                Smp.WaitForWork(checker);
            }
            else if (others > 0)
                StressTest.Run(operations, 1, &Measure, (ulong)&run);
            else
                Measure((ulong)&run);
            PhysicalMemoryOwner.GetPoolStats(pool, out PoolStats after);
            InvariantReport check = PhysicalMemoryOwner.Check();
            RealtimeSteps steps = PhysicalMemoryOwner.GetRealtimeSteps(run.Cpu);

            Console.Write("rtbench: ");
            Console.Write(operations);
            Console.Write(" ops on ");
            PhysicalMemoryOwner.GetPoolProperties(pool, out PoolProperties props);
            MemoryText.PoolName(ConsoleOut.Instance, props);
            Console.Write(" (cpu ");
            Console.Write(run.Cpu);
            if (checkMode)
            {
                Console.Write(Smp.TimerRunning ? ", timer on, check on cpu " : ", timer off, check on cpu ");
                Console.Write(checker);
                Console.Write("): min ");
            }
            else
            {
                Console.Write(Smp.TimerRunning ? ", timer on, stress on " : ", timer off, stress on ");
                Console.Write(others);
                Console.Write(" other CPUs): min ");
            }
            Console.Write(run.Min);
            Console.Write(" median ");
            Console.Write(Percentile(ref run, 500));
            Console.Write(" p99.9 ");
            Console.Write(Percentile(ref run, 999));
            Console.Write(" max ");
            Console.Write(run.Max);
            Console.Write(" ticks; steps max ");
            Console.Write(steps.Max);
            Console.Write(" (bound ");
            Console.Write(PhysicalMemoryOwner.RealtimeStepBound);
            Console.Write("); ");
            Console.Write(run.OutOfMemory);
            Console.WriteLine(" out of memory");
            if (checkMode)
                ReportCheckLoop(ref loop, checker);
            if (run.Failed != MemoryStatus.Ok || !check.IsOk || !check.NotChecked.IsEmpty || after.FreePages != before.FreePages || loop.Broken != 0)
            {
                MemoryText.Report(ConsoleOut.Instance, check);
                Console.Write("rtbench: FAILED (status ");
                Console.Write(MemoryText.Status(run.Failed));
                Console.Write("; free frames before ");
                Console.Write(before.FreePages);
                Console.Write(", after ");
                Console.Write(after.FreePages);
                Console.WriteLine(")");
            }
            Release(ref run);
        }

        /// <summary>
        /// `rtbench N rtcpu CMD...` (docs/realtime.md "The realtime CPU"): the measuring loop runs on the realtime CPU
        /// (<see cref="RealtimeCpu"/>, posted with <see cref="Smp.PostRealtime"/>: raw pages from the realtime pool, TSC
        /// reads, the histogram in raw memory allocated here, no heap call), for at least N operations and until CMD,
        /// run meanwhile on this CPU (`gcstress 64`: collections that park every other CPU), has ended. Prints CMD's
        /// lines, then one `rtbench:` line with the operations run, the distribution, the most steps, the collections
        /// that ran meanwhile and how many times they parked the realtime CPU (0 is the contract), and the process-wide
        /// barriers (cache freezes: drains, compaction, the collector's locks) sent to it meanwhile (0: it takes its
        /// caches' locks, <see cref="PhysicalMemory.UseLockedCaches"/>).
        /// </summary>
        private static void OnRealtimeCpu(ref ShellLine line)
        {
            if (!line.Arg(1, "N", 1, MaxOperations, out ulong operations))
                return;
            if (line.WordCount < 4)
            {
                Console.WriteLine("usage: rtbench N rtcpu CMD... (CMD runs on this CPU meanwhile, e.g. gcstress 64)");
                return;
            }
            int cpu = RealtimeCpu.Number;
            if (cpu < 0)
            {
                Console.WriteLine("rtbench: no realtime CPU (boot with rtcpu=N); nothing run");
                return;
            }
            PoolId pool = PhysicalMemoryOwner.FirstRealtimePool();
            if (pool.IsNone)
            {
                Console.WriteLine("rtbench: no realtime pool (boot with pool=NAME:SIZE,rt); nothing run");
                return;
            }
            // In raw memory, not this frame: if CMD ends the command through the recovery point, the realtime CPU
            // still writes here until it stops (at MaxOperations); the block is then left to it.
            Run* run = (Run*)KernelHeapGlue.Alloc((nuint)sizeof(Run), 8);
            if (run == null)
            {
                Console.WriteLine("rtbench: no memory for the run; nothing run");
                return;
            }
            *run = default;
            run->Pool = pool;
            run->Operations = operations;
            run->Seed = 1;
            run->UntilStopped = 1;
            run->Held = (Block*)KernelHeapGlue.Alloc((nuint)(sizeof(Block) * MaxHeld), 8);
            run->Exact = (uint*)KernelHeapGlue.Alloc((nuint)(sizeof(uint) * ExactTicks), 8);
            run->Log = (ulong*)KernelHeapGlue.Alloc((nuint)(sizeof(ulong) * LogBuckets), 8);
            if (run->Held == null || run->Exact == null || run->Log == null)
            {
                Console.WriteLine("rtbench: no memory for the histogram; nothing run");
                Release(ref *run);
                KernelHeapGlue.Free(run);
                return;
            }
            PhysicalMemoryOwner.GetPoolStats(pool, out PoolStats before);
            PerCpu* rt = Smp.Get(cpu);
            ulong parksBefore = rt->Parks;
            int barriersBefore = System.Threading.Volatile.Read(ref rt->BarrierNmis);
            ulong collectionsBefore = Gc.Collections;
            if (!Smp.PostRealtime(cpu, &Measure, (ulong)run))
            {
                Console.WriteLine("rtbench: the realtime CPU is still running earlier work; nothing run");
                Release(ref *run);
                KernelHeapGlue.Free(run);
                return;
            }
            ShellLine command = default;
            command.SetFromWord(ref line, 3);
            bool known = Commands.TryRun(ref command);
            System.Threading.Volatile.Write(ref run->Stop, 1);
            Smp.WaitForWork(cpu);
            ulong collections = Gc.Collections - collectionsBefore;
            ulong parks = rt->Parks - parksBefore;
            int barriers = System.Threading.Volatile.Read(ref rt->BarrierNmis) - barriersBefore;
            PhysicalMemoryOwner.GetPoolStats(pool, out PoolStats after);
            InvariantReport check = PhysicalMemoryOwner.Check();
            RealtimeSteps steps = PhysicalMemoryOwner.GetRealtimeSteps(cpu);
            if (!known)
            {
                Console.Write("rtbench: unknown command '");
                command.WriteWord(0);
                Console.WriteLine("' (the realtime CPU ran meanwhile all the same)");
            }
            Console.Write("rtbench: ");
            Console.Write(run->Counted);
            Console.Write(" ops on ");
            PhysicalMemoryOwner.GetPoolProperties(pool, out PoolProperties props);
            MemoryText.PoolName(ConsoleOut.Instance, props);
            Console.Write(" (cpu ");
            Console.Write(run->Cpu);
            Console.Write(", the realtime CPU, timer ");
            Console.Write(Smp.TimerRunning ? "on" : "off");
            Console.Write(", while cpu ");
            Console.Write(Smp.CurrentNumber);
            Console.Write(" ran '");
            for (int w = 0; w < command.WordCount; w++)
            {
                if (w > 0)
                    Console.Write(' ');
                command.WriteWord(w);
            }
            Console.Write("'): min ");
            Console.Write(run->Min);
            Console.Write(" median ");
            Console.Write(Percentile(ref *run, 500));
            Console.Write(" p99.9 ");
            Console.Write(Percentile(ref *run, 999));
            Console.Write(" max ");
            Console.Write(run->Max);
            Console.Write(" ticks; steps max ");
            Console.Write(steps.Max);
            Console.Write(" (bound ");
            Console.Write(PhysicalMemoryOwner.RealtimeStepBound);
            Console.Write("); ");
            Console.Write(run->OutOfMemory);
            Console.Write(" out of memory; ");
            Console.Write(collections);
            Console.Write(" collections meanwhile parked it ");
            Console.Write(parks);
            Console.Write(" times; ");
            Console.Write(barriers);
            Console.WriteLine(" barrier NMIs reached it");
            if (run->Failed != MemoryStatus.Ok || !check.IsOk || after.FreePages != before.FreePages)
            {
                MemoryText.Report(ConsoleOut.Instance, check);
                Console.Write("rtbench: FAILED (status ");
                Console.Write(MemoryText.Status(run->Failed));
                Console.Write("; free frames before ");
                Console.Write(before.FreePages);
                Console.Write(", after ");
                Console.Write(after.FreePages);
                Console.WriteLine(")");
            }
            Release(ref *run);
            KernelHeapGlue.Free(run);
        }

        /// <summary>
        /// How long the holding CPU of `rtbench hold` keeps the realtime pool's locks at most, in TSC ticks (2^40: minutes at
        /// any TSC rate QEMU or a machine gives, so that a command slowed by a loaded host still ends under the hold): a
        /// command that waits for them ends after the hold, not never, and the line says so.
        /// </summary>
        private const ulong HoldTicks = 1UL << 40;

        /// <summary>What the holding CPU of `rtbench hold` is given and fills in.</summary>
        private struct Hold
        {
            public PoolId Pool;
            /// <summary>Set by the holder once it holds the locks.</summary>
            public int Held;
            /// <summary>Set by the shell's CPU when its command has ended.</summary>
            public int Stop;
            /// <summary>Set by the holder: 1 when it saw <see cref="Stop"/> while holding, 0 when the hold ran out first.</summary>
            public int EndedUnderHold;
        }

        /// <summary>
        /// `rtbench hold CMD...` (docs/realtime.md, "Administration"): another online CPU (not the realtime CPU) takes the first realtime pool's
        /// locks as that pool's realtime path takes them (the pool's and the CPU's cache lock) and keeps them until CMD,
        /// run meanwhile on this CPU, has ended, or <see cref="HoldTicks"/> ticks have passed. Prints CMD's lines, then
        /// `rtbench hold: cpu H held POOL's locks while cpu C ran 'CMD': it ended under the hold` when CMD took none
        /// of the realtime pool's locks, or `...: the hold ran out first (it waited for the realtime pool's locks)`.
        /// Refused: no realtime pool, no other online CPU (nothing run).
        /// </summary>
        private static void HoldWhile(ref ShellLine line)
        {
            if (line.WordCount < 3)
            {
                Console.WriteLine("usage: rtbench hold CMD... (CMD runs on this CPU while another holds the realtime pool's locks)");
                return;
            }
            PoolId pool = PhysicalMemoryOwner.FirstRealtimePool();
            if (pool.IsNone)
            {
                Console.WriteLine("rtbench: no realtime pool (boot with pool=NAME:SIZE,rt); nothing run");
                return;
            }
            int holder = -1;
            for (int c = 0; c < Smp.Count && holder < 0 && Smp.Started; c++)
            {
                PerCpu* cpu = Smp.Get(c);
                if (cpu != null && cpu != Smp.Current && cpu->State == CpuState.Online && !RealtimeCpu.Is(c))
                    holder = c;
            }
            if (holder < 0)
            {
                Console.WriteLine("rtbench hold: needs another online CPU, not the realtime CPU, to hold the locks; nothing run");
                return;
            }
            Hold hold = default;
            hold.Pool = pool;
            if (!Smp.Post(holder, &HoldUntilStopped, (ulong)&hold))
            {
                Console.WriteLine("rtbench hold: the other CPU is still running earlier work; nothing run");
                return;
            }
            while (Volatile.Read(ref hold.Held) == 0)
                Cpu.Pause();
            ShellLine command = default;
            command.SetFromWord(ref line, 2);
            bool known = Commands.TryRun(ref command);
            Volatile.Write(ref hold.Stop, 1);
            Smp.WaitForWork(holder);
            if (!known)
            {
                Console.Write("rtbench hold: unknown command '");
                command.WriteWord(0);
                Console.WriteLine("'");
            }
            Console.Write("rtbench hold: cpu ");
            Console.Write(holder);
            Console.Write(" held ");
            PhysicalMemoryOwner.GetPoolProperties(pool, out PoolProperties props);
            MemoryText.PoolName(ConsoleOut.Instance, props);
            Console.Write("'s locks while cpu ");
            Console.Write(Smp.CurrentNumber);
            Console.Write(" ran '");
            for (int w = 0; w < command.WordCount; w++)
            {
                if (w > 0)
                    Console.Write(' ');
                command.WriteWord(w);
            }
            Console.WriteLine(hold.EndedUnderHold != 0 ? "': it ended under the hold" : "': the hold ran out first (it waited for the realtime pool's locks)");
        }

        /// <summary>Posted to the holding CPU: the realtime path's locks, kept until <see cref="Hold.Stop"/> or <see cref="HoldTicks"/> ticks.</summary>
        private static void HoldUntilStopped(ulong argument)
        {
            Hold* hold = (Hold*)argument;
            ulong state = PhysicalMemoryOwner.HoldRealtimePath(hold->Pool);
            Volatile.Write(ref hold->Held, 1);
            ulong start = Cpu.ReadTsc();
            while (Volatile.Read(ref hold->Stop) == 0 && Cpu.ReadTsc() - start < HoldTicks)
                Cpu.Pause();
            hold->EndedUnderHold = Volatile.Read(ref hold->Stop);
            PhysicalMemoryOwner.UnholdRealtimePath(hold->Pool, state);
        }

        /// <summary>Where <see cref="MakeAnObject"/> keeps what it made (so the allocation is not optimised away).</summary>
        private static object s_madeOnRealtimeCpu;

        /// <summary>
        /// `rtbench heap` (a test command): the realtime CPU is given work that breaks its contract, a managed object;
        /// the heap refuses it and the machine stops (panic, status 35) naming the CPU. Refused without a realtime CPU.
        /// </summary>
        private static void BreakTheContract()
        {
            int cpu = RealtimeCpu.Number;
            if (cpu < 0)
            {
                Console.WriteLine("rtbench heap: no realtime CPU (boot with rtcpu=N); nothing run");
                return;
            }
            Console.Write("rtbench heap: cpu ");
            Console.Write(cpu);
            Console.WriteLine(", the realtime CPU, makes a managed object");
            if (Smp.PostRealtime(cpu, &MakeAnObject, 0))
                Smp.WaitForWork(cpu);
            Console.WriteLine("rtbench heap: the object was made: the contract was not enforced");
        }

        private static void MakeAnObject(ulong argument)
        {
            s_madeOnRealtimeCpu = new byte[16];
        }

        /// <summary>What the checking CPU of `rtbench N check` counts: checker runs, clean, busy (a realtime pool not checked), broken.</summary>
        private struct CheckLoop
        {
            public int Stop;
            public ulong Runs, Clean, Busy, Broken;
            public InvariantReport FirstBroken;
        }

        /// <summary>The first online CPU other than this one, or -1.</summary>
        private static int OtherOnlineCpu()
        {
            if (!Smp.Started)
                return -1;
            for (int c = 0; c < Smp.Count; c++)
            {
                PerCpu* cpu = Smp.Get(c);
                if (cpu != null && cpu != Smp.Current && cpu->State == CpuState.Online)
                    return c;
            }
            return -1;
        }

        /// <summary>Posted to the checking CPU: the pools' checker again and again until the measuring CPU is done (<see cref="CheckLoop.Stop"/>).</summary>
        private static void CheckUntilStopped(ulong argument)
        {
            CheckLoop* loop = (CheckLoop*)argument;
            while (Volatile.Read(ref loop->Stop) == 0)
            {
                InvariantReport report = PhysicalMemoryOwner.Check();
                loop->Runs++;
                if (!report.IsOk)
                {
                    if (loop->Broken++ == 0)
                        loop->FirstBroken = report;
                }
                else if (!report.NotChecked.IsEmpty)
                    loop->Busy++;
                else
                    loop->Clean++;
            }
        }

        /// <summary>`rtbench: check on cpu C meanwhile: R runs, A clean, B busy, K broken; longest realtime-lock section S steps (bound X)`, and the first breach.</summary>
        private static void ReportCheckLoop(ref CheckLoop loop, int cpu)
        {
            Console.Write("rtbench: check on cpu ");
            Console.Write(cpu);
            Console.Write(" meanwhile: ");
            Console.Write(loop.Runs);
            Console.Write(" runs, ");
            Console.Write(loop.Clean);
            Console.Write(" clean, ");
            Console.Write(loop.Busy);
            Console.Write(" busy (realtime pool not checked), ");
            Console.Write(loop.Broken);
            Console.Write(" broken; longest realtime-lock section ");
            Console.Write(PhysicalMemoryOwner.RealtimeAdminHoldMax);
            Console.Write(" steps (bound ");
            Console.Write(PhysicalMemoryOwner.AdminSectionSteps);
            Console.WriteLine(")");
            if (loop.Broken != 0)
                MemoryText.Report(ConsoleOut.Instance, loop.FirstBroken);
        }

        private static void Release(ref Run run)
        {
            if (run.Held != null)
                KernelHeapGlue.Free(run.Held);
            if (run.Exact != null)
                KernelHeapGlue.Free(run.Exact);
            if (run.Log != null)
                KernelHeapGlue.Free(run.Log);
        }

        /// <summary>The measuring CPU's loop (this CPU, while the others stress): every call timed alone, then all freed.</summary>
        private static void Measure(ulong argument)
        {
            Run* run = (Run*)argument;
            run->Cpu = Smp.CurrentNumber;
            PhysicalMemoryOwner.ResetRealtimeSteps(run->Cpu);
            run->Min = ulong.MaxValue;
            ulong state = run->Seed * 0x9E3779B97F4A7C15UL + 1;
            int held = 0;
            for (ulong op = 0; run->Failed == MemoryStatus.Ok && (op < run->Operations ||
                (run->UntilStopped != 0 && op < MaxOperations && System.Threading.Volatile.Read(ref run->Stop) == 0)); op++)
            {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ulong start, ticks;
                if (held == 0 || (held < MaxHeld && (state & 1) == 0))
                {
                    int order = (int)((state >> 8) & 3);
                    start = Cpu.ReadTsc();
                    MemoryStatus status = PhysicalMemoryOwner.AllocateRealtime(run->Pool, new Order(order), Owners.Kernel, out Pfn pfn);
                    ticks = Cpu.ReadTsc() - start;
                    if (status == MemoryStatus.Ok)
                    {
                        run->Held[held].Pfn = pfn.Value;
                        run->Held[held].Order = order;
                        held++;
                    }
                    else if (status == MemoryStatus.OutOfMemory)
                        run->OutOfMemory++;
                    else
                        run->Failed = status;
                }
                else
                {
                    int victim = (int)((state >> 16) % (ulong)held);
                    Block b = run->Held[victim];
                    run->Held[victim] = run->Held[--held];
                    start = Cpu.ReadTsc();
                    MemoryStatus status = PhysicalMemoryOwner.FreeRealtime(new Pfn(b.Pfn), new Order(b.Order), Owners.Kernel);
                    ticks = Cpu.ReadTsc() - start;
                    if (status != MemoryStatus.Ok)
                        run->Failed = status;
                }
                Count(run, ticks);
            }
            while (held > 0)
            {
                held--;
                MemoryStatus status = PhysicalMemoryOwner.FreeRealtime(new Pfn(run->Held[held].Pfn), new Order(run->Held[held].Order), Owners.Kernel);
                if (status != MemoryStatus.Ok && run->Failed == MemoryStatus.Ok)
                    run->Failed = status;
            }
        }

        private static void Count(Run* run, ulong ticks)
        {
            if (ticks < run->Min)
                run->Min = ticks;
            if (ticks > run->Max)
                run->Max = ticks;
            run->Counted++;
            if (ticks < ExactTicks)
                run->Exact[ticks]++;
            else
                run->Log[63 - (int)System.Numerics.BitOperations.LeadingZeroCount(ticks)]++;
        }

        /// <summary>The tick count at <paramref name="perMille"/> of the counted operations (exact below <see cref="ExactTicks"/>, a power of two above).</summary>
        private static ulong Percentile(ref Run run, ulong perMille)
        {
            if (run.Counted == 0)
                return 0;
            ulong rank = (run.Counted * perMille + 999) / 1000;
            ulong seen = 0;
            for (int t = 0; t < ExactTicks; t++)
            {
                seen += run.Exact[t];
                if (seen >= rank)
                    return (ulong)t;
            }
            for (int k = 0; k < LogBuckets; k++)
            {
                seen += run.Log[k];
                if (seen >= rank)
                    return 1UL << k;
            }
            return run.Max;
        }
    }
}
