namespace PoolKernel.Drivers.Platform
{
    /// <summary>
    /// The drivers' x86 port I/O: the one way driver code reaches a device register. Declared here,
    /// implemented by the kernel (Kernel/Platform/DriverPlatform.cs, over the in/out instructions).
    /// Kernel-only: the host library does not compile this file, so a file that does port I/O
    /// cannot end up in the host build (see docs/drivers.md, "Where the drivers are").
    /// </summary>
    internal static partial class Ports
    {
        /// <summary>Reads one byte from <paramref name="port"/> (<c>in al, dx</c>).</summary>
        internal static partial byte InB(ushort port);

        /// <summary>Reads one 16-bit word from <paramref name="port"/>.</summary>
        internal static partial ushort InW(ushort port);

        /// <summary>Reads one 32-bit doubleword from <paramref name="port"/>.</summary>
        internal static partial uint InD(ushort port);

        /// <summary>Writes one byte to <paramref name="port"/> (<c>out dx, al</c>).</summary>
        internal static partial void OutB(ushort port, byte value);

        /// <summary>Writes one 16-bit word to <paramref name="port"/>.</summary>
        internal static partial void OutW(ushort port, ushort value);

        /// <summary>Writes one 32-bit doubleword to <paramref name="port"/>.</summary>
        internal static partial void OutD(ushort port, uint value);
    }
}
