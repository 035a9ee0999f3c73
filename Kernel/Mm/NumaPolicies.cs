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
    /// policy per allocation context (the heap, the movable areas, and each container, keyed by its owner
    /// number; <see cref="PolicyMode.Default"/> = follow the kernel-wide one, for a container: no policy),
    /// the numastat counters, and the machine's <see cref="NumaTopology"/>. Pool choice takes a policy as
    /// a plan of nodes (<see cref="PolicyPlan"/>); the requesting CPU's node is the caller's to pass.
    ///
    /// Locking: <see cref="s_lock"/> guards every field below except <see cref="s_heapIsLocal"/> and
    /// <see cref="s_ownerPolicies"/> (written under it, read without it). It is a leaf: nothing else is
    /// taken while it is held; an allocation takes it to plan, releases it, allocates (the pools lock
    /// themselves), then takes it again to count.
    /// </summary>
    internal static unsafe class NumaPolicies
    {
        /// <summary>The allocation contexts that have a policy, by number: the kernel-wide one first.</summary>
        internal const int KernelContext = 0, HeapContext = 1, AreaContext = 2, ContextCount = 3;

        /// <summary>
        /// A container's context number is this plus its owner number (<see cref="ContainerContext"/>): every
        /// container owner (<see cref="Owners.FirstContainer"/>..63) has one, whether or not it is a container now.
        /// </summary>
        private const int FirstContainerContext = ContextCount - Owners.FirstContainer;

        /// <summary>Container contexts (owner numbers <see cref="Owners.FirstContainer"/>..63).</summary>
        private const int ContainerContexts = FrameOwner.Count - Owners.FirstContainer;

        private static SpinLock s_lock;
        private static PolicyContext s_kernel;
        private static PolicyContext s_heap;
        /// <summary>The movable areas' policy (Mm/VmAreas.cs: the frames `vmalloc` backs an area with); Default follows the kernel-wide one.</summary>
        private static PolicyContext s_area;
        /// <summary>
        /// The containers' policies by owner number minus <see cref="Owners.FirstContainer"/>: made from the
        /// heap at the first container policy (a machine that sets none spends nothing), then kept.
        /// </summary>
        private static PolicyContext[] s_containers;
        /// <summary>
        /// Bit n: owner n is a container with a policy of its own (not Default), so its page allocations
        /// go through <see cref="AllocateAsOwner"/>. Written under the lock, read without it by every
        /// allocation (<see cref="PhysicalMemoryOwner.Allocate"/>): one load and a bit test.
        /// </summary>
        private static ulong s_ownerPolicies;
        private static NumaCounters s_counters;
        /// <summary>The heap's page refills alone (also counted in <see cref="s_counters"/>): numastat shows them apart so a reader can tell them from the allocations asked for.</summary>
        private static NumaCounters s_heapCounters;
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

        /// <summary>The name of a fixed context (kernel, heap, area); a container's context is named by its container.</summary>
        internal static string ContextName(int context) => context == HeapContext ? "heap" : context == AreaContext ? "area" : "kernel";

        /// <summary>The context of container owner <paramref name="owner"/> (<see cref="Owners.FirstContainer"/>..63).</summary>
        internal static int ContainerContext(byte owner) => FirstContainerContext + owner;

        /// <summary>The owner number of a container context, or <see cref="FrameOwner.None"/> for a fixed context or a number out of range.</summary>
        internal static byte OwnerOfContext(int context)
        {
            int owner = context - FirstContainerContext;
            return owner >= Owners.FirstContainer && owner < FrameOwner.Count ? (byte)owner : FrameOwner.None;
        }

        /// <summary>
        /// The policy context <paramref name="context"/> names (the lock held); a container context only
        /// once <see cref="s_containers"/> exists (<see cref="Set"/> makes it first; <see cref="Get"/> answers Default before).
        /// </summary>
        private static ref PolicyContext ContextLocked(int context)
        {
            if (context == HeapContext)
                return ref s_heap;
            if (context == AreaContext)
                return ref s_area;
            byte owner = OwnerOfContext(context);
            if (owner != FrameOwner.None)
                return ref s_containers[owner - Owners.FirstContainer];
            return ref s_kernel;
        }

        /// <summary>
        /// The context named by <paramref name="line"/>'s word <paramref name="index"/>: kernel, heap, area, or
        /// the name of a live container; -1 for anything else.
        /// </summary>
        internal static int ContextOf(ref Shell.ShellLine line, int index)
        {
            for (int c = 0; c < ContextCount; c++)
            {
                if (line.WordIs(index, ContextName(c)))
                    return c;
            }
            if (index >= line.WordCount)
                return -1;
            byte* name = line.Word(index, out int length);
            return Containers.Find(name, length, out byte owner) ? ContainerContext(owner) : -1;
        }

        /// <summary>The containers that have a policy of their own, a bit per owner number (for <c>policy</c>'s listing).</summary>
        internal static ulong OwnersWithPolicies => s_ownerPolicies;

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
            NumaPolicy p = OwnerOfContext(context) != FrameOwner.None && s_containers == null ? NumaPolicy.Default : ContextLocked(context).Policy;
            s_lock.Release(state);
            return p;
        }

        /// <summary>
        /// Replaces <paramref name="context"/>'s policy (new allocations only); refused, with the old
        /// policy kept, when it is not valid on this machine. The kernel-wide context cannot be Default.
        /// A container's context (the caller found the container live) starts using its policy for its page
        /// allocations at once; Default takes its policy away. The first container policy makes the containers'
        /// table (48 contexts, about 4 KiB) from the heap, outside the lock, once.
        /// </summary>
        internal static PolicyStatus Set(int context, in NumaPolicy policy)
        {
            NumaPolicy p = policy;
            if (context == KernelContext && p.Mode == PolicyMode.Default)
                p = NumaPolicy.Local;
            byte owner = OwnerOfContext(context);
            if (owner != FrameOwner.None && s_containers == null)
            {
                PolicyContext[] table = new PolicyContext[ContainerContexts];
                ulong s = s_lock.Acquire();
                if (s_containers == null)
                    s_containers = table;
                s_lock.Release(s);
            }
            ulong state = s_lock.Acquire();
            PolicyStatus status = ContextLocked(context).Set(p, s_topology);
            if (status == PolicyStatus.Ok && owner != FrameOwner.None)
            {
                if (p.Mode == PolicyMode.Default)
                    s_ownerPolicies &= ~(1UL << owner);
                else
                    s_ownerPolicies |= 1UL << owner;
            }
            s_lock.Release(state);
            if (status == PolicyStatus.Ok)
                RefreshHeapIsLocal();
            return status;
        }

        /// <summary>
        /// Recomputes what the heap reads without the lock (local or not, the bind mask) from the heap's
        /// effective policy, and hands the bind mask to the heap (<see cref="Heap.KernelHeapGlue.ApplyNodeBinding"/>,
        /// outside this leaf lock: the heap's lock comes first).
        /// </summary>
        private static void RefreshHeapIsLocal()
        {
            ulong state = s_lock.Acquire();
            ref NumaPolicy heap = ref s_heap.Policy.Mode == PolicyMode.Default ? ref s_kernel.Policy : ref s_heap.Policy;
            s_heapIsLocal = heap.Mode == PolicyMode.Local || heap.Mode == PolicyMode.Default;
            s_heapBinding = heap.Mode == PolicyMode.Bind ? heap.Nodes & s_topology.MemoryNodes : 0;
            s_lock.Release(state);
            Heap.KernelHeapGlue.ApplyNodeBinding();
        }

        /// <summary>Written under the lock by <see cref="RefreshHeapIsLocal"/>; read by the heap's glue under the heap lock.</summary>
        private static ulong s_heapBinding;

        /// <summary>
        /// The nodes the heap's page refills are bound to: the heap's effective policy's nodes with memory
        /// when it is <c>bind</c>, else 0 (no binding). The heap reads it under its own lock
        /// (<see cref="Heap.KernelHeapGlue.ApplyNodeBinding"/>), so the last policy set wins.
        /// </summary>
        internal static ulong HeapBinding => s_heapBinding;

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
            else if (!s_counters.Consistent() || !s_heapCounters.Consistent())
                broken = "numastat counters disagree (misses != foreigns, or hits + misses != local + other)";
            ulong owners = s_ownerPolicies;
            for (ulong m = owners; m != 0 && broken == null; m &= m - 1)
            {
                int owner = System.Numerics.BitOperations.TrailingZeroCount(m);
                if (owner < Owners.FirstContainer || s_containers == null || s_containers[owner - Owners.FirstContainer].Policy.Mode == PolicyMode.Default ||
                    s_containers[owner - Owners.FirstContainer].Policy.Validate(s_topology) != PolicyStatus.Ok)
                    broken = "a container's policy is not valid on this machine, or its bit is set without one";
            }
            s_lock.Release(state);
            // Every owner with a policy is a live container (destroy drops the policy); read outside the leaf lock.
            for (ulong m = owners; m != 0 && broken == null; m &= m - 1)
            {
                if (!Containers.Usage((byte)System.Numerics.BitOperations.TrailingZeroCount(m), out _))
                    broken = "a policy is kept for an owner that is no container";
            }
            return broken;
        }

        /// <summary>A copy of the counters, and of the heap refills' share of them, taken together (for numastat and tests).</summary>
        internal static void CopyCounters(NumaCounters* into, NumaCounters* heapInto)
        {
            ulong state = s_lock.Acquire();
            *into = s_counters;
            *heapInto = s_heapCounters;
            s_lock.Release(state);
        }

        private static PolicyPlan Plan(int context, int cpuNode)
        {
            ulong state = s_lock.Acquire();
            NumaTopology topology = TopologyFor(cpuNode);
            if (OwnerOfContext(context) != FrameOwner.None && s_containers == null)
                context = KernelContext;
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
        /// True when a page allocation of <paramref name="request"/> is placed by its owner's container
        /// policy: the owner is a container with a policy of its own, and the request leaves the choice of
        /// node to pool choice (names no pool and no node; a request that names its node keeps it, as
        /// Linux's node-named allocations ignore the task's policy). One load and a few compares: every
        /// allocation through <see cref="PhysicalMemoryOwner"/> asks.
        /// </summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        internal static bool PlacesForOwner(in AllocRequest request)
        {
            return ((s_ownerPolicies >> (request.Owner & 63)) & 1) != 0 && request.Pool.IsNone && request.PreferredNode == AllocRequest.NoNode;
        }

        /// <summary>
        /// A block (<paramref name="runPages"/> 0) or a run for <paramref name="request"/>'s owner by its container's
        /// policy (<see cref="PlacesForOwner"/> said so), for the running CPU's node, counted in numastat when it
        /// succeeds; a policy dropped meanwhile (the container destroyed) plans by the kernel-wide one, and the
        /// pools then refuse an owner that is no container if its rules say so. Statuses as
        /// <see cref="PolicyAllocator"/> under the pools' owner's policy: under <c>bind</c> a full node set is
        /// OutOfMemory, never memory from another node.
        /// </summary>
        internal static MemoryStatus AllocateAsOwner(Order order, ulong runPages, in AllocRequest request, out Pfn pfn)
        {
            int cpuNode = Heap.KernelHeapGlue.CurrentNode;
            PolicyPlan plan = Plan(ContainerContext(request.Owner), cpuNode);
            int node;
            MemoryStatus status = runPages == 0
                ? PhysicalMemoryOwner.AllocateByPlan(plan, order, request, out pfn, out node)
                : PhysicalMemoryOwner.AllocateRunByPlan(plan, runPages, request, out pfn, out node);
            if (status == MemoryStatus.Ok)
                Record(plan, node);
            return status;
        }

        /// <summary>
        /// Forgets container <paramref name="owner"/>'s policy (its container was destroyed: the owner number
        /// may become another container, which starts without one). Nothing for an owner without a policy.
        /// </summary>
        internal static void DropOwner(byte owner)
        {
            if (owner < Owners.FirstContainer || owner >= FrameOwner.Count)
                return;
            ulong state = s_lock.Acquire();
            if (s_containers != null)
                s_containers[owner - Owners.FirstContainer] = default;
            s_ownerPolicies &= ~(1UL << owner);
            s_lock.Release(state);
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
        /// per object the same way); <paramref name="interleaveNode"/> is that node when interleave picked it,
        /// else -1. Local (the default) answers <paramref name="cpuNode"/> without the lock. The heap falls
        /// back from that node by its own rules (docs/heap.md), inside the bound nodes under <c>bind</c>
        /// (<see cref="HeapBinding"/>); its page refills are numastat events (<see cref="RecordHeapRefill"/>),
        /// cells of slabs it holds are not.
        /// </summary>
        internal static int HeapNode(int cpuNode, out int interleaveNode)
        {
            interleaveNode = -1;
            if (s_heapIsLocal || !s_installed)
                return cpuNode;
            PolicyPlan plan = Plan(HeapContext, cpuNode);
            interleaveNode = plan.InterleaveNode;
            return plan.Intended >= 0 ? plan.Intended : cpuNode;
        }

        /// <summary>
        /// Counts one heap page refill (a new slab or large run) that landed on <paramref name="landed"/>
        /// for an object the heap was asked to place on <paramref name="intended"/> (<see cref="HeapNode"/>'s
        /// answer) from a CPU on <paramref name="cpuNode"/>: a hit when it is the intended node, else a miss
        /// there and a foreign on the intended node, as for any policy allocation.
        /// </summary>
        internal static void RecordHeapRefill(int intended, int interleaveNode, int cpuNode, int landed)
        {
            if (!s_installed)
                return;
            ulong state = s_lock.Acquire();
            s_counters.Record(intended, interleaveNode, cpuNode, landed);
            s_heapCounters.Record(intended, interleaveNode, cpuNode, landed);
            s_lock.Release(state);
        }
    }
}
