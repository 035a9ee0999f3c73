namespace PoolKernel.Memory;

/// <summary>Why a container's allocation failed: the causes its accounting counts (<see cref="ContainerUsage.Failures"/>).</summary>
public enum ContainerFailure : byte
{
    /// <summary>The allocation would have taken the container above its quota (<see cref="MemoryStatus.QuotaExceeded"/>).</summary>
    Quota = 0,
    /// <summary>The named pool does not admit the container (<see cref="MemoryStatus.OwnerRefused"/>): not one of its permitted pools.</summary>
    NotPermitted = 1,
    /// <summary>The pools it may use had no fitting block (OutOfMemory, NoPoolSatisfies).</summary>
    OutOfMemory = 2,
    /// <summary>Any other refusal (a bad order, bad rules...).</summary>
    Other = 3,
}

/// <summary>Sizes of the failure counters.</summary>
public static class ContainerFailures
{
    public const int Count = 4;

    /// <summary>The cause a failed allocation's status is counted under.</summary>
    public static ContainerFailure Of(MemoryStatus status)
    {
        if (status == MemoryStatus.QuotaExceeded)
            return ContainerFailure.Quota;
        if (status == MemoryStatus.OwnerRefused)
            return ContainerFailure.NotPermitted;
        if (status == MemoryStatus.OutOfMemory || status == MemoryStatus.NoPoolSatisfies)
            return ContainerFailure.OutOfMemory;
        return ContainerFailure.Other;
    }
}
