using System;
using PoolKernel.Boot.Reports;
using PoolKernel.Heap;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Runtime;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>'heap' (statistics by size class), 'heaptest N SIZE' (where fresh allocations land), 'objects N SIZE' / 'objects drop' (managed objects held, as a container with 'as').</summary>
    internal static unsafe class HeapCommands
    {
        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "heap", "kernel heap: size classes, pages, overhead, checker", &Heap);
            GcCommands.Register(ref n);
            Commands.Register(ref n, "heaptest", "heaptest [N] [SIZE]: N (1..4096, default 64) raw blocks of SIZE bytes (1..1G, default 64) and N managed objects: their nodes and pools; raw blocks given back, objects left to the collector", &HeapTest);
            Commands.Register(ref n, "objects", "objects N SIZE: N (1..1000000) managed byte arrays of SIZE (0..1M) bytes, patterned, made as a batch linked to the batches made before and held until 'objects drop' (as NAME objects ...: in container NAME's heap arena, charged to it); 'objects check': every batch's pattern", &Objects);
        }

        /// <summary>The most objects one <c>objects</c> command makes, and the largest SIZE.</summary>
        internal const ulong MaxObjects = 1_000_000;
        internal const ulong MaxObjectSize = 1UL << 20;

        /// <summary>
        /// The batches <c>objects N SIZE</c> made, newest first: a batch is an array of its N byte arrays and, in its last
        /// element, the batch made before it (so a batch made in a container's arena links the kernel heap's batches
        /// above and below it: kernel heap to arena and back). Held by this static until <c>objects drop</c>.
        /// </summary>
        private static object[] s_objects;
        private static ulong s_batches;

        /// <summary>The pattern byte at <paramref name="i"/> of array <paramref name="index"/> in batch <paramref name="batch"/> (1 = the oldest).</summary>
        private static byte Pattern(ulong batch, ulong index, ulong i) => (byte)(batch * 31 + index * 7 + i);

        /// <summary>
        /// <c>objects N SIZE</c>: a batch of N byte arrays of SIZE bytes, each filled with its pattern, made by the running
        /// CPU (as the container <c>as</c> names: from its heap arena, charged to it and limited by its quota; an object
        /// refused ends the command and the batch is garbage), linked to the batches before and held until
        /// <c>objects drop</c>, which lets the collector have them all; <c>objects check</c> reads every pattern back.
        /// </summary>
        private static void Objects(ref ShellLine line)
        {
            if (line.WordIs(1, "drop") && line.WordCount == 2)
            {
                ulong batches = s_batches, held = CountObjects();
                s_objects = null;
                s_batches = 0;
                Console.Write("objects: ");
                if (batches == 0)
                {
                    Console.WriteLine("none held");
                    return;
                }
                WriteBatches(batches, held);
                Console.WriteLine(" dropped; the next collection takes them back");
                return;
            }
            if (line.WordIs(1, "check") && line.WordCount == 2)
            {
                Check();
                return;
            }
            if (!line.Arg(1, "N", 1, MaxObjects, out ulong count) || !line.Arg(2, "SIZE", 0, MaxObjectSize, out ulong size) || !line.NoMoreArgs(3))
                return;
            byte owner = ContainerArenas.ActingOwner;
            ulong batch = s_batches + 1;
            object[] made = new object[count + 1];
            for (ulong i = 0; i < count; i++)
            {
                byte[] data = new byte[size];
                for (ulong b = 0; b < size; b++)
                    data[b] = Pattern(batch, i, b);
                made[i] = data;
            }
            made[count] = s_objects;
            s_objects = made;
            s_batches = batch;
            Console.Write("objects: ");
            Console.Write(count);
            Console.Write(" x ");
            Console.Write(size);
            Console.Write(" bytes held, in ");
            if (owner == Owners.Kernel)
            {
                Console.Write("the kernel's heap");
            }
            else
            {
                ContainerArenas.WriteName(owner);
                Console.Write("'s heap arena");
            }
            Console.Write("; ");
            Console.Write(batch);
            Console.WriteLine(batch == 1 ? " batch held" : " batches held");
        }

        /// <summary>Objects in every batch held.</summary>
        private static ulong CountObjects()
        {
            ulong count = 0;
            for (object[] b = s_objects; b != null; b = (object[])b[b.Length - 1])
                count += (ulong)b.Length - 1;
            return count;
        }

        private static void WriteBatches(ulong batches, ulong count)
        {
            Console.Write(batches);
            Console.Write(batches == 1 ? " batch (" : " batches (");
            Console.Write(count);
            Console.Write(" objects)");
        }

        /// <summary><c>objects check</c>: every byte of every batch's arrays against its pattern; the first difference named.</summary>
        private static void Check()
        {
            ulong batch = s_batches;
            for (object[] b = s_objects; b != null; b = (object[])b[b.Length - 1], batch--)
            {
                for (ulong i = 0; i < (ulong)b.Length - 1; i++)
                {
                    byte[] data = (byte[])b[i];
                    for (ulong at = 0; at < (ulong)data.Length; at++)
                    {
                        if (data[at] == Pattern(batch, i, at))
                            continue;
                        Console.Write("objects: CORRUPT: batch ");
                        Console.Write(batch);
                        Console.Write(", array ");
                        Console.Write(i);
                        Console.Write(", byte ");
                        Console.Write(at);
                        Console.WriteLine(" differs from its pattern");
                        return;
                    }
                }
            }
            Console.Write("objects: ");
            WriteBatches(s_batches, CountObjects());
            Console.WriteLine(", every pattern intact");
        }

        private static void Heap(ref ShellLine line)
        {
            HeapTotals t = KernelHeapGlue.GetTotals();
            Console.Write("heap: ");
            Console.Write(t.PagesHeld);
            Console.Write(" pages held (");
            Console.Write(t.SlabPages);
            Console.Write(" in ");
            Console.Write(t.Slabs);
            Console.Write(" slabs, ");
            Console.Write(t.LargePages);
            Console.Write(" in ");
            Console.Write(t.LargeObjects);
            Console.Write(" large objects); ");
            Console.Write(t.SmallObjects);
            Console.Write(" small objects, ");
            Console.Write(t.SmallBytesInUse);
            Console.Write(" bytes; overhead ");
            Console.Write(t.HeaderBytes + t.SlackBytes);
            Console.Write(" bytes; refused frees ");
            Console.Write(t.RefusedFrees);
            Console.Write(", failures ");
            Console.Write(t.Failures);
            Console.WriteLine();
            GcCommands.PrintTotals();
            Console.WriteLine("  class  size  align order  slabs objects  in use bytes  free");
            for (int cls = 0; ; cls++)
            {
                // One class at a time under the locks, printed after they are released.
                KernelHeap* heap = KernelHeapGlue.LockForReport(out KernelHeapGlue.LockState state);
                HeapStatus classStatus = heap->GetClassStats(cls, out HeapClassStats s);
                KernelHeapGlue.UnlockReport(state);
                if (classStatus != HeapStatus.Ok)
                    break;
                if (s.Slabs == 0)
                    continue;
                Console.Write("  ");
                Banner.Pad(cls, 5);
                Banner.Pad(s.ObjectSize, 6);
                Banner.Pad(s.Alignment, 7);
                Banner.Pad(s.SlabOrder, 6);
                Banner.Pad((long)s.Slabs, 7);
                Banner.Pad((long)s.ObjectsInUse, 8);
                Banner.Pad((long)s.BytesInUse, 14);
                Banner.Pad((long)s.FreeObjects, 6);
                Console.WriteLine();
            }
            Report(KernelHeapGlue.Check());
        }

        internal static void Report(in HeapCheckReport r)
        {
            if (r.IsOk)
            {
                Console.WriteLine("heap check: ok");
                return;
            }
            Console.Write("heap check: BROKEN invariant ");
            Console.Write((int)r.Code);
            Console.Write(" at ");
            Console.WriteHex(r.Address);
            Console.Write(" class ");
            Console.Write(r.Class);
            Console.Write(" expected ");
            Console.Write(r.Expected);
            Console.Write(" actual ");
            Console.Write(r.Actual);
            Console.WriteLine();
        }

        /// <summary>A managed object of a fixed size for heaptest; its fields are only its size.</summary>
        private sealed class Payload
        {
#pragma warning disable CS0649
            public ulong A, B, C;
#pragma warning restore CS0649
        }

        /// <summary>The most blocks (and managed objects) one heaptest takes.</summary>
        internal const ulong MaxTestCount = 4096;

        /// <summary>The largest raw block one heaptest asks for (1 GiB).</summary>
        internal const ulong MaxTestSize = 1UL << 30;

        // The running heaptest's raw blocks, s_raw[0..s_count), kept in statics so the abandon hook
        // can give them back when the runtime ends the command (out of memory). Its managed objects
        // are in a managed array: the collector takes them back once the command drops it.
        private static void** s_raw;
        private static ulong s_count;

        /// <summary>Gives back the raw blocks the running heaptest took and their table.</summary>
        /// <summary>The owner heaptest's raw blocks were taken for (the shell, or the container it acts as): their arena.</summary>
        private static byte s_rawOwner;

        private static void ReleaseTestBlocks()
        {
            void** table = s_raw;
            if (table == null)
                return;
            for (ulong i = 0; i < s_count; i++)
            {
                if (table[i] != null)
                    ContainerArenas.Free(s_rawOwner, table[i]);
            }
            KernelHeapGlue.Free(table);
            s_raw = null;
            s_count = 0;
        }

        private static void HeapTest(ref ShellLine line)
        {
            if (!line.OptionalArg(1, "N", 1, MaxTestCount, 64, out ulong count)
                || !line.OptionalArg(2, "SIZE", 1, MaxTestSize, 64, out ulong size)
                || !line.NoMoreArgs(3))
                return;
            void** raw = (void**)KernelHeapGlue.Alloc((nuint)(count * 8), 8);
            if (raw == null)
            {
                Console.WriteLine("heaptest: no memory for its table of blocks; nothing done");
                return;
            }
            s_raw = raw;
            s_count = count;
            // Acting as a container (as NAME heaptest ...), the raw blocks come from its heap arena, charged to it.
            s_rawOwner = ShellOwner.Current;
            RecoveryPoint.OnAbandon(&ReleaseTestBlocks);
            ulong* perNode = stackalloc ulong[8];
            for (int i = 0; i < 8; i++)
                perNode[i] = 0;
            ulong failed = 0;
            for (ulong i = 0; i < count; i++)
            {
                raw[i] = ContainerArenas.Alloc(s_rawOwner, (nuint)size, 16, out _);
                if (raw[i] == null)
                {
                    failed++;
                    continue;
                }
                perNode[Machine.NodeOf((ulong)raw[i]) & 7]++;
            }
            // Managed objects go through the same heap (RhpNewFast -> the heap); the array keeps them
            // while they are counted, the collector takes them back after the command.
            Payload[] managed = new Payload[count];
            ulong managedLocal = 0;
            for (ulong i = 0; i < count; i++)
            {
                Payload p = new Payload();
                managed[i] = p;
                ulong address = (ulong)ObjectAllocator.AddressOf(p);
                if (Machine.NodeOf(address) == KernelHeapGlue.CurrentNode)
                    managedLocal++;
            }
            Console.Write("heaptest: ");
            Console.Write(count);
            Console.Write(" x ");
            Console.Write(size);
            Console.Write(" bytes from the CPU on node ");
            Console.Write(KernelHeapGlue.CurrentNode);
            Console.Write(": by node");
            for (int n = 0; n < Machine.NodeCount && n < 8; n++)
            {
                Console.Write(" ");
                Console.Write(n);
                Console.Write("=");
                Console.Write(perNode[n]);
            }
            Console.Write(", failed ");
            Console.Write(failed);
            Console.Write("; managed objects on the local node ");
            Console.Write(managedLocal);
            Console.Write("/");
            Console.Write(count);
            Console.WriteLine();
            if (count > 0 && raw[0] != null)
            {
                Console.Write("heaptest: first object in pool ");
                PoolId pool = PhysicalMemoryOwner.PoolOf(new Pfn((ulong)raw[0] >> 12));
                PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
                MemoryText.PoolName(ConsoleOut.Instance, pm, pool);
                PhysicalMemoryOwner.Unlock(state);
                Console.WriteLine();
            }
            ReleaseTestBlocks();
        }
    }
}
