# CPU exception and interrupt entry: an IDT of 256 gates whose stubs build a TrapFrame and call
# KernelTrap(TrapFrame*) in C# (Kernel/Platform/Traps.cs), on every CPU (one IDT, shared).
# Vector 8 (#DF) runs on IST1 (boot.S's stack on the boot CPU until it has its per-CPU TSS), vector 2
# (NMI, the panic stop) on IST2 once a CPU has its per-CPU TSS (Kernel/Platform/Smp.cs).
# Vectors 32..255 are interrupts (the local APIC's timer, IPIs, spurious; docs/smp.md).
        .intel_syntax noprefix
        .text

.macro TRAP_NOERR n
trap_\n:
        push 0
        push \n
        jmp trap_common
.endm
.macro TRAP_ERR n
trap_\n:
        push \n
        jmp trap_common
.endm

TRAP_NOERR 0
TRAP_NOERR 1
TRAP_NOERR 2
TRAP_NOERR 3
TRAP_NOERR 4
TRAP_NOERR 5
TRAP_NOERR 6
TRAP_NOERR 7
TRAP_ERR 8
TRAP_NOERR 9
TRAP_ERR 10
TRAP_ERR 11
TRAP_ERR 12
TRAP_ERR 13
TRAP_ERR 14
TRAP_NOERR 15
TRAP_NOERR 16
TRAP_ERR 17
TRAP_NOERR 18
TRAP_NOERR 19
TRAP_NOERR 20
TRAP_ERR 21
TRAP_NOERR 22
TRAP_NOERR 23
TRAP_NOERR 24
TRAP_NOERR 25
TRAP_NOERR 26
TRAP_NOERR 27
TRAP_NOERR 28
TRAP_ERR 29
TRAP_ERR 30
TRAP_NOERR 31

# Vectors 32..255: no error code; one 16-byte stub each, so vector v's stub is at
# irq_stubs + (v - 32) * 16 (arch_idt_init relies on it).
        .align 16
irq_stubs:
        .set vector, 32
        .rept 224
        .align 16
        push 0
        push vector
        jmp trap_common
        .set vector, vector + 1
        .endr

# Frame layout (from the stack pointer up): r15..rax, vector, error code, rip, cs, rflags, rsp, ss.
# The SSE state is saved (fxsave) below the frame: an interrupt returns to code whose xmm registers
# the C# handler may use.
trap_common:
        push rax
        push rbx
        push rcx
        push rdx
        push rsi
        push rdi
        push rbp
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        cld
        mov rdi, rsp
        mov rbx, rsp
        sub rsp, 512
        and rsp, -16
        fxsave [rsp]
        call KernelTrap
        fxrstor [rsp]
        mov rsp, rbx
        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rbp
        pop rdi
        pop rsi
        pop rdx
        pop rcx
        pop rbx
        pop rax
        add rsp, 16
        iretq

# Fills the IDT with interrupt gates (selector 0x08, type 0x8E) and loads it.
        .global arch_idt_init, arch_idt_load
arch_idt_init:
        lea rsi, [rip + trap_table]
        lea rdi, [rip + idt]
        xor ecx, ecx
1:      cmp ecx, 32
        jae 3f
        mov rax, [rsi + rcx * 8]
        jmp 4f
3:      lea rax, [rip + irq_stubs]
        mov rdx, rcx
        sub rdx, 32
        shl rdx, 4
        add rax, rdx
4:      mov rdx, rcx
        shl rdx, 4
        mov [rdi + rdx], ax
        mov word ptr [rdi + rdx + 2], 0x08
        mov byte ptr [rdi + rdx + 4], 0
        cmp ecx, 8
        jne 2f
        mov byte ptr [rdi + rdx + 4], 1     # IST1 for the double fault
2:      cmp ecx, 2
        jne 5f
        mov byte ptr [rdi + rdx + 4], 2     # IST2 for NMI (a zero IST2 slot means none: boot.S's TSS)
5:      mov byte ptr [rdi + rdx + 5], 0x8E
        shr rax, 16
        mov [rdi + rdx + 6], ax
        shr rax, 16
        mov [rdi + rdx + 8], eax
        mov dword ptr [rdi + rdx + 12], 0
        inc ecx
        cmp ecx, 256
        jb 1b
arch_idt_load:
        lidt [rip + idt_pointer]
        ret

        .section .data
        .align 8
trap_table:
        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad trap_\n
        .endr
idt_pointer:
        .short 256 * 16 - 1
        .quad idt

        .section .bss
        .align 16
idt:    .skip 256 * 16

        # No executable stack: tells the linker this object does not need one.
        .section .note.GNU-stack,"",@progbits
