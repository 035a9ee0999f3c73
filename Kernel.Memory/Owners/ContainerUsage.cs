namespace PoolKernel.Memory;

/// <summary>A copy of one container's record and counters for reports (<see cref="PhysicalMemory.GetContainerUsage"/>).</summary>
public unsafe struct ContainerUsage
{
    public PoolName Name;
    public byte Owner;
    public PoolId GuaranteePool;
    public ulong QuotaPages;
    public ulong GuaranteePages;
    public ulong HeldPages;
    public ulong PeakPages;
    /// <summary>Pages held outside its guarantee pool: what pressure takes back first (<see cref="PhysicalMemory.ReclaimAboveGuarantees"/>).</summary>
    public ulong AboveGuaranteePages;
    /// <summary>Pages pressure migrated out of short pools to other pools it may use (its movable blocks), and the calls that stopped at one of its blocks for lack of room (<see cref="PhysicalMemory.MoveAboveGuarantees"/>).</summary>
    public ulong MovedUnderPressurePages;
    public ulong PressureNoRoomStops;
    public fixed ulong Failures[ContainerFailures.Count];
}
