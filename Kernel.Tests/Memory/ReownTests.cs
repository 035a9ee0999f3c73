using PoolKernel.Memory;
using PoolKernel.Tests.Support;
using Xunit;
using static PoolKernel.Tests.Memory.ContainerHelpers;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Re-owning an allocated block or run (<see cref="PhysicalMemory.Reown"/>, docs/containers.md "Adoption on destroy"):
/// the head's owner byte and both owners' counts change together, the frames stay; every refusal leaves the pools'
/// metadata and the container table byte for byte as they were. Longer random runs: POOLKERNEL_REOWN_SEEDS / _OPS;
/// replay: POOLKERNEL_REOWN_SEED.
/// </summary>
public unsafe class ReownTests
{
    private const ulong MiB = 1UL << 20;
    private const byte Kernel = 0, Heap = 1, Plain = 5, Web = 16, Db = 17;
    private readonly ITestOutputHelper _output;

    public ReownTests(ITestOutputHelper output) => _output = output;

    /// <summary>A q35 machine, 256 MiB, two nodes, with a container table (supervisor: owner 0).</summary>
    private sealed class Machine : ContainerMachine
    {
        /// <summary>Refused with <paramref name="expected"/>: the pools' metadata and the container table unchanged, the checker clean.</summary>
        public void Refused(MemoryStatus expected, Func<MemoryStatus> call)
        {
            byte[] table = TableBytes();
            MemoryAssert.Refused(Host, expected, call);
            Assert.True(table.AsSpan().SequenceEqual(TableBytes()), $"refused re-own ({expected}) changed the container table");
        }
    }

    private static AllocRequest As(AllocRequest request, byte owner)
    {
        request.Owner = owner;
        return request;
    }

