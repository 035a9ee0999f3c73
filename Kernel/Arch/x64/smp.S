# Multiprocessor start and per-CPU machine state (docs/smp.md).
#
# The real-mode trampoline: Kernel/Platform/Smp.cs copies the bytes between ap_trampoline_start and
# ap_trampoline_end to a 4 KiB-aligned page below 1 MiB (the "SMP trampoline" reservation) and
# sends that page's number as the STARTUP IPI vector. The application processor starts there in
# real mode with CS = page << 8 and IP = 0, so the blob addresses its own data relative to its
# start; everything else it names (the GDT below, boot_pml4, ap_long_mode) is an absolute address
# in the kernel image, which lies below 4 GiB and is identity-mapped.
# It goes straight from real mode to long mode: PAE and the BSP's page tables, EFER.LME, then
# CR0.PE and CR0.PG together, and a far jump to a 64-bit code segment.
        .intel_syntax noprefix

        .set EFER, 0xC0000080
        .set CR4_BITS, (1 << 5) | (1 << 9) | (1 << 10)     # PAE, OSFXSR, OSXMMEXCPT (as boot.S)

        .section .text
        .code16
        .global ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
        cli
        cld
        mov ax, cs
        mov ds, ax
        .byte 0x66                          # operand-size prefix: lgdt takes a 32-bit base
        lgdt [ap_trampoline_gdtr - ap_trampoline_start]
        mov eax, cr4
        or eax, CR4_BITS
        mov cr4, eax
        mov eax, offset boot_pml4
        mov cr3, eax
        mov ecx, EFER
        rdmsr
        or eax, (1 << 8)                    # LME
        wrmsr
        mov eax, cr0
        and eax, ~(1 << 2)                  # clear EM: the compiler emits SSE
        or eax, (1 << 31) | (1 << 1) | 1    # PG, MP, PE
        mov cr0, eax
        .byte 0x66, 0xEA                    # jmp far ptr16:32, to the 64-bit code segment
        .long ap_long_mode
        .short 0x08
        .align 4
ap_trampoline_gdtr:
        .short ap_gdt_end - ap_gdt - 1
        .long ap_gdt
ap_trampoline_end:

        .code64
# First 64-bit instructions of an AP, on the BSP's page tables with interrupts off. ap_boot_percpu
# holds the per-CPU area of the one CPU being started (the BSP starts them one at a time); its
# quadword at +8 is that CPU's stack top. KernelApEntry(PerCpu*) never returns.
ap_long_mode:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        xor eax, eax
        mov fs, ax
        mov gs, ax
        mov rdi, [rip + ap_boot_percpu]
        mov rsp, [rdi + 8]
        xor ebp, ebp
        call KernelApEntry
1:      cli
        hlt
        jmp 1b

# Addresses C# needs: the trampoline's bytes and the slot naming the CPU being started.
        .global arch_ap_trampoline_start, arch_ap_trampoline_end, arch_ap_boot_slot
arch_ap_trampoline_start:   lea rax, [rip + ap_trampoline_start]
                            ret
arch_ap_trampoline_end:     lea rax, [rip + ap_trampoline_end]
                            ret
arch_ap_boot_slot:          lea rax, [rip + ap_boot_percpu]
                            ret

# ulong arch_rdmsr(uint msr); void arch_wrmsr(uint msr, ulong value)
        .global arch_rdmsr, arch_wrmsr
arch_rdmsr:
        mov ecx, edi
        rdmsr
        shl rdx, 32
        or rax, rdx
        ret
arch_wrmsr:
        mov ecx, edi
        mov eax, esi
        mov rdx, rsi
        shr rdx, 32
        wrmsr
        ret

# PerCpu* arch_percpu(): the per-CPU area's own address, its first quadword, through GS.
        .global arch_percpu
arch_percpu:
        mov rax, gs:[0]
        ret

# void arch_load_gdt(ushort* gdtr, ushort tss): loads a GDT laid out as boot.S's (0x08 code,
# 0x10 data, the TSS selector given), reloads CS and the data segments, and loads the task register.
# GS is left alone: its base is the per-CPU area's, set through the MSR.
        .global arch_load_gdt
arch_load_gdt:
        lgdt [rdi]
        push 0x08
        lea rax, [rip + 1f]
        push rax
        retfq
1:      mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        ltr si
        ret

# void arch_idle_halt(): sti; hlt. The instruction after sti runs before any interrupt is taken,
# so an interrupt that arrives between the two still ends the hlt. Returns with interrupts on.
        .global arch_idle_halt
arch_idle_halt:
        sti
        hlt
        ret

# int arch_cmpxchg32(int* p, int expected, int desired): the value *p had; stored when it was expected.
        .global arch_cmpxchg32
arch_cmpxchg32:
        mov eax, esi
        lock cmpxchg [rdi], edx
        ret

# uint arch_mmio_read32(ulong address); void arch_mmio_write32(ulong address, uint value): one
# 32-bit access each, never merged or elided by the compiler (the local APIC's registers).
        .global arch_mmio_read32, arch_mmio_write32
arch_mmio_read32:
        mov eax, [rdi]
        ret
arch_mmio_write32:
        mov [rdi], esi
        ret

# bool arch_interrupts_enabled(): RFLAGS.IF.
        .global arch_interrupts_enabled
arch_interrupts_enabled:
        pushfq
        pop rax
        shr eax, 9
        and eax, 1
        ret

# A page fault on purpose (the shell's 'cpu N fault', run on that CPU): a read of a non-present
# page, the top of the 4-level canonical lower half, which the identity map never reaches.
        .global arch_fault_page
arch_fault_page:
        mov rax, 0x00007FFFFFFFF000
        mov rax, [rax]
        ret

        .section .data
        .align 16
ap_gdt:
        .quad 0
        .quad 0x00AF9A000000FFFF            # 0x08: 64-bit code
        .quad 0x00CF92000000FFFF            # 0x10: data
ap_gdt_end:
        .align 8
ap_boot_percpu: .quad 0

        # No executable stack: tells the linker this object does not need one.
        .section .note.GNU-stack,"",@progbits
