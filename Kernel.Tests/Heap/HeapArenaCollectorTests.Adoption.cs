using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using PoolKernel.Tests.Memory;
using PoolKernel.Tests.Support;
using Xunit;

namespace PoolKernel.Tests.Heap;

/// <summary>
/// Adoption (<see cref="KernelHeap.Adopt"/>, docs/containers.md "Destroy: adoption"): after a collection the kernel's
/// heap takes a container's arena's surviving managed objects, slabs and runs with their pages re-owned off the
/// container, so the container can be destroyed with nothing dangling; the adopted objects stay where they are,
/// intact, and the kernel heap's collector keeps or sweeps them like its own.
/// </summary>
public unsafe partial class HeapArenaCollectorTests
{
    /// <summary>After the container is destroyed (its arena's pages freed), the kernel heap's checker and the pools' are clean.</summary>
    private static void KernelSideConsistent(Fixture f)
    {
        HeapCheckReport k = f.Kernel.Heap->Check();
        Assert.True(k.IsOk, "kernel heap: " + HostHeap.Describe(k));
        MemoryAssert.Consistent(f.Pm);
    }

    /// <summary>Collects with only the kernel heap attached (the arena detached and its container destroyed).</summary>
    private static HeapSweepResult CollectKernel(Fixture f, params nint[] roots)
    {
        f.C->Begin();
        foreach (nint r in roots)
            Assert.Equal(HeapStatus.Ok, f.C->MarkReference((byte*)r, null, 0));
        Assert.Equal(HeapStatus.Ok, f.C->Drain());
        Assert.Equal(HeapStatus.Ok, f.C->Sweep(out HeapSweepResult result));
        KernelSideConsistent(f);
        return result;
    }

    [Fact]
    public void Adopt_TakesTheSurvivorsSlabsAndRuns_ReferencesBothWaysIntact_TheKernelHeapCollectsThemLater()
    {
        using var f = new Fixture();
        byte* node = f.Types.Class(4, 8, 16, 32);
        byte* root = f.New(f.Kernel, node), inArena = f.New(f.Arena, node), back = f.New(f.Kernel, node);
        byte* refs = f.New(f.Arena, f.Types.ReferenceArray(), 2000);     // a page run in the arena
        byte* values = f.New(f.Arena, f.Types.ValueArray(8), 3000);      // another, filled with a pattern
        byte* lostArena = f.New(f.Arena, node), lostRun = f.New(f.Arena, f.Types.ValueArray(8), 1000);
        byte* rawInSlab = (byte*)f.Arena.Heap->Alloc(40, 0, 0);        // a raw cell of the class the objects are in
        byte* rawAlone = (byte*)f.Arena.Heap->Alloc(1500, 0, 0);       // a raw cell in a slab with no object
        Set(root, 8, inArena);
        Set(inArena, 8, refs);
        Set(inArena, 16, values);
        *(ulong*)(inArena + 24) = 0xADD0_0001;
        Set(refs, 16 + 1999 * 8, back);
        for (int i = 0; i < 3000; i++)
            *(ulong*)(values + 16 + i * 8) = 0x9E37_79B9UL * (ulong)i;
        Set(lostArena, 8, root);
        Assert.Equal(f.Arena.PfnOf(inArena), f.Arena.PfnOf(rawInSlab));
        Assert.NotEqual(f.Arena.PfnOf(inArena), f.Arena.PfnOf(rawAlone));
        f.Collect((nint)root);
        Assert.False(Fixture.Alive(f.Arena, lostArena) || Fixture.Alive(f.Arena, lostRun));

        ulong webBefore = f.WebHeld, kernelBefore = f.Kernel.Heap->PagesHeld;
        f.Kernel.Heap->ManagedInUse(out ulong kernelObjects, out _);
        Assert.Equal(HeapStatus.Ok, f.Kernel.Heap->Adopt(f.Arena.Heap, out HeapAdoption a));
        f.Consistent();
        Assert.Equal(3UL, a.Objects);
        Assert.Equal(2UL, a.Runs);
        Assert.Equal(1UL, a.Slabs);
        Assert.Equal(1UL, a.RawBlocksFreed);
        Assert.Equal(MemoryStatus.Ok, a.Refusal);
        // Counts conserved: the pages passed from the container to the kernel heap; the arena keeps the raw slab only.
        AssertPagesPassed(f, a, webBefore, kernelBefore);
        f.Kernel.Heap->ManagedInUse(out ulong kernelAfter, out _);
        Assert.Equal(kernelObjects + 3, kernelAfter);
        Assert.True(Fixture.Alive(f.Kernel, inArena) && Fixture.Alive(f.Kernel, refs) && Fixture.Alive(f.Kernel, values));
        Assert.Equal(HeapStatus.Ok, f.Arena.Heap->Describe(rawAlone, out HeapObjectInfo raw));
        Assert.True(raw.Allocated, "a raw block outside the adopted slabs stays the container's");

        // The container goes; the adopted objects stay, intact, and the kernel heap's collector keeps them while referenced.
        Assert.Equal(HeapStatus.Ok, f.C->Detach(f.Arena.Heap));
        Assert.Equal(MemoryStatus.Ok, f.Pm->DestroyContainer(Web));
        KernelSideConsistent(f);
        HeapSweepResult r = CollectKernel(f, (nint)root);
        Assert.Equal(5UL, r.LiveObjects);
        Assert.Equal(0UL, r.FreedObjects);
        Assert.Equal(0xADD0_0001UL, *(ulong*)(inArena + 24));
        Assert.True(*(byte**)(refs + 16 + 1999 * 8) == back);
        for (int i = 0; i < 3000; i++)
            Assert.Equal(0x9E37_79B9UL * (ulong)i, *(ulong*)(values + 16 + i * 8));
        // ...and sweeps them when they are not.
        r = CollectKernel(f);
        Assert.Equal(5UL, r.FreedObjects);
        Assert.Equal(0UL, f.Kernel.Heap->PagesHeld);
    }

