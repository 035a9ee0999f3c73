using System.Runtime.InteropServices;
using PoolKernel.Memory;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// Test-only backing for "physical memory" on the host: an anonymous MAP_NORESERVE mapping of the
/// span (so a 64 GiB map costs only the pages the free lists touch) and native memory for the
/// allocator's metadata. Not part of Kernel.Memory: the kernel passes its identity map instead.
/// </summary>
public sealed unsafe class HostPhysicalMemory : IDisposable
{
    private const int ProtRead = 1, ProtWrite = 2;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20, MapNoReserve = 0x4000;

    [DllImport("libc", SetLastError = true)]
    private static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(void* addr, nuint length);

    private readonly byte* _backing;
    private readonly nuint _backingBytes;
    private readonly void* _metadata;

    public PhysicalMemory* Memory { get; }
    public ulong MetadataBytes { get; }
    public MemoryRegion[] Regions { get; }

    public MemoryStatus InitStatus { get; }

    public HostPhysicalMemory(MemoryRegion[] regions, byte[] distances = null, MemoryConfig? config = null)
    {
        Regions = regions;
        MemoryConfig cfg = config ?? MemoryConfig.Default;
        int nodes = distances == null ? 1 : (int)Math.Sqrt(distances.Length);
        ulong top = 0;
        foreach (var r in regions)
            if (r.Type == MemoryType.Available && r.Base.Value + r.Length > top)
                top = r.Base.Value + r.Length;
        int spanOrder = Math.Max(cfg.MaxOrder, cfg.PageblockOrder) + Pfn.PageShift;
        ulong bytes = ((top + (1UL << spanOrder) - 1) >> spanOrder) << spanOrder;
        _backingBytes = (nuint)Math.Max(bytes, 1UL << spanOrder);
        _backing = (byte*)mmap(null, _backingBytes, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
        if (_backing == (byte*)-1)
            throw new InvalidOperationException("mmap of the simulated physical memory failed");

        fixed (MemoryRegion* rp = regions)
        fixed (byte* dp = distances)
        {
            var map = new MemoryMap(rp, regions.Length);
            var nd = new NodeDistances(dp, nodes);
            InitStatus = PhysicalMemory.ComputeMetadataSize(map, nd, cfg, out ulong metaBytes);
            if (InitStatus != MemoryStatus.Ok)
                return;
            MetadataBytes = metaBytes;
            _metadata = NativeMemory.AlignedAlloc((nuint)metaBytes, 64);
            InitStatus = PhysicalMemory.Initialize(_metadata, metaBytes, map, nd, cfg, _backing, out PhysicalMemory* pm);
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

    public void Dispose()
    {
        if (_metadata != null)
            NativeMemory.AlignedFree(_metadata);
        munmap(_backing, _backingBytes);
    }
}
