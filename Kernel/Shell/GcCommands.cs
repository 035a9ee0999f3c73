using System;
using PoolKernel.Heap;
using PoolKernel.Memory;
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
            Commands.Register(ref n, "gc", "run the collector: objects and bytes freed, live after, pages, pause in TSC ticks; 'gc corrupt': test command, a dangling reference the collector reports (status 35)", &Collect);
            Commands.Register(ref n, "gcstress", "gcstress MIB [LIVE]: allocate MIB (1..1048576) MiB of short-lived objects (strings, reference arrays, cyclic lists, large arrays) around a checksummed live set (64 records, plus LIVE MiB (0..4096, default 0) of 4 KiB blocks in an object graph), then check it", &Stress);
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
            Console.WriteLine();
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

        private static ulong s_state;

        private static ulong Next()
        {
            s_state ^= s_state << 13;
            s_state ^= s_state >> 7;
            s_state ^= s_state << 17;
            return s_state;
        }

        private static void Stress(ref ShellLine line)
        {
            if (!line.Arg(1, "MIB", 1, MaxStressMiB, out ulong mib)
                || !line.OptionalArg(2, "LIVE", 0, MaxLiveMiB, 0, out ulong liveMiB)
                || !line.NoMoreArgs(3))
                return;
            s_state = 0x9E3779B97F4A7C15UL ^ mib;
            KernelHeapGlue.Collect();
            ulong pagesBefore = KernelHeapGlue.PagesHeld;
            ulong collectionsBefore = Gc.Collections;
            ulong maxPauseBefore = Gc.MaxPauseTicks;
            Gc.MaxPauseTicks = 0;
            int intact = Run(mib, liveMiB, out ulong objects);
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
            Console.Write("gcstress: ");
            Console.Write(mib);
            Console.Write(" MiB (");
            Console.Write(liveMiB);
            Console.Write(" MiB extra live) in ");
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
            Console.Write("; live set ");
            Console.Write(intact);
            Console.Write("/");
            Console.Write(LiveRecords);
            Console.WriteLine(intact == LiveRecords && checkOk ? " intact" : " DAMAGED");
        }

        /// <summary>
        /// The allocations of one gcstress: the live set, MIB MiB of short-lived objects, then the
        /// check. Returns how many live records are intact (-1 when the extra live data is not).
        /// </summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static int Run(ulong mib, ulong liveMiB, out ulong objects)
        {
            Record[] live = new Record[LiveRecords];
            for (int i = 0; i < LiveRecords; i++)
                live[i] = NewRecord(i);
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
                ulong pick = Next() % 16;
                if (pick < 5)
                {
                    string s = NewString((int)(Next() % 200) + 1, (char)('a' + (int)(Next() % 26)));
                    allocated += 24 + (ulong)s.Length * 2;
                    objects++;
                    sink = s;
                }
                else if (pick < 9)
                {
                    int n = (int)(Next() % 64) + 1;
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
                    int n = (int)(Next() % 64) + 2;
                    ListNode ring = NewRing(n, null);
                    allocated += (ulong)n * 40;
                    objects += (ulong)n;
                    sink = ring;
                }
                else if (pick < 15)
                {
                    int n = (int)(Next() % (256 * 1024)) + 4096;
                    byte[] big = new byte[n];
                    big[0] = 1;
                    big[n - 1] = 2;
                    allocated += (ulong)n + 24;
                    objects++;
                    sink = big;
                }
                else
                {
                    int slot = (int)(Next() % LiveRecords);
                    live[slot] = NewRecord(slot);
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

        private static Record NewRecord(int slot)
        {
            Record r = new Record();
            int n = (int)(Next() % 4000) + 16;
            r.Data = new byte[n];
            for (int i = 0; i < n; i++)
                r.Data[i] = (byte)Next();
            r.Sum = Checksum(r.Data);
            r.Name = NewString((int)(Next() % 40) + 1, (char)('A' + slot % 26));
            r.NameSum = Checksum(r.Name);
            r.RingLength = (int)(Next() % 16) + 1;
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
