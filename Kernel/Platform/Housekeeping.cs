namespace PoolKernel.Platform
{
    /// <summary>
    /// The kernel's periodic work, run at every timer tick of the housekeeping CPU (<see cref="Smp.StartHousekeeping"/>)
    /// or, with one CPU, from the shell's idle loop: the drivers' polls (the virtio balloon follows the host's
    /// target) and one resize pass of the realtime pools (docs/realtime.md: a pool below its minimum takes at most
    /// <see cref="Memory.PhysicalMemory.HousekeepingRebalanceBatch"/> page blocks a pass from lower priorities,
    /// one above its maximum gives as many back). Each returns at once when it has nothing to do.
    /// </summary>
    internal static unsafe class Housekeeping
    {
        internal static void Run()
        {
            Drivers.DriverManager.PollIdle();
            Mm.PhysicalMemoryOwner.RebalanceRealtimePools();
        }
    }
}
