# The atomic word operations behind the kernel CoreLib's System.Threading.Interlocked and Volatile
# (Kernel/Runtime/CoreLib/Threading.cs), and the interrupt save/restore pair the kernel's spin
# locks use (Kernel.Memory/Sync/SpinLock.cs; Platform/Cpu.cs binds them, PhysicalMemoryOwner and
# KernelHeapGlue set them as their locks' hooks).
# SysV AMD64 calling convention; a `ref int` arrives as its address.
        .intel_syntax noprefix
        .text

# int atomic_cmpxchg32(int* p, int value, int comparand): the value *p had; value stored when it was
# comparand. `lock cmpxchg` is a full barrier.
        .global atomic_cmpxchg32
atomic_cmpxchg32:
        mov eax, edx
        lock cmpxchg [rdi], esi
        ret

# void atomic_store32(int* p, int value): a store with release ordering. x86 keeps stores in order
# with earlier loads and stores (TSO), so a plain mov releases; being a call, the compiler cannot
# move the caller's accesses past it either. (An xchg would be a full barrier, which a release does
# not need, and costs a locked bus operation.)
        .global atomic_store32
atomic_store32:
        mov [rdi], esi
        ret

# int atomic_load32(int* p): a load no compiler keeps in a register (a call); x86 loads are acquire.
        .global atomic_load32
atomic_load32:
        mov eax, [rdi]
        ret

# ulong atomic_irq_save(): the flags (IF is bit 9), then interrupts off.
        .global atomic_irq_save
atomic_irq_save:
        pushfq
        pop rax
        cli
        ret

# void atomic_irq_restore(ulong flags): interrupts back on only if they were on at the save.
        .global atomic_irq_restore
atomic_irq_restore:
        push rdi
        popfq
        ret

        # No executable stack: tells the linker this object does not need one.
        .section .note.GNU-stack,"",@progbits
