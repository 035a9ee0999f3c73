using System;
using PoolKernel.Startup;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>
    /// Random allocations and frees across pools: orders 0..MaxOrder (mostly small); plain requests (5 in 8),
    /// node-preferring ones and DMA-limited ones (32 and 24 bits), with results checked against their rules.
    /// The invariant checker runs every <see cref="CheckEvery"/> operations and at the end; cycles per
    /// operation are measured on the allocator calls alone. Everything allocated is freed at the end
    /// and the free page count must return to where it started.
    /// </summary>
    internal static unsafe class StressTest
    {
        private const int Slots = 4096;
        private const ulong CheckEvery = 10000;

        private struct Held
        {
            public ulong Pfn;
            public int Order;
        }

        internal static void Run(PhysicalMemory* pm, ulong operations, ulong seed)
        {
            ulong freeBefore = pm->GetTotals().FreePages;
            Held* held = (Held*)Heap.KernelHeapGlue.Alloc((nuint)(sizeof(Held) * Slots), 8);
            if (held == null)
            {
                Console.WriteLine("stress: no memory for the bookkeeping");
                return;
            }
            ulong state = seed * 0x9E3779B97F4A7C15UL + 1;
            int count = 0;
            ulong allocs = 0, frees = 0, failures = 0, cycles = 0, checks = 0;
            bool broken = false;
            for (ulong op = 0; op < operations && !broken; op++)
            {
                ulong r = Next(ref state);
                bool doAlloc = count == 0 || (count < Slots && (r & 3) != 0 && (count < Slots / 2 || (r & 4) != 0));
                if (doAlloc)
                {
                    int order = (r >> 8) % 16 < 12 ? 0 : (int)((r >> 12) % (ulong)(pm->MaxOrder + 1));
                    AllocRequest request = AllocRequest.Any;
                    ulong kind = (r >> 20) % 8;
                    if (kind == 1)
                        request.PreferredNode = (byte)((r >> 24) % (ulong)pm->NodeCount);
                    else if (kind == 2)
                        request = AllocRequest.Dma(32);
                    else if (kind == 3)
                        request = AllocRequest.Dma(24);
                    request.Owner = Owners.Shell;
                    ulong t0 = Cpu.ReadTsc();
                    MemoryStatus status = pm->Allocate(new Order(order), request, out Pfn pfn);
                    cycles += Cpu.ReadTsc() - t0;
                    allocs++;
                    if (status != MemoryStatus.Ok)
                    {
                        failures++;
                        continue;
                    }
                    if (!BlockRules.Obeys(pfn.Value, order, request))
                    {
                        Console.Write("stress: FAILED a block breaks its rules at pfn ");
                        Console.WriteHex(pfn.Value);
                        Console.WriteLine();
                        broken = true;
                        break;
                    }
                    held[count].Pfn = pfn.Value;
                    held[count].Order = order;
                    count++;
                }
                else
                {
                    int victim = (int)((r >> 32) % (ulong)count);
                    ulong t0 = Cpu.ReadTsc();
                    MemoryStatus status = pm->Free(new Pfn(held[victim].Pfn), new Order(held[victim].Order), Owners.Shell);
                    cycles += Cpu.ReadTsc() - t0;
                    frees++;
                    if (status != MemoryStatus.Ok)
                    {
                        Console.Write("stress: FAILED free refused: ");
                        Console.WriteLine(MemoryText.Status(status));
                        broken = true;
                        break;
                    }
                    held[victim] = held[--count];
                }
                if ((op + 1) % CheckEvery == 0)
                {
                    checks++;
                    InvariantReport report = pm->Check();
                    if (!report.IsOk)
                    {
                        MemoryText.Report(ConsoleOut.Instance, report);
                        broken = true;
                    }
                }
            }
            while (count > 0)
            {
                count--;
                if (pm->Free(new Pfn(held[count].Pfn), new Order(held[count].Order), Owners.Shell) != MemoryStatus.Ok)
                    broken = true;
            }
            Heap.KernelHeapGlue.Free(held);
            InvariantReport final = pm->Check();
            HeapCheckReport heapFinal = Heap.KernelHeapGlue.Check();
            checks++;
            ulong freeAfter = pm->GetTotals().FreePages;
            ulong ops = allocs + frees;
            Console.Write("stress: ");
            Console.Write(ops);
            Console.Write(" operations (seed ");
            Console.Write(seed);
            Console.Write("): ");
            Console.Write(allocs);
            Console.Write(" allocs (");
            Console.Write(failures);
            Console.Write(" refused), ");
            Console.Write(frees);
            Console.Write(" frees, ");
            Console.Write(checks);
            Console.Write(" checks; ");
            Console.Write(ops == 0 ? 0 : cycles / ops);
            Console.WriteLine(" cycles/op");
            if (broken || !final.IsOk || !heapFinal.IsOk || freeAfter != freeBefore)
            {
                MemoryText.Report(ConsoleOut.Instance, final);
                HeapCommands.Report(heapFinal);
                Console.Write("stress: FAILED (free pages before ");
                Console.Write(freeBefore);
                Console.Write(", after ");
                Console.Write(freeAfter);
                Console.WriteLine(")");
            }
            else
            {
                Console.WriteLine("stress: ok, all memory returned, pool and heap checkers clean");
            }
        }

        private static ulong Next(ref ulong state)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            return state;
        }
    }
}
