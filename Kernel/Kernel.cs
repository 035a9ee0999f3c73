using System;
using PoolKernel.Startup;

namespace PoolKernel
{
    /// <summary>The boot sequence after the runtime is up (see KernelMain for what comes before).</summary>
    internal static unsafe class Kernel
    {
        internal static void Start(uint magic, ulong info)
        {
            SelfTest.RuntimeSelfTest.Run();
            Machine.Discover(magic, info);
            Banner.Print();
        }
    }
}
