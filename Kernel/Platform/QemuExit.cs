namespace PoolKernel.Platform
{
    /// <summary>Ends a QEMU run with an <see cref="ExitCode"/>, or halts a machine without the exit device.</summary>
    internal static class QemuExit
    {
        private const ushort DebugExitPort = 0xF4;

        /// <summary>Ends the machine. Without the exit device (a real machine) the CPU halts forever.</summary>
        internal static void Exit(ExitCode code)
        {
            Cpu.OutD(DebugExitPort, (uint)code);
            Cpu.DisableInterrupts();
            while (true)
                Cpu.Halt();
        }
    }
}
