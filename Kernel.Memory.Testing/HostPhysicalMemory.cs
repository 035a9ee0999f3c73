using System.Runtime.InteropServices;

namespace PoolKernel.Memory.Testing;

/// <summary>
/// "Physical memory" on the host, for the tests and the benchmarks: an anonymous MAP_NORESERVE mapping
/// of the span (so a 64 GiB map costs only the pages its users touch: the allocator itself never touches
/// it, its free-list links live in the metadata; mapped from the lowest usable
/// frame up, so a map near 2^52 needs no 4 PiB of address space) and native memory for the allocator's
/// metadata (with <c>hugePages</c>, its own mapping on transparent 2 MiB pages). Not part of Kernel.Memory: the kernel passes its identity map instead.
/// A config without a contract hook gets <see cref="ThrowOnBrokenContract"/>, so a contract check of a
/// Debug build of Kernel.Memory surfaces in a test as a <see cref="BrokenContractException"/>; one without a
/// search counter gets <see cref="FitVisits"/>, one without a pool-probe counter <see cref="PoolProbes"/>.
/// </summary>
public sealed unsafe class HostPhysicalMemory : IDisposable
{
    private const int ProtRead = 1, ProtWrite = 2;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20, MapNoReserve = 0x4000;
    private const int MadvHugepage = 14;

    [DllImport("libc", SetLastError = true)]
    private static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(void* addr, nuint length);

    [DllImport("libc")]
    private static extern int madvise(void* addr, nuint length, int advice);

    /// <summary>Where physical address 0 would be: the mapping minus its first address (only [low, top) is mapped).</summary>
    private readonly byte* _backing;
    private readonly byte* _mapping;
    private readonly nuint _mappedBytes;
    private readonly void* _metadata;
    /// <summary>The metadata's own mapping (huge pages; the metadata starts at its first 2 MiB boundary) and its bytes, 0 when the metadata came from <see cref="NativeMemory.AlignedAlloc"/>.</summary>
    private readonly byte* _metadataMapping;
    private readonly nuint _metadataMapped;
    private readonly MemoryConfig _config;
    private readonly ulong* _fitVisits;
    private readonly ulong* _poolProbes;

    public PhysicalMemory* Memory { get; private set; }
    public ulong MetadataBytes { get; }
    public MemoryRegion[] Regions { get; }
    /// <summary>The node distance table (null: one node).</summary>
    public byte[] Distances { get; }
    /// <summary>Bytes of the simulated physical memory, from address 0 (only the part from the lowest usable frame is mapped).</summary>
    public nuint BackingBytes { get; }

    public MemoryStatus InitStatus { get; private set; }

    /// <summary>Free-list nodes the rule search has visited so far (<see cref="MemoryConfig.FitVisits"/>; counted by a Debug build of Kernel.Memory only).</summary>
    public ulong FitVisits => *_config.FitVisits;

    /// <summary>Pools allocations have tried so far (<see cref="MemoryConfig.PoolProbes"/>; counted by a Debug build of Kernel.Memory only).</summary>
    public ulong PoolProbes => *_config.PoolProbes;

