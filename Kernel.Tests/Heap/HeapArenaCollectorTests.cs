using System.Runtime.InteropServices;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using PoolKernel.Tests.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Heap;

/// <summary>
/// One collector over several heap instances on the same pools (docs/gc.md "Arenas"; docs/containers.md
/// "Heap arenas"): the kernel's heap and a container's arena, whose pages are charged to the container.
/// References from one instance into the other and back keep both objects; each instance is swept; an
/// arena's managed objects are counted (the kernel refuses to drop an arena that still holds any), charged
/// to the container and stopped by its quota; a detached arena is no longer read; both checkers stay clean.
/// </summary>
public unsafe partial class HeapArenaCollectorTests
{
    private const ulong MiB = 1UL << 20;
    private const byte Kernel = 0;
    private const byte Web = 16;
    private readonly ITestOutputHelper _output;

    public HeapArenaCollectorTests(ITestOutputHelper output) => _output = output;

    /// <summary>A q35 machine with a container table, the kernel's heap (owner 1), container web's arena (owner 16) and one collector over both.</summary>
    private sealed class Fixture : IDisposable
    {
        public readonly HostHeap Kernel;
        public readonly HostHeap Arena;
        public readonly SyntheticTypes Types = new();
        public readonly HeapCollector* C;
        private readonly void* _stack;
        private readonly void* _table;
        public readonly byte* Image;

        public Fixture(ulong quotaPages = 1UL << 20, ulong stackEntries = 1024, ulong guaranteePages = 0)
        {
            Kernel = new HostHeap(QemuMaps.Boot("q35", 256 * MiB, 2), owner: 1);
            _table = NativeMemory.AlignedAlloc((nuint)PhysicalMemory.ContainerTableBytes, 64);
            Assert.Equal(MemoryStatus.Ok, Pm->AttachContainers(_table, PhysicalMemory.ContainerTableBytes, HeapArenaCollectorTests.Kernel));
            ContainerSpec spec = ContainerSpec.Of(PoolName.From("web"), Web, quotaPages);
            spec.GuaranteePages = guaranteePages;
            Assert.Equal(MemoryStatus.Ok, Pm->CreateContainer(spec));
            Arena = new HostHeap(Kernel.Host, Web, ownsHost: false);
            _stack = NativeMemory.Alloc((nuint)(stackEntries * 8));
            C = (HeapCollector*)NativeMemory.AllocZeroed((nuint)sizeof(HeapCollector));
            Image = (byte*)NativeMemory.AllocZeroed(4096);
            Assert.Equal(HeapStatus.Ok, HeapCollector.Initialize(C, Kernel.Heap, _stack, stackEntries, Image, Image + 4096));
            Assert.Equal(HeapStatus.Ok, C->Attach(Arena.Heap));
        }

        public PhysicalMemory* Pm => Kernel.Memory;

        public byte* New(HostHeap h, byte* type, uint length = 0)
        {
            byte* obj = TryNew(h, type, length);
            Assert.True(obj != null, $"no object: {h.Heap->LastFailure.Status} / {h.Heap->LastFailure.MemoryStatus}");
            return obj;
        }

        public static byte* TryNew(HostHeap h, byte* type, uint length = 0)
        {
            ulong size = *(uint*)(type + 4);
            if ((*(uint*)type & GcLayout.HasComponentSizeFlag) != 0)
                size += (ulong)(ushort)*(uint*)type * length;
            byte* block = (byte*)h.Heap->AllocObject(size, 0);
            if (block == null)
                return null;
            byte* obj = block + 8;
            *(byte**)obj = type;
            *(uint*)(obj + 8) = length;
            return obj;
        }

        /// <summary>The object is still allocated in <paramref name="h"/> (a freed one's slab may be back in its pool: Foreign).</summary>
        public static bool Alive(HostHeap h, byte* obj)
            => h.Heap->Describe(obj, out HeapObjectInfo info) == HeapStatus.Ok && info.Allocated && info.Start == obj - 8 && KernelHeap.IsTagged(obj - 8);

        public ulong WebHeld
        {
            get
            {
                Assert.Equal(MemoryStatus.Ok, Pm->GetContainerUsage(HeapArenaCollectorTests.Kernel, Web, out ContainerUsage u));
                return u.HeldPages;
            }
        }

        public HeapSweepResult Collect(params nint[] roots)
        {
            C->Begin();
            foreach (nint r in roots)
                Assert.Equal(HeapStatus.Ok, C->MarkReference((byte*)r, null, 0));
            Assert.Equal(HeapStatus.Ok, C->Drain());
            Assert.Equal(HeapStatus.Ok, C->Sweep(out HeapSweepResult result));
            Consistent();
            return result;
        }

