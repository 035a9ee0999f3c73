using System.Diagnostics;

namespace PoolKernel.Memory;

/// <summary>Which contract of the allocator core's internal steps broke (<see cref="ContractBreach.Code"/>).</summary>
public enum ContractCode : byte
{
    None = 0,
    /// <summary>A block linked or unlinked above the max order. Expected: the max order; found: the order.</summary>
    OrderAboveMax = 1,
    /// <summary>A block linked at an index not aligned to its order. Expected: 0; found: index mod 2^order.</summary>
    BlockMisaligned = 2,
    /// <summary>A block linked or unlinked whose page block belongs to another pool. Expected: the pool; found: the page block's pool.</summary>
    ForeignPageblock = 3,
    /// <summary>A block unlinked or taken from a list whose head byte is not a free head of that order. Expected: that state byte; found: the frame's byte.</summary>
    NotAFreeHead = 4,
    /// <summary>A block unlinked from an empty list (<see cref="FreeList.Count"/> 0). Expected: at least 1; found: 0.</summary>
    ListEmpty = 5,
    /// <summary>
    /// A free-list neighbour does not link back to the block being unlinked (or the list head does not name a
    /// block without predecessor). Expected: the block's index; found: the neighbour's (or head's) link.
    /// </summary>
    ListLinkBroken = 6,
    /// <summary>A frame cache entry whose frame byte does not read Cached (order 0). Expected: that state byte; found: the frame's byte.</summary>
    CachedFrameNotCached = 7,
    /// <summary>A frame cache whose count is outside 0..<see cref="FrameCache.High"/> (at most <see cref="FrameCache.Capacity"/>). Expected: the high mark; found: the count.</summary>
    CacheCountOutOfRange = 8,
    /// <summary>A page block's held count about to go below zero. Expected: at least the frames given back; found: the count.</summary>
    HeldUnderflow = 9,
    /// <summary>A frame index at or beyond the span (a cache entry). Expected: the span's frame count (an upper bound); found: the index.</summary>
    FrameOutsideSpan = 10,
    /// <summary>The CPU hook (<see cref="MemoryConfig.CurrentCpu"/>) returned a number outside 0..MaxCpus - 1. Expected: MaxCpus (a bound); found: the number.</summary>
    CpuOutOfRange = 11,
}

/// <summary>
/// A broken contract with the values that broke it, handed to the fail-fast hook
/// (<see cref="MemoryConfig.OnBrokenContract"/>). A value, so reporting it allocates nothing.
/// </summary>
public struct ContractBreach
{
    public ContractCode Code;
    /// <summary>The pool slot the step worked on (-1: none).</summary>
    public int Pool;
    /// <summary>The frame index (relative to the span base) the step worked on.</summary>
    public ulong Index;
    public ulong Expected;
    public ulong Found;
}

/// <summary>
/// The contract checks of the allocator core's internal steps (<see cref="BuddyAllocator"/>, <see cref="FreeList"/>,
/// <see cref="FrameCache"/>): compiled where MEMORY_CONTRACTS is defined (Kernel.Memory's own Debug build, which the
/// host tests use), and elided, with their arguments, from the kernel, whose build does not define it: the hot path
/// pays nothing. A broken contract is corruption or a bug in the core, never a caller's mistake (those are refused
/// by the entry points before any step runs), so the only answer is to stop: the hook fails fast (the host's throws,
/// so a test sees the values). Without a hook the checks run and report nothing.
/// </summary>
internal static unsafe class Contract
{
    [Conditional("MEMORY_CONTRACTS")]
    internal static void Expect(bool holds, delegate*<ContractBreach, void> hook, ContractCode code, int pool, ulong index, ulong expected, ulong found)
    {
        if (holds || hook == null)
            return;
        ContractBreach breach;
        breach.Code = code;
        breach.Pool = pool;
        breach.Index = index;
        breach.Expected = expected;
        breach.Found = found;
        hook(breach);
    }
}
