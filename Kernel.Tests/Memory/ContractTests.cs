using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The internal contract checks (Kernel.Memory/Checking/Contract.cs), compiled into the Debug build of
/// Kernel.Memory these tests run against: a structure corrupted behind the allocator's back is caught
/// by the next step that relies on it, and the host hook's exception names the contract, the pool, the
/// frame and the expected and found values.
/// </summary>
public unsafe class ContractTests
{
    private const ulong MiB = 1UL << 20;

    [Fact]
    public void BrokenFreeListLink_IsCaughtWithBothIndices()
    {
        using var host = QemuMaps.Boot("q35", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        int top = pm->MaxOrder;
        FreeList* list = pm->_buddy.ListOf(dma32.Value, top, 0);
        Assert.True(list->Count >= 2, "the test needs two blocks of the max order");
        ulong head = list->Head;
        ulong second = FreeList.NodeOf(pm->_buddy._nodes, head)->NextIndex;
        FreeList.NodeOf(pm->_buddy._nodes, second)->Prev = 0x77; // should be `head`

        var e = Assert.Throws<BrokenContractException>(() => pm->Allocate(new Order(top), AllocRequest.InPool(dma32), out _));
        Assert.Equal(ContractCode.ListLinkBroken, e.Breach.Code);
        Assert.Equal(dma32.Value, e.Breach.Pool);
        Assert.Equal(head, e.Breach.Index);
        Assert.Equal(head, e.Breach.Expected);
        Assert.Equal(0x77UL, e.Breach.Found);
        Assert.Contains($"ListLinkBroken in pool {dma32.Value} at frame index 0x{head:x}: expected 0x{head:x}, found 0x77", e.Message);
    }

    [Fact]
    public void FreeHeadOfTheWrongOrder_IsCaughtWhenTaken()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        int top = pm->MaxOrder;
        ulong head = pm->_buddy.ListOf(dma32.Value, top, 0)->Head;
        byte wrong = FrameState.Make(FrameKind.Free, top - 1);
        pm->_buddy._frames[head] = wrong;

        var e = Assert.Throws<BrokenContractException>(() => pm->Allocate(new Order(top), AllocRequest.InPool(dma32), out _));
        Assert.Equal(ContractCode.NotAFreeHead, e.Breach.Code);
        Assert.Equal(head, e.Breach.Index);
        Assert.Equal((ulong)FrameState.Make(FrameKind.Free, top), e.Breach.Expected);
        Assert.Equal((ulong)wrong, e.Breach.Found);
        Assert.Contains($"expected 0x{FrameState.Make(FrameKind.Free, top):x}, found 0x{wrong:x}", e.Message);
    }

    [Fact]
    public void CachedFrameWhoseByteIsNotCached_IsCaughtWhenTheCacheDrains()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        var held = new List<Pfn>();
        for (int i = 0; i < 2 * FrameCache.Capacity; i++)
        {
            Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out Pfn pfn));
            held.Add(pfn);
        }
        // Park frames until the cache holds some, then spoil its oldest entry's byte.
        FrameCache* cache = pm->_buddy.CacheOf(dma32.Value);
        int next = 0;
        while (cache->Count < 2)
            Assert.Equal(MemoryStatus.Ok, pm->Free(held[next++], new Order(0), MemoryAssert.DefaultOwner));
        ulong oldest = cache->At(0);
        byte wrong = FrameState.Make(FrameKind.Free, 0);
        pm->_buddy._frames[oldest] = wrong;

        // Freeing the rest fills the cache; the drain that follows checks every entry first.
        var e = Assert.Throws<BrokenContractException>(() =>
        {
            while (next < held.Count)
                Assert.Equal(MemoryStatus.Ok, pm->Free(held[next++], new Order(0), MemoryAssert.DefaultOwner));
        });
        Assert.Equal(ContractCode.CachedFrameNotCached, e.Breach.Code);
        Assert.Equal(oldest, e.Breach.Index);
        Assert.Equal((ulong)FrameState.Make(FrameKind.Cached, 0), e.Breach.Expected);
        Assert.Equal((ulong)wrong, e.Breach.Found);
        Assert.Contains($"CachedFrameNotCached in pool {dma32.Value} at frame index 0x{oldest:x}", e.Message);
    }

    [Fact]
    public void CacheCountOutOfRange_IsCaughtWithTheCapacity()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), AllocRequest.InPool(dma32), out _));
        pm->_buddy.CacheOf(dma32.Value)->Count = FrameCache.Capacity + 5;

        // The drain checks the cache before it reads a single entry.
        var e = Assert.Throws<BrokenContractException>(() => pm->DrainCaches());
        Assert.Equal(ContractCode.CacheCountOutOfRange, e.Breach.Code);
        Assert.Equal((ulong)FrameCache.Capacity, e.Breach.Expected);
        Assert.Equal((ulong)FrameCache.Capacity + 5, e.Breach.Found);
        Assert.Contains($"expected 0x{FrameCache.Capacity:x}, found 0x{FrameCache.Capacity + 5:x}", e.Message);
    }

    [Fact]
    public void HostFixture_SuppliesItsThrowingHook_WhenTheConfigHasNone()
    {
        MemoryConfig config = MemoryConfig.Default;
        Assert.True(config.OnBrokenContract == null);
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1, config);
        ContractBreach breach = default;
        breach.Code = ContractCode.HeldUnderflow;
        breach.Expected = 1;
        var e = Assert.Throws<BrokenContractException>(() => host.Memory->_buddy._onBrokenContract(breach));
        Assert.Equal("broken contract HeldUnderflow in pool 0 at frame index 0x0: expected 0x1, found 0x0", e.Message);
    }
}
