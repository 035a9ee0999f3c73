using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using Xunit;

namespace PoolKernel.Tests.Heap;

/// <summary>
/// What the heap tells its caller when the pools refuse it: only out of memory (and "no pool
/// satisfies") read as out of memory; a request the pools refuse as a caller error is PoolsRefused
/// and pool corruption is Corruption, with the pools' exact answer kept in LastFailure.
/// </summary>
public unsafe class HeapPoolAnswerTests
{
    private const ulong MiB = 1UL << 20;

    [Fact]
    public void LargeObjectBiggerThanTheMachine_IsPoolsRefused_NotOutOfMemory_PoolsUnchanged()
    {
        using var h = HostHeap.Boot("pc", 64 * MiB, 1);
        byte[] poolsBefore = h.Host.Snapshot();
        // 512 MiB of pages: more than the pools' whole span, so the pools answer ImpossibleRules
        // (no amount of freeing would help) and the heap must not call it out of memory.
        HeapStatus status = h.Heap->Alloc(512 * MiB, 0, 0, out void* p);
        Assert.Equal(HeapStatus.PoolsRefused, status);
        Assert.True(p == null);
        HeapFailure f = h.Heap->LastFailure;
        Assert.Equal(HeapStatus.PoolsRefused, f.Status);
        Assert.Equal(MemoryStatus.ImpossibleRules, f.MemoryStatus);
        Assert.Equal(512 * MiB / Pfn.PageSize, f.PagesAsked);
        Assert.True(poolsBefore.AsSpan().SequenceEqual(h.Host.Snapshot()), "a refused allocation changed the pools");
        h.Consistent();
    }

    [Fact]
    public void SlabFromPoolsThatContradictThemselves_IsCorruption_NotOutOfMemory()
    {
        // The status the kernel sees: its build has no contract checks (they would stop this host
        // run earlier, at the first list operation on the contradicting metadata), so they are off here.
        MemoryConfig config = MemoryConfig.Default;
        config.OnBrokenContract = &IgnoreBrokenContract;
        using var h = new HostHeap(QemuMaps.Boot("pc", 64 * MiB, 1, config));
        PhysicalMemory* pm = h.Memory;
        var live = new List<byte>();
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            live.Add(id.Value);
        Assert.True(live.Count >= 2, "the pc map at 64 MiB has a dma and a dma32 pool");
        // Every page block now names the next live pool: a block taken from a pool's free list lies
        // in a page block of another pool, which the pools' result check reports as Corruption.
        for (ulong pb = 0; pb < pm->PageblockCount; pb++)
        {
            int at = live.IndexOf(pm->_buddy._pageblocks[pb].Pool);
            if (at >= 0)
                pm->_buddy._pageblocks[pb].Pool = live[(at + 1) % live.Count];
        }
        HeapStatus status = h.Heap->Alloc(64, 0, 0, out void* p);
        Assert.Equal(HeapStatus.Corruption, status);
        Assert.True(p == null);
        Assert.Equal(MemoryStatus.Corruption, h.Heap->LastFailure.MemoryStatus);
    }

    private static void IgnoreBrokenContract(ContractBreach breach)
    {
    }
}
