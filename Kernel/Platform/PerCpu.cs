using System.Runtime.InteropServices;

namespace PoolKernel.Platform
{
    /// <summary>Where a CPU is in its life (<see cref="PerCpu.State"/>).</summary>
    internal enum CpuState
    {
        /// <summary>Listed in the MADT, not started (or not yet).</summary>
        Offline,
        /// <summary>INIT and STARTUP sent; the CPU has not said it is up.</summary>
        Starting,
        /// <summary>Running: its GDT, TSS, IDT, GS base and local APIC are set, its timer ticks.</summary>
        Online,
        /// <summary>Did not answer within the timeout; left out.</summary>
        NoAnswer,
        /// <summary>Parked for good by another CPU's fatal path (the panic-stop NMI).</summary>
        Stopped,
    }

    /// <summary>
    /// One CPU's own data, the first bytes of its per-CPU block (<see cref="Smp"/>): reached on that
    /// CPU through GS (its base is this struct's address, and <see cref="Self"/> holds it again, so
    /// <c>gs:[0]</c> gives a plain pointer). The BSP fills everything before the CPU starts; after that
    /// the fields marked "own" are written by that CPU only (its interrupt handlers), the mailbox as
    /// <see cref="Smp.RunOn"/> says. Layout docs/smp.md; smp.S reads <see cref="Self"/> (+0) and
    /// <see cref="StackTop"/> (+8).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct PerCpu
    {
        /// <summary>+0: this struct's address (what <c>gs:[0]</c> reads).</summary>
        public PerCpu* Self;
        /// <summary>+8: the stack pointer an AP starts with (the top of its block); unused on the BSP, which keeps boot.S's stack.</summary>
        public ulong StackTop;
        /// <summary>The kernel's CPU number: 0 the boot CPU, then the MADT's order.</summary>
        public int Number;
        /// <summary>The local APIC id (MADT), the IPI destination.</summary>
        public uint ApicId;
        /// <summary>The NUMA node (SRAT CPU affinity, or numa=off/fake).</summary>
        public int Node;
        /// <summary>Written by the BSP while starting the CPU, then by the CPU itself (Online, and Stopped when parked).</summary>
        public volatile CpuState State;
        /// <summary>Own: local APIC timer interrupts taken.</summary>
        public ulong TimerTicks;
        /// <summary>Own: every interrupt taken (vectors 32..255, timer included; not exceptions or NMI).</summary>
        public ulong Interrupts;

        /// <summary>Mailbox: the function and argument of call <see cref="CallPosted"/>; written by the caller before it posts.</summary>
        public delegate*<ulong, void> CallFunction;
        public ulong CallArgument;
        /// <summary>Mailbox: the caller's ticket (a release store after the function and argument).</summary>
        public volatile uint CallPosted;
        /// <summary>Mailbox: own, the last ticket run to completion.</summary>
        public volatile uint CallDone;

        /// <summary>Work box (<see cref="Smp.Post"/>): the function and argument of work <see cref="WorkPosted"/>, written by the poster before it posts.</summary>
        public delegate*<ulong, void> WorkFunction;
        public ulong WorkArgument;
        /// <summary>Work box: the poster's ticket (a release store after function and argument).</summary>
        public volatile uint WorkPosted;
        /// <summary>Work box: own, the last work ticket run to completion (the AP's idle loop runs it, interrupts on).</summary>
        public volatile uint WorkDone;

        /// <summary>Test hook (`cpu N irqalloc`): set by the shell; the CPU's next timer interrupt allocates, checks and frees, then clears it.</summary>
        public volatile int IrqAllocPending;
        /// <summary>Own, written by that timer interrupt: the page's frame number and the heap block's address it had (0 = refused), then the heap block's node.</summary>
        public ulong IrqAllocPfn;
        public ulong IrqAllocHeap;
        public int IrqAllocHeapNode;
        /// <summary>Own: the statuses of the page free and the heap free in that interrupt (0 = ok).</summary>
        public int IrqAllocFreeStatus;
        /// <summary>
        /// Own, written by that timer interrupt when a realtime pool exists: the pool's slot (-1: none), the
        /// orders (bit k: order k) whose block it allocated and freed through the realtime path, the status of the
        /// first refused call (0 = ok), and the most realtime steps one of those operations took.
        /// </summary>
        public int IrqAllocRtPool;
        /// <summary>
        /// Own, written by that timer interrupt: the owner the interrupted code acted as (<see cref="ActingOwner"/>), the one
        /// the handler's managed objects are charged to (<see cref="Heap.ContainerArenas.ObjectOwner"/>: the kernel), and whose
        /// heap the managed object it made is in (<see cref="Heap.KernelHeapGlue.HolderOf"/>; FrameOwner.None: no object).
        /// </summary>
        public byte IrqAllocActing;
        public byte IrqAllocObjectOwner;
        public byte IrqAllocObjectHeap;
        public int IrqAllocRtOrders;
        public int IrqAllocRtStatus;
        public ulong IrqAllocRtSteps;

        /// <summary>
        /// Own: interrupt handlers (vectors 32..255) this CPU is inside now, 0 in ordinary code; the
        /// collector refuses to run when it is not 0 (docs/gc.md: never from an interrupt handler).
        /// </summary>
        public int InterruptDepth;

        /// <summary>
        /// Stop-the-world (<see cref="Smp.StopOthers"/>): the generation the collecting CPU asked this
        /// CPU to park for; written by that CPU, under the heap lock, before it sends the NMI.
        /// </summary>
        public volatile uint ParkAsked;
        /// <summary>Own: the last generation this CPU parked for (a release store after <see cref="ParkedFrame"/>).</summary>
        public volatile uint ParkedGeneration;
        /// <summary>Own: while parked, the NMI's frame (on the IST2 stack): the registers and stack pointer the collector scans; null otherwise.</summary>
        public TrapFrame* ParkedFrame;
        /// <summary>Own: times this CPU was parked by another CPU's collection, and collections it ran itself.</summary>
        public ulong Parks;
        public ulong Collections;

        /// <summary>
        /// NMIs other CPUs sent this CPU for work (the collector's stop, a TLB shootdown: <see cref="Smp.SendWorkNmi"/>),
        /// counted atomically before each send. Two NMIs may arrive as one (one can be held pending while the
        /// handler runs), so each NMI does all the work asked of this CPU, and an NMI is this CPU's only while
        /// <see cref="NmisTaken"/> does not pass this count.
        /// </summary>
        public int NmisSent;
        /// <summary>Own: NMIs taken (the fatal path's aside).</summary>
        public int NmisTaken;
        /// <summary>Own: the last shootdown generation this CPU carried out (a release store after its invlpg).</summary>
        public volatile uint TlbDone;
        /// <summary>Own: shootdowns this CPU carried out for other CPUs.</summary>
        public ulong TlbShootdowns;

        /// <summary>The GDT: null, 0x08 code, 0x10 data, 0x18 TSS (two slots), as boot.S's.</summary>
        public fixed ulong Gdt[5];
        /// <summary>The GDT pointer as lgdt reads it: the 16-bit limit in [3], the 64-bit base in [4..7] (8-byte aligned); lgdt takes &amp;GdtPointer[3].</summary>
        public fixed ushort GdtPointer[8];
        /// <summary>The 64-bit TSS (104 bytes): IST1 (#DF) at +0x24, IST2 (NMI) at +0x2C, the I/O map base at +0x66.</summary>
        public fixed byte Tss[104];
        /// <summary>Own: the newest process-wide barrier request this CPU answered (<see cref="NmiBarrier.Poll"/>, a release store after its barrier).</summary>
        public int BarrierDone;
        /// <summary>Process-wide barriers other CPUs sent this CPU (<see cref="NmiBarrier.Run"/>), counted atomically before each NMI.</summary>
        public int BarrierNmis;
        /// <summary>
        /// Own: the container this CPU's managed objects are charged to (<see cref="Heap.ContainerArenas.Act"/>: the shell's
        /// <c>as</c>, a driver's entry points), 0 (the kernel) when none; read only outside interrupt handlers.
        /// </summary>
        public byte ActingOwner;
        /// <summary>Own: 1 while the acting scope is a driver's entry point (an object its container refuses comes from the kernel's heap instead).</summary>
        public byte ActingForDriver;
        /// <summary>Own: 1 while the shell's <c>scopes CMD</c> runs on this CPU: each acting scope says whom objects are charged to as it begins and ends (<see cref="Heap.ContainerArenas.TraceScope"/>).</summary>
        public byte TraceScopes;
        /// <summary>
        /// Own: the objects the running driver entry point's container refused and the kernel's heap made instead, their
        /// bytes, and the heap's and the pools' answers to the first of them (<see cref="Heap.ContainerArenas.NoteFallback"/>);
        /// reported in one line when the entry point ends (<see cref="Heap.ContainerArenas.LeaveDriver"/>), kept aside
        /// for the length of an entry point nested in it.
        /// </summary>
        public uint DriverFallbacks;
        public ulong DriverFallbackBytes;
        public byte DriverFallbackHeapStatus;
        public byte DriverFallbackMemoryStatus;
    }
}
