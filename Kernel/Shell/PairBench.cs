using System;
using PoolKernel.Startup;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>
    /// `membench [PAIRS]`: the host benchmark's allocation/free pairs measured inside the kernel, in
    /// TSC ticks per pair, on every online CPU in turn (each alone; the boot CPU's rows as a table,
    /// each other CPU's as one line): order 0 from a named pool (the one an unconstrained request on
    /// that CPU's node gets), order 0 by pool choice, order 9 from the named pool, and an order-0
    /// DMA32 block that must not cross 64 KiB. Each row is one timed loop of PAIRS pairs (default 20,000),
    /// not a timer read per call. The same-run baseline is the loop with no allocator call
    /// (`empty`), so the rows read as ratios of work over loop cost. Under QEMU's TCG the TSC counts
    /// emulated time: compare rows with each other, not with the host numbers. Every pair's result is
    /// checked; afterwards free pages must equal what they were and the invariant checker must pass.
    /// The calls go through <see cref="PhysicalMemoryOwner"/>, as every kernel caller's do.
    /// </summary>
    internal static unsafe class PairBench
    {
        private const ulong DefaultPairs = 20000;

        /// <summary>The most pairs a row (a row of 10^8 pairs already takes minutes under TCG).</summary>
        private const ulong MaxPairs = 100000000;

        /// <summary>The rows, in order: the empty loop, then the pair kinds.</summary>
        private const int Rows = 5;

        private static string RowName(int row) => row switch
        {
            0 => "empty",
            1 => "order0_named",
            2 => "order0_choice",
            3 => "order9_named",
            _ => "order0_dma32_64k",
        };

        /// <summary>One CPU's run: written by that CPU (posted to it, or the boot CPU's own), read by the boot CPU after.</summary>
        private struct Measurement
        {
            public ulong Pairs;
            public int Cpu, Node;
            public bool Ran;
            /// <summary>The pool an unconstrained request on this CPU's node gets (the named rows'); -1: no frame to start from.</summary>
            public int Pool;
            /// <summary>Ticks per pair of each row (<see cref="RowName"/>); rows after a failed one stay 0.</summary>
            public fixed ulong Ticks[Rows];
            /// <summary>0, or the failed row's index + 1, with the status or the pfn that broke its rules.</summary>
            public int FailedRow;
            public MemoryStatus Status;
            public ulong BadPfn;
        }

        internal static void Run(ref ShellLine line)
        {
            if (!line.OptionalArg(1, "PAIRS", 1, MaxPairs, DefaultPairs, out ulong pairs) || !line.NoMoreArgs(2))
                return;
            int cpus = Smp.Started ? Smp.Count : 1;
            Measurement* runs = (Measurement*)Heap.KernelHeapGlue.Alloc((nuint)(sizeof(Measurement) * cpus), 8);
            if (runs == null)
                return;
            ulong freeBefore = PhysicalMemoryOwner.GetTotals().FreePages;
            // Each online CPU in turn, alone: the others idle, so a row measures that CPU's path to its
            // node's pool, not contention (stress measures CPUs at once).
            int self = Smp.CurrentNumber;
            for (int i = 0; i < cpus; i++)
            {
                Measurement* m = &runs[i];
                m->Pairs = pairs;
                m->Cpu = i;
                PerCpu* area = Smp.Get(i);
                m->Node = area != null ? area->Node : Startup.Machine.CpuNodeOfBoot;
                if (i == self)
                {
                    m->Ran = true;
                    Measure((ulong)m);
                }
                else if (Smp.Post(i, &Measure, (ulong)m))
                {
                    m->Ran = true;
                    Smp.WaitForWork(i);
                }
            }

            bool ok = true;
            for (int i = 0; i < cpus; i++)
            {
                Measurement* m = &runs[i];
                if (!m->Ran)
                    continue;
                if (m->Pool < 0)
                {
                    Console.Write("membench: ");
                    if (i != self)
                    {
                        Console.Write("cpu ");
                        Console.Write(i);
                        Console.Write(": ");
                    }
                    Console.WriteLine("no order-0 frame to start from");
                    ok = false;
                    continue;
                }
                if (i == self)
                    PrintRows(m);
                else
                    PrintLine(m);
                ok &= m->FailedRow == 0;
            }
            Heap.KernelHeapGlue.Free(runs);

            ulong freeAfter = PhysicalMemoryOwner.GetTotals().FreePages;
            InvariantReport report = PhysicalMemoryOwner.Check();
            HeapCheckReport heapReport = Heap.KernelHeapGlue.Check();
            if (ok && freeAfter == freeBefore && report.IsOk && heapReport.IsOk)
            {
                Console.WriteLine("membench: ok, free pages unchanged, pool and heap checkers clean");
                return;
            }
            HeapCommands.Report(heapReport);
            Console.Write("membench: FAILED free pages ");
            Console.Write(freeAfter);
            Console.Write(" (before ");
            Console.Write(freeBefore);
            Console.WriteLine(")");
            MemoryText.Report(ConsoleOut.Instance, report);
        }

        /// <summary>The rows on the running CPU (<see cref="Smp.Post"/>'s work, or called directly); prints nothing (only the boot CPU prints).</summary>
        private static void Measure(ulong argument)
        {
            Measurement* m = (Measurement*)argument;
            AllocRequest any = AllocRequest.Any;
            any.PreferredNode = (byte)m->Node;
            any.Owner = Owners.Shell;
            if (PhysicalMemoryOwner.Allocate(new Order(0), any, out Pfn probe) != MemoryStatus.Ok)
            {
                m->Pool = -1;
                return;
            }
            PoolId pool = PhysicalMemoryOwner.PoolOf(probe);
            PhysicalMemoryOwner.Free(probe, new Order(0), Owners.Shell);
            m->Pool = pool.Value;
            AllocRequest named = AllocRequest.InPool(pool);
            named.Owner = Owners.Shell;
            AllocRequest dma = AllocRequest.Dma(32);
            dma.Owner = Owners.Shell;
            dma.Boundary = 64 * 1024;
            m->Ticks[0] = Empty(m->Pairs);
            _ = Pairs(m, 1, 0, named) && Pairs(m, 2, 0, any) && Pairs(m, 3, 9, named) && Pairs(m, 4, 0, dma);
        }

        /// <summary>One timed loop of allocate + free into row <paramref name="row"/>; false (the failure recorded) if a call is refused or a result breaks its rules.</summary>
        private static bool Pairs(Measurement* m, int row, int order, in AllocRequest request)
        {
            ulong pairs = m->Pairs;
            ulong start = Cpu.ReadTsc();
            for (ulong i = 0; i < pairs; i++)
            {
                MemoryStatus s = PhysicalMemoryOwner.Allocate(new Order(order), request, out Pfn pfn);
                if (s == MemoryStatus.Ok && !BlockRules.Obeys(pfn.Value, order, request))
                {
                    m->BadPfn = pfn.Value;
                    PhysicalMemoryOwner.Free(pfn, new Order(order), request.Owner);
                    m->FailedRow = row + 1;
                    return false;
                }
                if (s == MemoryStatus.Ok)
                    s = PhysicalMemoryOwner.Free(pfn, new Order(order), request.Owner);
                if (s != MemoryStatus.Ok)
                {
                    m->Status = s;
                    m->FailedRow = row + 1;
                    return false;
                }
            }
            m->Ticks[row] = (Cpu.ReadTsc() - start) / pairs;
            return true;
        }

        /// <summary>The running CPU's rows, as membench always printed them (the header names the pool).</summary>
        private static void PrintRows(Measurement* m)
        {
            Console.Write("membench: ");
            Console.Write(m->Pairs);
            Console.Write(" pairs a row, TSC ticks per pair, pool ");
            Console.Write(m->Pool);
            Console.WriteLine();
            ulong empty = m->Ticks[0];
            for (int row = 0; row < Rows; row++)
            {
                if (m->FailedRow == row + 1)
                {
                    PrintFailure(m);
                    return;
                }
                Row(RowName(row), m->Ticks[row], empty);
            }
        }

        /// <summary>Another CPU's rows, one line: `membench: cpu N (node K, pool P): ROW T (R.Rx), ... ticks/pair, x the empty loop`.</summary>
        private static void PrintLine(Measurement* m)
        {
            Console.Write("membench: cpu ");
            Console.Write(m->Cpu);
            Console.Write(" (node ");
            Console.Write(m->Node);
            Console.Write(", pool ");
            Console.Write(m->Pool);
            Console.Write("):");
            ulong empty = m->Ticks[0];
            for (int row = 0; row < Rows && m->FailedRow != row + 1; row++)
            {
                Console.Write(row == 0 ? " " : ", ");
                Console.Write(RowName(row));
                Console.Write(' ');
                Console.Write(m->Ticks[row]);
                if (row != 0)
                {
                    ulong ratio10 = empty == 0 ? 0 : m->Ticks[row] * 10 / empty;
                    Console.Write(" (");
                    Console.Write(ratio10 / 10);
                    Console.Write('.');
                    Console.Write(ratio10 % 10);
                    Console.Write("x)");
                }
            }
            Console.WriteLine(" ticks/pair");
            if (m->FailedRow != 0)
                PrintFailure(m);
        }

        private static void PrintFailure(Measurement* m)
        {
            Console.Write("membench: ");
            if (m->Cpu != Smp.CurrentNumber)
            {
                Console.Write("cpu ");
                Console.Write(m->Cpu);
                Console.Write(": ");
            }
            Console.Write(RowName(m->FailedRow - 1));
            Console.Write(" FAILED ");
            if (m->BadPfn != 0)
            {
                Console.Write("block breaks its rules at pfn ");
                Console.WriteHex(m->BadPfn);
                Console.WriteLine();
            }
            else
            {
                Console.WriteLine(MemoryText.Status(m->Status));
            }
        }

        /// <summary>The loop with one opaque call an iteration and no allocator work: ticks per iteration.</summary>
        private static ulong Empty(ulong pairs)
        {
            ulong sink = 0;
            ulong start = Cpu.ReadTsc();
            for (ulong i = 0; i < pairs; i++)
                sink = Opaque(sink + i);
            return (Cpu.ReadTsc() - start) / pairs;
        }

        /// <summary>Not inlined, so the compiler keeps the empty loop.</summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static ulong Opaque(ulong v) { return v; }

        private static void Row(string name, ulong perPair, ulong empty)
        {
            Console.Write("  ");
            Console.Write(name);
            for (int i = name.Length; i < 18; i++)
                Console.Write(' ');
            Console.Write(perPair);
            Console.Write(" ticks/pair  ");
            ulong ratio10 = empty == 0 ? 0 : perPair * 10 / empty;
            Console.Write(ratio10 / 10);
            Console.Write('.');
            Console.Write(ratio10 % 10);
            Console.WriteLine("x empty");
        }
    }
}
