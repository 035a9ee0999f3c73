using System;
using PoolKernel.Boot.Reports;
using PoolKernel.Heap;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>The NUMA policy commands: <c>policy</c>, <c>numastat</c>, <c>numaalloc</c> (docs/numa.md).</summary>
    internal static unsafe class NumaCommands
    {
        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "policy", "policy [CONTEXT] [MODE [NODES [WEIGHTS]]]: show or set a NUMA policy (CONTEXT kernel|heap|area|a container's name, default kernel; MODE local|bind|preferred|preferred-many|interleave|weighted-interleave|default; NODES like 0-2 or 0,2; WEIGHTS 1..255 like 5,2)", &Policy);
            Commands.Register(ref n, "numastat", "per node numa_hit, numa_miss, numa_foreign, interleave_hit, local_node, other_node (Linux numastat), then the heap's page refills' share of them", &Numastat);
            Commands.Register(ref n, "replicate", "replicate SIZE NODES: a copy of SIZE bytes (4K..16M) on each node of NODES (like 0-1), all or nothing; filled, each copy checked byte by byte and against the firmware's node ranges, freed", &Replicate);
            Commands.Register(ref n, "numaalloc", "numaalloc N [CONTEXT] [cpu C]: N (1..65536) pages by CONTEXT's policy (default kernel; a container's name: as that container) on CPU C (default this one), counted per node, then freed", &NumaAlloc);
        }

        private const string PolicyUsage = "usage: policy [kernel|heap|area|CONTAINER] [MODE [NODES [WEIGHTS]]]";

        /// <summary>Word <paramref name="index"/> of the line copied to <paramref name="into"/> (room for ShellLine.Capacity bytes); its length.</summary>
        private static int Word(ref ShellLine line, int index, byte* into) => line.CopyWord(index, into, ShellLine.Capacity);

        private static void Policy(ref ShellLine line)
        {
            int context = NumaPolicies.ContextOf(ref line, 1);
            int at = context < 0 ? 1 : 2;
            if (context < 0)
                context = NumaPolicies.KernelContext;
            if (at >= line.WordCount)
            {
                if (at == 1)
                {
                    for (int c = 0; c < NumaPolicies.ContextCount; c++)
                        Show(c);
                    for (ulong m = NumaPolicies.OwnersWithPolicies; m != 0; m &= m - 1)
                        Show(NumaPolicies.ContainerContext((byte)System.Numerics.BitOperations.TrailingZeroCount(m)));
                }
                else
                {
                    Show(context);
                }
                return;
            }
            if (line.WordCount > at + 3)
            {
                Console.WriteLine(PolicyUsage);
                return;
            }
            byte* word = stackalloc byte[ShellLine.Capacity];
            ushort* weights = stackalloc ushort[PolicyParser.MaxWeights];
            int length = Word(ref line, at, word);
            PolicyStatus status = PolicyParser.ParseMode(word, length, out PolicyMode mode);
            if (status != PolicyStatus.Ok && at == 1 && line.WordCount > 2)
            {
                // More words after an unknown first word: it was meant as a context (a container not created yet, a typo).
                Console.Write("policy: refused, no context named ");
                line.WriteWord(1);
                Console.WriteLine(" (kernel, heap, area or a container's name); nothing changed");
                return;
            }
            ulong nodes = 0;
            int weightCount = 0;
            if (status == PolicyStatus.Ok && at + 1 < line.WordCount)
            {
                length = Word(ref line, at + 1, word);
                status = PolicyParser.ParseNodeList(word, length, out nodes);
            }
            if (status == PolicyStatus.Ok && at + 2 < line.WordCount)
            {
                length = Word(ref line, at + 2, word);
                status = PolicyParser.ParseWeights(word, length, weights, out weightCount);
            }
            NumaPolicy policy = default;
            if (status == PolicyStatus.Ok)
                status = NumaPolicy.Make(mode, nodes, weights, weightCount, out policy);
            if (status == PolicyStatus.Ok)
                status = NumaPolicies.Set(context, policy);
            if (status != PolicyStatus.Ok)
            {
                Console.Write("policy: refused, ");
                Console.Write(NumaText.Reason(status));
                Console.Write("; ");
                WriteContext(context);
                Console.Write(" keeps ");
                NumaText.WritePolicy(ConsoleOut.Instance, NumaPolicies.Get(context));
                Console.WriteLine();
                return;
            }
            Console.Write("policy: ");
            WriteContext(context);
            Console.Write(" now ");
            NumaText.WritePolicy(ConsoleOut.Instance, NumaPolicies.Get(context));
            Console.WriteLine(" (new allocations)");
        }

        /// <summary>Writes a context's name: kernel, heap, area, or a container's own name.</summary>
        private static void WriteContext(int context)
        {
            byte owner = NumaPolicies.OwnerOfContext(context);
            if (owner == FrameOwner.None)
            {
                Console.Write(NumaPolicies.ContextName(context));
                return;
            }
            if (!Containers.Usage(owner, out ContainerUsage usage))
            {
                Console.Write("owner ");
                Console.Write((ulong)owner);
                return;
            }
            for (int i = 0; i < usage.Name.Length; i++)
                Console.Write((char)usage.Name[i]);
        }

        private static void Show(int context)
        {
            NumaPolicy p = NumaPolicies.Get(context);
            Console.Write("policy: ");
            WriteContext(context);
            Console.Write(' ');
            NumaText.WritePolicy(ConsoleOut.Instance, p);
            if (p.Mode == PolicyMode.Default && NumaPolicies.OwnerOfContext(context) != FrameOwner.None)
            {
                // A container without a policy of its own: its pages are placed by pool choice, as any owner's.
                Console.Write(" (pool choice)");
            }
            else if (p.Mode == PolicyMode.Default)
            {
                Console.Write(" (follows kernel: ");
                NumaText.WritePolicy(ConsoleOut.Instance, NumaPolicies.Get(NumaPolicies.KernelContext));
                Console.Write(")");
            }
            Console.WriteLine();
        }

        private static void Numastat(ref ShellLine line)
        {
            if (!line.NoMoreArgs(1))
                return;
            NumaCounters* copy = (NumaCounters*)KernelHeapGlue.Alloc((nuint)(2 * sizeof(NumaCounters)), 8);
            if (copy == null)
                return;
            NumaPolicies.CopyCounters(copy, copy + 1);
            NumaText.WriteNumastat(ConsoleOut.Instance, *copy, NumaPolicies.Topology.NodeCount);
            Console.WriteLine("of which heap page refills:");
            NumaText.WriteNumastat(ConsoleOut.Instance, copy[1], NumaPolicies.Topology.NodeCount);
            KernelHeapGlue.Free(copy);
        }

        /// <summary>The largest buffer replicate copies (16 MiB: a few seconds of checking under TCG).</summary>
        private const ulong MaxReplicateBytes = 16UL << 20;

        private static void Replicate(ref ShellLine line)
        {
            if (!line.Arg(1, "SIZE", 4096, MaxReplicateBytes, out ulong size))
                return;
            byte* word = stackalloc byte[ShellLine.Capacity];
            int length = Word(ref line, 2, word);
            ulong nodes = 0;
            PolicyStatus parsed = length == 0 ? PolicyStatus.NodesMissing : PolicyParser.ParseNodeList(word, length, out nodes);
            if (parsed != PolicyStatus.Ok || !line.NoMoreArgs(3))
            {
                if (parsed != PolicyStatus.Ok)
                {
                    Console.Write("replicate: NODES refused, ");
                    Console.WriteLine(NumaText.Reason(parsed));
                }
                return;
            }
            ulong pages = (size + 4095) / 4096;
            MemoryStatus status = NumaPolicies.Replicate(pages, nodes, Owners.Shell, out ReplicaSet set, out int failed);
            if (status != MemoryStatus.Ok)
            {
                Console.Write("replicate: refused, ");
                Console.Write(MemoryText.Status(status));
                if (failed >= 0)
                {
                    Console.Write(" on node ");
                    Console.Write(failed);
                    Console.Write(", every copy given back");
                }
                else
                {
                    Console.Write(" (every node must exist and have memory)");
                }
                Console.WriteLine();
                return;
            }
            byte* source = (byte*)KernelHeapGlue.Alloc((nuint)size, 8);
            if (source == null)
            {
                NumaPolicies.FreeReplicas(ref set, Owners.Shell);
                return;
            }
            for (ulong i = 0; i < size; i++)
                source[i] = Pattern(i);
            Replication.Write(set, 0, source, size, null);
            KernelHeapGlue.Free(source);
            int cpuNode = KernelHeapGlue.CurrentNode;
            ulong read = (ulong)Replication.Read(set, cpuNode, NumaPolicies.Topology, null);
            bool allGood = true;
            for (ulong m = set.Nodes; m != 0; m &= m - 1)
            {
                int node = System.Numerics.BitOperations.TrailingZeroCount(m);
                ulong address = set.CopyOn(node).Value << 12;
                // The node by the firmware's ranges (SRAT), not by the allocator's own records.
                int first = Machine.NodeOf(address), last = Machine.NodeOf(address + size - 1);
                ulong bad = 0;
                byte* copy = (byte*)address;
                for (ulong i = 0; i < size; i++)
                {
                    if (copy[i] != Pattern(i))
                        bad++;
                }
                bool good = first == node && last == node && bad == 0;
                allGood &= good;
                Console.Write("replicate: node ");
                Console.Write(node);
                Console.Write(" copy at ");
                Console.WriteHex(address);
                Console.Write(" on node ");
                Console.Write(first);
                if (bad != 0)
                {
                    Console.Write(", ");
                    Console.Write(bad);
                    Console.Write(" bytes differ");
                }
                Console.Write(good ? ": ok" : ": WRONG");
                if (address == read)
                {
                    Console.Write(" (read by this cpu, node ");
                    Console.Write(cpuNode);
                    Console.Write(')');
                }
                Console.WriteLine();
            }
            ulong copies = (ulong)System.Numerics.BitOperations.PopCount(set.Nodes);
            status = NumaPolicies.FreeReplicas(ref set, Owners.Shell);
            Console.Write("replicate: ");
            Console.Write(copies);
            Console.Write(" copies of ");
            Console.Write(size);
            Console.Write(" bytes ");
            Console.Write(allGood ? "verified" : "NOT verified");
            Console.Write(", freed: ");
            Console.WriteLine(MemoryText.Status(status));
        }

        /// <summary>The byte replicate writes at offset <paramref name="i"/>: varies within and across pages.</summary>
        private static byte Pattern(ulong i) => (byte)(i * 7 + (i >> 12) * 13 + 1);

        /// <summary>The most pages one numaalloc holds at once.</summary>
        private const ulong MaxNumaAllocPages = 65536;

        /// <summary>One numaalloc's work, run on the CPU asked (<see cref="RunJob"/>).</summary>
        private struct Job
        {
            public int Context;
            public ulong Count;
            public ulong* Frames;
            public ulong* PerNode;
            public ulong Got;
            public int CpuNode;
            public MemoryStatus Status;
        }

        /// <summary>Allocates the job's pages by its context's policy on the running CPU, then frees them.</summary>
        private static void RunJob(ulong argument)
        {
            Job* job = (Job*)argument;
            job->CpuNode = KernelHeapGlue.CurrentNode;
            AllocRequest request = AllocRequest.Any;
            byte owner = NumaPolicies.OwnerOfContext(job->Context);
            request.Owner = owner == FrameOwner.None ? Owners.Shell : owner;
            job->Status = MemoryStatus.Ok;
            for (job->Got = 0; job->Got < job->Count; job->Got++)
            {
                job->Status = NumaPolicies.Allocate(job->Context, job->CpuNode, new Order(0), request, out Pfn pfn, out int node);
                if (job->Status != MemoryStatus.Ok)
                    break;
                job->Frames[job->Got] = pfn.Value;
                job->PerNode[node]++;
            }
            for (ulong i = 0; i < job->Got; i++)
                PhysicalMemoryOwner.Free(new Pfn(job->Frames[i]), new Order(0), request.Owner);
        }

        private static void NumaAlloc(ref ShellLine line)
        {
            if (!line.Arg(1, "N", 1, MaxNumaAllocPages, out ulong count))
                return;
            Job job = default;
            job.Context = NumaPolicies.KernelContext;
            int at = 2;
            if (line.WordCount > at && !line.WordIs(at, "cpu"))
            {
                job.Context = NumaPolicies.ContextOf(ref line, at);
                if (job.Context < 0)
                {
                    Console.WriteLine("numaalloc: CONTEXT must be kernel, heap, area or a container's name");
                    return;
                }
                at++;
            }
            ulong cpu = (ulong)Smp.CurrentNumber;
            if (line.WordIs(at, "cpu"))
            {
                if (!line.Arg(at + 1, "C", 0, (ulong)Smp.Count - 1, out cpu))
                    return;
                at += 2;
            }
            if (!line.NoMoreArgs(at))
                return;
            job.Count = count;
            job.Frames = (ulong*)KernelHeapGlue.Alloc((nuint)(count * 8), 8);
            job.PerNode = (ulong*)KernelHeapGlue.Alloc(NodeDistances.MaxNodes * 8, 8);
            if (job.Frames != null && job.PerNode != null)
            {
                if ((int)cpu == Smp.CurrentNumber)
                {
                    RunJob((ulong)&job);
                }
                else if (Smp.Post((int)cpu, &RunJob, (ulong)&job))
                {
                    Smp.WaitForWork((int)cpu);
                }
                else
                {
                    Console.Write("numaalloc: cpu ");
                    Console.Write(cpu);
                    Console.WriteLine(" is not online or busy; nothing allocated");
                    job.Count = 0;
                }
                if (job.Count != 0)
                    Report(ref job, (int)cpu);
            }
            if (job.Frames != null)
                KernelHeapGlue.Free(job.Frames);
            if (job.PerNode != null)
                KernelHeapGlue.Free(job.PerNode);
        }

        private static void Report(ref Job job, int cpu)
        {
            Console.Write("numaalloc: ");
            Console.Write(job.Got);
            Console.Write(" pages from cpu ");
            Console.Write(cpu);
            Console.Write(" (node ");
            Console.Write(job.CpuNode);
            Console.Write("):");
            for (int n = 0; n < NumaPolicies.Topology.NodeCount; n++)
            {
                Console.Write(" node");
                Console.Write(n);
                Console.Write(' ');
                Console.Write(job.PerNode[n]);
            }
            if (job.Status != MemoryStatus.Ok)
            {
                Console.Write("; stopped: ");
                Console.Write(MemoryText.Status(job.Status));
            }
            Console.WriteLine("; freed");
        }
    }
}
