using System;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;
using PoolKernel.Runtime;

namespace PoolKernel.Heap
{
    /// <summary>
    /// Per-container heap arenas (docs/containers.md "Heap arenas"): a raw heap block allocated as a
    /// container, and a managed object allocated while the CPU acts as one (<see cref="ActAs"/>: the shell's
    /// <c>as NAME CMD</c>), come from that container's own <see cref="KernelHeap"/> instance, whose pages (its
    /// metadata, its slabs, its large blocks) are allocated as the container, so they are charged to it and
    /// limited by its quota (a refusal is the heap's OutOfMemory with the pools' QuotaExceeded behind it). The
    /// arena is made at the container's first block or object and attached to the collector
    /// (<see cref="Gc.AttachHeap"/>), which marks through and sweeps it with the kernel's heap. Any other
    /// owner's blocks and objects go to the kernel's heap (<see cref="KernelHeapGlue"/>), as before.
    ///
    /// Destroy (<see cref="Retire"/>): after a collection, the objects the kernel still references are adopted by the
    /// kernel's heap (their pages re-owned off the container), and the arena is dropped; its raw blocks and the slabs
    /// without an object go with the container's pages.
    ///
    /// Locking: the heap lock (<see cref="KernelHeapGlue.Lock"/>) guards the table and every arena, as it
    /// guards the kernel's heap: a collection (which runs under it) never finds an arena half changed.
    /// The acting owner is each CPU's own (<see cref="PerCpu.ActingOwner"/>, written only by that CPU: the shell's <c>as</c>
    /// and a driver's entry points, <see cref="Act"/>); <see cref="s_actingCpus"/> counts the CPUs acting. Nothing here is
    /// called from an interrupt handler.
    /// </summary>
    internal static unsafe class ContainerArenas
    {
        private static bool s_ready;
        /// <summary>Each owner number's arena, or null. Guarded by the heap lock.</summary>
        private static nint[] s_arenas;

        /// <summary>
        /// Bit o: container o's arena was retired and its destruction is under way (<see cref="Retire"/> to
        /// <see cref="EndRetire"/>): no arena is made for it meanwhile, so none is left behind over freed pages.
        /// Guarded by the heap lock.
        /// </summary>
        private static ulong s_retiring;

        /// <summary>
        /// How many CPUs act as a container now (their <see cref="PerCpu.ActingOwner"/> is not the kernel); the kernel's
        /// object path reads only this word before its unchanged code, and asks the running CPU only when it is not 0.
        /// </summary>
        internal static int s_actingCpus;

        /// <summary>Called by <see cref="KernelHeapGlue.Initialize"/>, before any container exists.</summary>
        internal static void Initialize()
        {
            s_arenas = new nint[FrameOwner.Count];
            s_ready = true;
        }

        /// <summary>
        /// From now on the running CPU's managed objects come from container <paramref name="owner"/>'s arena (0, the
        /// kernel: from the kernel's heap again); other CPUs' are not affected. <paramref name="driver"/>: the scope is a
        /// driver's entry point, which an object refused by the container's quota must not end (no recovery point may
        /// abandon a driver's frames mid-I/O): such an object is made in the kernel's heap instead, and said so
        /// (<see cref="KernelHeapGlue.AllocObject"/>). Returns what the CPU acted as before, for <see cref="Restore"/> when
        /// the scope ends: scopes nest (a driver's I/O inside the shell's <c>as</c>). Objects made inside an interrupt
        /// handler are the kernel's whatever the CPU acts as (<see cref="ActingOwner"/>). Before the CPUs are started
        /// nothing acts (the call does nothing; the shell and the drivers run after).
        /// </summary>
        internal static ushort Act(byte owner, bool driver)
        {
            PerCpu* cpu = Smp.Current;
            if (cpu == null)
                return Owners.Kernel;
            byte previous = cpu->ActingOwner;
            ushort saved = (ushort)(previous | (cpu->ActingForDriver << 8));
            cpu->ActingForDriver = driver ? (byte)1 : (byte)0;
            if (previous == owner)
                return saved;
            if (previous == Owners.Kernel)
                AddActing(1);
            cpu->ActingOwner = owner;
            if (owner == Owners.Kernel)
                AddActing(-1);
            return saved;
        }

