using System;

namespace PoolKernel
{
    internal static unsafe class Kernel
    {
        internal static void Start(ulong magic, ulong info)
        {
            Console.WriteLine("PoolKernel booting");
            SelfTest.RuntimeSelfTest.Run();
            Console.Write("magic=");
            Console.WriteHex(magic);
            Console.Write(" info=");
            Console.WriteHex(info);
            Console.WriteLine();
        }
    }
}
