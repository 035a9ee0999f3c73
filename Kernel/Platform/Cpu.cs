using System.Runtime;
using System.Runtime.CompilerServices;

namespace PoolKernel.Platform
{
    /// <summary>The instructions C# cannot express, implemented in Arch/x64/cpu.S.</summary>
    internal static unsafe class Cpu
    {
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_outb")] internal static extern void OutB(ushort port, byte value);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_inb")] internal static extern byte InB(ushort port);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_outw")] internal static extern void OutW(ushort port, ushort value);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_inw")] internal static extern ushort InW(ushort port);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_outd")] internal static extern void OutD(ushort port, uint value);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_ind")] internal static extern uint InD(ushort port);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_rdtsc")] internal static extern ulong ReadTsc();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_halt")] internal static extern void Halt();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_cli")] internal static extern void DisableInterrupts();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_pause")] internal static extern void Pause();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_read_cr2")] internal static extern ulong ReadCr2();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_read_cr3")] internal static extern ulong ReadCr3();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_write_cr3")] internal static extern void WriteCr3(ulong value);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_invlpg")] internal static extern void InvalidatePage(ulong address);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_cpuid")] internal static extern void CpuId(uint leaf, uint subleaf, uint* result);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_kernel_start")] internal static extern ulong KernelStart();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_kernel_end")] internal static extern ulong KernelEnd();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_pml4")] internal static extern ulong* Pml4();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_early_heap")] internal static extern byte* EarlyHeapStart();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_early_heap_end")] internal static extern byte* EarlyHeapEnd();
    }
}