        /// <summary>Both heaps' checkers and the pools' checker (the container's counts included) find nothing broken.</summary>
        public void Consistent()
        {
            HeapCheckReport k = Kernel.Heap->Check(), a = Arena.Heap->Check();
            Assert.True(k.IsOk, "kernel heap: " + HostHeap.Describe(k));
            Assert.True(a.IsOk, "arena: " + HostHeap.Describe(a));
            MemoryAssert.Consistent(Pm);
        }

        public void Dispose()
        {
            NativeMemory.Free(_stack);
            NativeMemory.Free(C);
            NativeMemory.Free(Image);
            Types.Dispose();
            Arena.Dispose();
            Kernel.Dispose();
            NativeMemory.AlignedFree(_table);
        }
    }

    private static void Set(byte* obj, int offset, byte* value) => *(byte**)(obj + offset) = value;

    [Fact]
    public void AReferenceFromTheKernelHeapIntoAnArenaAndBack_KeepsBoth_GarbageInEachIsSwept()
    {
        using var f = new Fixture();
        byte* node = f.Types.Class(2, 8);
        byte* root = f.New(f.Kernel, node), inArena = f.New(f.Arena, node), back = f.New(f.Kernel, node);
        byte* arenaLarge = f.New(f.Arena, f.Types.ReferenceArray(), 2000);       // a page run in the arena
        byte* lostKernel = f.New(f.Kernel, node), lostArena = f.New(f.Arena, node), lostLarge = f.New(f.Arena, f.Types.ValueArray(8), 3000);
        Set(root, 8, inArena);
        Set(inArena, 8, arenaLarge);
        Set(arenaLarge, 16 + 1999 * 8, back);                                     // the run's last element: back into the kernel heap
        Set(lostArena, 8, root);                                                  // garbage pointing at live objects keeps nothing
        Set(lostKernel, 8, lostArena);
        ulong heldBefore = f.WebHeld;
        HeapSweepResult r = f.Collect((nint)root);
        Assert.True(Fixture.Alive(f.Kernel, root) && Fixture.Alive(f.Arena, inArena) && Fixture.Alive(f.Arena, arenaLarge) && Fixture.Alive(f.Kernel, back));
        Assert.False(Fixture.Alive(f.Kernel, lostKernel));
        Assert.False(Fixture.Alive(f.Arena, lostArena));
        Assert.False(Fixture.Alive(f.Arena, lostLarge));
        Assert.Equal(4UL, r.LiveObjects);
        Assert.Equal(3UL, r.FreedObjects);
        // The arena's freed run went back to the pools off the container's count; its live objects stay charged.
        Assert.True(f.WebHeld < heldBefore, $"web held {heldBefore} then {f.WebHeld}");
        Assert.Equal(f.Arena.Heap->PagesHeld, f.WebHeld);
        f.Arena.Heap->ManagedInUse(out ulong objects, out _);
        Assert.Equal(2UL, objects);
        // Dropping the root frees both instances' objects, and the arena's pages leave the container.
        r = f.Collect();
        Assert.Equal(4UL, r.FreedObjects);
        Assert.Equal(0UL, f.WebHeld);
        Assert.Equal(0UL, f.Kernel.Heap->PagesHeld);
    }

    [Fact]
    public void AConservativeWordIntoAnArenaKeepsItsObject_InteriorOrNot()
    {
        using var f = new Fixture();
        byte* plain = f.Types.Class(4);
        byte* small = f.New(f.Arena, plain), run = f.New(f.Arena, f.Types.ValueArray(8), 2000), lost = f.New(f.Arena, plain);
        byte* kernelSmall = f.New(f.Kernel, plain);
        byte* raw = (byte*)f.Arena.Heap->Alloc(64, 0, 0);
        ulong* range = stackalloc ulong[5];
        range[0] = (ulong)(small + 21);
        range[1] = (ulong)(run + 9000);
        range[2] = (ulong)raw;                              // a raw arena block: not an object, kept as raw
        range[3] = (ulong)kernelSmall;
        range[4] = 12345;
        f.C->Begin();
        f.C->MarkConservative((byte*)range, (byte*)(range + 5));
        Assert.Equal(HeapStatus.Ok, f.C->Drain());
        Assert.Equal(HeapStatus.Ok, f.C->Sweep(out HeapSweepResult r));
        f.Consistent();
        Assert.True(Fixture.Alive(f.Arena, small) && Fixture.Alive(f.Arena, run) && Fixture.Alive(f.Kernel, kernelSmall));
        Assert.False(Fixture.Alive(f.Arena, lost));
        Assert.Equal(HeapStatus.Ok, f.Arena.Heap->Describe(raw, out HeapObjectInfo info));
        Assert.True(info.Allocated, "raw blocks are never swept");
        Assert.Equal(1UL, r.FreedObjects);
        Assert.Equal(3UL, r.LiveObjects);
    }

