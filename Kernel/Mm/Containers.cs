using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Startup;

namespace PoolKernel.Mm
{
    /// <summary>
    /// The kernel's side of containers (Kernel.Memory/Owners; docs/containers.md): the container table's
    /// memory, the owner numbers containers get (<see cref="Owners.FirstContainer"/>..63), creation from a
    /// parsed <c>container=</c> request (the command line's, or the shell's <c>container create</c>
    /// through the same parser) with the pool names resolved against the pool table, and destruction.
    /// Every call into the pools runs with interrupts off (<see cref="PhysicalMemoryOwner.EnterCalls"/>); the pools lock themselves.
    /// </summary>
    internal static unsafe class Containers
    {
        /// <summary>Set by <see cref="EnsureTable"/> once the table is attached; only the shell's CPU (or boot) creates it.</summary>
        private static bool s_ready;

        /// <summary>Creates the command line's containers, one console line each. Right after set-up.</summary>
        internal static void Apply()
        {
            BootOptions* o = KernelCommandLine.Options;
            for (int i = 0; i < o->ContainerCount; i++)
                Create(o->Container(i), o->Text);
        }

        /// <summary>
        /// Attaches the container table at the first container (pages of the pools, owned by the
        /// kernel, for the machine's life): a machine without containers spends no memory on them and
        /// lays out its memory as before. False when its pages could not be had.
        /// </summary>
        private static bool EnsureTable()
        {
            if (s_ready)
                return true;
            ulong pages = (PhysicalMemory.ContainerTableBytes + 4095) / 4096;
            AllocRequest request = AllocRequest.Any;
            request.Owner = Owners.Kernel;
            if (PhysicalMemoryOwner.AllocateRun(pages, request, out Pfn first) != MemoryStatus.Ok)
                return false;
            ulong state = PhysicalMemoryOwner.EnterCalls();
            MemoryStatus status = PhysicalMemoryOwner.Unguarded->AttachContainers((void*)(first.Value << 12), pages * 4096, Owners.Kernel);
            PhysicalMemoryOwner.LeaveCalls(state);
            s_ready = status == MemoryStatus.Ok;
            if (!s_ready)
                PhysicalMemoryOwner.FreeRun(first, pages, Owners.Kernel);
            return s_ready;
        }

        /// <summary>
        /// Creates the container <paramref name="r"/> asks for (its pools= names in <paramref name="text"/>)
        /// and prints one line: <c>container NAME: owner N, quota Q pages, guarantee G pages (pool P), pools ...</c>,
        /// or <c>container NAME: refused: WHY</c>. Sizes round up to whole pages.
        /// </summary>
        internal static void Create(ContainerRequest* r, byte* text)
        {
            Console.Write("container ");
            WriteName(r);
            Console.Write(": ");
            if (!EnsureTable())
            {
                Console.WriteLine("refused: no memory for the container table");
                return;
            }
            ContainerSpec spec = default;
            for (int i = 0; i < r->NameLength && i < PoolName.Capacity; i++)
                spec.Name = WithByte(spec.Name, i, r->NameByte(i));
            spec.QuotaPages = (r->QuotaBytes + 4095) / 4096;
            spec.GuaranteePages = (r->GuaranteeBytes + 4095) / 4096;
            spec.Pools = r->PoolsLength == 0 ? PoolSet.All : default;
            ulong state = PhysicalMemoryOwner.EnterCalls();
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            int unknownAt = ResolvePools(pm, text + r->PoolsOffset, r->PoolsLength, ref spec.Pools);
            MemoryStatus status = MemoryStatus.PoolTableFull;
            bool exists = pm->FindContainer(spec.Name, out _);
            spec.Owner = FreeOwner(pm);
            if (unknownAt < 0 && !exists && spec.Owner != FrameOwner.None)
                status = pm->CreateContainer(spec);
            ContainerUsage usage = default;
            if (status == MemoryStatus.Ok)
                pm->GetContainerUsage(Owners.Kernel, spec.Owner, out usage);
            PhysicalMemoryOwner.LeaveCalls(state);
            if (exists)
            {
                Console.WriteLine("refused: a container of that name exists");
                return;
            }
            if (unknownAt >= 0)
            {
                Console.Write("refused: no pool named ");
                for (int i = unknownAt; i < r->PoolsLength && text[r->PoolsOffset + i] != (byte)'+'; i++)
                    Console.Write((char)text[r->PoolsOffset + i]);
                Console.WriteLine();
                return;
            }
            if (spec.Owner == FrameOwner.None)
            {
                Console.WriteLine("refused: every container owner number is in use");
                return;
            }
            if (status != MemoryStatus.Ok)
            {
                Console.Write("refused: ");
                Console.WriteLine(Why(status));
                return;
            }
            Console.Write("owner ");
            Console.Write((ulong)spec.Owner);
            Console.Write(", quota ");
            Console.Write(usage.QuotaPages);
            Console.Write(" pages, guarantee ");
            Console.Write(usage.GuaranteePages);
            Console.Write(" pages");
            if (!usage.GuaranteePool.IsNone)
            {
                Console.Write(" (pool ");
                Console.Write((ulong)usage.GuaranteePool.Value);
                Console.Write(')');
            }
            Console.Write(", pools ");
            if (r->PoolsLength == 0)
                Console.Write("all");
            for (int i = 0; i < r->PoolsLength; i++)
                Console.Write((char)text[r->PoolsOffset + i]);
            Console.WriteLine();
        }

