using PoolKernel.Memory;

namespace PoolKernel.Shell
{
    /// <summary>
    /// The shell's own check of an allocation result against the request that produced it, written
    /// apart from the allocator's <c>DmaRules</c> so that stress runs and benchmarks verify the
    /// allocator independently: natural alignment, below 2^DmaAddressBits, not crossing Boundary.
    /// </summary>
    internal static class BlockRules
    {
        internal static bool Obeys(ulong pfn, int order, in AllocRequest request)
        {
            ulong pages = 1UL << order;
            ulong start = pfn << 12, end = (pfn + pages) << 12;
            if ((pfn & (pages - 1)) != 0)
                return false;
            if (request.DmaAddressBits != 0 && end > (1UL << request.DmaAddressBits))
                return false;
            return request.Boundary == 0 || start / request.Boundary == (end - 1) / request.Boundary;
        }
    }
}