        /// <summary>Ends a scope <see cref="Act"/> began: the running CPU acts as it did before.</summary>
        internal static void Restore(ushort saved) => Act((byte)saved, (saved >> 8) != 0);

        /// <summary><see cref="s_actingCpus"/> += <paramref name="delta"/>, atomically (the kernel's core library has a compare-and-swap only).</summary>
        private static void AddActing(int delta)
        {
            int seen = System.Threading.Volatile.Read(ref s_actingCpus);
            while (System.Threading.Interlocked.CompareExchange(ref s_actingCpus, seen + delta, seen) != seen)
                seen = System.Threading.Volatile.Read(ref s_actingCpus);
        }

        /// <summary>
        /// What a driver's entry point found when it began (<see cref="EnterDriver"/>) and puts back when it ends
        /// (<see cref="LeaveDriver"/>): the acting owner and the running CPU's tally of objects made in the kernel's heap
        /// instead of the container's arena (<see cref="PerCpu.DriverFallbacks"/>), which the entry point starts afresh.
        /// </summary>
        internal struct DriverScope
        {
            /// <summary>The driver's name and the entry point's (load, poll, read, write, send, receive, unload), for its lines.</summary>
            internal string Driver;
            internal string Entry;
            internal ushort Previous;
            internal uint Fallbacks;
            internal ulong FallbackBytes;
            internal byte HeapStatus;
            internal byte MemoryStatus;
        }

        /// <summary>
        /// Entry point <paramref name="entry"/> (load, poll, read, write, send, receive, unload) of driver <paramref name="driver"/>
        /// begins: the running CPU acts as container <paramref name="owner"/> for a driver (<see cref="Act"/>), its tally of
        /// objects over the container's quota starting at 0; the outer scope's tally is kept in the answer for
        /// <see cref="LeaveDriver"/>. Said when the CPU traces scopes (<see cref="TraceScope"/>), as the end is.
        /// </summary>
        internal static DriverScope EnterDriver(byte owner, string driver, string entry)
        {
            DriverScope scope = default;
            scope.Driver = driver;
            scope.Entry = entry;
            byte before = Smp.Started ? ObjectOwner : Owners.Kernel;
            scope.Previous = Act(owner, true);
            PerCpu* cpu = Smp.Current;
            if (cpu == null)
                return scope;
            TraceScope(driver, entry, owner, false, before);
            scope.Fallbacks = cpu->DriverFallbacks;
            scope.FallbackBytes = cpu->DriverFallbackBytes;
            scope.HeapStatus = cpu->DriverFallbackHeapStatus;
            scope.MemoryStatus = cpu->DriverFallbackMemoryStatus;
            cpu->DriverFallbacks = 0;
            cpu->DriverFallbackBytes = 0;
            return scope;
        }

