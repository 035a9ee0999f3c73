using System.Runtime.InteropServices;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>
/// Simulated physical memory for the benchmarks: an anonymous MAP_NORESERVE mapping of the span
/// (only frames the allocator writes become resident) plus native memory for metadata.
/// </summary>
public sealed unsafe class HostMemory : IDisposable
{
    [DllImport("libc")]
    private static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc")]
    private static extern int munmap(void* addr, nuint length);

    [DllImport("libc")]
    private static extern int madvise(void* addr, nuint length, int advice);

    private const int MadvHugepage = 14;

    public readonly byte* Backing;
    public readonly nuint BackingBytes;
    public readonly void* Metadata;
    public readonly ulong MetadataBytes;
    public readonly MemoryRegion[] Regions;
    public readonly byte[] Distances;
    public PhysicalMemory* Memory;

    /// <param name="hugePages">
    /// Back the simulated memory with transparent 2 MiB pages, like the kernel's direct map (its
    /// identity map uses 2 MiB pages), so free-list nodes inside free frames do not pay host 4 KiB
    /// TLB misses the kernel would not. Off for sparse maps: each touched frame commits 2 MiB.
    /// </param>
    public HostMemory(MemoryRegion[] regions, byte[] distances, bool hugePages = false)
    {
        Regions = regions;
        Distances = distances;
        ulong top = regions.Where(r => r.Type == MemoryType.Available).Max(r => r.Base.Value + r.Length);
        BackingBytes = (nuint)((top + (4UL << 20) - 1) & ~((4UL << 20) - 1));
        Backing = (byte*)mmap(null, BackingBytes, 3, 0x02 | 0x20 | 0x4000, -1, 0);
        if (Backing == (byte*)-1)
            throw new InvalidOperationException("mmap failed");
        if (hugePages)
            madvise(Backing, BackingBytes, MadvHugepage);
        fixed (MemoryRegion* r = regions)
        fixed (byte* d = distances)
        {
            Check(PhysicalMemory.ComputeMetadataSize(new MemoryMap(r, regions.Length), new NodeDistances(d, NodeCount), MemoryConfig.Default, out MetadataBytes));
        }
        Metadata = NativeMemory.AlignedAlloc((nuint)MetadataBytes, 64);
        Initialize();
    }

    private int NodeCount => (int)Math.Sqrt(Distances.Length);

    /// <summary>(Re)builds the allocator from the map: what the set-up benchmark times.</summary>
    public void Initialize()
    {
        fixed (MemoryRegion* r = Regions)
        fixed (byte* d = Distances)
        {
            Check(PhysicalMemory.Initialize(Metadata, MetadataBytes, new MemoryMap(r, Regions.Length), new NodeDistances(d, NodeCount),
                MemoryConfig.Default, Backing, out PhysicalMemory* pm));
            Memory = pm;
        }
    }

    public static void Check(MemoryStatus s)
    {
        if (s != MemoryStatus.Ok)
            throw new InvalidOperationException(s.ToString());
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(Metadata);
        munmap(Backing, BackingBytes);
    }

    /// <summary>QEMU `pc` e820 map for <paramref name="ramBytes"/>, split into two nodes at half the RAM.</summary>
    public static MemoryRegion[] PcMap(ulong ramBytes)
    {
        const ulong GiB = 1UL << 30;
        ulong low = ramBytes > 3584UL << 20 ? 3 * GiB : ramBytes;
        ulong high = ramBytes - low;
        ulong half = ramBytes / 2;
        var list = new List<MemoryRegion>
        {
            new(0, 0x9fc00, MemoryType.Available, 0),
            new(0x9fc00, 0x400, MemoryType.Reserved, 0),
            new(0xf0000, 0x10000, MemoryType.Reserved, 0),
        };
        if (half < low)
        {
            list.Add(new(0x100000, half - 0x100000, MemoryType.Available, 0));
            list.Add(new(half, low - 0x20000 - half, MemoryType.Available, 1));
        }
        else
            list.Add(new(0x100000, low - 0x20000 - 0x100000, MemoryType.Available, 0));
        list.Add(new(low - 0x20000, 0x20000, MemoryType.Reserved, 0));
        list.Add(new(0xfffc0000, 0x40000, MemoryType.Reserved, 0));
        if (high != 0)
        {
            ulong split = 4 * GiB + (half - low);
            if (half > low)
            {
                list.Add(new(4 * GiB, split - 4 * GiB, MemoryType.Available, 0));
                list.Add(new(split, 4 * GiB + high - split, MemoryType.Available, 1));
            }
            else
                list.Add(new(4 * GiB, high, MemoryType.Available, 1));
        }
        return list.ToArray();
    }

    public static readonly byte[] TwoNodes = { 10, 21, 21, 10 };
}
