namespace PoolKernel.Memory;

/// <summary>
/// Set-up parameters. <see cref="Default"/>: MaxOrder 10 (4 MiB blocks), PageblockOrder 9
/// (2 MiB page blocks), 32 pools. docs/memory-model.md says why.
/// </summary>
public unsafe struct MemoryConfig
{
    /// <summary>Largest buddy order, 0..<see cref="Order.Limit"/>.</summary>
    public byte MaxOrder;
    /// <summary>
    /// log2 of the page-block size in frames, 1..12 (a page block never straddles the 16 MiB line) and
    /// at most MaxOrder, so a wholly free page block is always one free block or part of one
    /// (what makes a page-block move O(MaxOrder)). At least 1 so that order-0 buddies share a page block and
    /// so a pool, which lets two frames share one free-list node (<see cref="NodeTable"/>).
    /// </summary>
    public byte PageblockOrder;
    /// <summary>
    /// Slots of this instance's pool table, 1..<see cref="PoolId.MaxIds"/>; set-up needs one pool per node and
    /// address class, the rest is room for created pools (the kernel derives its value from the node count).
    /// </summary>
    public byte PoolCapacity;

    /// <summary>
    /// The fail-fast hook for a broken internal contract (<see cref="Contract"/>), called only by builds that
    /// compile the checks (MEMORY_CONTRACTS); it must not return into the allocator (print and halt, or throw on
    /// the host). Null: nothing is reported.
    /// </summary>
    public delegate*<ContractBreach, void> OnBrokenContract;

    /// <summary>
    /// Where the rule search counts the free-list nodes it visits, in builds that compile the contract checks
    /// (MEMORY_CONTRACTS): host tests bound the search's work with it (a count of steps, where a time would
    /// depend on the machine). Caller's memory, outside the metadata, so a refused call that searched leaves
    /// the metadata as it was. Null: nothing is counted.
    /// </summary>
    public ulong* FitVisits;

    /// <summary>
    /// Where allocation counts the pools it tries (one a pool searched for a block), in builds that compile the
    /// contract checks: host tests bound pool choice's work with it, as <see cref="FitVisits"/> does the search's.
    /// Caller's memory, outside the metadata. Null: nothing is counted.
    /// </summary>
    public ulong* PoolProbes;

    /// <summary>
    /// CPUs (or host threads) that may call into the instance at once, 1..<see cref="CpuLimit"/>: one
    /// remembered pool choice (<see cref="ChoiceMemo"/>) a CPU. <see cref="CurrentCpu"/> must return
    /// a number below it.
    /// </summary>
    public byte MaxCpus;

    /// <summary>
    /// The number of the CPU making the call, 0..<see cref="MaxCpus"/> - 1 (the kernel: the per-CPU block's
    /// number through GS; host tests: a thread-static index). Null: always 0 (one CPU). Called on every
    /// allocation by pool choice; a CPU's per-CPU state is touched only by that CPU, with its interrupts off
    /// in the kernel (the kernel's owner disables them around the call).
    /// </summary>
    public delegate*<int> CurrentCpu;

    /// <summary>
    /// The interrupt hooks of every lock of the instance (<see cref="SpinLock.SetInterruptHooks"/>): save the
    /// interrupt state and disable interrupts; put a saved state back. Both null (the host) or both set.
    /// </summary>
    public delegate*<ulong> SaveAndDisableInterrupts;
    public delegate*<ulong, void> RestoreInterrupts;

    /// <summary>
    /// Grouping by mobility off (docs/antifrag.md, "One class"): every request is served as its pool's frame-cache
    /// class (<see cref="BuddyAllocator.CacheClassFor"/>: unmovable in an open pool), so every page block a request
    /// claims is of that one class and no page block is ever stolen. Which classes a pool accepts is still
    /// enforced on the request's own class. For the same-process comparison of the pair benchmarks with and
    /// without grouping (Kernel.Bench, <c>--mobility-ab</c>); false (grouping on) everywhere else.
    /// </summary>
    public bool OneMobilityClass;
    /// <summary>
    /// A process-wide memory barrier: returns once every CPU in its argument (bit c: CPU c as
    /// <see cref="CurrentCpu"/> numbers it; never 0) other than the caller has executed a full memory barrier after
    /// the call began. Other CPUs may execute one too. The kernel sends an NMI to each of those CPUs that is online
    /// and waits for each acknowledgement (Kernel/Platform/NmiBarrier.cs); the host glue calls
    /// <c>Interlocked.MemoryBarrierProcessWide</c>, which reaches every thread. It lets each CPU use its own
    /// per-CPU caches with no lock (docs/smp.md, "A lock-free own cache"): a party that needs another CPU's cache
    /// raises the cache's frozen word, calls this for the owners of the caches it froze, then waits for them to
    /// leave the caches. A CPU that takes its caches' locks (<see cref="PhysicalMemory.UseLockedCaches"/>) is never
    /// asked. Called with locks held and interrupts off; it must take no lock of the instance. Null: an instance of
    /// several CPUs takes each cache's lock on its fast paths (the locked path); one of one CPU takes none either way.
    /// </summary>
    public delegate*<ulong, void> ProcessWideBarrier;

    /// <summary>The most CPUs an instance serves (<see cref="MaxCpus"/>).</summary>
    public const int CpuLimit = 64;

    /// <summary>16 MiB = 2^12 frames: the ISA DMA line must fall on a page-block edge.</summary>
    public const int PageblockOrderLimit = 12;

    public static MemoryConfig Default
    {
        get
        {
            MemoryConfig c;
            c.MaxOrder = 10;
            c.PageblockOrder = 9;
            c.PoolCapacity = 32;
            c.OnBrokenContract = null;
            c.FitVisits = null;
            c.PoolProbes = null;
            c.MaxCpus = 1;
            c.CurrentCpu = null;
            c.SaveAndDisableInterrupts = null;
            c.RestoreInterrupts = null;
            c.OneMobilityClass = false;
            c.ProcessWideBarrier = null;
            return c;
        }
    }

    public bool IsValid
    {
        get
        {
            return MaxOrder <= Order.Limit && PageblockOrder >= 1 && PageblockOrder <= PageblockOrderLimit && PageblockOrder <= MaxOrder &&
                PoolCapacity >= 1 && PoolCapacity <= PoolId.MaxIds && MaxCpus >= 1 && MaxCpus <= CpuLimit &&
                (SaveAndDisableInterrupts == null) == (RestoreInterrupts == null);
        }
    }
}