        /// <summary>
        /// A driver's entry point (<paramref name="scope"/>, from <see cref="EnterDriver"/>) ends: when its container refused
        /// objects that the kernel's heap made instead (<see cref="NoteFallback"/>), one line says how many, their bytes, the
        /// container, the entry point and the first refusal's reason: `heap: 7 objects (1000 bytes) for container floppy
        /// refused during floppy's load: over the container's quota; made in the kernel's heap instead (a driver's entry
        /// point is not ended)`. Then the CPU acts as before the entry point and the outer scope's tally is put back.
        /// </summary>
        internal static void LeaveDriver(in DriverScope scope)
        {
            string driver = scope.Driver, entry = scope.Entry;
            PerCpu* cpu = Smp.Current;
            if (cpu != null && cpu->DriverFallbacks != 0)
            {
                Console.Write("heap: ");
                Console.Write((ulong)cpu->DriverFallbacks);
                Console.Write(cpu->DriverFallbacks == 1 ? " object (" : " objects (");
                Console.Write(cpu->DriverFallbackBytes);
                Console.Write(" bytes) for container ");
                WriteName(cpu->ActingOwner);
                Console.Write(" refused during ");
                Console.Write(driver);
                Console.Write("'s ");
                Console.Write(entry);
                Console.Write(": ");
                KernelHeapGlue.WriteRefusal((HeapStatus)cpu->DriverFallbackHeapStatus, (MemoryStatus)cpu->DriverFallbackMemoryStatus);
                Console.WriteLine("; made in the kernel's heap instead (a driver's entry point is not ended)");
            }
            Restore(scope.Previous);
            if (cpu == null)
                return;
            TraceScope(driver, entry, Owners.Kernel, true, Owners.Kernel);
            cpu->DriverFallbacks = scope.Fallbacks;
            cpu->DriverFallbackBytes = scope.FallbackBytes;
            cpu->DriverFallbackHeapStatus = scope.HeapStatus;
            cpu->DriverFallbackMemoryStatus = scope.MemoryStatus;
        }

        /// <summary>
        /// An object of <paramref name="size"/> bytes the acting driver's container refused (<paramref name="failure"/>), made
        /// in the kernel's heap instead: counted for the running entry point's line (<see cref="LeaveDriver"/>), the first
        /// refusal's reason kept. Only inside a driver's entry point (<see cref="ActingForDriver"/>).
        /// </summary>
        internal static void NoteFallback(nuint size, in HeapFailure failure)
        {
            PerCpu* cpu = Smp.Current;
            if (cpu->DriverFallbacks == 0)
            {
                cpu->DriverFallbackHeapStatus = (byte)failure.Status;
                cpu->DriverFallbackMemoryStatus = (byte)failure.MemoryStatus;
            }
            cpu->DriverFallbacks++;
            cpu->DriverFallbackBytes += size;
        }

        /// <summary>The shell's <c>as</c>: the running CPU acts as <paramref name="owner"/> (see <see cref="Act"/>) for a command, which a refused object ends.</summary>
        internal static void ActAs(byte owner) => Act(owner, false);

        /// <summary>The running CPU's objects from the kernel's heap again (the end of <c>as</c>, and the shell's recovery, which ends every scope).</summary>
        internal static void StopActing()
        {
            if (Smp.Started)
                Act(Owners.Kernel, false);
        }

        /// <summary>The container the running CPU's managed objects are charged to; 0 (the kernel) when none, and inside an interrupt handler.</summary>
        internal static byte ActingOwner
        {
            get
            {
                if (System.Threading.Volatile.Read(ref s_actingCpus) == 0 || !Smp.Started)
                    return Owners.Kernel;
                PerCpu* cpu = Smp.Current;
                return cpu->InterruptDepth != 0 ? Owners.Kernel : cpu->ActingOwner;
            }
        }

        /// <summary>
        /// The owner a managed object made now on the running CPU is charged to, as <see cref="KernelHeapGlue.AllocObject"/>
        /// decides it: the acting owner (<see cref="ActingOwner"/>: the kernel inside an interrupt handler) when it is a live
        /// container, else the kernel (an owner destroyed while a CPU still acts as it).
        /// </summary>
        internal static byte ObjectOwner
        {
            get
            {
                byte owner = ActingOwner;
                return owner != Owners.Kernel && PhysicalMemoryOwner.Unguarded->IsContainer(owner) ? owner : Owners.Kernel;
            }
        }

