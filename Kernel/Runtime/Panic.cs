using System;
using PoolKernel.Platform;

namespace PoolKernel.Runtime
{
    /// <summary>
    /// Fatal conditions: the other CPUs are stopped (<see cref="Smp.EnterFatal"/>), one line on the
    /// console names the condition (and, once the CPUs are up, the CPU: " (cpu N)"), then the machine
    /// ends with a distinct status.
    /// </summary>
    internal static class Panic
    {
        internal static void Halt(string reason)
        {
            Begin();
            Console.Write(reason);
            End();
            QemuExit.Exit(ExitCode.Panic);
        }

        internal static void Halt(string reason, ulong value)
        {
            Begin();
            Console.Write(reason);
            Console.Write(" ");
            Console.WriteHex(value);
            End();
            QemuExit.Exit(ExitCode.Panic);
        }

        internal static void OutOfMemory(ulong bytes)
        {
            Begin();
            Console.Write("out of memory in the runtime allocating ");
            Console.Write(bytes);
            Console.Write(" bytes for an object");
            End();
            QemuExit.Exit(ExitCode.OutOfMemory);
        }

        private static void Begin()
        {
            Smp.EnterFatal();
            Console.Write("\nPANIC: ");
        }

        private static void End()
        {
            if (Smp.Started)
            {
                Console.Write(" (cpu ");
                Console.Write(Smp.CurrentNumber);
                Console.Write(")");
            }
            Console.WriteLine();
        }
    }
}
