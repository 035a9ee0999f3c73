namespace PoolKernel.Drivers.Platform
{
    // The kernel's side of the drivers' platform seam (Kernel.Drivers/Platform): each primitive the
    // drivers declare is the CPU instruction of the same name (Kernel/Platform/Cpu.cs).

    internal static partial class Ports
    {
        internal static partial byte InB(ushort port) => PoolKernel.Platform.Cpu.InB(port);
        internal static partial ushort InW(ushort port) => PoolKernel.Platform.Cpu.InW(port);
        internal static partial uint InD(ushort port) => PoolKernel.Platform.Cpu.InD(port);
        internal static partial void OutB(ushort port, byte value) => PoolKernel.Platform.Cpu.OutB(port, value);
        internal static partial void OutW(ushort port, ushort value) => PoolKernel.Platform.Cpu.OutW(port, value);
        internal static partial void OutD(ushort port, uint value) => PoolKernel.Platform.Cpu.OutD(port, value);
    }

    internal static partial class Clock
    {
        internal static partial ulong ReadTsc() => PoolKernel.Platform.Cpu.ReadTsc();
        internal static partial void Pause() => PoolKernel.Platform.Cpu.Pause();
    }

    internal static partial class InterruptState
    {
        internal static partial ulong SaveAndDisable() => PoolKernel.Platform.Cpu.SaveAndDisableInterrupts();
        internal static partial void Restore(ulong state) => PoolKernel.Platform.Cpu.RestoreInterrupts(state);
    }
}