    [Fact]
    public void Adopt_IsRefusedWithBothHeapsAndThePoolsUnchanged_WhenASurvivorIsInTheContainersGuaranteePool()
    {
        using var f = new Fixture(guaranteePages: 512);
        Assert.Equal(MemoryStatus.Ok, f.Pm->GetContainerUsage(Kernel, Web, out ContainerUsage u));
        byte* node = f.Types.Class(4, 8, 16, 32);
        // The object on the guarantee pool's node, where pool choice tries the guarantee pool first for the container.
        f.Pm->GetPoolProperties(u.GuaranteePool, out PoolProperties props);
        byte* root = f.New(f.Kernel, node);
        byte* inArena = (byte*)f.Arena.Heap->AllocObject(*(uint*)(node + 4), System.Numerics.BitOperations.TrailingZeroCount(props.NodeMask)) + 8;
        *(byte**)inArena = node;
        Set(root, 8, inArena);
        f.Collect((nint)root);
        Assert.True(Fixture.Alive(f.Arena, inArena));
        Assert.Equal(u.GuaranteePool, f.Pm->PoolOf(f.Arena.PfnOf(inArena)));
        byte[] kernel = f.Kernel.Snapshot(), arena = f.Arena.Snapshot(), pools = f.Kernel.Host.Snapshot();
        Assert.Equal(HeapStatus.PoolsRefused, f.Kernel.Heap->Adopt(f.Arena.Heap, out HeapAdoption a));
        Assert.Equal(MemoryStatus.OwnerRefused, a.Refusal);
        Assert.Equal(f.Arena.PfnOf(inArena).Value & ~7UL, a.RefusedPfn & ~7UL);
        Assert.True(kernel.AsSpan().SequenceEqual(f.Kernel.Snapshot()), "the kernel heap changed");
        Assert.True(arena.AsSpan().SequenceEqual(f.Arena.Snapshot()), "the arena changed");
        Assert.True(pools.AsSpan().SequenceEqual(f.Kernel.Host.Snapshot()), "the pools changed");
        f.Consistent();
        // Bad arguments: itself, null.
        Assert.Equal(HeapStatus.InvalidArgument, f.Kernel.Heap->Adopt(f.Kernel.Heap, out _));
        Assert.Equal(HeapStatus.InvalidArgument, f.Kernel.Heap->Adopt(null, out _));
        f.Consistent();
    }

    /// <summary>
    /// Random graphs over both heaps with raw blocks in the arena (3 seeds x 1,500 objects; POOLKERNEL_ADOPT_SEEDS, _OPS;
    /// replay POOLKERNEL_ADOPT_SEED): after a collection and the adoption, exactly the reachable objects are left, every
    /// one in the kernel heap with its contents intact, the counts conserved; the container is destroyed; the kernel
    /// heap's collector keeps them while the roots do and sweeps them all after. Both checkers clean after every step.
    /// </summary>
    [Fact]
    public void SeededGraphs_AdoptedAfterACollection_SurviveTheContainer_AndAreCollectedByTheKernelHeap()
        => SeededRuns.Run(_output, "adoption of an arena's survivors", "POOLKERNEL_ADOPT", 3, 1500, RandomAdoption);

