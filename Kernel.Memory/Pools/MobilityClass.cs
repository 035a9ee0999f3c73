namespace PoolKernel.Memory;

/// <summary>
/// How an allocation can be moved later (the Linux migratetype idea). Every request says its class
/// (<see cref="AllocRequest.Mobility"/>; the default, unmovable, is that of heap slabs, DMA buffers and
/// page tables); page blocks are steered to one class and a class takes another's page block only
/// when it has none left (docs/antifrag.md). Pools list the classes they accept.
/// </summary>
public enum MobilityClass : byte
{
    Unmovable = 0,
    Movable = 1,
    Reclaimable = 2,
}

/// <summary>A set of <see cref="MobilityClass"/> values, one bit each.</summary>
[System.Flags]
public enum MobilityMask : byte
{
    None = 0,
    Unmovable = 1 << MobilityClass.Unmovable,
    Movable = 1 << MobilityClass.Movable,
    Reclaimable = 1 << MobilityClass.Reclaimable,
    All = Unmovable | Movable | Reclaimable,
}