        /// <summary>
        /// The quota of a driver's container when the command line made none of the driver's name:
        /// 16 MiB, four times what the most demanding driver here takes (ata-piix: two 64 KiB bounce buffers
        /// and its PRD tables; virtio-blk: its ring and bounce buffer), so an ordinary load never meets it.
        /// </summary>
        internal const ulong DriverQuotaPages = 4096;

        /// <summary>
        /// The container driver <paramref name="name"/> runs as (docs/drivers.md, "Drivers as containers"): the
        /// one of that name when it exists (the command line's <c>container=NAME:quota=...</c>, which so sets
        /// a driver's quota and permissions), else a new one with <see cref="DriverQuotaPages"/>, no guarantee,
        /// every pool its mask admits, and the highest free owner number (63 down, so the containers the
        /// command line and the shell create keep their numbers from 16 up). <paramref name="created"/> says
        /// which; FrameOwner.None when neither (no table memory, every number taken).
        /// </summary>
        internal static byte ForDriver(string name, out bool created)
        {
            created = false;
            if (!EnsureTable() || name.Length > PoolName.Capacity)
                return FrameOwner.None;
            PoolName n = default;
            for (int i = 0; i < name.Length; i++)
                n = WithByte(n, i, (byte)name[i]);
            ulong state = PhysicalMemoryOwner.EnterCalls();
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            byte owner = FrameOwner.None;
            if (!pm->FindContainer(n, out owner))
            {
                owner = FrameOwner.None;
                for (int o = FrameOwner.Count - 1; o >= Owners.FirstContainer && owner == FrameOwner.None; o--)
                {
                    if (!pm->IsContainer((byte)o))
                        owner = (byte)o;
                }
                if (owner != FrameOwner.None)
                {
                    created = pm->CreateContainer(ContainerSpec.Of(n, owner, DriverQuotaPages)) == MemoryStatus.Ok;
                    if (!created)
                        owner = FrameOwner.None;
                }
            }
            PhysicalMemoryOwner.LeaveCalls(state);
            return owner;
        }

        /// <summary>
        /// Destroys container <paramref name="owner"/> under the lock, and its NUMA policy with it; its held pages (what was
        /// given back) in <paramref name="pages"/>. The movable areas made for it go first (<see cref="VmAreas.FreeOwnedBy"/>:
        /// unmapped before their frames are freed, which the destruction alone would free while still mapped).
        /// </summary>
        internal static MemoryStatus Destroy(byte owner, out ulong pages)
        {
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            ulong state = PhysicalMemoryOwner.EnterCalls();
            pages = pm->GetContainerUsage(Owners.Kernel, owner, out ContainerUsage usage) == MemoryStatus.Ok ? usage.HeldPages : 0;
            PhysicalMemoryOwner.LeaveCalls(state);
            VmAreas.FreeOwnedBy(owner);
            state = PhysicalMemoryOwner.EnterCalls();
            MemoryStatus status = pm->DestroyContainer(owner);
            PhysicalMemoryOwner.LeaveCalls(state);
            Heap.ContainerArenas.EndRetire(owner);
            if (status == MemoryStatus.Ok)
                NumaPolicies.DropOwner(owner);
            return PhysicalMemoryOwner.Passed(status);
        }

        /// <summary>The owner number of the container named by <paramref name="length"/> bytes at <paramref name="name"/>; false when none.</summary>
        internal static bool Find(byte* name, int length, out byte owner)
        {
            owner = FrameOwner.None;
            if (!s_ready || length > PoolName.Capacity)
                return false;
            PoolName n = default;
            for (int i = 0; i < length; i++)
                n = WithByte(n, i, name[i]);
            ulong state = PhysicalMemoryOwner.EnterCalls();
            bool found = PhysicalMemoryOwner.Unguarded->FindContainer(n, out owner);
            PhysicalMemoryOwner.LeaveCalls(state);
            return found;
        }

