namespace PoolKernel.Platform
{
    /// <summary>
    /// The 8254 PIT's channel 2, the one whose gate and output software can see (port 0x61), used as
    /// a known clock: busy waits before anything else is calibrated, and the reference the local
    /// APIC timer is calibrated against. Channel 0 (the legacy timer interrupt) is not used.
    /// Polled, interrupts not needed; one user at a time (the boot CPU during SMP start).
    /// </summary>
    internal static class Pit
    {
        /// <summary>The PIT's input clock, Hz.</summary>
        internal const uint Frequency = 1193182;
        /// <summary>The longest single wait: a 16-bit count.</summary>
        internal const uint MaxMicroseconds = 50000;

        private const ushort Channel2 = 0x42, Command = 0x43, Control = 0x61;
        private const byte Gate2 = 0x01, Speaker = 0x02, Output2 = 0x20;
        /// <summary>Channel 2, low then high byte, mode 0 (output goes high at terminal count), binary.</summary>
        private const byte Channel2Mode0 = 0xB0;

        /// <summary>
        /// Loads channel 2 for <paramref name="microseconds"/> (1..MaxMicroseconds) and starts it; the
        /// count runs once the high byte is written. <see cref="Expired"/> says when it is done.
        /// </summary>
        internal static void Start(uint microseconds)
        {
            if (microseconds > MaxMicroseconds)
                microseconds = MaxMicroseconds;
            uint count = (uint)((ulong)microseconds * Frequency / 1000000);
            if (count == 0)
                count = 1;
            Cpu.OutB(Control, (byte)((Cpu.InB(Control) & ~Speaker) | Gate2));
            Cpu.OutB(Command, Channel2Mode0);
            Cpu.OutB(Channel2, (byte)count);
            Cpu.OutB(Channel2, (byte)(count >> 8));
        }

        /// <summary>True once the count started by <see cref="Start"/> has run out.</summary>
        internal static bool Expired => (Cpu.InB(Control) & Output2) != 0;

        /// <summary>Busy-waits <paramref name="microseconds"/> (up to MaxMicroseconds).</summary>
        internal static void Wait(uint microseconds)
        {
            Start(microseconds);
            while (!Expired)
                Cpu.Pause();
        }
    }
}