    /// <param name="hugePages">
    /// Back the simulated memory with transparent 2 MiB pages, like the kernel's direct map (its
    /// identity map uses 2 MiB pages), so users of the frames (heap slabs, benchmarks that touch the
    /// memory) do not pay host 4 KiB TLB misses the kernel would not. Off for sparse maps: each touched frame commits 2 MiB.
    /// The metadata gets the same: the kernel's lies in that identity map too (and the classic baseline's
    /// descriptors are on 2 MiB pages), so its lookups do not pay 4 KiB misses either.
    /// </param>
    public HostPhysicalMemory(MemoryRegion[] regions, byte[] distances = null, MemoryConfig? config = null, bool hugePages = false)
    {
        Regions = regions;
        Distances = distances;
        MemoryConfig cfg = config ?? MemoryConfig.Default;
        if (cfg.OnBrokenContract == null)
            cfg.OnBrokenContract = &ThrowOnBrokenContract;
        if (cfg.FitVisits == null)
        {
            _fitVisits = (ulong*)NativeMemory.AllocZeroed(sizeof(ulong));
            cfg.FitVisits = _fitVisits;
        }
        if (cfg.PoolProbes == null)
        {
            _poolProbes = (ulong*)NativeMemory.AllocZeroed(sizeof(ulong));
            cfg.PoolProbes = _poolProbes;
        }
        _config = cfg;
        ulong low = ulong.MaxValue, top = 0;
        foreach (var r in regions)
        {
            if (r.Type != MemoryType.Available)
                continue;
            low = Math.Min(low, r.Base.Value);
            top = Math.Max(top, r.Base.Value + r.Length);
        }
        int spanOrder = Math.Max(cfg.MaxOrder, cfg.PageblockOrder) + Pfn.PageShift;
        ulong bytes = ((top + (1UL << spanOrder) - 1) >> spanOrder) << spanOrder;
        low = low == ulong.MaxValue ? 0 : (low >> spanOrder) << spanOrder;
        BackingBytes = (nuint)Math.Max(bytes, 1UL << spanOrder);
        _mappedBytes = (nuint)Math.Max(bytes - Math.Min(low, bytes), 1UL << spanOrder);
        _mapping = (byte*)mmap(null, _mappedBytes, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
        if (_mapping == (byte*)-1)
            throw new InvalidOperationException("mmap of the simulated physical memory failed");
        _backing = _mapping - low;
        if (hugePages)
            madvise(_mapping, _mappedBytes, MadvHugepage);

        fixed (MemoryRegion* rp = regions)
        fixed (byte* dp = distances)
        {
            InitStatus = PhysicalMemory.ComputeMetadataSize(new MemoryMap(rp, regions.Length), new NodeDistances(dp, NodeCount), cfg, out ulong metaBytes);
            if (InitStatus != MemoryStatus.Ok)
                return;
            MetadataBytes = metaBytes;
        }
        if (hugePages)
        {
            const ulong huge = 1UL << 21;
            _metadataMapped = (nuint)(((MetadataBytes + huge - 1) & ~(huge - 1)) + huge);
            _metadataMapping = (byte*)mmap(null, _metadataMapped, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
            if (_metadataMapping == (byte*)-1)
                throw new InvalidOperationException("mmap of the allocator's metadata failed");
            madvise(_metadataMapping, _metadataMapped, MadvHugepage);
            _metadata = (void*)(((ulong)_metadataMapping + huge - 1) & ~(huge - 1));
        }
        else
        {
            _metadata = NativeMemory.AlignedAlloc((nuint)MetadataBytes, 64);
        }
        Initialize();
    }

    private int NodeCount => Distances == null ? 1 : (int)Math.Sqrt(Distances.Length);

    /// <summary>(Re)builds the allocator from the map into the same metadata block (what the set-up benchmark times).</summary>
    public void Initialize()
    {
        fixed (MemoryRegion* rp = Regions)
        fixed (byte* dp = Distances)
        {
            InitStatus = PhysicalMemory.Initialize(_metadata, MetadataBytes, new MemoryMap(rp, Regions.Length), new NodeDistances(dp, NodeCount),
                _config, out PhysicalMemory* pm);
            Memory = pm;
        }
    }

    /// <summary>A copy of every metadata byte: comparing two proves a refused call changed nothing.</summary>
    public byte[] Snapshot()
    {
        var copy = new byte[MetadataBytes];
        Marshal.Copy((nint)_metadata, copy, 0, copy.Length);
        return copy;
    }

    /// <summary>Writes into the simulated memory of a frame (tests that allocated it check it is usable).</summary>
    public byte* FrameMemory(Pfn pfn) => _backing + (pfn.Value << Pfn.PageShift);

    /// <summary>The host's fail-fast hook for a broken contract: an exception whose message names the contract and its values.</summary>
    public static void ThrowOnBrokenContract(ContractBreach breach) => throw new BrokenContractException(breach);

    public void Dispose()
    {
        if (_metadataMapped != 0)
            munmap(_metadataMapping, _metadataMapped);
        else if (_metadata != null)
            NativeMemory.AlignedFree(_metadata);
        munmap(_mapping, _mappedBytes);
        if (_fitVisits != null)
            NativeMemory.Free(_fitVisits);
        if (_poolProbes != null)
            NativeMemory.Free(_poolProbes);
    }
}