        /// <summary>
        /// The diagnostic behind the shell's <c>scopes CMD...</c> (docs/containers.md "Who acts as a container"): while the running
        /// CPU traces (<see cref="PerCpu.TraceScopes"/>), one line as an acting scope (the shell's <c>as</c>, a driver's entry point)
        /// begins or ends, saying whom the CPU's objects are charged to from then on (<see cref="ObjectOwner"/>, what the object
        /// path reads) and, at a beginning, whom they were charged to before: `scope: ata-piix's read begins: objects charged
        /// to ata-piix (before: web)`, `scope: ata-piix's read ends: objects charged to web`. Nothing when not tracing.
        /// </summary>
        /// <param name="driver">The driver whose entry point <paramref name="entry"/> it is; null for the shell's <c>as</c> (<paramref name="entry"/> "as") acting as <paramref name="named"/>.</param>
        internal static void TraceScope(string driver, string entry, byte named, bool end, byte before)
        {
            PerCpu* cpu = Smp.Current;
            if (cpu == null || cpu->TraceScopes == 0)
                return;
            Console.Write("scope: ");
            if (driver != null)
            {
                Console.Write(driver);
                Console.Write("'s ");
                Console.Write(entry);
            }
            else
            {
                Console.Write(entry);
                Console.Write(' ');
                WriteName(named);
            }
            Console.Write(end ? " ends: objects charged to " : " begins: objects charged to ");
            WriteObjectOwner(ObjectOwner);
            if (!end)
            {
                Console.Write(" (before: ");
                WriteObjectOwner(before);
                Console.Write(")");
            }
            Console.WriteLine();
        }

        /// <summary>Turns <see cref="TraceScope"/>'s lines on or off for the running CPU.</summary>
        internal static void TraceScopes(bool on)
        {
            if (Smp.Started)
                Smp.Current->TraceScopes = on ? (byte)1 : (byte)0;
        }

        /// <summary>"the kernel" or the container's name.</summary>
        internal static void WriteObjectOwner(byte owner)
        {
            if (owner == Owners.Kernel)
                Console.Write("the kernel");
            else
                WriteName(owner);
        }

        /// <summary>True when the running CPU acts for a driver's entry point (<see cref="Act"/>): a refused object is the kernel heap's instead.</summary>
        internal static bool ActingForDriver => Smp.Started && Smp.Current->ActingForDriver != 0;

        /// <summary>Pages container <paramref name="owner"/>'s arena takes now (its metadata and what its heap holds); 0 without one.</summary>
        internal static ulong PagesOf(byte owner)
        {
            if (!s_ready)
                return 0;
            ulong pages = 0;
            KernelHeapGlue.LockState state = KernelHeapGlue.Lock();
            KernelHeap* arena = (KernelHeap*)s_arenas[owner];
            if (arena != null && KernelHeap.ComputeSize(PhysicalMemoryOwner.Unguarded, out ulong bytes) == HeapStatus.Ok)
                pages = (bytes + 4095) / 4096 + arena->PagesHeld;
            KernelHeapGlue.Unlock(state);
            return pages;
        }

        /// <summary>
        /// A zeroed raw block of <paramref name="size"/> bytes for <paramref name="owner"/>: from its arena when it is a
        /// container (the arena made at the first block, its metadata charged to the container too; a refusal is
        /// quiet, the status in <paramref name="status"/>), else from the kernel heap (<see cref="KernelHeapGlue.Alloc"/>,
        /// which reports its failures as before). Null when refused.
        /// </summary>
        internal static void* Alloc(byte owner, nuint size, nuint align, out HeapStatus status)
        {
            if (RealtimeCpu.IsCurrent)
                RealtimeCpu.RefuseHeap();
            if (!Containers.Usage(owner, out _))
            {
                void* p = KernelHeapGlue.Alloc(size, align);
                status = p == null ? HeapStatus.OutOfMemory : HeapStatus.Ok;
                return p;
            }
            void* pointer = null;
            KernelHeapGlue.LockState state = KernelHeapGlue.Lock();
            KernelHeap* arena = ArenaLocked(owner, out status, out _);
            if (arena != null)
                status = arena->Alloc(size, align, KernelHeapGlue.CurrentNode, out pointer);
            KernelHeapGlue.Unlock(state);
            return status == HeapStatus.Ok ? pointer : null;
        }

