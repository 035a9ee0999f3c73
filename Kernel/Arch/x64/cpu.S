# Instructions C# cannot express: port I/O, control registers, interrupts, traps.
# Every routine follows the SysV AMD64 calling convention; C# binds them with RuntimeImport.
        .intel_syntax noprefix
        .text

        .global arch_outb, arch_inb, arch_outw, arch_inw, arch_outd, arch_ind
arch_outb:  mov edx, edi
            mov eax, esi
            out dx, al
            ret
arch_inb:   mov edx, edi
            xor eax, eax
            in al, dx
            ret
arch_outw:  mov edx, edi
            mov eax, esi
            out dx, ax
            ret
arch_inw:   mov edx, edi
            xor eax, eax
            in ax, dx
            ret
arch_outd:  mov edx, edi
            mov eax, esi
            out dx, eax
            ret
arch_ind:   mov edx, edi
            in eax, dx
            ret

        .global arch_rdtsc, arch_halt, arch_cli, arch_sti, arch_pause
arch_rdtsc: rdtsc
            shl rdx, 32
            or rax, rdx
            ret
arch_halt:  hlt
            ret
arch_cli:   cli
            ret
arch_sti:   sti
            ret
arch_pause: pause
            ret

        .global arch_read_cr2, arch_read_cr3, arch_write_cr3, arch_invlpg, arch_cpuid
arch_read_cr2:  mov rax, cr2
                ret
arch_read_cr3:  mov rax, cr3
                ret
arch_write_cr3: mov cr3, rdi
                ret
arch_invlpg:    invlpg [rdi]
                ret
# void arch_cpuid(uint leaf, uint subleaf, uint* out4)
arch_cpuid:     push rbx
                mov r8, rdx
                mov eax, edi
                mov ecx, esi
                cpuid
                mov [r8], eax
                mov [r8 + 4], ebx
                mov [r8 + 8], ecx
                mov [r8 + 12], edx
                pop rbx
                ret

# Linker-script symbols, as addresses.
        .global arch_kernel_start, arch_kernel_end, arch_pml4, arch_early_heap, arch_early_heap_end
arch_kernel_start:      lea rax, [rip + __kernel_start]
                        ret
arch_kernel_end:        lea rax, [rip + __kernel_end]
                        ret
arch_pml4:              lea rax, [rip + boot_pml4]
                        ret
arch_early_heap:        lea rax, [rip + __early_heap_start]
                        ret
arch_early_heap_end:    lea rax, [rip + __early_heap_end]
                        ret

# Runtime helpers with no C# form. No GC yet: reference stores are plain stores.
        .global RhpAssignRef, RhpCheckedAssignRef, RhpByRefAssignRef, RhpCheckedLockCmpXchg, RhpCheckedXchg
RhpAssignRef:
RhpCheckedAssignRef:
            mov [rdi], rsi
            ret
RhpByRefAssignRef:
            mov rcx, [rsi]
            mov [rdi], rcx
            add rdi, 8
            add rsi, 8
            ret
RhpCheckedLockCmpXchg:
            mov rax, rdx
            lock cmpxchg [rdi], rsi
            ret
RhpCheckedXchg:
            mov rax, rsi
            xchg [rdi], rax
            ret

        .global RhpPInvoke, RhpPInvokeReturn, RhpReversePInvoke, RhpReversePInvokeReturn, RhpGcPoll
RhpPInvoke:
RhpPInvokeReturn:
RhpReversePInvoke:
RhpReversePInvokeReturn:
RhpGcPoll:
            ret

        .global memset, memcpy, memmove
# void* memset(void* dst, int value, size_t n)
memset:     mov r9, rdi
            mov eax, esi
            mov rcx, rdx
            rep stosb
            mov rax, r9
            ret
# void* memmove(void* dst, const void* src, size_t n): copies backwards when regions overlap upward.
memcpy:
memmove:    mov rax, rdi
            mov rcx, rdx
            cmp rdi, rsi
            jbe 1f
            lea r8, [rsi + rdx]
            cmp rdi, r8
            jae 1f
            lea rsi, [rsi + rdx - 1]
            lea rdi, [rdi + rdx - 1]
            std
            rep movsb
            cld
            ret
1:          rep movsb
            ret

# Interface dispatch: resolve the cell in r11 through C#, preserving every argument register.
        .global RhpInitialDynamicInterfaceDispatch
