using System;
using System.Runtime;
using PoolKernel.Platform;

namespace PoolKernel.Runtime
{
    /// <summary>
    /// There is no unwinder yet: a throw reports the exception type and message and halts
    /// cleanly with its own exit status.
    /// </summary>
    internal static class Throw
    {
        [RuntimeExport("RhpThrowEx")]
        private static void RhpThrowEx(object exception)
        {
            Smp.EnterFatal();
            Console.Write("\nUnhandled exception: ");
            if (exception is Exception e)
            {
                Console.Write(e.TypeName);
                Console.Write(": ");
                Console.WriteLine(e.Message);
            }
            else
            {
                Console.WriteLine("(not an Exception)");
            }
            QemuExit.Exit(ExitCode.UnhandledException);
        }

        [RuntimeExport("RhpRethrow")]
        private static void RhpRethrow() => Panic.Halt("rethrow without an unwinder");

        [RuntimeExport("RhpFallbackFailFast")]
        private static void RhpFallbackFailFast() => Panic.Halt("runtime fail-fast");
    }
}
