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
    /// TSC ticks per pair: order 0 from a named pool (the one an unconstrained request on the boot
    /// CPU's node gets), order 0 by pool choice, order 9 from the named pool, and an order-0 DMA32
    /// block that must not cross 64 KiB. Each row is one timed loop of PAIRS pairs (default 20,000),
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

        internal static void Run(ref ShellLine line)
        {
            if (!line.OptionalArg(1, "PAIRS", 1, MaxPairs, DefaultPairs, out ulong pairs) || !line.NoMoreArgs(2))
                return;
            AllocRequest any = AllocRequest.Any;
            any.PreferredNode = (byte)Startup.Machine.CpuNodeOfBoot;
            any.Owner = Owners.Shell;
            if (PhysicalMemoryOwner.Allocate(new Order(0), any, out Pfn probe) != MemoryStatus.Ok)
            {
                Console.WriteLine("membench: no order-0 frame to start from");
                return;
            }
            PoolId pool = PhysicalMemoryOwner.PoolOf(probe);
            PhysicalMemoryOwner.Free(probe, new Order(0), Owners.Shell);
            AllocRequest named = AllocRequest.InPool(pool);
            named.Owner = Owners.Shell;
            AllocRequest dma = AllocRequest.Dma(32);
            dma.Owner = Owners.Shell;
            dma.Boundary = 64 * 1024;
            ulong freeBefore = PhysicalMemoryOwner.GetTotals().FreePages;

            Console.Write("membench: ");
            Console.Write(pairs);
            Console.Write(" pairs a row, TSC ticks per pair, pool ");
            Console.Write(pool.Value);
            Console.WriteLine();
            ulong empty = Empty(pairs);
            Row("empty", empty, empty);
            bool ok = Pairs(pairs, 0, named, "order0_named", empty)
                && Pairs(pairs, 0, any, "order0_choice", empty)
                && Pairs(pairs, 9, named, "order9_named", empty)
                && Pairs(pairs, 0, dma, "order0_dma32_64k", empty);

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

        /// <summary>One timed loop of allocate + free; false (with a line) if a call is refused or a result breaks its rules.</summary>
        private static bool Pairs(ulong pairs, int order, in AllocRequest request, string name, ulong empty)
        {
            ulong badPfn = 0;
            MemoryStatus bad = MemoryStatus.Ok;
            ulong start = Cpu.ReadTsc();
            for (ulong i = 0; i < pairs; i++)
            {
                MemoryStatus s = PhysicalMemoryOwner.Allocate(new Order(order), request, out Pfn pfn);
                if (s != MemoryStatus.Ok)
                {
                    bad = s;
                    break;
                }
                if (!BlockRules.Obeys(pfn.Value, order, request))
                {
                    badPfn = pfn.Value;
                    PhysicalMemoryOwner.Free(pfn, new Order(order), request.Owner);
                    break;
                }
                s = PhysicalMemoryOwner.Free(pfn, new Order(order), request.Owner);
                if (s != MemoryStatus.Ok)
                {
                    bad = s;
                    break;
                }
            }
            ulong ticks = Cpu.ReadTsc() - start;
            if (bad != MemoryStatus.Ok || badPfn != 0)
            {
                Console.Write("membench: ");
                Console.Write(name);
                Console.Write(" FAILED ");
                if (badPfn != 0)
                {
                    Console.Write("block breaks its rules at pfn ");
                    Console.WriteHex(badPfn);
                    Console.WriteLine();
                }
                else
                    Console.WriteLine(MemoryText.Status(bad));
                return false;
            }
            Row(name, ticks / pairs, empty);
            return true;
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
