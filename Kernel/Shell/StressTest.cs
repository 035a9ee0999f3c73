using System;
using PoolKernel.Startup;
using PoolKernel.Boot.Reports;
using PoolKernel.Heap;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>
    /// `stress N [SEED]`: every online CPU at once runs N random operations of its own seeded sequence
    /// (docs/smp.md): page allocations of orders 0..MaxOrder (mostly 0) through the pools' owner, with
    /// plain, node-preferring and DMA-limited (32 and 24 bits) requests whose results are checked
    /// against their rules; page frees; heap allocations and frees through the native heap API
    /// (<see cref="KernelHeapGlue.TryAlloc"/>, never managed `new`), each block's node compared with
    /// the CPU's; and exchanges, which swap one of the CPU's blocks with a slot of an array all CPUs
    /// share and free what was there, so blocks another CPU allocated are freed. The boot CPU posts
    /// the work to the others (<see cref="Smp.Post"/>), runs its own share, then waits for all, holding
    /// no lock meanwhile; it alone runs the checkers every <see cref="CheckEvery"/> of its operations.
    /// At the end every block is freed, the checkers run, and the pools' free pages plus the heap's
    /// pages, and the heap's object count, must be what they were. Cycles per operation are measured
    /// on the allocator calls alone (lock included), per CPU.
    /// </summary>
    internal static unsafe class StressTest
    {
        /// <summary>Page blocks one CPU holds at most.</summary>
        private const int Slots = 4096;
        /// <summary>Heap blocks one CPU holds at most.</summary>
        private const int HeapSlots = 256;
        /// <summary>The shared array the CPUs swap blocks through.</summary>
        private const int ExchangeSlots = 64;
        private const ulong CheckEvery = 10000;

        private struct Held
        {
            public ulong Pfn;
            public int Order;
            /// <summary>The CPU that allocated it; -1 for an empty exchange slot.</summary>
            public int Origin;
        }

        /// <summary>What all workers share: the exchange array and its lock.</summary>
        private struct Shared
        {
            /// <summary>
            /// Guards <see cref="Exchange"/> (every slot). A leaf lock: nothing else is taken while it
            /// is held (the block taken out is freed after it is released).
            /// </summary>
            public SpinLock ExchangeLock;
            public Held* Exchange;
        }

        /// <summary>One CPU's share: its sequence, its blocks and its counts; written by that CPU only while it runs.</summary>
        private struct Worker
        {
            public Shared* Shared;
            /// <summary>Set by the boot CPU: this share was run (its own, or posted to an online CPU).</summary>
            public bool Ran;
            public int Cpu;
            public int Node;
            public ulong Operations;
            public ulong State;
            public Held* Pages;
            public void** Blocks;
            public int PageCount;
            public int BlockCount;
            public ulong PageAllocs, PageRefused, PageFrees, CrossFrees;
            public ulong HeapAllocs, HeapRefused, HeapFrees, HeapOnNode;
            public ulong Cycles, Checks;
            /// <summary>0 while all is well; else the first failure (<see cref="Failure"/>) and its value.</summary>
            public int Broken;
            public ulong BrokenValue;
        }

        private enum Failure
        {
            None,
            RulesBroken,
            PageFreeRefused,
            HeapFreeRefused,
            CheckerBroken,
        }

        /// <summary>Pages of the movable area `stress ... compact` scatters and checksums (4 MiB).</summary>
        private const ulong CompactAreaPages = 1024;

        /// <summary>
        /// The stress (see the type). <paramref name="compact"/>: this CPU runs no share of its own; it
        /// scatters a movable area (as `vareatest` does: its page blocks part-used), fills it with a seeded
        /// pattern, and while the other CPUs stress, compacts every pool pass after pass, running the pools'
        /// checker after each; at the end the area's checksum is verified through its addresses and the area
        /// given back. Needs another online CPU.
        /// </summary>
        internal static void Run(ulong operations, ulong seed, bool compact) => Run(operations, seed, compact, null, 0);

        /// <summary>
        /// The stress where the calling CPU, instead of its own share, runs
        /// <paramref name="alongside"/>(<paramref name="argument"/>) while the other CPUs run theirs (rtbench:
        /// a measurement with the others stressing the pools).
        /// </summary>
        internal static void Run(ulong operations, ulong seed, delegate*<ulong, void> alongside, ulong argument)
            => Run(operations, seed, false, alongside, argument);

        /// <summary>Both of the above: <paramref name="compact"/> and <paramref name="alongside"/> exclude each other.</summary>
        private static void Run(ulong operations, ulong seed, bool compact, delegate*<ulong, void> alongside, ulong argument)
        {
            int cpus = Smp.Started ? Smp.Count : 1;
            if (compact && Smp.OnlineCount < 2)
            {
                Console.WriteLine("stress: compact needs another online CPU to stress meanwhile");
                return;
            }
            Worker* workers = (Worker*)KernelHeapGlue.Alloc((nuint)(sizeof(Worker) * cpus), 8);
            Shared* shared = (Shared*)KernelHeapGlue.Alloc((nuint)sizeof(Shared), 8);
            Held* exchange = (Held*)KernelHeapGlue.Alloc((nuint)(sizeof(Held) * ExchangeSlots), 8);
            bool ok = workers != null && shared != null && exchange != null;
            for (int i = 0; ok && i < cpus; i++)
            {
                Worker* w = &workers[i];
                w->Pages = (Held*)KernelHeapGlue.Alloc((nuint)(sizeof(Held) * Slots), 8);
                w->Blocks = (void**)KernelHeapGlue.Alloc((nuint)(sizeof(void*) * HeapSlots), 8);
                ok = w->Pages != null && w->Blocks != null;
            }
            if (!ok)
            {
                Console.WriteLine("stress: no memory for the bookkeeping");
                FreeBookkeeping(workers, cpus, shared, exchange);
                return;
            }
            shared->Exchange = exchange;
            shared->ExchangeLock = default;
            for (int i = 0; i < ExchangeSlots; i++)
                exchange[i].Origin = -1;
            for (int i = 0; i < cpus; i++)
            {
                Worker* w = &workers[i];
                w->Shared = shared;
                w->Cpu = i;
                PerCpu* cpu = Smp.Get(i);
                w->Node = cpu != null ? cpu->Node : KernelHeapGlue.CurrentNode;
                w->Operations = operations;
                // The CPU's own sequence: the seed's, moved by the CPU number; never 0 (xorshift).
                w->State = (seed * 0x9E3779B97F4A7C15UL + 1) ^ ((ulong)i * 0xD1B54A32D192ED03UL);
                if (w->State == 0)
                    w->State = 1;
            }

            int area = -1;
            ulong areaSum = 0;
            ulong* areaFrames = null;
            if (compact)
            {
                areaFrames = (ulong*)KernelHeapGlue.Alloc((nuint)(sizeof(ulong) * (long)CompactAreaPages), 8);
                if (areaFrames == null || VmAreaCommands.Scatter(CompactAreaPages, seed, out area, out _) != VmAreaStatus.Ok)
                {
                    Console.WriteLine("stress: no memory for the movable area");
                    if (areaFrames != null)
                        KernelHeapGlue.Free(areaFrames);
                    FreeBookkeeping(workers, cpus, shared, exchange);
                    return;
                }
                areaSum = VmAreaCommands.Fill(area, CompactAreaPages, seed);
                for (ulong i = 0; i < CompactAreaPages; i++)
                    areaFrames[i] = VmAreas.FrameOf(area, i).Value;
            }

            ulong before = PagesAccounted(out ulong objectsBefore);
            int current = Smp.CurrentNumber;
            workers[current].Ran = !compact && alongside == null;
            for (int i = 0; i < cpus; i++)
            {
                if (i != current)
                    workers[i].Ran = Smp.Post(i, &Work, (ulong)&workers[i]);
            }
            ulong passes = 0, moved = 0, brokenPasses = 0;
            if (compact)
                CompactWhileOthersRun(cpus, current, ref passes, ref moved, ref brokenPasses);
            else if (alongside != null)
                alongside(argument);
            else
                Work((ulong)&workers[current]);
            int started = 0;
            for (int i = 0; i < cpus; i++)
            {
                if (i != current && workers[i].Ran)
                    Smp.WaitForWork(i);
                if (workers[i].Ran)
                    started++;
            }

            bool broken = false;
            ulong drained = 0;
            for (int i = 0; i < ExchangeSlots; i++)
            {
                if (exchange[i].Origin < 0)
                    continue;
                drained++;
                if (PhysicalMemoryOwner.Free(new Pfn(exchange[i].Pfn), new Order(exchange[i].Order), ShellOwner.Current) != MemoryStatus.Ok)
                    broken = true;
                exchange[i].Origin = -1;
            }
            ulong after = PagesAccounted(out ulong objectsAfter);
            if (compact)
            {
                ulong framesMoved = 0;
                for (ulong i = 0; i < CompactAreaPages; i++)
                {
                    if (VmAreas.FrameOf(area, i).Value != areaFrames[i])
                        framesMoved++;
                }
                bool intact = VmAreaCommands.Checksum(area, CompactAreaPages) == areaSum;
                broken |= !intact || brokenPasses != 0;
                VmAreas.Free(area);
                KernelHeapGlue.Free(areaFrames);
                Console.Write("stress: cpu ");
                Console.Write(current);
                Console.Write(" compacted every pool ");
                Console.Write(passes);
                Console.Write(" times while the others stressed: ");
                Console.Write(moved);
                Console.Write(" pages moved, ");
                Console.Write(framesMoved);
                Console.Write(" of the area's ");
                Console.Write(CompactAreaPages);
                Console.Write(" frames; checker ");
                Console.Write(brokenPasses == 0 ? "clean after every pass" : "BROKEN after a pass");
                Console.Write("; area checksum ");
                Console.WriteLine(intact ? "intact" : "CORRUPTED");
            }
            InvariantReport final = PhysicalMemoryOwner.Check();
            HeapCheckReport heapFinal = KernelHeapGlue.Check();

            Print(workers, cpus, started, operations, seed, drained);
            for (int i = 0; i < cpus; i++)
                broken |= workers[i].Broken != 0;
            if (broken || !final.IsOk || !heapFinal.IsOk || after != before || objectsAfter != objectsBefore)
            {
                MemoryText.Report(ConsoleOut.Instance, final);
                HeapCommands.Report(heapFinal);
                Console.Write("stress: FAILED (free and heap pages before ");
                Console.Write(before);
                Console.Write(", after ");
                Console.Write(after);
                Console.Write("; heap objects before ");
                Console.Write(objectsBefore);
                Console.Write(", after ");
                Console.Write(objectsAfter);
                Console.WriteLine(")");
            }
            else
            {
                Console.WriteLine("stress: ok, all memory returned, pool and heap checkers clean");
            }
            FreeBookkeeping(workers, cpus, shared, exchange);
        }

        /// <summary>
        /// `stress ... compact`'s own share: full compaction passes over every pool, the pools' checker after
        /// each, until every other CPU's work has returned (at least one pass).
        /// </summary>
        private static void CompactWhileOthersRun(int cpus, int current, ref ulong passes, ref ulong moved, ref ulong brokenPasses)
        {
            bool others = true;
            while (others || passes == 0)
            {
                for (int p = 0; p < PhysicalMemoryOwner.PoolCapacity; p++)
                {
                    PoolId pool = new PoolId((byte)p);
                    if (PhysicalMemoryOwner.GetPoolProperties(pool, out _) != MemoryStatus.Ok)
                        continue;
                    PhysicalMemoryOwner.Compact(pool, -1, out CompactionResult r);
                    moved += r.PagesMoved;
                }
                passes++;
                if (!PhysicalMemoryOwner.Check().IsOk)
                    brokenPasses++;
                others = false;
                for (int i = 0; i < cpus; i++)
                {
                    if (i != current && !Smp.WorkFinished(i))
                        others = true;
                }
            }
        }

        /// <summary>The pools' free pages plus the pages the heap holds (a stress run moves pages between the two), and the heap's object count.</summary>
        private static ulong PagesAccounted(out ulong heapObjects)
        {
            HeapTotals heap = KernelHeapGlue.GetTotals();
            heapObjects = heap.SmallObjects + heap.LargeObjects;
            return PhysicalMemoryOwner.GetTotals().FreePages + heap.PagesHeld;
        }

        private static void FreeBookkeeping(Worker* workers, int cpus, Shared* shared, Held* exchange)
        {
            for (int i = 0; workers != null && i < cpus; i++)
            {
                if (workers[i].Pages != null)
                    KernelHeapGlue.Free(workers[i].Pages);
                if (workers[i].Blocks != null)
                    KernelHeapGlue.Free(workers[i].Blocks);
            }
            if (workers != null)
                KernelHeapGlue.Free(workers);
            if (shared != null)
                KernelHeapGlue.Free(shared);
            if (exchange != null)
                KernelHeapGlue.Free(exchange);
        }

        /// <summary>One CPU's run (posted to it, or called on the boot CPU): its operations, then it frees what it holds.</summary>
        private static void Work(ulong argument)
        {
            Worker* w = (Worker*)argument;
            int maxOrder = PhysicalMemoryOwner.MaxOrder;
            int nodes = PhysicalMemoryOwner.NodeCount;
            for (ulong op = 0; op < w->Operations && w->Broken == 0; op++)
            {
                ulong r = Next(ref w->State);
                ulong choice = r % 16;
                if (choice < 8 && w->PageCount < Slots || w->PageCount == 0 && choice < 11)
                    AllocatePage(w, r, maxOrder, nodes);
                else if (choice < 11)
                    FreePage(w, (int)((r >> 32) % (ulong)w->PageCount));
                else if (choice < 13 && w->BlockCount < HeapSlots || w->BlockCount == 0 && choice < 14)
                    AllocateBlock(w, r);
                else if (choice < 14)
                    FreeBlock(w, (int)((r >> 32) % (ulong)w->BlockCount));
                else if (w->PageCount > 0)
                    Swap(w, (int)((r >> 32) % (ulong)w->PageCount), (int)((r >> 48) % ExchangeSlots));
                if (w->Cpu == 0 && (op + 1) % CheckEvery == 0)
                {
                    w->Checks++;
                    if (!PhysicalMemoryOwner.Check().IsOk || !KernelHeapGlue.Check().IsOk)
                        Break(w, Failure.CheckerBroken, op);
                }
            }
            while (w->PageCount > 0)
                FreePage(w, w->PageCount - 1);
            while (w->BlockCount > 0)
                FreeBlock(w, w->BlockCount - 1);
        }

        private static void AllocatePage(Worker* w, ulong r, int maxOrder, int nodes)
        {
            int order = (r >> 8) % 16 < 12 ? 0 : (int)((r >> 12) % (ulong)(maxOrder + 1));
            AllocRequest request = AllocRequest.Any;
            ulong kind = (r >> 20) % 8;
            if (kind == 1)
                request.PreferredNode = (byte)((r >> 24) % (ulong)nodes);
            else if (kind == 2)
                request = AllocRequest.Dma(32);
            else if (kind == 3)
                request = AllocRequest.Dma(24);
            else
                request.PreferredNode = (byte)w->Node;
            request.Owner = ShellOwner.Current;
            ulong t0 = Cpu.ReadTsc();
            MemoryStatus status = PhysicalMemoryOwner.Allocate(new Order(order), request, out Pfn pfn);
            w->Cycles += Cpu.ReadTsc() - t0;
            w->PageAllocs++;
            if (status != MemoryStatus.Ok)
            {
                w->PageRefused++;
                return;
            }
            if (!BlockRules.Obeys(pfn.Value, order, request))
                Break(w, Failure.RulesBroken, pfn.Value);
            w->Pages[w->PageCount].Pfn = pfn.Value;
            w->Pages[w->PageCount].Order = order;
            w->Pages[w->PageCount].Origin = w->Cpu;
            w->PageCount++;
        }

        private static void FreePage(Worker* w, int victim)
        {
            Held h = w->Pages[victim];
            w->Pages[victim] = w->Pages[--w->PageCount];
            FreeHeld(w, h);
        }

        private static void FreeHeld(Worker* w, Held h)
        {
            ulong t0 = Cpu.ReadTsc();
            MemoryStatus status = PhysicalMemoryOwner.Free(new Pfn(h.Pfn), new Order(h.Order), ShellOwner.Current);
            w->Cycles += Cpu.ReadTsc() - t0;
            w->PageFrees++;
            if (h.Origin != w->Cpu)
                w->CrossFrees++;
            if (status != MemoryStatus.Ok)
                Break(w, Failure.PageFreeRefused, (ulong)status);
        }

        /// <summary>Puts one of this CPU's blocks into exchange slot <paramref name="slot"/> and frees what was there (another CPU's block, often).</summary>
        private static void Swap(Worker* w, int victim, int slot)
        {
            Held mine = w->Pages[victim];
            w->Pages[victim] = w->Pages[--w->PageCount];
            Shared* shared = w->Shared;
            ulong state = shared->ExchangeLock.Acquire();
            Held theirs = shared->Exchange[slot];
            shared->Exchange[slot] = mine;
            shared->ExchangeLock.Release(state);
            if (theirs.Origin >= 0)
                FreeHeld(w, theirs);
        }

        private static void AllocateBlock(Worker* w, ulong r)
        {
            // 16 bytes to 2 KiB in the size classes, one in eight a large object of 2 or 3 pages.
            nuint size = (r >> 16) % 8 == 0 ? (nuint)(8192 + (r >> 24) % 4096) : (nuint)(16UL << (int)((r >> 20) % 8));
            ulong t0 = Cpu.ReadTsc();
            HeapStatus status = KernelHeapGlue.TryAlloc(size, 8, out void* block);
            w->Cycles += Cpu.ReadTsc() - t0;
            w->HeapAllocs++;
            if (status != HeapStatus.Ok)
            {
                w->HeapRefused++;
                return;
            }
            *(ulong*)block = (ulong)w->Cpu;
            if (Machine.NodeOf((ulong)block) == w->Node)
                w->HeapOnNode++;
            w->Blocks[w->BlockCount++] = block;
        }

        private static void FreeBlock(Worker* w, int victim)
        {
            void* block = w->Blocks[victim];
            w->Blocks[victim] = w->Blocks[--w->BlockCount];
            ulong t0 = Cpu.ReadTsc();
            HeapStatus status = KernelHeapGlue.TryFree(block);
            w->Cycles += Cpu.ReadTsc() - t0;
            w->HeapFrees++;
            if (status != HeapStatus.Ok)
                Break(w, Failure.HeapFreeRefused, (ulong)status);
        }

        private static void Break(Worker* w, Failure failure, ulong value)
        {
            if (w->Broken != 0)
                return;
            w->Broken = (int)failure;
            w->BrokenValue = value;
        }

        private static void Print(Worker* workers, int cpus, int started, ulong operations, ulong seed, ulong drained)
        {
            ulong allocs = 0, refused = 0, frees = 0, checks = 0, cycles = 0;
            for (int i = 0; i < cpus; i++)
            {
                Worker* w = &workers[i];
                allocs += w->PageAllocs + w->HeapAllocs;
                refused += w->PageRefused + w->HeapRefused;
                frees += w->PageFrees + w->HeapFrees;
                checks += w->Checks;
                cycles += w->Cycles;
            }
            ulong ops = allocs + frees;
            Console.Write("stress: ");
            Console.Write(operations);
            Console.Write(" operations (seed ");
            Console.Write(seed);
            Console.Write(") on each of ");
            Console.Write(started);
            Console.Write(" CPUs: ");
            Console.Write(allocs);
            Console.Write(" allocs (");
            Console.Write(refused);
            Console.Write(" refused), ");
            Console.Write(frees);
            Console.Write(" frees (");
            Console.Write(drained);
            Console.Write(" left in the exchange), ");
            Console.Write(checks + 1);
            Console.Write(" checks; ");
            Console.Write(ops == 0 ? 0 : cycles / ops);
            Console.WriteLine(" cycles/op");
            for (int i = 0; i < cpus; i++)
            {
                Worker* w = &workers[i];
                if (!w->Ran)
                    continue;
                ulong own = w->PageAllocs + w->PageFrees + w->HeapAllocs + w->HeapFrees;
                Console.Write("stress: cpu ");
                Console.Write(i);
                Console.Write(" (node ");
                Console.Write(w->Node);
                Console.Write("): ");
                Console.Write(w->PageAllocs);
                Console.Write(" page allocs (");
                Console.Write(w->PageRefused);
                Console.Write(" refused), ");
                Console.Write(w->PageFrees);
                Console.Write(" page frees (");
                Console.Write(w->CrossFrees);
                Console.Write(" of other CPUs' blocks), ");
                Console.Write(w->HeapAllocs);
                Console.Write(" heap allocs (");
                Console.Write(w->HeapRefused);
                Console.Write(" refused, ");
                Console.Write(w->HeapOnNode);
                Console.Write(" on node ");
                Console.Write(w->Node);
                Console.Write("), ");
                Console.Write(w->HeapFrees);
                Console.Write(" heap frees; ");
                Console.Write(own == 0 ? 0 : w->Cycles / own);
                Console.Write(" cycles/op");
                if (w->Broken != 0)
                {
                    Console.Write("; FAILED: ");
                    Console.Write(FailureText((Failure)w->Broken));
                    Console.Write(" ");
                    Console.WriteHex(w->BrokenValue);
                }
                Console.WriteLine();
            }
        }

        private static string FailureText(Failure f) => f switch
        {
            Failure.RulesBroken => "a block breaks its rules at pfn",
            Failure.PageFreeRefused => "a page free was refused, status",
            Failure.HeapFreeRefused => "a heap free was refused, status",
            Failure.CheckerBroken => "a checker found a broken invariant after operation",
            _ => "?",
        };

        private static ulong Next(ref ulong state)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            return state;
        }
    }
}
