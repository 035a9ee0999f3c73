using System;
using PoolKernel.Boot.Reports;
using PoolKernel.Heap;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>The NUMA policy commands: <c>policy</c>, <c>numastat</c>, <c>numaalloc</c> (docs/numa.md).</summary>
    internal static unsafe class NumaCommands
    {
        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "policy", "policy [CONTEXT] [MODE [NODES [WEIGHTS]]]: show or set a NUMA policy (CONTEXT kernel|heap, default kernel; MODE local|bind|preferred|preferred-many|interleave|weighted-interleave|default; NODES like 0-2 or 0,2; WEIGHTS 1..255 like 5,2)", &Policy);
            Commands.Register(ref n, "numastat", "per node numa_hit, numa_miss, numa_foreign, interleave_hit, local_node, other_node (Linux numastat)", &Numastat);
            Commands.Register(ref n, "numaalloc", "numaalloc N [CONTEXT]: N (1..65536) pages by CONTEXT's policy (default kernel) from this CPU, counted per node, then freed", &NumaAlloc);
        }

        private const string PolicyUsage = "usage: policy [kernel|heap] [MODE [NODES [WEIGHTS]]]";

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
                    Show(NumaPolicies.KernelContext);
                    Show(NumaPolicies.HeapContext);
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
                Console.Write(NumaPolicies.ContextName(context));
                Console.Write(" keeps ");
                NumaText.WritePolicy(ConsoleOut.Instance, NumaPolicies.Get(context));
                Console.WriteLine();
                return;
            }
            Console.Write("policy: ");
            Console.Write(NumaPolicies.ContextName(context));
            Console.Write(" now ");
            NumaText.WritePolicy(ConsoleOut.Instance, NumaPolicies.Get(context));
            Console.WriteLine(" (new allocations)");
        }

        private static void Show(int context)
        {
            NumaPolicy p = NumaPolicies.Get(context);
            Console.Write("policy: ");
            Console.Write(NumaPolicies.ContextName(context));
            Console.Write(' ');
            NumaText.WritePolicy(ConsoleOut.Instance, p);
            if (p.Mode == PolicyMode.Default)
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
            NumaCounters* copy = (NumaCounters*)KernelHeapGlue.Alloc((nuint)sizeof(NumaCounters), 8);
            if (copy == null)
                return;
            NumaPolicies.CopyCounters(copy);
            NumaText.WriteNumastat(ConsoleOut.Instance, *copy, NumaPolicies.Topology.NodeCount);
            KernelHeapGlue.Free(copy);
        }

        /// <summary>The most pages one numaalloc holds at once.</summary>
        private const ulong MaxNumaAllocPages = 65536;

        private static void NumaAlloc(ref ShellLine line)
        {
            if (!line.Arg(1, "N", 1, MaxNumaAllocPages, out ulong count))
                return;
            int context = NumaPolicies.KernelContext;
            if (line.WordCount > 2)
            {
                context = NumaPolicies.ContextOf(ref line, 2);
                if (context < 0)
                {
                    Console.WriteLine("numaalloc: CONTEXT must be kernel or heap");
                    return;
                }
                if (!line.NoMoreArgs(3))
                    return;
            }
            ulong* frames = (ulong*)KernelHeapGlue.Alloc((nuint)(count * 8), 8);
            ulong* perNode = (ulong*)KernelHeapGlue.Alloc(NodeDistances.MaxNodes * 8, 8);
            if (frames == null || perNode == null)
            {
                if (frames != null)
                    KernelHeapGlue.Free(frames);
                if (perNode != null)
                    KernelHeapGlue.Free(perNode);
                return;
            }
            int cpuNode = KernelHeapGlue.CurrentNode;
            AllocRequest request = AllocRequest.Any;
            request.Owner = Owners.Shell;
            ulong got = 0;
            MemoryStatus status = MemoryStatus.Ok;
            for (; got < count; got++)
            {
                status = NumaPolicies.Allocate(context, cpuNode, new Order(0), request, out Pfn pfn, out int node);
                if (status != MemoryStatus.Ok)
                    break;
                frames[got] = pfn.Value;
                perNode[node]++;
            }
            for (ulong i = 0; i < got; i++)
                PhysicalMemoryOwner.Free(new Pfn(frames[i]), new Order(0), Owners.Shell);
            Console.Write("numaalloc: ");
            Console.Write(got);
            Console.Write(" pages from cpu node ");
            Console.Write(cpuNode);
            Console.Write(':');
            for (int n = 0; n < NumaPolicies.Topology.NodeCount; n++)
            {
                Console.Write(" node");
                Console.Write(n);
                Console.Write(' ');
                Console.Write(perNode[n]);
            }
            if (status != MemoryStatus.Ok)
            {
                Console.Write("; stopped: ");
                Console.Write(MemoryText.Status(status));
            }
            Console.WriteLine("; freed");
            KernelHeapGlue.Free(frames);
            KernelHeapGlue.Free(perNode);
        }
    }
}