    [Fact]
    public void AChainAlternatingBetweenTheHeaps_WithATinyMarkStack_SurvivesThroughTheOverflowWalk()
    {
        using var f = new Fixture(stackEntries: 2);
        byte* node = f.Types.Class(2, 8);
        byte* array = f.New(f.Arena, f.Types.ReferenceArray(), 500);
        for (int i = 0; i < 500; i++)
        {
            byte* head = f.New(i % 2 == 0 ? f.Kernel : f.Arena, node);
            Set(array, 16 + i * 8, head);
            byte* at = head;
            for (int k = 0; k < 6; k++)
            {
                byte* next = f.New(k % 2 == 0 ? f.Arena : f.Kernel, node);
                Set(at, 8, next);
                at = next;
            }
        }
        HeapSweepResult r = f.Collect((nint)array);
        Assert.Equal(1UL + 500 * 7, r.LiveObjects);
        Assert.Equal(0UL, r.FreedObjects);
        Assert.True(f.C->Overflows > 0 && f.C->Rescans > 0, $"overflows {f.C->Overflows} rescans {f.C->Rescans}");
        Assert.Equal(0UL, f.Collect().LiveObjects);
    }

    [Fact]
    public void AnArenasObjectsAreChargedToItsContainer_TheQuotaStopsThem_ACollectionMakesRoomAgain()
    {
        const ulong Quota = 40;
        using var f = new Fixture(quotaPages: Quota);
        byte* node = f.Types.Class(6, 8);
        byte* keep = f.New(f.Arena, node);
        var made = 1;
        while (Fixture.TryNew(f.Arena, node) != null)
        {
            made++;
            Assert.True(made < 1_000_000, "objects without end under a quota");
        }
        Assert.Equal(HeapStatus.OutOfMemory, f.Arena.Heap->LastFailure.Status);
        Assert.Equal(MemoryStatus.QuotaExceeded, f.Arena.Heap->LastFailure.MemoryStatus);
        Assert.True(f.WebHeld <= Quota && f.WebHeld > Quota - 8, $"web holds {f.WebHeld} of {Quota}");
        Assert.Equal(f.Arena.Heap->PagesHeld, f.WebHeld);
        f.Consistent();
        // The kernel heap is not limited by web's quota.
        Assert.True(f.New(f.Kernel, node) != null);
        _output.WriteLine($"{made} objects of 64 bytes in {f.WebHeld} pages");
        HeapSweepResult r = f.Collect((nint)keep);
        Assert.Equal((ulong)made, r.FreedObjects);             // every arena object but keep, and the kernel's one
        Assert.Equal(1UL, f.WebHeld);
        Assert.True(Fixture.TryNew(f.Arena, node) != null, "room again after the collection");
    }

    [Fact]
    public void ManagedInUse_CountsTaggedObjectsNotRawBlocks_AndADetachedArenaIsNeitherReadNorSwept()
    {
        using var f = new Fixture();
        byte* node = f.Types.Class(2, 8);
        byte* a = f.New(f.Arena, node), b = f.New(f.Arena, f.Types.ValueArray(8), 1000);
        void* raw = f.Arena.Heap->Alloc(200, 8, 0);
        Assert.True(raw != null);
        f.Arena.Heap->ManagedInUse(out ulong objects, out ulong bytes);
        Assert.Equal(2UL, objects);
        Assert.Equal(HeapStatus.Ok, f.Arena.Heap->Describe(a, out HeapObjectInfo cell));
        Assert.Equal(HeapStatus.Ok, f.Arena.Heap->Describe(b, out HeapObjectInfo run));
        Assert.Equal(32UL, cell.Size);                          // 32 bytes asked: the 32-byte class
        Assert.Equal(2 * 4096UL, run.Size);                     // 24 + 8000 bytes: a two-page run
        Assert.Equal(cell.Size + run.Size, bytes);              // the raw block not counted
        HeapSweepResult r = f.Collect((nint)a);
        Assert.Equal(1UL, r.FreedObjects);
        f.Arena.Heap->ManagedInUse(out objects, out _);
        Assert.Equal(1UL, objects);
        // Detached, the arena is out of the collections: its object is not freed, a reference to it is corruption.
        Assert.Equal(HeapStatus.Ok, f.C->Detach(f.Arena.Heap));
        Assert.Equal(1, f.C->HeapCount);
        byte* k = f.New(f.Kernel, node);
        Set(k, 8, a);
        f.C->Begin();
        Assert.Equal(HeapStatus.Corruption, f.C->MarkReference(a, null, 0));
        Assert.Equal(GcCorruptionReason.OutsideEveryObject, f.C->Corruption.Reason);
        f.Kernel.Heap->ClearMarks();
        Set(k, 8, null);
        r = f.Collect((nint)k);
        Assert.Equal(0UL, r.FreedObjects);
        Assert.True(Fixture.Alive(f.Arena, a));
        Assert.Equal(HeapStatus.Ok, f.Arena.Heap->Free(raw));
    }

