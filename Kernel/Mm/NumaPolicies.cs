using System;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Platform;
using PoolKernel.Startup;

namespace PoolKernel.Mm
{
    /// <summary>
    /// The one holder of the kernel's NUMA policies (docs/numa.md): the kernel-wide policy (Linux's
    /// default: <c>local</c>; <c>numa_policy=</c> on the command line; the shell's <c>policy</c>), a
    /// policy per allocation context (today the heap; <see cref="PolicyMode.Default"/> = follow the
    /// kernel-wide one), the numastat counters, and the machine's <see cref="NumaTopology"/>. Pool choice
    /// takes a policy as a plan of nodes (<see cref="PolicyPlan"/>); the requesting CPU's node is the
    /// caller's to pass.
    ///
    /// Locking: <see cref="s_lock"/> guards every field below except <see cref="s_heapIsLocal"/> (written
    /// under it, read without it). It is a leaf: nothing else is taken while it is held; an allocation
    /// takes it to plan, releases it, allocates (the pools lock themselves), then takes it again to count.
    /// </summary>
    internal static unsafe class NumaPolicies
    {
        /// <summary>The allocation contexts that have a policy, by number: the kernel-wide one first.</summary>
        internal const int KernelContext = 0, HeapContext = 1, AreaContext = 2, ContextCount = 3;

        private static SpinLock s_lock;
        private static PolicyContext s_kernel;
        private static PolicyContext s_heap;
        /// <summary>The movable areas' policy (Mm/VmAreas.cs: the frames `vmalloc` backs an area with); Default follows the kernel-wide one.</summary>
        private static PolicyContext s_area;
        private static NumaCounters s_counters;
        private static NumaTopology s_topology;
        private static bool s_installed;

        /// <summary>
        /// The kernel's own replicated data (issue 16): the node-distance table, one copy on every node
        /// with memory. Every policy allocation reads it (the plan orders nodes by distance) on whichever
        /// CPU allocates, and after boot nothing writes it: read-mostly, read everywhere, a page a node.
        /// Written once at <see cref="Install"/> (before the other CPUs start), read-only after.
        /// </summary>
        private static ReplicaSet s_distanceCopies;
        private static DistanceCopies s_copyOf;

        /// <summary>The address of the distance copy CPUs of node n read (their own, else the nearest): fixed at Install.</summary>
        private struct DistanceCopies
        {
            public fixed ulong Address[NodeDistances.MaxNodes];
        }

        /// <summary>True when the heap's effective policy is local: <see cref="HeapNode"/> answers without the lock.</summary>
        private static volatile bool s_heapIsLocal = true;

        internal static string ContextName(int context) => context == HeapContext ? "heap" : context == AreaContext ? "area" : "kernel";

        /// <summary>The policy context <paramref name="context"/> names (the lock held).</summary>
        private static ref PolicyContext ContextLocked(int context)
        {
            if (context == HeapContext)
                return ref s_heap;
            if (context == AreaContext)
                return ref s_area;
            return ref s_kernel;
        }

        /// <summary>The context named <paramref name="line"/>'s word <paramref name="index"/>, or -1.</summary>
        internal static int ContextOf(ref Shell.ShellLine line, int index)
        {
            for (int c = 0; c < ContextCount; c++)
            {
                if (line.WordIs(index, ContextName(c)))
                    return c;
            }
            return -1;
        }

        /// <summary>
        /// Once, after the pools exist (the command line's pools included) and before the heap: takes the
        /// topology and applies <c>numa_policy=</c>, saying on one line what it did or why it was refused
        /// (the policy then stays local).
        /// </summary>
        internal static void Install()
        {
            s_lock.SetInterruptHooks(&Cpu.SaveAndDisableInterrupts, &Cpu.RestoreInterrupts);
            ulong state = PhysicalMemoryOwner.EnterCalls();
            s_topology = NumaTopology.Of(ref *PhysicalMemoryOwner.Unguarded);
            PhysicalMemoryOwner.LeaveCalls(state);
            ReplicateDistances();
            s_kernel.Policy = NumaPolicy.Local;
            s_heap.Policy = NumaPolicy.Default;
            s_area.Policy = NumaPolicy.Default;
            s_installed = true;
            Boot.CommandLine.BootOptions* o = KernelCommandLine.Options;
            if (o == null || !o->NumaPolicyGiven)
                return;
            PolicyStatus status = s_kernel.Set(o->NumaPolicy, s_topology);
            Console.Write("cmdline: 'numa_policy=");
            NumaText.WritePolicy(ConsoleOut.Instance, o->NumaPolicy);
            if (status != PolicyStatus.Ok)
            {
                Console.Write("': ");
                Console.Write(NumaText.Reason(status));
                Console.WriteLine("; ignored, the policy stays local");
                return;
            }
            Console.WriteLine("': kernel-wide policy set");
            RefreshHeapIsLocal();
        }

