using System;
using PoolKernel.Platform;

namespace PoolKernel.Runtime
{
    /// <summary>Fatal conditions: one line on the console, then the machine ends with a distinct status.</summary>
    internal static class Panic
    {
        internal static void Halt(string reason)
        {
            Console.Write("\nPANIC: ");
            Console.WriteLine(reason);
            QemuExit.Exit(ExitCode.Panic);
        }

        internal static void Halt(string reason, ulong value)
        {
            Console.Write("\nPANIC: ");
            Console.Write(reason);
            Console.Write(" ");
            Console.WriteHex(value);
            Console.WriteLine();
            QemuExit.Exit(ExitCode.Panic);
        }

        internal static void OutOfMemory(ulong bytes)
        {
            Console.Write("\nPANIC: out of memory in the runtime allocating ");
            Console.Write(bytes);
            Console.WriteLine(" bytes for an object");
            QemuExit.Exit(ExitCode.OutOfMemory);
        }
    }
}
