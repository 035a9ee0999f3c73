using PoolKernel.Memory;
using PoolKernel.Memory.Testing;
using PoolKernel.Tests.Support;
using Xunit;
using static PoolKernel.Tests.Memory.ContainerHelpers;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The movable step of pressure (docs/containers.md "Pressure", <see cref="PhysicalMemory.MoveAboveGuarantees"/>):
/// a container's movable blocks in a short pool are migrated, through its mover, to another pool it may
/// use, in frame order, the biggest holder first; its held count and quota untouched, its per-pool and
/// per-node counts following the blocks, the contents intact. Never out of a guarantee pool; with no
/// room elsewhere nothing moves; refusals change nothing.
/// </summary>
public unsafe class ContainerPressureMoveTests
{
    private const ulong MiB = 1UL << 20;
    private const byte Kernel = 0, Web = 10, Db = 11;
    private readonly ITestOutputHelper _output;

    public ContainerPressureMoveTests(ITestOutputHelper output) => _output = output;

    private sealed class Machine : ContainerMachine
    {
        public readonly PoolId A, B;

        public Machine()
        {
            A = MemoryAssert.FindPool(Pm, "node0-dma32");
            B = MemoryAssert.FindPool(Pm, "node1-dma32");
        }
    }

    private static ulong Held(PhysicalMemory* pm, byte owner, int index, bool byNode = false)
    {
        Assert.Equal(MemoryStatus.Ok, pm->GetContainerHeld(Kernel, owner, index, byNode, out ulong pages));
        return pages;
    }

    /// <summary>Web's frames in <paramref name="pool"/> per its mapping, ascending.</summary>
    private static List<ulong> FramesIn(PhysicalMemory* pm, HostMapping map, PoolId pool) =>
        map.Map.Values.Where(v => pm->PoolOf(v.pfn) == pool).Select(v => v.pfn.Value).OrderBy(v => v).ToList();

