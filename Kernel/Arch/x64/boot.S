# PoolKernel boot stub: multiboot1 + multiboot2 headers, 32-bit entry, long mode, C# entry.
#
# Contract with the loader: entered in 32-bit protected mode with paging off, EAX = the
# multiboot magic (0x2BADB002 or 0x36D76289), EBX = physical address of the information block.
# Contract with C#: KernelEntry(ulong magic, ulong info) is called on a 16-byte aligned stack
# with the first 4 GiB identity-mapped (2 MiB pages), SSE enabled, interrupts off.
        .intel_syntax noprefix

        .set MB1_MAGIC, 0x1BADB002
        .set MB1_FLAGS, 0x00000003          # page-align modules, provide memory information
        .set MB2_MAGIC, 0xE85250D6

        .section .multiboot, "a"
        .align 4
mb1_header:
        .long MB1_MAGIC
        .long MB1_FLAGS
        .long -(MB1_MAGIC + MB1_FLAGS)

        .align 8
mb2_header:
        .long MB2_MAGIC
        .long 0                             # architecture: i386 protected mode
        .long mb2_header_end - mb2_header
        .long -(MB2_MAGIC + (mb2_header_end - mb2_header))
        # Framebuffer tag, optional: a linear framebuffer of 1024x768x32 if the loader can set one
        # (UEFI GOP); a loader that keeps text mode (GRUB on BIOS with gfxpayload=text) may ignore it.
        .short 5                            # type: framebuffer
        .short 1                            # flags: optional
        .long 20                            # size
        .long 1024                          # width
        .long 768                           # height
        .long 32                            # depth
        .align 8
        .short 0                            # end tag
        .short 0
        .long 8
mb2_header_end:

        .section .boot.text, "ax"
        .code32
        .global _start
_start:
        cli
        mov edi, eax                        # keep magic and info pointer across set-up
        mov esi, ebx

        # Zero .bss (page tables, stacks, statics); loaders are not required to.
        push edi
        mov edi, offset __bss_start
        mov ecx, offset __bss_end
        sub ecx, edi
        shr ecx, 2
        xor eax, eax
        rep stosd
        pop edi

        # PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages = 0..4 GiB.
        mov eax, offset boot_pdpt
        or eax, 0x3
        mov [boot_pml4], eax
        xor ecx, ecx
1:      mov eax, ecx
        shl eax, 12
        add eax, offset boot_pd
        or eax, 0x3
        mov [boot_pdpt + ecx * 8], eax
        inc ecx
        cmp ecx, 4
        jb 1b
        xor ecx, ecx
2:      mov eax, ecx
        shl eax, 21
        or eax, 0x83                        # present, writable, 2 MiB page
        mov [boot_pd + ecx * 8], eax
        inc ecx
        cmp ecx, 2048
        jb 2b

        mov eax, cr4
        or eax, (1 << 5) | (1 << 9) | (1 << 10)   # PAE, OSFXSR, OSXMMEXCPT
        mov cr4, eax
        mov eax, offset boot_pml4
        mov cr3, eax
        mov ecx, 0xC0000080                 # EFER
        rdmsr
        or eax, (1 << 8)                    # LME
        wrmsr
        mov eax, cr0
        and eax, ~(1 << 2)                  # clear EM: the compiler emits SSE
        or eax, (1 << 31) | (1 << 1) | 1    # PG, MP, PE
        mov cr0, eax
        lgdt [gdt_pointer]
        ljmp 0x08, offset long_mode

        .code64
long_mode:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        xor eax, eax
        mov fs, ax
        mov gs, ax
        lea rsp, [rip + boot_stack_top]

        # Task state segment: IST1 is the double-fault stack, so a #DF on a broken stack still reports.
        lea rax, [rip + boot_tss]
        lea rcx, [rip + df_stack_top]
        mov [rax + 0x24], rcx
        lea rdx, [rip + gdt_tss]
        mov word ptr [rdx], 103
        mov [rdx + 2], ax
        mov rcx, rax
        shr rcx, 16
        mov [rdx + 4], cl
        mov byte ptr [rdx + 5], 0x89
        mov byte ptr [rdx + 6], 0
        mov [rdx + 7], ch
        shr rax, 32
        mov [rdx + 8], eax
        mov ax, 0x18
        ltr ax

        mov r12d, edi                       # magic and info survive the IDT set-up in callee-saved registers
        mov r13d, esi
        call arch_idt_init

        mov edi, r12d                       # zero-extended into the SysV argument registers
        mov esi, r13d
        call KernelEntry
3:      cli
        hlt
        jmp 3b

        .section .data
        .align 16
gdt:
        .quad 0
        .quad 0x00AF9A000000FFFF            # 0x08: 64-bit code
        .quad 0x00CF92000000FFFF            # 0x10: data
gdt_tss:
        .quad 0                             # 0x18: TSS (16 bytes, filled at boot)
        .quad 0
gdt_end:
gdt_pointer:
        .short gdt_end - gdt - 1
        .quad gdt

        .section .bss
        .align 4096
        .global boot_pml4, boot_stack, boot_stack_top    # the stack bounds: the collector scans only its live part
boot_pml4:      .skip 4096
boot_pdpt:      .skip 4096
boot_pd:        .skip 4096 * 4
boot_stack:     .skip 256 * 1024
boot_stack_top:
df_stack:       .skip 16 * 1024
df_stack_top:
        .align 16
boot_tss:       .skip 104

        # No executable stack: tells the linker this object does not need one.
        .section .note.GNU-stack,"",@progbits
