using System;
using System.Runtime.InteropServices;

namespace PoolKernel.Platform
{
    /// <summary>Registers saved by Arch/x64/traps.S, in stack order.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct TrapFrame
    {
        public ulong R15, R14, R13, R12, R11, R10, R9, R8, Rbp, Rdi, Rsi, Rdx, Rcx, Rbx, Rax;
        public ulong Vector, ErrorCode;
        public ulong Rip, Cs, Rflags, Rsp, Ss;
    }

    /// <summary>
    /// Every vector's C# entry (Arch/x64/traps.S), on whichever CPU took it. Vectors 32..255 are
    /// interrupts (<see cref="Interrupts.Handle"/>) and return. An NMI is either the panic stop (another
    /// CPU is in a fatal path: this CPU parks for good, <see cref="Smp.StopHere"/>) or the collector's
    /// stop (this CPU parks until the collection ends, then returns: <see cref="Smp.OnNmi"/>). A page fault on a
    /// movable area's page being moved waits for the move and returns, retrying the access
    /// (<see cref="Mm.VmAreas.WaitIfMigrating"/>). Every other vector is a CPU
    /// exception, with nothing to resume to yet: the others are stopped (<see cref="Smp.EnterFatal"/>),
    /// a report (vector, name, error code, RIP, RSP, CR2, the CPU's number) is printed and the machine
    /// ends with ExitCode.CpuException.
    /// </summary>
    internal static unsafe class Traps
    {
        /// <summary>Mnemonic of an exception vector.</summary>
        internal static string Name(ulong vector) => vector switch
        {
            0 => "#DE divide error",
            1 => "#DB debug",
            2 => "NMI",
            3 => "#BP breakpoint",
            4 => "#OF overflow",
            5 => "#BR bound range",
            6 => "#UD invalid opcode",
            7 => "#NM device not available",
            8 => "#DF double fault",
            10 => "#TS invalid TSS",
            11 => "#NP segment not present",
            12 => "#SS stack fault",
            13 => "#GP general protection",
            14 => "#PF page fault",
            16 => "#MF x87 floating point",
            17 => "#AC alignment check",
            18 => "#MC machine check",
            19 => "#XM SIMD floating point",
            _ => "reserved",
        };

        [UnmanagedCallersOnly(EntryPoint = "KernelTrap")]
        private static void OnTrap(TrapFrame* frame)
        {
            if (frame->Vector >= 32)
            {
                Interrupts.Handle(frame);
                return;
            }
            if (frame->Vector == 2 && Smp.OnNmi(frame))
                return;
            // A movable area's page in the middle of a move: wait for its copy to be mapped, then retry.
            if (frame->Vector == 14 && Mm.VmAreas.WaitIfMigrating(Cpu.ReadCr2()))
                return;
            Smp.EnterFatal();
            Console.Write("\n*** CPU EXCEPTION vector=");
            Console.Write(frame->Vector);
            Console.Write(" (");
            Console.Write(Name(frame->Vector));
            Console.Write(") error=");
            Console.WriteHex(frame->ErrorCode);
            Console.Write(" rip=");
            Console.WriteHex(frame->Rip, 16);
            Console.Write(" rsp=");
            Console.WriteHex(frame->Rsp, 16);
            Console.Write(" cr2=");
            Console.WriteHex(Cpu.ReadCr2(), 16);
            Console.Write(" cpu=");
            Console.Write(Smp.CurrentNumber);
            Console.WriteLine();
            Console.Write("    rax=");
            Console.WriteHex(frame->Rax, 16);
            Console.Write(" rbx=");
            Console.WriteHex(frame->Rbx, 16);
            Console.Write(" rcx=");
            Console.WriteHex(frame->Rcx, 16);
            Console.Write(" rdx=");
            Console.WriteHex(frame->Rdx, 16);
            Console.WriteLine();
            QemuExit.Exit(ExitCode.CpuException);
        }
    }
}