        /// <summary>Installs container <paramref name="owner"/>'s reclaim hook (docs/containers.md "Pressure"); InvalidArgument when it is not a container.</summary>
        internal static MemoryStatus SetReclaimHook(byte owner, in ReclaimHook hook)
        {
            if (!s_ready)
                return MemoryStatus.InvalidArgument;
            ulong state = PhysicalMemoryOwner.EnterCalls();
            MemoryStatus status = PhysicalMemoryOwner.Unguarded->SetReclaimHook(owner, hook);
            PhysicalMemoryOwner.LeaveCalls(state);
            return status;
        }

        /// <summary>
        /// The kernel's out-of-memory path (<see cref="MemoryShortage.Relieve"/>): memory containers hold above
        /// their guarantees is asked back first. Reclaimable first: the container with most there (in
        /// <paramref name="pool"/>, or above its guarantee over all pools for <see cref="PoolId.None"/>) first, through
        /// their reclaim hooks (<see cref="PhysicalMemory.ReclaimAboveGuarantees"/>). Then movable, for a named pool
        /// only: containers' movable pages are migrated out of it to other pools they may use that have room
        /// (<see cref="PhysicalMemory.MoveAboveGuarantees"/>; for None every pool the request could take is short, so
        /// there is nowhere to migrate to). The pages freed in the pool; 0 without containers. No pools lock may be
        /// held (the hooks free; the migration takes every lock but the realtime pools').
        /// </summary>
        internal static ulong Reclaim(PoolId pool, ulong pages)
        {
            if (!s_ready)
                return 0;
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            ulong freed = pm->ReclaimAboveGuarantees(pool, pages);
            if (freed >= pages || pool.IsNone)
                return freed;
            ulong state = PhysicalMemoryOwner.EnterCalls();
            MemoryStatus status = pm->MoveAboveGuarantees(pool, pages - freed, out PressureMoves moves);
            PhysicalMemoryOwner.LeaveCalls(state);
            return status == MemoryStatus.Ok ? freed + moves.PagesMoved : freed;
        }

        /// <summary>True when <paramref name="owner"/> is a live container.</summary>
        internal static bool IsContainer(byte owner)
        {
            if (!s_ready)
                return false;
            ulong state = PhysicalMemoryOwner.EnterCalls();
            bool live = PhysicalMemoryOwner.Unguarded->IsContainer(owner);
            PhysicalMemoryOwner.LeaveCalls(state);
            return live;
        }

        /// <summary>Container <paramref name="owner"/>'s usage as the kernel reads it; false when it is not a container.</summary>
        internal static bool Usage(byte owner, out ContainerUsage usage)
        {
            usage = default;
            if (!s_ready)
                return false;
            ulong state = PhysicalMemoryOwner.EnterCalls();
            MemoryStatus status = PhysicalMemoryOwner.Unguarded->GetContainerUsage(Owners.Kernel, owner, out usage);
            PhysicalMemoryOwner.LeaveCalls(state);
            return status == MemoryStatus.Ok;
        }

        private static string Why(MemoryStatus status) => status switch
        {
            MemoryStatus.InvalidArgument => "the guarantee rounded up to whole page blocks is above the quota, or the quota is above 2^31-1 pages",
            MemoryStatus.PagesInUse => "its owner number holds memory",
            MemoryStatus.OutOfMemory => "too few free page blocks for the guarantee",
            _ => MemoryText.Status(status),
        };

        /// <summary>The pools named in the '+'-joined list into <paramref name="set"/>; the offset of the first unknown name, or -1.</summary>
        private static int ResolvePools(PhysicalMemory* pm, byte* list, int length, ref PoolSet set)
        {
            for (int at = 0; at < length; )
            {
                int end = at;
                while (end < length && list[end] != (byte)'+')
                    end++;
                PoolId found = PoolId.None;
                for (PoolId id = pm->FirstPool(); !id.IsNone && found.IsNone; id = pm->NextPool(id))
                {
                    pm->GetPoolProperties(id, out PoolProperties p);
                    if (p.Name.Length != end - at)
                        continue;
                    bool same = true;
                    for (int i = 0; i < end - at && same; i++)
                        same = p.Name[i] == list[at + i];
                    if (same)
                        found = id;
                }
                if (found.IsNone)
                    return at;
                set.Add(found);
                at = end + 1;
            }
            return -1;
        }

        /// <summary>The lowest owner number from <see cref="Owners.FirstContainer"/> that is not a container, or None.</summary>
        private static byte FreeOwner(PhysicalMemory* pm)
        {
            for (int o = Owners.FirstContainer; o < FrameOwner.Count; o++)
                if (!pm->IsContainer((byte)o))
                    return (byte)o;
            return FrameOwner.None;
        }

        private static PoolName WithByte(PoolName name, int index, byte value)
        {
            byte* raw = (byte*)&name;
            raw[index] = value;
            return name;
        }

        private static void WriteName(ContainerRequest* r)
        {
            for (int i = 0; i < r->NameLength; i++)
                Console.Write((char)r->NameByte(i));
        }
    }
}