    private static ulong HeldIn(PhysicalMemory* pm, byte owner, PoolId pool)
    {
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerHeld(Kernel, owner, pool.Value, false, out ulong pages));
        return pages;
    }

    [Fact]
    public void ABlockAndARun_PassFromAContainerToThePlainHeapOwnerAndToAnotherContainer_CountsFollow()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 4096)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 4096)));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), As(AllocRequest.Any, Web), out Pfn block));
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(5, As(AllocRequest.Any, Web), out Pfn run));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Plain), out Pfn plain));
        PoolId blockPool = pm->PoolOf(block), runPool = pm->PoolOf(run);
        Assert.Equal(9UL, Usage(pm, Web).HeldPages);
        ulong peak = Usage(pm, Web).PeakPages;

        Assert.Equal(MemoryStatus.Ok, pm->CheckReown(block, Web, Heap, out ulong pages));
        Assert.Equal(4UL, pages);
        Assert.Equal(MemoryStatus.Ok, pm->Reown(block, Web, Heap));
        MemoryAssert.Consistent(pm);
        Assert.Equal(Heap, pm->OwnerOf(block));
        Assert.Equal(5UL, Usage(pm, Web).HeldPages);
        Assert.Equal(peak, Usage(pm, Web).PeakPages);
        Assert.Equal(runPool == blockPool ? 5UL : 0UL, HeldIn(pm, Web, blockPool));
        // The old owner no longer frees it; the new one does, on its fast path (a plain owner's byte).
        MemoryAssert.Refused(m.Host, MemoryStatus.NotOwner, () => pm->Free(block, new Order(2), Web));

        Assert.Equal(MemoryStatus.Ok, pm->Reown(run, Web, Db));
        MemoryAssert.Consistent(pm);
        Assert.Equal(0UL, Usage(pm, Web).HeldPages);
        Assert.Equal(5UL, Usage(pm, Db).HeldPages);
        Assert.Equal(5UL, Usage(pm, Db).PeakPages);
        Assert.Equal(5UL, HeldIn(pm, Db, runPool));
        Assert.Equal(MemoryStatus.Ok, pm->Reown(plain, Plain, Db));
        MemoryAssert.Consistent(pm);
        Assert.Equal(6UL, Usage(pm, Db).HeldPages);

        // Web, holding nothing now, is destroyed without touching what it gave away.
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->Free(block, new Order(2), Heap));
        Assert.Equal(MemoryStatus.Ok, pm->FreeRun(run, 5, Db));
        Assert.Equal(MemoryStatus.Ok, pm->Free(plain, new Order(0), Db));
        Assert.Equal(0UL, Usage(pm, Db).HeldPages);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Db));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void EveryRefusal_LeavesThePoolsAndTheContainerTableUnchanged()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        PoolId node0 = MemoryAssert.FindPool(pm, "node0-dma32");
        PoolId node1 = MemoryAssert.FindPool(pm, "node1-dma32");
        // web has a guarantee pool of its own; db may use node0-dma32 only; tiny's quota is 4 pages.
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 4096, 512)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 4096, 0, node0)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("tiny", 18, 4)));
        PoolId webPool = Usage(pm, Web).GuaranteePool;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.InPool(webPool), Web), out Pfn inGuarantee));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(1), As(AllocRequest.InPool(node1), Web), out Pfn onNode1));
        Assert.Equal(MemoryStatus.Ok, pm->AllocateRun(5, As(AllocRequest.InPool(node1), Web), out Pfn run));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Plain), out Pfn plain));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, 18), out Pfn tinys));

        // Arguments: owners above 63 (the sentinels among them), the same owner twice, a frame outside the span.
        m.Refused(MemoryStatus.InvalidArgument, () => pm->Reown(onNode1, Web, 64));
        m.Refused(MemoryStatus.InvalidArgument, () => pm->Reown(onNode1, FrameOwner.None, Heap));
        m.Refused(MemoryStatus.InvalidArgument, () => pm->Reown(onNode1, (byte)(Web | FrameOwner.Accounted), Heap));
        m.Refused(MemoryStatus.InvalidArgument, () => pm->Reown(onNode1, Web, Web));
        m.Refused(MemoryStatus.InvalidArgument, () => pm->Reown(new Pfn(pm->BasePfn.Value + pm->GetTotals().SpanPages), Web, Heap));
        // Not the head of an allocated block or run: a free frame, the second frame of a block, a run's later frame.
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), As(AllocRequest.Any, Plain), out Pfn freed));
        Assert.Equal(MemoryStatus.Ok, pm->Free(freed, new Order(0), Plain));
        m.Refused(MemoryStatus.NotAllocated, () => pm->Reown(freed, Plain, Heap));
        m.Refused(MemoryStatus.NotAllocated, () => pm->Reown(new Pfn(onNode1.Value + 1), Web, Heap));
        m.Refused(MemoryStatus.NotAllocated, () => pm->Reown(new Pfn(run.Value + 4), Web, Heap));
        // Not the from owner's: another container, a plain owner, the supervisor; a plain owner's block named by a container.
        foreach (byte other in new byte[] { Db, Plain, Kernel, Heap })
            m.Refused(MemoryStatus.NotOwner, () => pm->Reown(onNode1, other, Heap == other ? Plain : Heap));
        m.Refused(MemoryStatus.NotOwner, () => pm->Reown(plain, Web, Heap));
        // Permissions: the guarantee pool admits web alone; db may not hold in node1-dma32.
        m.Refused(MemoryStatus.OwnerRefused, () => pm->Reown(inGuarantee, Web, Heap));
        m.Refused(MemoryStatus.OwnerRefused, () => pm->Reown(inGuarantee, Web, Db));
        m.Refused(MemoryStatus.OwnerRefused, () => pm->Reown(run, Web, Db));
        // Quota: tiny holds 1 of 4 pages; a 5-page run or a 4-page block would pass it.
        m.Refused(MemoryStatus.QuotaExceeded, () => pm->Reown(run, Web, 18));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(2), As(AllocRequest.InPool(node1), Web), out Pfn four));
        m.Refused(MemoryStatus.QuotaExceeded, () => pm->Reown(four, Web, 18));
        // CheckReown answers the same, changing nothing.
        byte[] table = m.TableBytes();
        byte[] before = m.Host.Snapshot();
        Assert.Equal(MemoryStatus.QuotaExceeded, pm->CheckReown(four, Web, 18, out _));
        Assert.Equal(MemoryStatus.OwnerRefused, pm->CheckReown(inGuarantee, Web, Heap, out _));
        Assert.Equal(MemoryStatus.NotOwner, pm->CheckReown(plain, Web, Heap, out _));
        Assert.Equal(MemoryStatus.Ok, pm->CheckReown(onNode1, Web, 18, out ulong two));
        Assert.Equal(2UL, two);
        Assert.True(before.AsSpan().SequenceEqual(m.Host.Snapshot()) && table.AsSpan().SequenceEqual(m.TableBytes()));

        // Then the allowed one: web's order-1 block fits tiny's quota.
        Assert.Equal(MemoryStatus.Ok, pm->Reown(onNode1, Web, 18));
        MemoryAssert.Consistent(pm);
        Assert.Equal(3UL, Usage(pm, 18).HeldPages);
        foreach (byte c in new byte[] { Web, Db, 18 })
            Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(c));
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->Free(plain, new Order(0), Plain));
    }

    /// <summary>Random allocations, frees and re-owns among two containers, a plain owner and the heap owner (4 seeds x 1,500 operations).</summary>
    [Fact]
    public void SeededOperationsAndReowns_KeepTheCountsEqualToTheBlocks_AndConservePages()
        => SeededRuns.Run(_output, "re-own among owners", "POOLKERNEL_REOWN", 4, 1500, RandomReowns);

    private static void RandomReowns(int seed, int operations)
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        PoolId node0 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 300)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 200, 0, node0)));
        byte[] owners = { Web, Db, Plain, Heap };
        var rng = new Random(seed);
        // The model: every live block, its owner, order or run length.
        var blocks = new List<(Pfn pfn, byte owner, int order, ulong run)>();
        for (int op = 0; op < operations; op++)
        {
            int what = rng.Next(10);
            if (what < 4 || blocks.Count == 0)
            {
                byte owner = owners[rng.Next(owners.Length)];
                if (rng.Next(3) == 0)
                {
                    ulong pages = (ulong)rng.Next(1, 9);
                    if (pm->AllocateRun(pages, As(AllocRequest.Any, owner), out Pfn first) == MemoryStatus.Ok)
                    {
                        blocks.Add((first, owner, -1, pages));
                    }
                }
                else
                {
                    int order = rng.Next(0, 4);
                    if (pm->Allocate(new Order(order), As(AllocRequest.Any, owner), out Pfn pfn) == MemoryStatus.Ok)
                    {
                        blocks.Add((pfn, owner, order, 0));
                    }
                }
            }
            else if (what < 6)
            {
                int i = rng.Next(blocks.Count);
                var b = blocks[i];
                MemoryStatus s = b.run != 0 ? pm->FreeRun(b.pfn, b.run, b.owner) : pm->Free(b.pfn, new Order(b.order), b.owner);
                Assert.Equal(MemoryStatus.Ok, s);
                blocks.RemoveAt(i);
            }
            else
            {
                int i = rng.Next(blocks.Count);
                var b = blocks[i];
                // A random claimed owner (sometimes the wrong one) and a random target.
                byte from = rng.Next(5) == 0 ? owners[rng.Next(owners.Length)] : b.owner;
                byte to = owners[rng.Next(owners.Length)];
                MemoryStatus expected = pm->CheckReown(b.pfn, from, to, out ulong pages);
                byte[] table = m.TableBytes();
                byte[] before = m.Host.Snapshot();
                MemoryStatus s = pm->Reown(b.pfn, from, to);
                Assert.Equal(expected, s);
                if (s == MemoryStatus.Ok)
                {
                    Assert.Equal(b.run != 0 ? b.run : 1UL << b.order, pages);
                    blocks[i] = (b.pfn, to, b.order, b.run);
                    Assert.Equal(to, pm->OwnerOf(b.pfn));
                }
                else
                {
                    Assert.True(before.AsSpan().SequenceEqual(m.Host.Snapshot()), $"refused re-own ({s}) changed the metadata");
                    Assert.True(table.AsSpan().SequenceEqual(m.TableBytes()), $"refused re-own ({s}) changed the container table");
                }
            }
            MemoryAssert.Consistent(pm);
            // Conserved: each container holds exactly what the model gives it, and every block records the model's owner.
            foreach (byte c in new[] { Web, Db })
            {
                ulong model = 0;
                foreach (var b in blocks)
                    if (b.owner == c)
                        model += b.run != 0 ? b.run : 1UL << b.order;
                Assert.Equal(model, Usage(pm, c).HeldPages);
            }
            foreach (var b in blocks)
                Assert.Equal(b.owner, pm->OwnerOf(b.pfn));
        }
        foreach (var b in blocks)
            Assert.Equal(MemoryStatus.Ok, b.run != 0 ? pm->FreeRun(b.pfn, b.run, b.owner) : pm->Free(b.pfn, new Order(b.order), b.owner));
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Db));
        MemoryAssert.Consistent(pm);
    }
}