        /// <summary>
        /// Frees a raw block <see cref="Alloc"/> gave <paramref name="owner"/>: to its arena (the heap's status: refused,
        /// not a block of that arena), or, for an owner without one, to the kernel heap (<see cref="KernelHeapGlue.Free"/>, which reports a refusal).
        /// </summary>
        internal static HeapStatus Free(byte owner, void* pointer)
        {
            if (RealtimeCpu.IsCurrent)
                RealtimeCpu.RefuseHeap();
            KernelHeapGlue.LockState state = KernelHeapGlue.Lock();
            KernelHeap* arena = s_ready ? (KernelHeap*)s_arenas[owner] : null;
            HeapStatus status = arena == null ? HeapStatus.Ok : arena->Free(pointer);
            KernelHeapGlue.Unlock(state);
            if (arena == null)
                KernelHeapGlue.Free(pointer);
            return status;
        }

        /// <summary>
        /// <paramref name="owner"/>'s arena, made (its metadata allocated as the container, quota-limited) and attached to
        /// the collector at the first call; null when that was refused (<paramref name="status"/> says why, and
        /// <paramref name="pools"/> what the pools answered for the metadata). The heap lock held.
        /// </summary>
        internal static KernelHeap* ArenaLocked(byte owner, out HeapStatus status, out MemoryStatus pools)
        {
            KernelHeap* arena = (KernelHeap*)s_arenas[owner];
            status = HeapStatus.Ok;
            pools = MemoryStatus.Ok;
            if (arena == null && ((s_retiring >> owner) & 1) != 0)
            {
                status = HeapStatus.OutOfMemory;
                pools = MemoryStatus.QuotaExceeded; // its destruction has closed it, as the destruction's quota of 0 would
            }
            else if (arena == null)
            {
                status = Create(owner, out arena, out pools);
            }
            return arena;
        }

        /// <summary>
        /// Before container <paramref name="owner"/> is destroyed: its arena's managed objects are counted, and when there are
        /// any a collection runs; the survivors (objects the kernel still references) are adopted by the kernel's heap
        /// (<see cref="KernelHeapGlue.AdoptLocked"/>: their slabs and runs re-owned from the container to the heap owner, in
        /// place, so every reference stays valid), then the arena is detached from the collector and forgotten; the
        /// destruction frees what is left of it (its metadata, raw blocks, slabs without an object) with everything else the
        /// owner holds. <paramref name="adopted"/> says what the kernel's heap took. False, nothing changed but what the
        /// collection freed, when the adoption was refused (<paramref name="adopted"/>.Refusal: a survivor in a pool the
        /// heap owner may not use, i.e. the container's guarantee pool): <paramref name="objects"/> and
        /// <paramref name="bytes"/> then name the survivors. True without an arena.
        /// </summary>
        internal static bool Retire(byte owner, out HeapAdoption adopted, out ulong objects, out ulong bytes)
        {
            adopted = default;
            objects = 0;
            bytes = 0;
            if (!s_ready)
                return true;
            KernelHeapGlue.LockState state = KernelHeapGlue.Lock();
            KernelHeap* arena = (KernelHeap*)s_arenas[owner];
            bool ok = true;
            if (arena != null)
            {
                arena->ManagedInUse(out objects, out bytes);
                if (objects != 0 && KernelHeapGlue.CollectLocked())
                    arena->ManagedInUse(out objects, out bytes);
                if (objects != 0)
                    ok = KernelHeapGlue.AdoptLocked(arena, out adopted) == HeapStatus.Ok;
                if (ok)
                {
                    Gc.DetachHeap(arena);
                    s_arenas[owner] = 0;
                }
            }
            if (ok)
                s_retiring |= 1UL << owner;
            KernelHeapGlue.Unlock(state);
            return ok;
        }

        /// <summary>After the destruction <see cref="Retire"/> began has been tried (done or refused): arenas may be made for the owner number again.</summary>
        internal static void EndRetire(byte owner)
        {
            if (!s_ready)
                return;
            KernelHeapGlue.LockState state = KernelHeapGlue.Lock();
            s_retiring &= ~(1UL << owner);
            KernelHeapGlue.Unlock(state);
        }

