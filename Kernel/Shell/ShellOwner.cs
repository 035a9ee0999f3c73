using PoolKernel.Mm;

namespace PoolKernel.Shell
{
    /// <summary>
    /// The owner the shell's experiments (alloc, free, stress) allocate and free as: <see cref="Owners.Shell"/>,
    /// or a container's owner number while <c>as NAME CMD...</c> runs CMD (ContainerCommands.cs).
    /// Written only by the shell's own CPU between commands (KernelShell resets it before every
    /// command, so a command ended by the recovery point leaves no container behind); read by the
    /// CPUs a stress command runs on, which start after it is set and end before it is reset.
    /// </summary>
    internal static class ShellOwner
    {
        internal static byte Current = Owners.Shell;
    }
}