    private static void RandomAdoption(int seed, int count)
    {
        using var f = new Fixture(stackEntries: 16);
        var rng = new Random(seed);
        byte* node = f.Types.Class(4, 8, 16, 32);
        byte* run = f.Types.ValueArray(8);
        var all = new List<(nint obj, bool arena, ulong id)>();
        for (int i = 0; i < count; i++)
        {
            bool arena = rng.Next(2) == 0;
            byte* o = rng.Next(40) == 0 ? f.New(arena ? f.Arena : f.Kernel, run, (uint)rng.Next(520, 1200)) : f.New(arena ? f.Arena : f.Kernel, node);
            ulong id = ((ulong)(uint)seed << 32) | (uint)i;
            all.Add(((nint)o, arena, id));
            if (rng.Next(8) == 0)
                Assert.True(f.Arena.Heap->Alloc((ulong)rng.Next(8, 3000), 0, 0) != null);
        }
        // Small objects: three references (at 8, 16, 32) and their id at 24. Runs (arrays of values): their id in element 0, no reference.
        int[] fields = { 8, 16, 32 };
        var edges = new Dictionary<nint, List<nint>>();
        foreach (var (o, _, id) in all)
        {
            var list = new List<nint>();
            if (*(byte**)o == run)
                *(ulong*)((byte*)o + 16) = id;
            else
            {
                foreach (int off in fields)
                {
                    nint to = rng.Next(3) == 0 ? all[rng.Next(all.Count)].obj : 0;
                    Set((byte*)o, off, (byte*)to);
                    list.Add(to);
                }
                *(ulong*)((byte*)o + 24) = id;
            }
            edges[o] = list;
        }
        nint[] roots = Enumerable.Range(0, 6).Select(_ => all[rng.Next(all.Count)].obj).ToArray();
        HashSet<nint> reach = Reachable(roots, edges);
        HeapSweepResult r = f.Collect(roots);
        Assert.Equal((ulong)reach.Count, r.LiveObjects);
        ulong arenaLive = (ulong)all.Count(x => x.arena && reach.Contains(x.obj));
        ulong webBefore = f.WebHeld, kernelBefore = f.Kernel.Heap->PagesHeld;

        Assert.Equal(HeapStatus.Ok, f.Kernel.Heap->Adopt(f.Arena.Heap, out HeapAdoption a));
        f.Consistent();
        Assert.Equal(arenaLive, a.Objects);
        AssertPagesPassed(f, a, webBefore, kernelBefore);
        f.Kernel.Heap->ManagedInUse(out ulong inKernel, out _);
        Assert.Equal((ulong)reach.Count, inKernel);

        Assert.Equal(HeapStatus.Ok, f.C->Detach(f.Arena.Heap));
        Assert.Equal(MemoryStatus.Ok, f.Pm->DestroyContainer(Web));
        KernelSideConsistent(f);
        r = CollectKernel(f, roots);
        Assert.Equal((ulong)reach.Count, r.LiveObjects);
        Assert.Equal(0UL, r.FreedObjects);
        foreach (var (o, _, id) in all)
        {
            if (!reach.Contains(o))
                continue;
            Assert.True(Fixture.Alive(f.Kernel, (byte*)o));
            bool isRun = *(byte**)o == run;
            Assert.Equal(id, *(ulong*)((byte*)o + (isRun ? 16 : 24)));
            List<nint> expected = edges[o];
            for (int k = 0; k < expected.Count; k++)
                Assert.Equal(expected[k], *(nint*)((byte*)o + fields[k]));
        }
        r = CollectKernel(f);
        Assert.Equal((ulong)reach.Count, r.FreedObjects);
        Assert.Equal(0UL, f.Kernel.Heap->PagesHeld);
    }

    /// <summary>
    /// After adoption <paramref name="a"/>: its pages left the container (held <paramref name="webBefore"/> before) for the
    /// kernel heap (<paramref name="kernelBefore"/> before), the container holds what its arena holds, and no managed
    /// object is left in the arena.
    /// </summary>
    private static void AssertPagesPassed(Fixture f, in HeapAdoption a, ulong webBefore, ulong kernelBefore)
    {
        Assert.Equal(webBefore - a.Pages, f.WebHeld);
        Assert.Equal(kernelBefore + a.Pages, f.Kernel.Heap->PagesHeld);
        Assert.Equal(f.Arena.Heap->PagesHeld, f.WebHeld);
        f.Arena.Heap->ManagedInUse(out ulong left, out _);
        Assert.Equal(0UL, left);
    }
}
