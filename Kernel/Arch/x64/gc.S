# The collector's view of boot.S's .bss (Kernel/Runtime/Gc.cs), which it scans as a root: its page
# tables [boot_pml4, boot_stack) are skipped (every entry looks like a pointer into RAM), and of the
# boot stack only [rsp, boot_stack_top) is live.
        .intel_syntax noprefix
        .text
        .global arch_frozen_segment, arch_boot_page_tables, arch_boot_stack, arch_boot_stack_top
# ilc's frozen objects (literals, preinitialised data) start .data's managed part; .text and
# .rodata before it hold no references, only constants that would look like pointers into RAM.
arch_frozen_segment:    lea rax, [rip + __FrozenSegmentStart]
                        ret
arch_boot_page_tables:  lea rax, [rip + boot_pml4]
                        ret
arch_boot_stack:        lea rax, [rip + boot_stack]
                        ret
arch_boot_stack_top:    lea rax, [rip + boot_stack_top]
                        ret

        # No executable stack: tells the linker this object does not need one.
        .section .note.GNU-stack,"",@progbits
