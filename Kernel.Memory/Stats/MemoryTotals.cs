namespace PoolKernel.Memory;

/// <summary>Whole-machine totals (like the top of /proc/meminfo).</summary>
public struct MemoryTotals
{
    /// <summary>Usable frames found in the map at set-up; conserved by every operation.</summary>
    public ulong PresentPages;
    /// <summary>
    /// Available frames of the map at or above 2^52 (<see cref="Pfn.Limit"/>) that set-up left out: not in
    /// <see cref="PresentPages"/>, never handed out. 0 for the kernel, whose map sanitizer drops such entries first.
    /// </summary>
    public ulong BeyondLimitPages;
    public ulong FreePages;
    /// <summary>Frames in use: present minus free minus <see cref="BalloonedPages"/>.</summary>
    public ulong InUsePages;
    /// <summary>Frames lent to the hypervisor by the balloon: present = free + in use + ballooned.</summary>
    public ulong BalloonedPages;
    /// <summary>Frames the span covers (first to last usable frame, aligned out).</summary>
    public ulong SpanPages;
    public ulong Pageblocks;
    public uint LivePools;
    /// <summary>Bytes of metadata set-up used (what <see cref="PhysicalMemory.ComputeMetadataSize"/> asked for).</summary>
    public ulong MetadataBytes;
}