        /// <summary>
        /// Puts a copy of the distance table on every node with memory and points each node's CPUs at
        /// the nearest copy. Without memory for it (a machine that tight has other problems) the policies
        /// read the pools' own table, and a line says so.
        /// </summary>
        private static void ReplicateDistances()
        {
            int bytes = s_topology.NodeCount * s_topology.NodeCount;
            MemoryStatus status = Replicate((ulong)(bytes + 4095) / 4096, s_topology.MemoryNodes, Owners.Kernel, out s_distanceCopies, out int failed);
            if (status != MemoryStatus.Ok)
            {
                Console.Write("numa: no copy of the distance table on node ");
                Console.Write(failed);
                Console.Write(": ");
                Console.Write(MemoryText.Status(status));
                Console.WriteLine("; policies read the pools' table");
                return;
            }
            byte* table = stackalloc byte[bytes];
            s_topology.CopyDistances(table);
            Replication.Write(s_distanceCopies, 0, table, (ulong)bytes, null);
            for (int node = 0; node < s_topology.NodeCount; node++)
                s_copyOf.Address[node] = (ulong)Replication.Read(s_distanceCopies, node, s_topology, null);
        }

        /// <summary>The topology a CPU on <paramref name="cpuNode"/> plans with: distances from its node's copy.</summary>
        private static NumaTopology TopologyFor(int cpuNode)
        {
            if ((uint)cpuNode >= (uint)s_topology.NodeCount || s_copyOf.Address[cpuNode] == 0)
                return s_topology;
            return s_topology.WithDistances((byte*)s_copyOf.Address[cpuNode]);
        }

        /// <summary>
        /// <see cref="Replication.Allocate"/> with interrupts off (the pools lock themselves) and their owner's policy: a copy of
        /// <paramref name="pages"/> frames on every node of <paramref name="nodes"/>, all or nothing.
        /// </summary>
        internal static MemoryStatus Replicate(ulong pages, ulong nodes, byte owner, out ReplicaSet set, out int failedNode)
        {
            ulong state = PhysicalMemoryOwner.EnterCalls();
            MemoryStatus status = Replication.Allocate(ref *PhysicalMemoryOwner.Unguarded, pages, nodes, owner, s_topology, out set, out failedNode);
            PhysicalMemoryOwner.LeaveCalls(state);
            return PhysicalMemoryOwner.Passed(status);
        }

        /// <summary><see cref="Replication.Free"/> with interrupts off and their owner's policy.</summary>
        internal static MemoryStatus FreeReplicas(ref ReplicaSet set, byte owner)
        {
            ulong state = PhysicalMemoryOwner.EnterCalls();
            MemoryStatus status = Replication.Free(ref *PhysicalMemoryOwner.Unguarded, ref set, owner);
            PhysicalMemoryOwner.LeaveCalls(state);
            return PhysicalMemoryOwner.Passed(status);
        }

        /// <summary>The machine's nodes as policies see them.</summary>
        internal static NumaTopology Topology => s_topology;

        /// <summary>A copy of <paramref name="context"/>'s policy.</summary>
        internal static NumaPolicy Get(int context)
        {
            ulong state = s_lock.Acquire();
            NumaPolicy p = ContextLocked(context).Policy;
            s_lock.Release(state);
            return p;
        }

        /// <summary>
        /// Replaces <paramref name="context"/>'s policy (new allocations only); refused, with the old
        /// policy kept, when it is not valid on this machine. The kernel-wide context cannot be Default.
        /// </summary>
        internal static PolicyStatus Set(int context, in NumaPolicy policy)
        {
            NumaPolicy p = policy;
            if (context == KernelContext && p.Mode == PolicyMode.Default)
                p = NumaPolicy.Local;
            ulong state = s_lock.Acquire();
            PolicyStatus status = ContextLocked(context).Set(p, s_topology);
            s_lock.Release(state);
            if (status == PolicyStatus.Ok)
                RefreshHeapIsLocal();
            return status;
        }

        private static void RefreshHeapIsLocal()
        {
            ulong state = s_lock.Acquire();
            PolicyMode heap = s_heap.Policy.Mode == PolicyMode.Default ? s_kernel.Policy.Mode : s_heap.Policy.Mode;
            s_heapIsLocal = heap == PolicyMode.Local || heap == PolicyMode.Default;
            s_lock.Release(state);
        }