    [Fact]
    public void AShortPool_GetsAContainersMovableBlocksMigratedOut_InFrameOrder_CountsFollow_ContentsIntact()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 4096, 0, m.A, m.B)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 4096, 0, m.A, m.B)));
        using var web = new HostMapping(pm, Web);
        // web: 100 order-0 blocks and 10 order-1 blocks in A; db (no mover): 300 pages in A, more than web.
        for (int i = 0; i < 100; i++)
            Assert.Equal(MemoryStatus.Ok, web.Allocate(0, AllocRequest.InPool(m.A), false, out _));
        for (int i = 0; i < 10; i++)
            Assert.Equal(MemoryStatus.Ok, web.Allocate(1, AllocRequest.InPool(m.A), false, out _));
        AllocRequest db = AllocRequest.InPool(m.A);
        db.Owner = Db;
        for (int i = 0; i < 300; i++)
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), db, out _));
        List<ulong> before = FramesIn(pm, web, m.A);
        ulong node0 = Held(pm, Web, 0, true), node1 = Held(pm, Web, 1, true);
        Assert.Equal(120UL, Held(pm, Web, m.A.Value));

        Assert.Equal(MemoryStatus.Ok, pm->MoveAboveGuarantees(m.A, 60, out PressureMoves moves));
        _output.WriteLine($"moved {moves.PagesMoved} pages in {moves.BlocksMoved} blocks, declined {moves.Declined}, no room {moves.NoRoom}");
        // Frame order: exactly the lowest frames web held in A moved (a 2-page block may take the count to 61).
        List<ulong> after = FramesIn(pm, web, m.A);
        Assert.True(moves.PagesMoved >= 60 && moves.PagesMoved <= 61, $"{moves.PagesMoved}");
        Assert.Equal(before.Skip(before.Count - after.Count).ToList(), after);
        Assert.Equal(before.Count - after.Count, (int)moves.BlocksMoved);
        Assert.Equal(0UL, moves.NoRoom);
        Assert.Equal(120UL - moves.PagesMoved, Held(pm, Web, m.A.Value));
        Assert.Equal(moves.PagesMoved, Held(pm, Web, m.B.Value));
        Assert.Equal(node0 - moves.PagesMoved, Held(pm, Web, 0, true));
        Assert.Equal(node1 + moves.PagesMoved, Held(pm, Web, 1, true));
        ContainerUsage u = Usage(pm, Web);
        Assert.Equal(120UL, u.HeldPages);
        Assert.Equal(120UL, u.PeakPages);
        Assert.Equal(moves.PagesMoved, u.MovedUnderPressurePages);
        Assert.Null(web.Verify());
        Assert.Equal(300UL, Held(pm, Db, m.A.Value));
        MemoryAssert.Consistent(pm);

        // Asked for more than web holds there: all of web's blocks move, db's (no mover) stay.
        Assert.Equal(MemoryStatus.Ok, pm->MoveAboveGuarantees(m.A, 1000, out PressureMoves rest));
        Assert.Equal(120UL - moves.PagesMoved, rest.PagesMoved);
        Assert.Equal(0UL, Held(pm, Web, m.A.Value));
        Assert.Equal(120UL, Held(pm, Web, m.B.Value));
        Assert.Equal(300UL, Held(pm, Db, m.A.Value));
        Assert.Null(web.Verify());
        MemoryAssert.Consistent(pm);
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Db));
        MemoryAssert.Consistent(pm);
    }

    [Fact]
    public void TheBiggestHolderInTheShortPoolMovesFirst()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 4096, 0, m.A, m.B)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 4096, 0, m.A, m.B)));
        using var web = new HostMapping(pm, Web);
        using var db = new HostMapping(pm, Db);
        for (int i = 0; i < 40; i++)
            Assert.Equal(MemoryStatus.Ok, web.Allocate(0, AllocRequest.InPool(m.A), false, out _));
        for (int i = 0; i < 70; i++)
            Assert.Equal(MemoryStatus.Ok, db.Allocate(0, AllocRequest.InPool(m.A), false, out _));
        Assert.Equal(MemoryStatus.Ok, pm->MoveAboveGuarantees(m.A, 80, out PressureMoves moves));
        Assert.Equal(80UL, moves.PagesMoved);
        Assert.Equal(70UL, Held(pm, Db, m.B.Value));
        Assert.Equal(10UL, Held(pm, Web, m.B.Value));
        Assert.Equal(30UL, Held(pm, Web, m.A.Value));
        Assert.Null(web.Verify());
        Assert.Null(db.Verify());
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// A guarantee is never broken: pressure on a container's own guarantee pool moves none of it. With no
    /// other pool it may use (permitted in A only) nothing moves and the call says so (NoRoom), the metadata
    /// byte for byte as before. Refusals: 0 pages, no table, a pool that is not live, a realtime pool.
    /// </summary>
    [Fact]
    public void NoRoomOrAGuaranteePool_NothingMoves_AndRefusalsChangeNothing()
    {
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 4096, 512, m.A, m.B)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 4096, 0, m.A)));
        PoolId guarantee = Usage(pm, Web).GuaranteePool;
        using var web = new HostMapping(pm, Web);
        using var db = new HostMapping(pm, Db);
        for (int i = 0; i < 50; i++)
            Assert.Equal(MemoryStatus.Ok, web.Allocate(0, AllocRequest.InPool(guarantee), false, out _));
        for (int i = 0; i < 50; i++)
            Assert.Equal(MemoryStatus.Ok, db.Allocate(0, AllocRequest.InPool(m.A), false, out _));

        byte[] snapshot = m.Host.Snapshot();
        Assert.Equal(MemoryStatus.Ok, pm->MoveAboveGuarantees(guarantee, 50, out PressureMoves g));
        Assert.Equal(0UL, g.PagesMoved);
        Assert.Equal(MemoryStatus.Ok, pm->MoveAboveGuarantees(m.A, 50, out PressureMoves none));
        Assert.Equal(0UL, none.PagesMoved);
        Assert.Equal(1UL, none.NoRoom);
        Assert.Equal(Db, none.NoRoomOwner);
        Assert.True(snapshot.AsSpan().SequenceEqual(m.Host.Snapshot()), "a call that moved nothing changed the metadata");
        Assert.Equal(50UL, Held(pm, Web, guarantee.Value));
        Assert.Equal(50UL, Held(pm, Db, m.A.Value));
        Assert.Equal(1UL, Usage(pm, Db).PressureNoRoomStops);
        Assert.Equal(0UL, Usage(pm, Db).MovedUnderPressurePages);
        Assert.Null(web.Verify());
        Assert.Null(db.Verify());

        MemoryAssert.Refused(m.Host, MemoryStatus.InvalidArgument, () => pm->MoveAboveGuarantees(m.A, 0, out _));
        MemoryAssert.Refused(m.Host, MemoryStatus.NoSuchPool, () => pm->MoveAboveGuarantees(PoolId.None, 10, out _));
        PoolProperties rtProps = PoolProperties.Open("rt");
        rtProps.Flags = PoolFlags.Realtime | PoolFlags.Reserved;
        rtProps.Priority = 10;
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(rtProps, m.B, 4, out PoolId rt));
        MemoryAssert.Refused(m.Host, MemoryStatus.RealtimeProtected, () => pm->MoveAboveGuarantees(rt, 10, out _));
        using HostPhysicalMemory bare = QemuMaps.Boot("q35", 256 * MiB, 2);
        MemoryAssert.Refused(bare, MemoryStatus.InvalidArgument, () => bare.Memory->MoveAboveGuarantees(MemoryAssert.FindPool(bare.Memory, "node0-dma32"), 10, out _));
        MemoryAssert.Consistent(pm);
    }

    /// <summary>
    /// Seeded: two containers with movers (db with a guarantee) allocate and free blocks of orders 0-2 in both
    /// pools and in db's guarantee pool; now and then a random pool is made short by a random amount. After every
    /// step: the checker clean (counts = blocks), each container's held count unchanged by the moves, the pages
    /// moved = what the short pool's containers lost there, nothing of db's guarantee pool moved, every mapping's
    /// contents intact. POOLKERNEL_PRESSURE_MOVES_SEEDS / _OPS; replay: POOLKERNEL_PRESSURE_MOVES_SEED.
    /// </summary>
    [Fact]
    public void SeededAllocationsAndShortages_KeepCountsContentsAndGuarantees()
    {
        SeededRuns.Run(_output, "pressure moves", "POOLKERNEL_PRESSURE_MOVES", 6, 600, RunSeed);
    }

    private static void RunSeed(int seed, int ops)
    {
        var rng = new Random(seed);
        using var m = new Machine();
        PhysicalMemory* pm = m.Pm;
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("web", Web, 8192, 0, m.A, m.B)));
        Assert.Equal(MemoryStatus.Ok, pm->CreateContainer(Spec("db", Db, 8192, 512, m.A, m.B)));
        PoolId guarantee = Usage(pm, Db).GuaranteePool;
        using var web = new HostMapping(pm, Web);
        using var db = new HostMapping(pm, Db);
        HostMapping[] maps = { web, db };
        PoolId[] pools = { m.A, m.B, PoolId.None, guarantee };
        ulong movedInAll = 0;
        for (int op = 0; op < ops; op++)
        {
            HostMapping map = maps[rng.Next(2)];
            int roll = rng.Next(100);
            if (roll < 60)
            {
                PoolId pool = pools[rng.Next(map == db ? 4 : 3)];
                AllocRequest request = pool.IsNone ? AllocRequest.Any : AllocRequest.InPool(pool);
                MemoryStatus status = map.Allocate(rng.Next(3), request, false, out _);
                Assert.True(status == MemoryStatus.Ok || status == MemoryStatus.OutOfMemory, $"seed {seed} op {op}: {status}");
            }
            else if (roll < 90 && map.Map.Count > 0)
            {
                ulong page = map.Map.Keys.ElementAt(rng.Next(map.Map.Count));
                Assert.Equal(MemoryStatus.Ok, map.Free(page));
            }
            else
            {
                PoolId shortPool = rng.Next(2) == 0 ? m.A : m.B;
                ulong want = (ulong)rng.Next(1, 200);
                ulong webHeld = Usage(pm, Web).HeldPages, dbHeld = Usage(pm, Db).HeldPages;
                ulong inShort = Held(pm, Web, shortPool.Value) + Held(pm, Db, shortPool.Value);
                ulong inGuarantee = Held(pm, Db, guarantee.Value);
                Assert.Equal(MemoryStatus.Ok, pm->MoveAboveGuarantees(shortPool, want, out PressureMoves moves));
                movedInAll += moves.PagesMoved;
                Assert.Equal(webHeld, Usage(pm, Web).HeldPages);
                Assert.Equal(dbHeld, Usage(pm, Db).HeldPages);
                Assert.Equal(inShort - moves.PagesMoved, Held(pm, Web, shortPool.Value) + Held(pm, Db, shortPool.Value));
                Assert.True(moves.PagesMoved == 0 || moves.PagesMoved >= Math.Min(want, inShort) || moves.NoRoom != 0 || moves.Declined != 0,
                    $"seed {seed} op {op}: moved {moves.PagesMoved} of {want} wanted, {inShort} there");
                // db's guarantee pool is never a source; it may receive db's blocks from the short pool.
                Assert.True(Held(pm, Db, guarantee.Value) >= inGuarantee, $"seed {seed} op {op}: the guarantee pool lost pages");
            }
            InvariantReport report = pm->Check();
            Assert.True(report.IsOk, $"seed {seed} op {op}: {MemoryAssert.Describe(report)}");
            Assert.Null(web.Verify());
            Assert.Null(db.Verify());
        }
        // The run exercised the step (its shortages found blocks to move).
        Assert.True(ops < 100 || movedInAll > 0, $"seed {seed}: nothing moved in {ops} operations");
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Web));
        Assert.Equal(MemoryStatus.Ok, pm->DestroyContainer(Db));
        MemoryAssert.Consistent(pm);
    }
}