RhpInitialDynamicInterfaceDispatch:
            push rdi
            push rsi
            push rdx
            push rcx
            push r8
            push r9
            push r11
            sub rsp, 8 * 16
            movdqu [rsp + 0x00], xmm0
            movdqu [rsp + 0x10], xmm1
            movdqu [rsp + 0x20], xmm2
            movdqu [rsp + 0x30], xmm3
            movdqu [rsp + 0x40], xmm4
            movdqu [rsp + 0x50], xmm5
            movdqu [rsp + 0x60], xmm6
            movdqu [rsp + 0x70], xmm7
            mov rsi, r11                    # (object this, cell)
            call KernelResolveInterfaceDispatch
            movdqu xmm0, [rsp + 0x00]
            movdqu xmm1, [rsp + 0x10]
            movdqu xmm2, [rsp + 0x20]
            movdqu xmm3, [rsp + 0x30]
            movdqu xmm4, [rsp + 0x40]
            movdqu xmm5, [rsp + 0x50]
            movdqu xmm6, [rsp + 0x60]
            movdqu xmm7, [rsp + 0x70]
            add rsp, 8 * 16
            pop r11
            pop r9
            pop r8
            pop rcx
            pop rdx
            pop rsi
            pop rdi
            jmp rax

        .section .data
        .global __security_cookie, RhpTrapThreads
        .align 8
__security_cookie:  .quad 0x2F3B5C7D9E1A4C6B
RhpTrapThreads:     .long 0

        .text
        .global arch_modules_start, arch_modules_end
arch_modules_start:     lea rax, [rip + __modules_start]
                        ret
arch_modules_end:       lea rax, [rip + __modules_end]
                        ret

# Deliberate CPU exceptions for the boot tests (test=ud|divide|gp|doublefault on the command line).
        .text
        .global arch_fault_ud, arch_fault_divide, arch_fault_gp, arch_fault_double
arch_fault_ud:
        ud2
        ret
arch_fault_divide:
        xor ecx, ecx
        mov eax, 1
        xor edx, edx
        div ecx
        ret
arch_fault_gp:
        mov rax, 0x8000000000000000         # non-canonical address
        mov rax, [rax]
        ret
# A page fault while the stack is unusable cannot be delivered on that stack: the CPU raises #DF,
# which runs on IST1 (boot.S) and reports.
arch_fault_double:
        mov rsp, 0x00007E0000002000
        push rax
        ret

# A saved execution context, for returning to a known frame without an unwinder (the runtime's
# recovery point, Kernel/Runtime/RecoveryPoint.cs). The context is 8 quadwords: rbx, rbp, r12-r15
# (the SysV callee-saved registers), the caller's stack pointer and its return address.
# ulong arch_save_context(ulong* ctx): saves; returns 0.
# void arch_resume_context(ulong* ctx): returns a second time from that arch_save_context, with 1;
# the frame that called arch_save_context must still be live.
        .text
        .global arch_save_context, arch_resume_context
arch_save_context:
                mov [rdi], rbx
                mov [rdi + 8], rbp
                mov [rdi + 16], r12
                mov [rdi + 24], r13
                mov [rdi + 32], r14
                mov [rdi + 40], r15
                lea rax, [rsp + 8]
                mov [rdi + 48], rax
                mov rax, [rsp]
                mov [rdi + 56], rax
                xor eax, eax
                ret
arch_resume_context:
                mov rbx, [rdi]
                mov rbp, [rdi + 8]
                mov r12, [rdi + 16]
                mov r13, [rdi + 24]
                mov r14, [rdi + 32]
                mov r15, [rdi + 40]
                mov rsp, [rdi + 48]
                mov eax, 1
                jmp qword ptr [rdi + 56]

        # No executable stack: tells the linker this object does not need one.
        .section .note.GNU-stack,"",@progbits

# void arch_zero(void* dst, size_t n): n bytes at dst set to zero, any alignment, any length; the
# kernel heap's zeroing routine (page runs and large cells). rep stosq for the 8-byte words, then
# rep stosb for the tail: both are the CPU's fast-string stores (whole-line writes, no reads for
# ownership on ERMSB parts); the quadword form also takes 8x fewer steps under QEMU's TCG.
        .text
        .global arch_zero
arch_zero:  xor eax, eax
            mov rcx, rsi
            shr rcx, 3
            rep stosq
            mov rcx, rsi
            and rcx, 7
            rep stosb
            ret
