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
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_sti")] internal static extern void EnableInterrupts();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_interrupts_enabled")] internal static extern bool InterruptsEnabled();
        /// <summary>sti; hlt: waits for the next interrupt with no window for one to slip in between; returns with interrupts on.</summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_idle_halt")] internal static extern void IdleHalt();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_pause")] internal static extern void Pause();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_read_cr2")] internal static extern ulong ReadCr2();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_read_cr3")] internal static extern ulong ReadCr3();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_write_cr3")] internal static extern void WriteCr3(ulong value);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_invlpg")] internal static extern void InvalidatePage(ulong address);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_cpuid")] internal static extern void CpuId(uint leaf, uint subleaf, uint* result);
        /// <summary>One 32-bit MMIO read/write, exactly as written (device registers).</summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_mmio_read32")] internal static extern uint MmioRead32(ulong address);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_mmio_write32")] internal static extern void MmioWrite32(ulong address, uint value);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_rdmsr")] internal static extern ulong ReadMsr(uint msr);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_wrmsr")] internal static extern void WriteMsr(uint msr, ulong value);
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("atomic_irq_save")] private static extern ulong IrqSave();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("atomic_irq_restore")] private static extern void IrqRestore(ulong flags);

        /// <summary>The spin locks' interrupt hook (<see cref="PoolKernel.Memory.SpinLock.SetInterruptHooks"/>): RFLAGS, then cli.</summary>
        internal static ulong SaveAndDisableInterrupts() => IrqSave();

        /// <summary>The spin locks' other hook: RFLAGS as saved (IF on again only if it was on).</summary>
        internal static void RestoreInterrupts(ulong state) => IrqRestore(state);

        /// <summary>Atomically: if *<paramref name="location"/> == <paramref name="expected"/>, stores <paramref name="desired"/>; returns the old value.</summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_cmpxchg32")] internal static extern int CompareExchange(int* location, int expected, int desired);
        /// <summary>The running CPU's per-CPU area (<c>gs:[0]</c>); only once <see cref="Smp"/> has set GS on it.</summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_percpu")] internal static extern PerCpu* CurrentPerCpu();
        /// <summary>Loads a GDT laid out as boot.S's (pointer as lgdt reads it), reloads the segments and loads the task register.</summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_load_gdt")] internal static extern void LoadGdt(ushort* pointer, ushort tssSelector);
        /// <summary>Loads the one IDT (built by boot.S's arch_idt_init on the boot CPU) on this CPU.</summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_idt_load")] internal static extern void LoadIdt();
        /// <summary>Reads a page the identity map never maps: a #PF on purpose (the shell's 'cpu N fault').</summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_fault_page")] internal static extern void FaultPage();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_ap_trampoline_start")] internal static extern byte* ApTrampolineStart();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_ap_trampoline_end")] internal static extern byte* ApTrampolineEnd();
        /// <summary>The slot smp.S reads the starting AP's per-CPU area from.</summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_ap_boot_slot")] internal static extern PerCpu** ApBootSlot();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_kernel_start")] internal static extern ulong KernelStart();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_kernel_end")] internal static extern ulong KernelEnd();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_pml4")] internal static extern ulong* Pml4();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_early_heap")] internal static extern byte* EarlyHeapStart();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_early_heap_end")] internal static extern byte* EarlyHeapEnd();
    }
}