        /// <summary>
        /// The policies' invariants, for the shell's <c>check</c>: both contexts' policies valid on the
        /// machine (Set refuses anything else, so a failure means corrupted state) and the counters
        /// consistent (<see cref="NumaCounters.Consistent"/>). Null when they hold, else what broke.
        /// </summary>
        internal static string Check()
        {
            ulong state = s_lock.Acquire();
            string broken = null;
            if (s_kernel.Policy.Validate(s_topology) != PolicyStatus.Ok || s_kernel.Policy.Mode == PolicyMode.Default)
                broken = "the kernel-wide policy is not valid on this machine";
            else if (s_heap.Policy.Validate(s_topology) != PolicyStatus.Ok)
                broken = "the heap's policy is not valid on this machine";
            else if (s_area.Policy.Validate(s_topology) != PolicyStatus.Ok)
                broken = "the movable areas' policy is not valid on this machine";
            else if (!s_counters.Consistent())
                broken = "numastat counters disagree (misses != foreigns, or hits + misses != local + other)";
            s_lock.Release(state);
            return broken;
        }

        /// <summary>A copy of the counters (for numastat and tests).</summary>
        internal static void CopyCounters(NumaCounters* into)
        {
            ulong state = s_lock.Acquire();
            *into = s_counters;
            s_lock.Release(state);
        }

        private static PolicyPlan Plan(int context, int cpuNode)
        {
            ulong state = s_lock.Acquire();
            NumaTopology topology = TopologyFor(cpuNode);
            PolicyPlan plan = ContextLocked(context).Plan(ref s_kernel, cpuNode, topology);
            s_lock.Release(state);
            return plan;
        }

        private static void Record(in PolicyPlan plan, int node)
        {
            ulong state = s_lock.Acquire();
            s_counters.Record(plan, node);
            s_lock.Release(state);
        }

        /// <summary>
        /// A block by <paramref name="context"/>'s policy for a CPU on <paramref name="cpuNode"/>, counted in
        /// numastat; the node it landed on in <paramref name="node"/>. Statuses as <see cref="PolicyAllocator.Allocate"/>
        /// under the pools' owner's policy (corruption fails fast).
        /// </summary>
        internal static MemoryStatus Allocate(int context, int cpuNode, Order order, in AllocRequest request, out Pfn pfn, out int node)
        {
            PolicyPlan plan = Plan(context, cpuNode);
            MemoryStatus status = PhysicalMemoryOwner.AllocateByPlan(plan, order, request, out pfn, out node);
            if (status == MemoryStatus.Ok)
                Record(plan, node);
            return status;
        }

        /// <summary>
        /// A block on <paramref name="node"/> only (a bind plan of that one node, as Linux's migration asks
        /// for its target), counted in numastat when it succeeds; nothing is counted when it fails.
        /// InvalidArgument (nothing done): a node outside the topology or without memory.
        /// </summary>
        internal static MemoryStatus AllocateOnNode(int node, int cpuNode, Order order, in AllocRequest request, out Pfn pfn)
        {
            pfn = Pfn.None;
            ulong state = s_lock.Acquire();
            NumaTopology topology = TopologyFor(cpuNode);
            s_lock.Release(state);
            if ((uint)node >= (uint)topology.NodeCount || ((topology.MemoryNodes >> node) & 1) == 0)
                return MemoryStatus.InvalidArgument;
            if (NumaPolicy.Make(PolicyMode.Bind, 1UL << node, null, 0, out NumaPolicy bind) != PolicyStatus.Ok)
                return MemoryStatus.InvalidArgument;
            InterleaveCursor unused = default;
            PolicyPlan plan = PolicyPlan.For(bind, ref unused, cpuNode, topology);
            MemoryStatus status = PhysicalMemoryOwner.AllocateByPlan(plan, order, request, out pfn, out int landed);
            if (status == MemoryStatus.Ok)
                Record(plan, landed);
            return status;
        }

        /// <summary>
        /// The node the heap should take its next object from, for a CPU on <paramref name="cpuNode"/>:
        /// the intended node of the heap's effective policy (Linux's slab allocator asks the task policy
        /// per object the same way). Local (the default) answers <paramref name="cpuNode"/> without the lock.
        /// The heap falls back from that node by its own rules (docs/heap.md); these choices are not numastat events.
        /// </summary>
        internal static int HeapNode(int cpuNode)
        {
            if (s_heapIsLocal || !s_installed)
                return cpuNode;
            int node = Plan(HeapContext, cpuNode).Intended;
            return node >= 0 ? node : cpuNode;
        }
    }
}
