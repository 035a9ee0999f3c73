namespace PoolKernel.Drivers.Platform
{
    /// <summary>
    /// The interrupt flag, for a driver's spin lock that an interrupt handler on the same CPU may also
    /// want (the balloon's, through the kernel's shortage handler): declared here, implemented by the
    /// kernel (Kernel/Platform/DriverPlatform.cs). Kernel-only, like <see cref="Ports"/>.
    /// </summary>
    internal static partial class InterruptState
    {
        /// <summary>Saves the flags and turns interrupts off (<c>pushf; cli</c>); the saved state for <see cref="Restore"/>.</summary>
        internal static partial ulong SaveAndDisable();

        /// <summary>Puts back the interrupt flag <see cref="SaveAndDisable"/> saved.</summary>
        internal static partial void Restore(ulong state);
    }
}
