namespace PoolKernel.Drivers.Platform
{
    /// <summary>
    /// What the drivers' bounded waits need: a cycle counter and the spin-loop hint. Declared here,
    /// implemented by the kernel (Kernel/Platform/DriverPlatform.cs). Kernel-only, like <see cref="Ports"/>.
    /// </summary>
    internal static partial class Clock
    {
        /// <summary>The time-stamp counter (<c>rdtsc</c>): cycles since reset, for timeouts measured in cycles.</summary>
        internal static partial ulong ReadTsc();

        /// <summary>The spin-wait hint (<c>pause</c>), once per turn of a polling loop.</summary>
        internal static partial void Pause();
    }
}