    [Fact]
    public void AttachAndDetachRefuseWhatTheyCannotDo_NothingChanged()
    {
        using var f = new Fixture();
        Assert.Equal(2, f.C->HeapCount);
        Assert.Equal(HeapStatus.InvalidArgument, f.C->Attach(null));
        Assert.Equal(HeapStatus.InvalidArgument, f.C->Attach(f.Arena.Heap));
        Assert.Equal(HeapStatus.InvalidArgument, f.C->Detach(null));
        Assert.Equal(2, f.C->HeapCount);
        Assert.Equal(HeapStatus.Ok, f.C->Detach(f.Arena.Heap));
        Assert.Equal(HeapStatus.InvalidArgument, f.C->Detach(f.Arena.Heap));
        Assert.Equal(HeapStatus.InvalidArgument, f.C->Detach(f.Kernel.Heap));   // the last one stays
        Assert.Equal(1, f.C->HeapCount);
        // Full: MaxHeaps instances (fake ones: never collected here), the next refused.
        KernelHeap*[] fakes = new KernelHeap*[HeapCollector.MaxHeaps];
        for (int i = 1; i < HeapCollector.MaxHeaps; i++)
        {
            fakes[i] = (KernelHeap*)NativeMemory.AllocZeroed((nuint)sizeof(KernelHeap));
            Assert.Equal(HeapStatus.Ok, f.C->Attach(fakes[i]));
        }
        Assert.Equal(HeapStatus.OutOfMemory, f.C->Attach(f.Arena.Heap));
        Assert.Equal(HeapCollector.MaxHeaps, f.C->HeapCount);
        for (int i = 1; i < HeapCollector.MaxHeaps; i++)
        {
            Assert.Equal(HeapStatus.Ok, f.C->Detach(fakes[i]));
            NativeMemory.Free(fakes[i]);
        }
        Assert.Equal(1, f.C->HeapCount);
    }

    /// <summary>Random graphs over both heaps (2 seeds x 3,000 objects; POOLKERNEL_GCARENA_SEEDS, _OPS; replay POOLKERNEL_GCARENA_SEED): exactly what a walk reaches survives, in either heap.</summary>
    [Fact]
    public void RandomGraphsOverTwoHeapsKeepExactlyWhatIsReachable()
        => SeededRuns.Run(_output, "gc random graphs over an arena", "POOLKERNEL_GCARENA", 2, 3000, RandomGraph);

    private static void RandomGraph(int seed, int count)
    {
        using var f = new Fixture(stackEntries: 16);
        var rng = new Random(seed);
        byte* node = f.Types.Class(4, 8, 16, 32);
        var all = new List<(nint obj, bool arena)>();
        for (int i = 0; i < count; i++)
        {
            bool arena = rng.Next(2) == 0;
            all.Add(((nint)f.New(arena ? f.Arena : f.Kernel, node), arena));
        }
        var edges = new Dictionary<nint, List<nint>>();
        foreach (var (o, _) in all)
        {
            var list = new List<nint>();
            foreach (int off in new[] { 8, 16, 32 })
            {
                nint to = rng.Next(3) == 0 ? all[rng.Next(all.Count)].obj : 0;
                Set((byte*)o, off, (byte*)to);
                list.Add(to);
            }
            edges[o] = list;
        }
        nint[] roots = Enumerable.Range(0, 5).Select(_ => all[rng.Next(all.Count)].obj).ToArray();
        HashSet<nint> reach = Reachable(roots, edges);
        HeapSweepResult r = f.Collect(roots);
        Assert.Equal((ulong)reach.Count, r.LiveObjects);
        Assert.Equal((ulong)(all.Count - reach.Count), r.FreedObjects);
        foreach (var (o, arena) in all)
            Assert.Equal(reach.Contains(o), Fixture.Alive(arena ? f.Arena : f.Kernel, (byte*)o));
        f.Arena.Heap->ManagedInUse(out ulong inArena, out _);
        Assert.Equal((ulong)all.Count(x => x.arena && reach.Contains(x.obj)), inArena);
        Assert.Equal(f.Arena.Heap->PagesHeld, f.WebHeld);
    }

    /// <summary>The objects a reference walk from <paramref name="roots"/> reaches over <paramref name="edges"/> (each object's references; 0 is null).</summary>
    private static HashSet<nint> Reachable(nint[] roots, Dictionary<nint, List<nint>> edges)
    {
        var reach = new HashSet<nint>();
        var work = new Stack<nint>(roots);
        while (work.Count > 0)
        {
            nint o = work.Pop();
            if (o == 0 || !reach.Add(o))
                continue;
            foreach (nint to in edges[o])
                work.Push(to);
        }
        return reach;
    }
}
