namespace PoolKernel.Boot.Layout
{
    /// <summary>
    /// What a reservation holds. The text (<see cref="ReservationTable.Describe"/>) is what meminfo,
    /// dump and the boot tests read, so it does not change with the enum.
    /// </summary>
    public enum ReservationName : byte
    {
        LowFirmware,
        KernelImage,
        MultibootInformation,
        KernelCommandLine,
        BootLoaderName,
        BootModule,
        BootModuleName,
        PoolMetadata,
        /// <summary>mem=: the RAM above the cap.</summary>
        MemCap,
        /// <summary>memmap=SIZE$START.</summary>
        MemmapRange,
        /// <summary>The page below 1 MiB the application processors start in (docs/smp.md).</summary>
        SmpTrampoline,
    }
}
