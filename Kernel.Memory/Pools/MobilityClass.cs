namespace PoolKernel.Memory;

/// <summary>
/// How an allocation can be moved later (the Linux migratetype idea). Pools list the classes
/// they accept; compaction and migration that use it are later issues.
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