        /// <summary>
        /// Every arena's checker, after checking the arena is a live container's and not one whose destruction is under way
        /// (<see cref="HeapInvariant.ArenaOfNoContainer"/>); the first report that is not clean (its owner in
        /// <paramref name="owner"/>), else a clean one. The heap lock held.
        /// </summary>
        internal static HeapCheckReport CheckLocked(out byte owner)
        {
            HeapCheckReport report = default;
            owner = Owners.Kernel;
            if (!s_ready)
                return report;
            for (int o = 0; o < FrameOwner.Count; o++)
            {
                KernelHeap* arena = (KernelHeap*)s_arenas[o];
                if (arena == null)
                    continue;
                if (!PhysicalMemoryOwner.Unguarded->IsContainer((byte)o) || ((s_retiring >> o) & 1) != 0)
                {
                    owner = (byte)o;
                    return HeapCheckReport.Broken(HeapInvariant.ArenaOfNoContainer, (ulong)arena, KernelHeap.LargeClass, 0, 1, 0);
                }
                report = arena->Check();
                if (!report.IsOk)
                {
                    owner = (byte)o;
                    return report;
                }
            }
            return report;
        }

        /// <summary>
        /// The container whose arena holds the managed object containing byte <paramref name="p"/>; <see cref="FrameOwner.None"/>
        /// when no arena does. The heap lock held (<see cref="KernelHeapGlue.HolderOf"/>).
        /// </summary>
        internal static byte ArenaHoldingLocked(byte* p)
        {
            if (!s_ready)
                return FrameOwner.None;
            for (int o = 0; o < FrameOwner.Count; o++)
            {
                KernelHeap* arena = (KernelHeap*)s_arenas[o];
                if (arena != null && arena->ManagedBlockContaining(p, out _, out _, out _) != null)
                    return (byte)o;
            }
            return FrameOwner.None;
        }

        /// <summary>Writes container <paramref name="owner"/>'s name (its number when it has none).</summary>
        internal static void WriteName(byte owner)
        {
            if (!Containers.Usage(owner, out ContainerUsage u))
            {
                Console.Write("owner ");
                Console.Write((ulong)owner);
                return;
            }
            for (int i = 0; i < u.Name.Length; i++)
                Console.Write((char)u.Name[i]);
        }

        /// <summary>Makes <paramref name="owner"/>'s arena: its metadata pages allocated as the container (quota-limited), then attached to the collector. The heap lock held.</summary>
        private static HeapStatus Create(byte owner, out KernelHeap* arena, out MemoryStatus status)
        {
            arena = null;
            status = MemoryStatus.Ok;
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            if (KernelHeap.ComputeSize(pm, out ulong bytes) != HeapStatus.Ok)
                return HeapStatus.InvalidArgument;
            ulong pages = (bytes + 4095) / 4096;
            AllocRequest request = AllocRequest.Any;
            request.PreferredNode = (byte)KernelHeapGlue.CurrentNode;
            request.Owner = owner;
            status = PhysicalMemoryOwner.AllocateRun(pages, request, out Pfn first);
            if (status != MemoryStatus.Ok)
                return status == MemoryStatus.Corruption ? HeapStatus.Corruption : HeapStatus.OutOfMemory;
            byte* block = (byte*)(first.Value << 12);
            for (ulong i = 0; i < pages * 4096; i++)
                block[i] = 0;
            HeapStatus made = KernelHeap.Initialize(block, pages * 4096, pm, null, owner, out arena);
            if (made == HeapStatus.Ok)
                made = Gc.AttachHeap(arena);
            if (made != HeapStatus.Ok)
            {
                PhysicalMemoryOwner.FreeRun(first, pages, owner);
                arena = null;
                return made;
            }
            s_arenas[owner] = (nint)arena;
            return HeapStatus.Ok;
        }
    }
}
