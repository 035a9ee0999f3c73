using PoolKernel.Boot.Text;
using PoolKernel.Memory;

namespace PoolKernel.Boot.Reports
{
    /// <summary>
    /// The text of NUMA policies and counters: why a policy was refused (one line each, for the
    /// command line and the shell), a policy in the form the shell reads back, and numastat's table.
    /// Allocates nothing.
    /// </summary>
    public static unsafe class NumaText
    {
        /// <summary>Why a policy was refused, in words.</summary>
        public static string Reason(PolicyStatus status)
        {
            switch (status)
            {
                case PolicyStatus.Ok: return "ok";
                case PolicyStatus.UnknownMode: return "unknown mode; modes: default local bind preferred preferred-many interleave weighted-interleave";
                case PolicyStatus.NodeListSyntax: return "nodes must be a node list such as 0-2 or 0,2";
                case PolicyStatus.UnknownNode: return "a node of the list is not a node of this machine";
                case PolicyStatus.EmptyMask: return "the node list names no node";
                case PolicyStatus.OneNodeOnly: return "preferred takes exactly one node (preferred-many takes several)";
                case PolicyStatus.NoMemory: return "no node of the list has memory";
                case PolicyStatus.NodesMissing: return "this mode needs a node list";
                case PolicyStatus.NodesNotTaken: return "local and default take no nodes";
                case PolicyStatus.WeightSyntax: return "weights must be comma-separated numbers such as 5,2";
                case PolicyStatus.WeightZero: return "a weight is 0 (weights are 1..255)";
                case PolicyStatus.WeightTooLarge: return "a weight is above 255 (weights are 1..255)";
                case PolicyStatus.WeightCount: return "one weight per node of the list is needed";
                case PolicyStatus.WeightsNotTaken: return "only weighted-interleave takes weights";
                default: return "unknown policy status";
            }
        }

        /// <summary>A node mask as a Linux node list (<c>0-2,5</c>); <c>none</c> when empty.</summary>
        public static void WriteNodeList(TextOut w, ulong mask)
        {
            if (mask == 0)
            {
                w.Write("none");
                return;
            }
            bool first = true;
            int node = 0;
            while (node < NodeDistances.MaxNodes)
            {
                if (((mask >> node) & 1) == 0)
                {
                    node++;
                    continue;
                }
                int last = node;
                while (last + 1 < NodeDistances.MaxNodes && ((mask >> (last + 1)) & 1) != 0)
                    last++;
                if (!first)
                    w.Write(',');
                w.Write(node);
                if (last > node)
                {
                    w.Write('-');
                    w.Write(last);
                }
                first = false;
                node = last + 1;
            }
        }

        /// <summary>A policy as the shell reads it back: <c>MODE [NODES [WEIGHTS]]</c>.</summary>
        public static void WritePolicy(TextOut w, in NumaPolicy policy)
        {
            w.Write(PolicyParser.Name(policy.Mode));
            if (policy.Mode == PolicyMode.Local || policy.Mode == PolicyMode.Default)
                return;
            w.Write(' ');
            WriteNodeList(w, policy.Nodes);
            if (policy.Mode != PolicyMode.WeightedInterleave)
                return;
            w.Write(' ');
            bool first = true;
            for (int node = 0; node < NodeDistances.MaxNodes; node++)
            {
                if (((policy.Nodes >> node) & 1) == 0)
                    continue;
                if (!first)
                    w.Write(',');
                w.Write((uint)policy.Weight(node));
                first = false;
            }
        }

        /// <summary>The name numastat gives <paramref name="e"/>.</summary>
        public static string EventName(NumaEvent e)
        {
            switch (e)
            {
                case NumaEvent.Hit: return "numa_hit";
                case NumaEvent.Miss: return "numa_miss";
                case NumaEvent.Foreign: return "numa_foreign";
                case NumaEvent.InterleaveHit: return "interleave_hit";
                case NumaEvent.LocalNode: return "local_node";
                default: return "other_node";
            }
        }

        /// <summary>Column width of numastat's table.</summary>
        private const int Column = 16;

        /// <summary>numastat's table: a header of node names, then one line per counter, a column per node.</summary>
        public static void WriteNumastat(TextOut w, in NumaCounters counters, int nodeCount)
        {
            Pad(w, 0, Column);
            for (int n = 0; n < nodeCount; n++)
            {
                Pad(w, 4 + Digits((ulong)n), Column);
                w.Write("node");
                w.Write(n);
            }
            w.WriteLine();
            for (int e = 0; e < NumaCounters.Events; e++)
            {
                string name = EventName((NumaEvent)e);
                w.Write(name);
                Pad(w, name.Length, Column);
                for (int n = 0; n < nodeCount; n++)
                {
                    ulong value = counters.Get(n, (NumaEvent)e);
                    Pad(w, Digits(value), Column);
                    w.Write(value);
                }
                w.WriteLine();
            }
        }

        private static void Pad(TextOut w, int used, int width)
        {
            for (int i = used; i < width; i++)
                w.Write(' ');
        }

        private static int Digits(ulong value)
        {
            int d = 1;
            while (value >= 10)
            {
                value /= 10;
                d++;
            }
            return d;
        }
    }
}
