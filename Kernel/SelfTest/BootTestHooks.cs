using System;
using PoolKernel.Startup;

namespace PoolKernel.SelfTest
{
    /// <summary>
    /// test=NAME on the command line: deliberate failures that the boot tests check end to end.
    /// fault = a page fault on an unmapped address; throw = a managed throw with no handler.
    /// </summary>
    internal static unsafe class BootTestHooks
    {
        // Canonical, below the higher half, never mapped by the direct map (which ends at RAM's end).
        internal const ulong UnmappedAddress = 0x0000_7E00_0000_1000;

        internal static void Run()
        {
            if (KernelCommandLine.Options->TestLength == 0)
                return;
            if (KernelCommandLine.TestIs("fault"))
            {
                Console.Write("test=fault: reading ");
                Console.WriteHex(UnmappedAddress);
                Console.WriteLine();
                ulong value = *(ulong*)UnmappedAddress;
                Console.WriteHex(value);
                Console.WriteLine("test=fault: the read did not fault");
            }
            else if (KernelCommandLine.TestIs("throw"))
            {
                throw new InvalidOperationException("test=throw asked for an unhandled exception");
            }
            else
            {
                Console.WriteLine("test=: unknown test name; known: fault, throw. Boot goes on.");
            }
        }
    }
}
