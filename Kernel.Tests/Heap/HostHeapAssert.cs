using PoolKernel.Memory;
using PoolKernel.Tests.Memory;
using Xunit;

namespace PoolKernel.Tests.Heap;

/// <summary>Assertions over the shared <see cref="HostHeap"/> fixture.</summary>
public static unsafe class HostHeapAssert
{
    /// <summary>The heap checker and the pools' checker both find nothing broken.</summary>
    public static void Consistent(this HostHeap h)
    {
        HeapCheckReport report = h.Heap->Check();
        Assert.True(report.IsOk, HostHeap.Describe(report));
        MemoryAssert.Consistent(h.Memory);
    }
}
