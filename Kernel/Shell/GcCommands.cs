using System;
using PoolKernel.Heap;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Startup;
using PoolKernel.Platform;
using PoolKernel.Runtime;

namespace PoolKernel.Shell
{
    /// <summary>'gc' (one collection, what it freed, the pause) and 'gcstress MIB' (short-lived objects around a checksummed live set).</summary>
    internal static unsafe class GcCommands
    {
        /// <summary>The most MiB one gcstress allocates (1 TiB).</summary>
        internal const ulong MaxStressMiB = 1UL << 20;

        /// <summary>The most extra live MiB one gcstress keeps.</summary>
        internal const ulong MaxLiveMiB = 4096;

        /// <summary>Records in gcstress's live set.</summary>
        internal const int LiveRecords = 64;

        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "gc", "run the collector: objects and bytes freed, live after, pages, pause in TSC ticks; 'gc corrupt': test command, a dangling reference the collector reports (status 35); 'gc cpus': test command, objects only other CPUs' stacks hold (interrupts off) survive collections on the boot CPU, then on another CPU", &Collect);
            Commands.Register(ref n, "gcstress", "gcstress MIB [LIVE] [all]: allocate MIB (1..1048576) MiB of short-lived objects (strings, reference arrays, cyclic lists, large arrays) around a checksummed live set (64 records, plus LIVE MiB (0..4096, default 0) of 4 KiB blocks in an object graph), then check it; 'all': every online CPU at once, each its own sequence and live set, with stress's raw page and heap operations between its objects", &Stress);
        }

        /// <summary>What 'gc corrupt' leaves behind: an object whose field refers to a freed block.</summary>
        private sealed class Holder
        {
            public object Field;
        }

        private static Holder s_corrupt;

        private static void Collect(ref ShellLine line)
        {
            if (line.WordIs(1, "corrupt"))
            {
                if (!line.NoMoreArgs(2))
                    return;
                // A reference to a block given back behind the collector's back: reachable from a
                // static, so the mark phase finds it, reports it and stops the machine.
                s_corrupt = new Holder();
                object victim = new Holder();
                s_corrupt.Field = victim;
                KernelHeapGlue.Free(ObjectAllocator.AddressOf(victim) - KernelHeap.ObjectHeaderBytes);
                Console.Write("gc corrupt: ");
                Console.WriteHex((ulong)ObjectAllocator.AddressOf(s_corrupt));
                Console.Write(" +8 refers to the freed ");
                Console.WriteHex((ulong)ObjectAllocator.AddressOf(victim));
                Console.WriteLine();
                KernelHeapGlue.Collect();
                return;
            }
            if (line.WordIs(1, "cpus"))
            {
                if (line.NoMoreArgs(2))
                    HoldAcrossCpus();
                return;
            }
            if (!line.NoMoreArgs(1))
                return;
            if (!KernelHeapGlue.Collect())
            {
                Console.WriteLine("gc: no collection (no heap yet)");
                return;
            }
            HeapSweepResult r = Gc.Last;
            Console.Write("gc: freed ");
            Console.Write(r.FreedObjects);
            Console.Write(" objects (");
            Console.Write(r.FreedBytes);
            Console.Write(" bytes); live ");
            Console.Write(r.LiveObjects);
            Console.Write(" objects (");
            Console.Write(r.LiveBytes);
            Console.Write(" bytes); heap pages ");
            Console.Write(r.PagesBefore);
            Console.Write(" -> ");
            Console.Write(r.PagesAfter);
            Console.Write("; pause ");
            Console.Write(Gc.LastPauseTicks);
            Console.Write(" ticks; mark stack overflows ");
            Console.Write(Gc.LastOverflows);
            Console.Write("; other CPUs parked ");
            Console.Write(Gc.LastParked);
            Console.Write(" in ");
            Console.Write(Gc.LastStopTicks);
            Console.WriteLine(" ticks");
        }

        /// <summary>One CPU's part of 'gc cpus': it holds a record only in its stack and registers until released.</summary>
        private struct HoldState
        {
            public int Cpu;
            public bool Posted;
            /// <summary>Set by the holder once its objects are made and its interrupts are off.</summary>
            public volatile int Ready;
            /// <summary>Set by the collecting CPU when it is done.</summary>
            public volatile int Release;
            /// <summary>The holder's verdict after the release: 1 when its record is intact.</summary>
            public int Intact;
        }

        /// <summary>The CPUs of one 'gc cpus' round: the holders (indexed by CPU; the collector's own slot unused) and the collector.</summary>
        private struct HoldRound
        {
            public HoldState* Holders;
            public int Cpus;
            public int Collector;
            public ulong CollectionsBefore;
        }

        /// <summary>
        /// 'gc cpus' (a test command): twice, every CPU but one makes a record (data, name, ring), then
        /// holds it only in its stack and registers with interrupts off (as a CPU spinning on a lock
        /// does), while the remaining CPU collects twice and churns records of the same size classes
        /// (cells wrongly freed would be reused and overwritten); then each holder checks its record.
        /// The first round collects on the boot CPU, the second on CPU 1 while the boot CPU holds.
        /// </summary>
        private static void HoldAcrossCpus()
        {
            int cpus = Smp.Started ? Smp.Count : 1;
            if (cpus < 2 || Smp.OnlineCount < 2)
            {
                Console.WriteLine("gc cpus: only one CPU online; nothing to stop");
                return;
            }
            HoldState* holders = (HoldState*)KernelHeapGlue.Alloc((nuint)(sizeof(HoldState) * cpus), 8);
            HoldRound* round = (HoldRound*)KernelHeapGlue.Alloc((nuint)sizeof(HoldRound), 8);
            if (holders == null || round == null)
                return;
            int self = Smp.CurrentNumber;
            for (int collector = self; ; collector = 1)
            {
                round->Holders = holders;
                round->Cpus = cpus;
                round->Collector = collector;
                round->CollectionsBefore = Smp.Get(collector)->Collections;
                for (int i = 0; i < cpus; i++)
                {
                    holders[i] = default;
                    holders[i].Cpu = i;
                }
                // The holders first, each marked before the collector starts looking at them.
                for (int i = 0; i < cpus; i++)
                {
                    if (i != self && i != collector)
                        holders[i].Posted = Smp.Post(i, &Hold, (ulong)&holders[i]);
                }
                if (collector == self)
                {
                    CollectWhileHeld((ulong)round);
                }
                else
                {
                    holders[self].Posted = true;
                    if (!Smp.Post(collector, &CollectWhileHeld, (ulong)round))
                        holders[self].Release = 1;
                    Hold((ulong)&holders[self]);
                }
                int held = 0, intact = 0;
                for (int i = 0; i < cpus; i++)
                {
                    if (i != self)
                        Smp.WaitForWork(i);
                    if (i == collector || !holders[i].Posted)
                        continue;
                    held++;
                    intact += holders[i].Intact;
                }
                Console.Write("gc cpus: cpu ");
                Console.Write(collector);
                Console.Write(" ran ");
                Console.Write(Smp.Get(collector)->Collections - round->CollectionsBefore);
                Console.Write(" collections while ");
                Console.Write(held);
                Console.Write(" other CPUs held objects only in their stacks and registers, interrupts off: ");
                Console.Write(intact);
                Console.Write(" of ");
                Console.Write(held);
                Console.WriteLine(intact == held ? " intact" : " DAMAGED");
                if (collector != self)
                    break;
            }
            KernelHeapGlue.Free(holders);
            KernelHeapGlue.Free(round);
        }

        /// <summary>A holder (posted, or the boot CPU's own share): its record lives only in this frame and the registers until released.</summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static void Hold(ulong argument)
        {
            HoldState* h = (HoldState*)argument;
            ulong state = 0x2545F4914F6CDD1DUL ^ (ulong)(h->Cpu + 1);
            Record r = NewRecord(h->Cpu, ref state, null);
            ulong flags = Cpu.SaveAndDisableInterrupts();
            h->Ready = 1;
            while (h->Release == 0)
                Cpu.Pause();
            Cpu.RestoreInterrupts(flags);
            h->Intact = Intact(r) && Allocated(r) && Allocated(r.Data) && Allocated(r.Name) && Allocated(r.Ring) ? 1 : 0;
        }

        /// <summary>The heap still has <paramref name="o"/>'s block allocated and tagged as managed (a freed block's cell would be free, or another object's).</summary>
        private static bool Allocated(object o)
        {
            byte* block = ObjectAllocator.AddressOf(o) - KernelHeap.ObjectHeaderBytes;
            return KernelHeapGlue.Describe(block, out HeapObjectInfo info) == HeapStatus.Ok && info.Allocated && info.Start == block && KernelHeap.IsTagged(block);
        }

        /// <summary>The collecting CPU of a round: waits until every holder is ready, collects and churns twice, releases them.</summary>
        private static void CollectWhileHeld(ulong argument)
        {
            HoldRound* round = (HoldRound*)argument;
            for (int i = 0; i < round->Cpus; i++)
            {
                HoldState* h = &round->Holders[i];
                while (i != round->Collector && h->Posted && h->Ready == 0)
                    Cpu.Pause();
            }
            ulong state = 0x9E3779B97F4A7C15UL ^ (ulong)(round->Collector + 1);
            for (int pass = 0; pass < 2; pass++)
            {
                KernelHeapGlue.Collect();
                for (int i = 0; i < 256; i++)
                    NewRecord(i, ref state, null);
            }
            for (int i = 0; i < round->Cpus; i++)
                round->Holders[i].Release = 1;
        }

        /// <summary>The collector's totals, one line (the 'heap' command).</summary>
        internal static void PrintTotals()
        {
            Console.Write("gc: ");
            Console.Write(Gc.Collections);
            Console.Write(" collections, freed ");
            Console.Write(Gc.FreedObjectsTotal);
            Console.Write(" objects (");
            Console.Write(Gc.FreedBytesTotal);
            Console.Write(" bytes) in all; live after the last ");
            Console.Write(Gc.Last.LiveObjects);
            Console.Write(" objects (");
            Console.Write(Gc.Last.LiveBytes);
            Console.Write(" bytes); pauses total ");
            Console.Write(Gc.TotalPauseTicks);
            Console.Write(" ticks, longest ");
            Console.Write(Gc.MaxPauseTicks);
            Console.WriteLine();
        }

        /// <summary>A live-set record: data whose checksum was taken when it was made, a name, and a cyclic list.</summary>
        private sealed class Record
        {
            public byte[] Data;
            public ulong Sum;
            public string Name;
            public ulong NameSum;
            public ListNode Ring;
            public int RingLength;
        }

        private sealed class ListNode
        {
            public ListNode Next;
            public object Payload;
            public long Index;
        }

        /// <summary>Raw page and heap blocks one gcstress worker holds at most (stress's kinds of operation, next to its objects).</summary>
        private const int RawSlots = 64;

        /// <summary>
        /// One CPU's gcstress (<c>gcstress ... all</c> runs one on every online CPU at once): its
        /// sequence, what it allocated, and its raw blocks. In a raw heap block (never managed, never
        /// moved); written by that CPU only while it runs, read by the boot CPU after.
        /// </summary>
        private struct Worker
        {
            public ulong MiB, LiveMiB, State;
            /// <summary>Set by the boot CPU: this share was run (its own, or posted to an online CPU).</summary>
            public bool Ran;
            /// <summary>Interleave raw page and heap operations (the <c>all</c> form).</summary>
            public bool Raw;
            public int Cpu, Node;
            public ulong Objects;
            /// <summary>Live records intact at the end (-1: the extra live data was not).</summary>
            public int Intact;
            /// <summary>The CPU's collections run and times parked, at the start (to report the run's share).</summary>
            public ulong CollectionsBefore, ParksBefore;
            /// <summary>Collections this CPU ran, and times it was parked, during the run (the boot CPU's collections before and after it not counted).</summary>
            public ulong CollectionsRan, Parked;
            public ulong PageAllocs, PageRefused, HeapAllocs, HeapRefused;
            /// <summary>Live records made, and those whose data array is on the CPU's node (the heap takes pages from the running CPU's node).</summary>
            public ulong Records, RecordsOnNode;
            /// <summary>Raw blocks whose stamp was not intact when freed, or whose free was refused; the first such block's address and what went wrong (1 page stamp, 2 page free, 3 heap stamp, 4 heap free).</summary>
            public ulong RawDamaged;
            public ulong FirstDamaged;
            public int FirstDamage;
            public int PageCount, BlockCount;
            /// <summary>Held pages (frame numbers and orders) and heap blocks, each stamped with its address and the CPU.</summary>
            public fixed ulong Pages[RawSlots];
            public fixed int Orders[RawSlots];
            public fixed ulong Blocks[RawSlots];
        }

        private static ulong Next(ref ulong state)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            return state;
        }

        /// <summary>The workers of a running `gcstress ... all`, for the abandon hook (the boot CPU ran out of memory meanwhile).</summary>
        private static Worker* s_workers;
        private static int s_workerCount;

        private static void Stress(ref ShellLine line)
        {
            bool all = line.WordCount >= 3 && line.WordIs(line.WordCount - 1, "all");
            int words = all ? line.WordCount - 1 : line.WordCount;
            ulong liveMiB = 0;
            if (!line.Arg(1, "MIB", 1, MaxStressMiB, out ulong mib)
                || (words > 2 && !line.OptionalArg(2, "LIVE", 0, MaxLiveMiB, 0, out liveMiB))
                || (words > 3 && !line.NoMoreArgs(3)))
                return;
            int cpus = all && Smp.Started ? Smp.Count : 1;
            Worker* workers = (Worker*)KernelHeapGlue.Alloc((nuint)(sizeof(Worker) * cpus), 8);
            if (workers == null)
            {
                Console.WriteLine("gcstress: no memory for the bookkeeping");
                return;
            }
            int current = Smp.CurrentNumber;
            for (int i = 0; i < cpus; i++)
            {
                Worker* w = &workers[i];
                int cpu = all ? i : current;
                PerCpu* area = Smp.Get(cpu);
                w->MiB = mib;
                w->LiveMiB = liveMiB;
                w->Raw = all;
                w->Cpu = cpu;
                w->Node = area != null ? area->Node : KernelHeapGlue.CurrentNode;
                // The CPU's own sequence (the plain form keeps the one it always had); never 0 (xorshift).
                w->State = (0x9E3779B97F4A7C15UL ^ mib) ^ ((ulong)i * 0xD1B54A32D192ED03UL);
                if (w->State == 0)
                    w->State = 1;
            }
            KernelHeapGlue.Collect();
            for (int i = 0; i < cpus; i++)
            {
                PerCpu* area = Smp.Get(workers[i].Cpu);
                workers[i].CollectionsBefore = area != null ? area->Collections : 0;
                workers[i].ParksBefore = area != null ? area->Parks : 0;
            }
            ulong pagesBefore = KernelHeapGlue.PagesHeld;
            ulong collectionsBefore = Gc.Collections;
            ulong maxPauseBefore = Gc.MaxPauseTicks;
            Gc.MaxPauseTicks = 0;
            s_workers = workers;
            s_workerCount = cpus;
            RecoveryPoint.OnAbandon(&AbandonWorkers);
            int self = all ? current : 0;
            workers[self].Ran = true;
            for (int i = 0; i < cpus; i++)
            {
                if (i != self)
                    workers[i].Ran = Smp.Post(i, &Work, (ulong)&workers[i]);
            }
            Work((ulong)&workers[self]);
            WaitForWorkers();
            for (int i = 0; i < cpus; i++)
            {
                PerCpu* area = Smp.Get(workers[i].Cpu);
                workers[i].CollectionsRan = area != null ? area->Collections - workers[i].CollectionsBefore : 0;
                workers[i].Parked = area != null ? area->Parks - workers[i].ParksBefore : 0;
            }
            ulong duringRun = Gc.Collections - collectionsBefore;
            ulong pauseMax = Gc.MaxPauseTicks;
            if (maxPauseBefore > Gc.MaxPauseTicks)
                Gc.MaxPauseTicks = maxPauseBefore;
            // The run's frame is dead now: clear it, so the stale references it left (the live set,
            // the last objects) do not keep anything through the conservative stack scan.
            Gc.ClearDeadStack();
            KernelHeapGlue.Collect();
            ulong pagesAfter = KernelHeapGlue.PagesHeld;
            bool checkOk = KernelHeapGlue.Check().IsOk;
            bool poolsOk = !all || PhysicalMemoryOwner.Check().IsOk;
            int started = 0, intact = 0;
            bool rawOk = true;
            ulong objects = 0;
            for (int i = 0; i < cpus; i++)
            {
                Worker* w = &workers[i];
                if (!w->Ran)
                    continue;
                started++;
                objects += w->Objects;
                intact += w->Intact < 0 ? 0 : w->Intact;
                rawOk &= w->RawDamaged == 0 && w->Intact >= 0;
                if (all)
                    PrintWorker(w);
            }
            Console.Write("gcstress: ");
            Console.Write(mib);
            Console.Write(" MiB (");
            Console.Write(liveMiB);
            Console.Write(" MiB extra live) ");
            if (all)
            {
                Console.Write("on each of ");
                Console.Write(started);
                Console.Write(" CPUs ");
            }
            Console.Write("in ");
            Console.Write(objects);
            Console.Write(" objects, ");
            Console.Write(duringRun);
            Console.Write(" collections (longest pause ");
            Console.Write(pauseMax);
            Console.Write(" ticks); heap pages before ");
            Console.Write(pagesBefore);
            Console.Write(", after ");
            Console.Write(pagesAfter);
            Console.Write("; heap check ");
            Console.Write(checkOk ? "ok" : "BROKEN");
            if (all)
            {
                Console.Write("; pool check ");
                Console.Write(poolsOk ? "ok" : "BROKEN");
            }
            Console.Write("; live set ");
            Console.Write(intact);
            Console.Write("/");
            Console.Write(LiveRecords * started);
            Console.WriteLine(intact == LiveRecords * started && checkOk && poolsOk && rawOk ? " intact" : " DAMAGED");
            s_workers = null;
            KernelHeapGlue.Free(workers);
        }

        /// <summary>Waits for the workers posted to other CPUs (also the abandon hook: the boot CPU's share ran out of memory, the others still run).</summary>
        private static void WaitForWorkers()
        {
            for (int i = 0; s_workers != null && i < s_workerCount; i++)
            {
                if (s_workers[i].Ran && s_workers[i].Cpu != Smp.CurrentNumber)
                    Smp.WaitForWork(s_workers[i].Cpu);
            }
        }

        /// <summary>The abandon hook: the boot CPU's share ran out of memory and the command ended; the other CPUs' shares are waited for, then the bookkeeping freed.</summary>
        private static void AbandonWorkers()
        {
            WaitForWorkers();
            if (s_workers != null)
                KernelHeapGlue.Free(s_workers);
            s_workers = null;
        }

        private static void PrintWorker(Worker* w)
        {
            Console.Write("gcstress: cpu ");
            Console.Write(w->Cpu);
            Console.Write(": ");
            Console.Write(w->Objects);
            Console.Write(" objects; ran ");
            Console.Write(w->CollectionsRan);
            Console.Write(" collections, parked ");
            Console.Write(w->Parked);
            Console.Write(" times; raw: ");
            Console.Write(w->PageAllocs);
            Console.Write(" page allocs (");
            Console.Write(w->PageRefused);
            Console.Write(" refused), ");
            Console.Write(w->HeapAllocs);
            Console.Write(" heap allocs (");
            Console.Write(w->HeapRefused);
            Console.Write(" refused), ");
            if (w->RawDamaged == 0)
            {
                Console.Write("all intact and freed");
            }
            else
            {
                Console.Write(w->RawDamaged);
                Console.Write(" DAMAGED, the first ");
                Console.Write(w->FirstDamage == 1 ? "a page's stamp" : w->FirstDamage == 2 ? "a page's free refused" : w->FirstDamage == 3 ? "a heap block's stamp" : "a heap block's free refused");
                Console.Write(" at ");
                Console.WriteHex(w->FirstDamaged);
            }
            Console.Write("; records on node ");
            Console.Write(w->Node);
            Console.Write(": ");
            Console.Write(w->RecordsOnNode);
            Console.Write("/");
            Console.Write(w->Records);
            Console.Write("; live set ");
            Console.Write(w->Intact < 0 ? 0 : w->Intact);
            Console.Write("/");
            Console.Write(LiveRecords);
            Console.WriteLine(w->Intact == LiveRecords ? " intact" : " DAMAGED");
        }

        /// <summary>One CPU's gcstress (posted to it, or called on the boot CPU); its raw blocks are all freed at the end.</summary>
        private static void Work(ulong argument)
        {
            Worker* w = (Worker*)argument;
            w->Intact = Run(w->MiB, w->LiveMiB, ref w->State, out w->Objects, w);
            while (w->PageCount > 0)
                FreePage(w, w->PageCount - 1);
            while (w->BlockCount > 0)
                FreeBlock(w, w->BlockCount - 1);
        }

        /// <summary>
        /// One raw operation of stress's kinds between managed allocations: a page of order 0..3 (the
        /// CPU's node preferred) or a heap block (16 B..2 KiB, one in eight 2-3 pages) allocated or freed,
        /// each stamped with its address and the CPU and checked when freed: a collection must never
        /// free or write raw memory, and other CPUs' work must not either.
        /// </summary>
        private static void RawOperation(Worker* w, ulong r)
        {
            // Kinds 0 and 1 pages, 2 and 3 heap blocks; even kinds allocate, odd ones free (a full
            // array frees instead, an empty one allocates instead).
            ulong kind = r % 4;
            bool allocate = (kind & 1) == 0;
            if (kind < 2)
            {
                if (allocate && w->PageCount < RawSlots || w->PageCount == 0)
                    AllocatePage(w, r);
                else
                    FreePage(w, (int)((r >> 32) % (ulong)w->PageCount));
                return;
            }
            if (allocate && w->BlockCount < RawSlots || w->BlockCount == 0)
                AllocateBlock(w, r);
            else
                FreeBlock(w, (int)((r >> 32) % (ulong)w->BlockCount));
        }

        private static void AllocatePage(Worker* w, ulong r)
        {
            AllocRequest request = AllocRequest.Any;
            request.PreferredNode = (byte)w->Node;
            request.Owner = Owners.Shell;
            int order = (int)((r >> 8) % 4);
            w->PageAllocs++;
            if (PhysicalMemoryOwner.Allocate(new Order(order), request, out Pfn pfn) != MemoryStatus.Ok)
            {
                w->PageRefused++;
                return;
            }
            *(ulong*)(pfn.Value << 12) = pfn.Value ^ (ulong)w->Cpu;
            w->Pages[w->PageCount] = pfn.Value;
            w->Orders[w->PageCount] = order;
            w->PageCount++;
        }

        private static void AllocateBlock(Worker* w, ulong r)
        {
            nuint size = (r >> 16) % 8 == 0 ? (nuint)(8192 + (r >> 24) % 4096) : (nuint)(16UL << (int)((r >> 20) % 8));
            w->HeapAllocs++;
            if (KernelHeapGlue.TryAlloc(size, 8, out void* block) != HeapStatus.Ok)
            {
                w->HeapRefused++;
                return;
            }
            *(ulong*)block = (ulong)block ^ (ulong)w->Cpu;
            w->Blocks[w->BlockCount++] = (ulong)block;
        }

        private static void FreePage(Worker* w, int victim)
        {
            ulong pfn = w->Pages[victim];
            int order = w->Orders[victim];
            w->PageCount--;
            w->Pages[victim] = w->Pages[w->PageCount];
            w->Orders[victim] = w->Orders[w->PageCount];
            if (*(ulong*)(pfn << 12) != (pfn ^ (ulong)w->Cpu))
                Damaged(w, 1, pfn << 12);
            if (PhysicalMemoryOwner.Free(new Pfn(pfn), new Order(order), Owners.Shell) != MemoryStatus.Ok)
                Damaged(w, 2, pfn << 12);
        }

        private static void FreeBlock(Worker* w, int victim)
        {
            ulong block = w->Blocks[victim];
            w->Blocks[victim] = w->Blocks[--w->BlockCount];
            if (*(ulong*)block != (block ^ (ulong)w->Cpu))
                Damaged(w, 3, block);
            if (KernelHeapGlue.TryFree((void*)block) != HeapStatus.Ok)
                Damaged(w, 4, block);
        }

        private static void Damaged(Worker* w, int what, ulong address)
        {
            if (w->RawDamaged++ == 0)
            {
                w->FirstDamage = what;
                w->FirstDamaged = address;
            }
        }

        /// <summary>
        /// The allocations of one gcstress: the live set, MIB MiB of short-lived objects (with a raw
        /// operation between them when <paramref name="raw"/> asks), then the check. Returns how many
        /// live records are intact (-1 when the extra live data is not).
        /// </summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static int Run(ulong mib, ulong liveMiB, ref ulong state, out ulong objects, Worker* raw)
        {
            Record[] live = new Record[LiveRecords];
            for (int i = 0; i < LiveRecords; i++)
                live[i] = NewRecord(i, ref state, raw);
            // The extra live data: 256 blocks of 4 KiB a MiB, each in a node of a linked graph.
            object[] bulk = new object[liveMiB * 256];
            ulong bulkSum = 0;
            for (int i = 0; i < bulk.Length; i++)
            {
                byte[] block = new byte[4096 - 32];
                block[i % block.Length] = (byte)(i + 1);
                bulkSum += (ulong)(i + 1) & 0xFF;
                bulk[i] = new ListNode { Index = i, Payload = block, Next = i > 0 ? (ListNode)bulk[i - 1] : null };
            }
            ulong target = mib << 20, allocated = 0;
            objects = 0;
            object sink = null;
            while (allocated < target)
            {
                if (raw != null && raw->Raw)
                    RawOperation(raw, Next(ref state));
                ulong pick = Next(ref state) % 16;
                if (pick < 5)
                {
                    string s = NewString((int)(Next(ref state) % 200) + 1, (char)('a' + (int)(Next(ref state) % 26)));
                    allocated += 24 + (ulong)s.Length * 2;
                    objects++;
                    sink = s;
                }
                else if (pick < 9)
                {
                    int n = (int)(Next(ref state) % 64) + 1;
                    object[] refs = new object[n];
                    for (int i = 0; i < n; i++)
                        refs[i] = new ListNode { Index = i };
                    refs[0] = refs;
                    allocated += 24 + (ulong)n * 8 + (ulong)n * 40;
                    objects += (ulong)n + 1;
                    sink = refs;
                }
                else if (pick < 13)
                {
                    int n = (int)(Next(ref state) % 64) + 2;
                    ListNode ring = NewRing(n, null);
                    allocated += (ulong)n * 40;
                    objects += (ulong)n;
                    sink = ring;
                }
                else if (pick < 15)
                {
                    int n = (int)(Next(ref state) % (256 * 1024)) + 4096;
                    byte[] big = new byte[n];
                    big[0] = 1;
                    big[n - 1] = 2;
                    allocated += (ulong)n + 24;
                    objects++;
                    sink = big;
                }
                else
                {
                    int slot = (int)(Next(ref state) % LiveRecords);
                    live[slot] = NewRecord(slot, ref state, raw);
                    allocated += 4096;
                    objects += 4;
                }
            }
            sink = null;
            int intact = 0;
            for (int i = 0; i < LiveRecords; i++)
            {
                if (Intact(live[i]))
                    intact++;
            }
            ulong bulkCheck = 0;
            for (int i = 0; i < bulk.Length; i++)
            {
                ListNode n = (ListNode)bulk[i];
                byte[] block = (byte[])n.Payload;
                bulkCheck += block[i % block.Length];
                if (n.Index != i || (i > 0 && (object)n.Next != bulk[i - 1]))
                    bulkCheck = ulong.MaxValue;
            }
            if (bulkCheck != bulkSum)
                intact = -1;
            return intact;
        }

        /// <summary>A string of <paramref name="length"/> characters from <paramref name="first"/> on (the core library has no string building).</summary>
        private static string NewString(int length, char first)
        {
            object o = ObjectAllocator.NewArray("".m_pEEType, length);
            char* chars = (char*)(ObjectAllocator.AddressOf(o) + 12);
            for (int i = 0; i < length; i++)
                chars[i] = (char)(first + i % 7);
            return (string)o;
        }

        private static ListNode NewRing(int n, object payload)
        {
            ListNode first = new ListNode { Index = 0, Payload = payload };
            ListNode at = first;
            for (int i = 1; i < n; i++)
            {
                at.Next = new ListNode { Index = i, Payload = payload };
                at = at.Next;
            }
            at.Next = first;
            return first;
        }

        private static Record NewRecord(int slot, ref ulong state, Worker* counts)
        {
            Record r = new Record();
            int n = (int)(Next(ref state) % 4000) + 16;
            r.Data = new byte[n];
            if (counts != null)
            {
                counts->Records++;
                if (Machine.NodeOf((ulong)ObjectAllocator.AddressOf(r.Data)) == counts->Node)
                    counts->RecordsOnNode++;
            }
            for (int i = 0; i < n; i++)
                r.Data[i] = (byte)Next(ref state);
            r.Sum = Checksum(r.Data);
            r.Name = NewString((int)(Next(ref state) % 40) + 1, (char)('A' + slot % 26));
            r.NameSum = Checksum(r.Name);
            r.RingLength = (int)(Next(ref state) % 16) + 1;
            r.Ring = NewRing(r.RingLength, r.Name);
            return r;
        }

        private static ulong Checksum(byte[] data)
        {
            ulong h = 14695981039346656037UL;
            for (int i = 0; i < data.Length; i++)
                h = (h ^ data[i]) * 1099511628211UL;
            return h;
        }

        private static ulong Checksum(string s)
        {
            ulong h = 14695981039346656037UL;
            for (int i = 0; i < s.Length; i++)
                h = (h ^ s[i]) * 1099511628211UL;
            return h;
        }

        /// <summary>The record's data and name match their checksums and its ring closes after exactly its length, every node holding the name.</summary>
        private static bool Intact(Record r)
        {
            if (r == null || Checksum(r.Data) != r.Sum || Checksum(r.Name) != r.NameSum)
                return false;
            ListNode at = r.Ring;
            for (int i = 0; i < r.RingLength; i++)
            {
                if (at == null || at.Index != i || (object)at.Payload != (object)r.Name)
                    return false;
                at = at.Next;
            }
            return at == r.Ring;
        }
    }
}
