# The console font: GRUB's PF2 file of GNU Unifont's ASCII (Debian's grub-common, which the build
# needs anyway for grub-mkrescue), included as it is; Kernel.Boot/Console/Pf2Font.cs reads it at boot.
        .intel_syntax noprefix

        .section .rodata
        .balign 8
console_font_pf2:
        .incbin "/usr/share/grub/ascii.pf2"
console_font_pf2_end:

        .text
        .global arch_console_font, arch_console_font_end
arch_console_font:      lea rax, [rip + console_font_pf2]
                        ret
arch_console_font_end:  lea rax, [rip + console_font_pf2_end]
                        ret

        .section .note.GNU-stack,"",@progbits
