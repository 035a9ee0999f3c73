namespace PoolKernel.Memory;

/// <summary>
/// The firmware memory map handed to set-up: a caller-owned array of regions, in any order.
/// Read only during <see cref="PhysicalMemory.ComputeMetadataSize"/> and <see cref="PhysicalMemory.Initialize"/>.
/// </summary>
public unsafe struct MemoryMap
{
    /// <summary>
    /// Set-up sorts region indices on the stack (4 KiB at this size). Firmware maps have a few dozen
    /// ranges, but the kernel hands over RAM cut at every reservation and at both edges of every NUMA
    /// range (up to 4 a node for 64 nodes): its bound is below this.
    /// </summary>
    public const int MaxRegions = 1024;

    public MemoryRegion* Regions;
    public int Count;

    public MemoryMap(MemoryRegion* regions, int count)
    {
        Regions = regions;
        Count = count;
    }

    /// <summary>
    /// Refuses a map the core cannot trust: too many regions, a zero-length range, a range that
    /// wraps past 2^64, an unknown type, a node outside the distance table, or two ranges that overlap
    /// (of any types: firmware that reports a byte as both RAM and reserved is not guessed about).
    /// Byte-granular edges are not an error: available ranges are trimmed to whole frames.
    /// On failure <paramref name="badRegion"/> is the index of the offending region.
    /// </summary>
    public readonly MemoryStatus Validate(int nodeCount, out int badRegion)
    {
        badRegion = -1;
        if (Count <= 0 || Count > MaxRegions || Regions == null)
            return MemoryStatus.MapInvalid;
        for (int i = 0; i < Count; i++)
        {
            MemoryRegion r = Regions[i];
            badRegion = i;
            if (r.Length == 0)
                return MemoryStatus.MapZeroLength;
            if (r.Base.Value + r.Length < r.Base.Value)
                return MemoryStatus.MapWrapsAround;
            if (r.Type < MemoryType.Available || r.Type > MemoryType.BadMemory)
                return MemoryStatus.MapInvalid;
            if (r.Node >= nodeCount)
                return MemoryStatus.MapBadNode;
            for (int j = 0; j < i; j++)
            {
                MemoryRegion o = Regions[j];
                if (r.Base.Value < o.Base.Value + o.Length && o.Base.Value < r.Base.Value + r.Length)
                    return MemoryStatus.MapOverlap;
            }
        }
        badRegion = -1;
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// The whole frames of region <paramref name="i"/> below <see cref="Pfn.Limit"/> if it is available RAM;
    /// empty otherwise. The part of a region at or above 2^52 is left out: no x86-64 machine can address it,
    /// and pool windows, requests and the checker all end there (<see cref="FramesBeyondLimit"/> counts it).
    /// </summary>
    public readonly void UsableFrames(int i, out ulong first, out ulong end) { UsableFrames(i, Pfn.Limit, out first, out end); }

    /// <summary>
    /// <see cref="UsableFrames(int, out ulong, out ulong)"/> below <paramref name="limit"/> (at most
    /// <see cref="Pfn.Limit"/>): set-up also leaves out RAM further above the lowest usable frame than a
    /// free-list link can index (<see cref="NodeTable.MaxSpanPages"/>).
    /// </summary>
    public readonly void UsableFrames(int i, ulong limit, out ulong first, out ulong end)
    {
        WholeFrames(i, out first, out end);
        if (end > limit)
            end = limit;
        if (end <= first)
        {
            first = 0;
            end = 0;
        }
    }

    /// <summary>The whole frames of available region <paramref name="i"/> at or above <see cref="Pfn.Limit"/>, which set-up leaves unused.</summary>
    public readonly ulong FramesBeyondLimit(int i) { return FramesBeyondLimit(i, Pfn.Limit); }

    /// <summary>The whole frames of available region <paramref name="i"/> at or above <paramref name="limit"/> (see <see cref="UsableFrames(int, ulong, out ulong, out ulong)"/>).</summary>
    public readonly ulong FramesBeyondLimit(int i, ulong limit)
    {
        WholeFrames(i, out ulong first, out ulong end);
        if (end <= limit)
            return 0;
        return end - (first > limit ? first : limit);
    }

    /// <summary>Region <paramref name="i"/>'s whole frames if it is available RAM (first = end = 0 otherwise).</summary>
    private readonly void WholeFrames(int i, out ulong first, out ulong end)
    {
        MemoryRegion r = Regions[i];
        first = r.Base.FrameUp.Value;
        end = r.End.FrameDown.Value;
        if (r.Type != MemoryType.Available || end <= first)
        {
            first = 0;
            end = 0;
        }
    }
}
