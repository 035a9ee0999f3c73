using System;
using System.Runtime;
using System.Runtime.CompilerServices;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Startup;

namespace PoolKernel.SelfTest
{
    /// <summary>
    /// test=NAME on the command line: deliberate failures that the boot tests check end to end.
    /// fault = a page fault on an unmapped address; ud = invalid opcode; divide = divide error;
    /// gp = general protection (non-canonical address); doublefault = a fault with no usable stack;
    /// throw = a managed throw with no handler. An unknown name was refused by the parser (BootTests).
    /// </summary>
    internal static unsafe class BootTestHooks
    {
        // Canonical, below the higher half, never mapped by the direct map (which ends at RAM's end).
        internal const ulong UnmappedAddress = 0x0000_7E00_0000_1000;

        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_fault_ud")] private static extern void FaultUd();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_fault_divide")] private static extern void FaultDivide();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_fault_gp")] private static extern void FaultGp();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_fault_double")] private static extern void FaultDouble();

        internal static void Run()
        {
            switch (KernelCommandLine.Options->Test)
            {
                case BootTest.Fault:
                    Console.Write("test=fault: reading ");
                    Console.WriteHex(UnmappedAddress);
                    Console.WriteLine();
                    ulong value = *(ulong*)UnmappedAddress;
                    Console.WriteHex(value);
                    Console.WriteLine("test=fault: the read did not fault");
                    break;
                case BootTest.Ud:
                    FaultUd();
                    break;
                case BootTest.Divide:
                    FaultDivide();
                    break;
                case BootTest.Gp:
                    FaultGp();
                    break;
                case BootTest.DoubleFault:
                    FaultDouble();
                    break;
                case BootTest.Throw:
                    throw new InvalidOperationException("test=throw asked for an unhandled exception");
            }
        }
    }
}
