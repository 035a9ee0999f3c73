using System;
using System.Runtime.InteropServices;
using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Runtime;
using PoolKernel.Startup;

namespace PoolKernel.Platform
{
    /// <summary>
    /// The CPUs: starts every CPU the MADT lists (docs/smp.md), gives each its per-CPU block, and
    /// lets kernel code run a function on another CPU (<see cref="RunOn"/>), park the others for a
    /// collection (<see cref="StopOthers"/>) or stop them all (a panic, <see cref="EnterFatal"/>).
    ///
    /// Each CPU's block comes from the pools (owner kernel, the CPU's node preferred), before that CPU
    /// starts: <see cref="BlockOrder"/> pages = the <see cref="PerCpu"/> area (one page), the #DF stack
    /// (IST1), the NMI stack (IST2), and the CPU's own stack. APs load what the BSP prepared, take
    /// interrupts and idle, running work the boot CPU posts (<see cref="Post"/>), which may allocate
    /// (the pools' and the heap's locks, docs/smp.md). The BSP gets a block too (its GDT,
    /// TSS and IST stacks; it keeps boot.S's stack).
    ///
    /// State: the CPU table is written by the BSP during <see cref="Start"/> only; after that it is
    /// read-only except each CPU's own counters and mailbox (see <see cref="PerCpu"/>).
    /// </summary>
    internal static unsafe class Smp
    {
        /// <summary>32 pages = 128 KiB: area 4 KiB, IST1 and IST2 16 KiB each, the stack 92 KiB.</summary>
        internal const int BlockOrder = 5;
        private const ulong PageSize = 4096;
        /// <summary>Tops of the stacks in the block (stacks grow down): IST1 [4 KiB, 20 KiB), IST2 [20 KiB, 36 KiB), the stack [36 KiB, 128 KiB).</summary>
        private const ulong Ist1Top = 5 * PageSize, Ist2Top = 9 * PageSize;
        /// <summary>Where an AP's own stack starts in its block (it grows down from <see cref="PerCpu.StackTop"/> to here).</summary>
        internal const ulong StackBottomOffset = Ist2Top;
        private const ulong BlockBytes = PageSize << BlockOrder;
        private const uint GsBaseMsr = 0xC0000101;
        private const ushort TssSelector = 0x18;

        /// <summary>The timer rate on every CPU.</summary>
        internal const uint TimerHertz = 100;
        /// <summary>Calibration window against PIT channel 2.</summary>
        private const uint CalibrationMicroseconds = 10000;
        /// <summary>INIT to STARTUP, and STARTUP to the second STARTUP (Intel SDM vol. 3A, 8.4.4.1: 10 ms, 200 us).</summary>
        private const uint InitDelayMicroseconds = 10000, StartupDelayMicroseconds = 200;
        /// <summary>How long a started CPU has to say it is online, and to take its first timer tick, in 1 ms steps.</summary>
        private const int AnswerTimeoutMilliseconds = 1000;

        /// <summary>The highest APIC id an xAPIC IPI can name (0xFF is the broadcast id).</summary>
        private const uint MaxXApicId = 0xFE;


        private static PerCpu*[] s_cpus;
        private static int s_count;
        private static int s_online;
        private static ulong s_trampoline;
        private static bool s_started;
        private static bool s_timerCalibrated;
        /// <summary>0 until a CPU enters a fatal path; that CPU's number + 1 after (the winner of the compare-exchange).</summary>
        private static int s_fatal;

        /// <summary>CPUs the kernel knows (the MADT's enabled ones; 1 without a MADT). Valid after <see cref="Start"/>.</summary>
        internal static int Count => s_count;
        internal static int OnlineCount => s_online;
        /// <summary>True once the boot CPU has its per-CPU area (GS), i.e. <see cref="Current"/> works.</summary>
        internal static bool Started => s_started;
        internal static bool TimerRunning => s_timerCalibrated;

        /// <summary>The running CPU's area; null before <see cref="Start"/>.</summary>
        internal static PerCpu* Current => s_started ? Cpu.CurrentPerCpu() : null;

        /// <summary>The running CPU's number; 0 before <see cref="Start"/> (only the boot CPU runs then).</summary>
        internal static int CurrentNumber => s_started ? Cpu.CurrentPerCpu()->Number : 0;

        /// <summary>CPU <paramref name="cpu"/>'s area, or null outside [0, Count).</summary>
        internal static PerCpu* Get(int cpu) => (uint)cpu < (uint)s_count ? s_cpus[cpu] : null;

        /// <summary>
        /// Records the trampoline page the boot reservations chose (<see cref="PoolBringUp.AddBootReservations"/>;
        /// 0 = none, the APs are then not started). Called by MemoryBringUp, before <see cref="Start"/>.
        /// </summary>
        internal static void UseTrampolinePage(ulong page)
        {
            s_trampoline = page;
        }

        /// <summary>
        /// Brings up interrupts and the other CPUs; the boot CPU, after the heap exists, interrupts off.
        /// Returns with interrupts on, on every online CPU, and each online CPU's timer ticking.
        /// </summary>
        internal static void Start()
        {
            AcpiInfo* acpi = Machine.Acpi;
            LocalApic.Initialize(acpi->LocalApicAddress);
            LegacyPic.Disable();
            uint bootApic = LocalApic.Id;
            int bootIndex = acpi->FindCpu(bootApic);
            // Without a MADT (or one that misses the boot CPU) the boot CPU is the only one.
            s_count = bootIndex < 0 ? 1 : acpi->CpuCount;
            s_cpus = new PerCpu*[s_count];

            PerCpu* boot = AllocateArea(0, bootApic, Machine.CpuNode(bootIndex < 0 ? 0 : bootIndex));
            if (boot == null)
                Panic.Halt("smp: no pool memory for the boot CPU's per-CPU block");
            s_cpus[0] = boot;
            LoadCpuState(boot);
            s_started = true;
            LocalApic.EnableOnThisCpu();
            s_timerCalibrated = LocalApic.CalibrateTimer(CalibrationMicroseconds, TimerHertz);
            boot->State = CpuState.Online;
            s_online = 1;

            int number = 1;
            for (int index = 0; bootIndex >= 0 && index < acpi->CpuCount; index++)
            {
                if (index == bootIndex)
                    continue;
                if (acpi->CpuApicId(index) > MaxXApicId)
                {
                    // A type-9 (x2APIC) entry: the xAPIC ICR addresses 8 bits, 0xFF being broadcast.
                    Console.Write("smp: apic ");
                    Console.Write(acpi->CpuApicId(index));
                    Console.WriteLine(" needs x2APIC mode, which the kernel does not use; left out");
                    s_count--;
                    continue;
                }
                PerCpu* cpu = AllocateArea(number, acpi->CpuApicId(index), Machine.CpuNode(index));
                if (cpu == null)
                {
                    Console.Write("smp: no pool memory for the per-CPU block of apic ");
                    Console.Write(acpi->CpuApicId(index));
                    Console.WriteLine("; left out");
                    s_count--;
                    continue;
                }
                s_cpus[number++] = cpu;
                if (s_trampoline != 0)
                    StartCpu(cpu);
            }
            if (s_timerCalibrated)
                LocalApic.StartTimer();
            Cpu.EnableInterrupts();
            WaitForFirstTicks();
            PrintSummary(acpi);
        }

        private static void PrintSummary(AcpiInfo* acpi)
        {
            Console.Write("smp:      ");
            Console.Write(s_online);
            Console.Write(" of ");
            Console.Write(s_count);
            Console.Write(" CPUs online");
            if (s_trampoline == 0 && s_count > 1)
                Console.Write(" (no page below 640 KiB for the trampoline: APs not started)");
            else if (s_trampoline != 0)
            {
                Console.Write(", trampoline at ");
                Console.WriteHex(s_trampoline);
            }
            if (acpi->DisabledCpuCount != 0)
            {
                Console.Write("; ");
                Console.Write(acpi->DisabledCpuCount);
                Console.Write(" more listed as not enabled");
            }
            Console.WriteLine();
            Console.Write("timer:    local APIC ");
            if (s_timerCalibrated)
            {
                Console.Write(TimerHertz);
                Console.Write(" Hz on every CPU (");
                Console.Write(LocalApic.CountPerPeriod);
                Console.WriteLine(" counts of bus/16 a period, calibrated against PIT channel 2)");
            }
            else
            {
                Console.WriteLine("not calibrated (PIT channel 2 did not run out, or the timer did not count): no timer");
            }
        }

        /// <summary>
        /// The CPU's block from the pools, zeroed, with its number, APIC id, node, stack, GDT and TSS
        /// filled; null when the pools have no block (the CPU is then left out).
        /// </summary>
        private static PerCpu* AllocateArea(int number, uint apicId, int node)
        {
            AllocRequest request = AllocRequest.Any;
            request.PreferredNode = (byte)node;
            request.Owner = Owners.Kernel;
            if (PhysicalMemoryOwner.Allocate(new Order(BlockOrder), request, out Pfn pfn) != MemoryStatus.Ok)
                return null;
            byte* block = (byte*)(pfn.Value << 12);
            for (ulong i = 0; i < BlockBytes; i++)
                block[i] = 0;
            PerCpu* cpu = (PerCpu*)block;
            cpu->Self = cpu;
            cpu->StackTop = (ulong)block + BlockBytes;
            cpu->Number = number;
            cpu->ApicId = apicId;
            cpu->Node = node;
            cpu->State = CpuState.Offline;

            cpu->Gdt[0] = 0;
            cpu->Gdt[1] = 0x00AF9A000000FFFF;       // 0x08: 64-bit code
            cpu->Gdt[2] = 0x00CF92000000FFFF;       // 0x10: data
            ulong tss = (ulong)cpu->Tss;
            const ulong tssLimit = 103;
            // A 16-byte available 64-bit TSS descriptor (type 0x9, present): limit 15:0, base 23:0,
            // type/present, limit 19:16, base 31:24; then base 63:32.
            cpu->Gdt[3] = tssLimit | ((tss & 0xFFFFFF) << 16) | (0x89UL << 40) | (((tss >> 24) & 0xFF) << 56);
            cpu->Gdt[4] = tss >> 32;
            *(ulong*)(cpu->Tss + 0x24) = (ulong)block + Ist1Top;
            *(ulong*)(cpu->Tss + 0x2C) = (ulong)block + Ist2Top;
            *(ushort*)(cpu->Tss + 0x66) = 104;      // I/O map base past the limit: no I/O bitmap
            cpu->GdtPointer[3] = 5 * 8 - 1;
            *(ulong*)&cpu->GdtPointer[4] = (ulong)cpu->Gdt;
            return cpu;
        }

        /// <summary>Loads the running CPU's GDT, TSS and IDT and points GS at its area.</summary>
        private static void LoadCpuState(PerCpu* cpu)
        {
            Cpu.LoadGdt(&cpu->GdtPointer[3], TssSelector);
            Cpu.LoadIdt();
            Cpu.WriteMsr(GsBaseMsr, (ulong)cpu);
        }

        /// <summary>Copies the trampoline (every time: cheap, and nothing else may have the page) and starts one AP.</summary>
        private static void StartCpu(PerCpu* cpu)
        {
            byte* from = Cpu.ApTrampolineStart();
            ulong length = (ulong)(Cpu.ApTrampolineEnd() - from);
            byte* to = (byte*)s_trampoline;
            for (ulong i = 0; i < length; i++)
                to[i] = from[i];
            *Cpu.ApBootSlot() = cpu;
            cpu->State = CpuState.Starting;

            LocalApic.SendInit(cpu->ApicId);
            Pit.Wait(InitDelayMicroseconds);
            uint page = (uint)(s_trampoline >> 12);
            LocalApic.SendStartup(cpu->ApicId, page);
            Pit.Wait(StartupDelayMicroseconds);
            if (cpu->State != CpuState.Online)
                LocalApic.SendStartup(cpu->ApicId, page);
            for (int ms = 0; ms < AnswerTimeoutMilliseconds && cpu->State != CpuState.Online; ms++)
                Pit.Wait(1000);
            if (cpu->State == CpuState.Online)
            {
                s_online++;
                return;
            }
            // INIT again: a CPU that would come up later must not find ap_boot_percpu naming the
            // next CPU's block. INIT holds it in wait-for-STARTUP, and nothing sends it one again.
            LocalApic.SendInit(cpu->ApicId);
            cpu->State = CpuState.NoAnswer;
            Console.Write("smp: cpu ");
            Console.Write(cpu->Number);
            Console.Write(" (apic ");
            Console.Write(cpu->ApicId);
            Console.Write(") did not answer within ");
            Console.Write(AnswerTimeoutMilliseconds);
            Console.WriteLine(" ms; left out");
        }

        /// <summary>Waits (bounded) until every online CPU has taken a timer tick, and names the ones that did not.</summary>
        private static void WaitForFirstTicks()
        {
            if (!s_timerCalibrated)
                return;
            for (int ms = 0; ms < AnswerTimeoutMilliseconds && !AllTicked(); ms++)
                Pit.Wait(1000);
            for (int i = 0; i < s_count; i++)
            {
                PerCpu* cpu = s_cpus[i];
                if (cpu->State == CpuState.Online && cpu->TimerTicks == 0)
                {
                    Console.Write("smp: cpu ");
                    Console.Write(i);
                    Console.Write(" took no timer tick within ");
                    Console.Write(AnswerTimeoutMilliseconds);
                    Console.WriteLine(" ms");
                }
            }
        }

        private static bool AllTicked()
        {
            for (int i = 0; i < s_count; i++)
            {
                if (s_cpus[i]->State == CpuState.Online && s_cpus[i]->TimerTicks == 0)
                    return false;
            }
            return true;
        }

        /// <summary>
        /// The first C# an AP runs (from smp.S's ap_long_mode, on its own stack, interrupts off): its
        /// GDT/TSS/IDT/GS, its local APIC and timer, then "online", then idle, running posted work
        /// (<see cref="Post"/>) when there is some.
        /// </summary>
        [UnmanagedCallersOnly(EntryPoint = "KernelApEntry")]
        private static void ApEntry(PerCpu* cpu)
        {
            LoadCpuState(cpu);
            LocalApic.EnableOnThisCpu();
            if (s_timerCalibrated)
                LocalApic.StartTimer();
            cpu->State = CpuState.Online;
            while (true)
            {
                // Check for posted work with interrupts off, then `sti; hlt` atomically: an IPI that
                // posts work between the check and the hlt still ends the hlt.
                Cpu.DisableInterrupts();
                uint posted = cpu->WorkPosted;
                if (posted == cpu->WorkDone)
                {
                    Cpu.IdleHalt();
                    // Woken (the timer ticks every 1/TimerHertz s): the housekeeping CPU runs the
                    // kernel's periodic work, interrupts on.
                    delegate*<void> housekeeping = s_housekeeping;
                    if (housekeeping != null && cpu->Number == s_housekeeper)
                    {
                        Cpu.EnableInterrupts();
                        housekeeping();
                    }
                    continue;
                }
                Cpu.EnableInterrupts();
                cpu->WorkFunction(cpu->WorkArgument);
                cpu->WorkDone = posted;
            }
        }

        /// <summary>
        /// Starts <paramref name="function"/>(<paramref name="argument"/>) on the other CPU
        /// <paramref name="cpu"/> and returns at once: the CPU runs it from its idle loop, interrupts
        /// on, so it may allocate and take locks (unlike <see cref="RunOn"/>'s interrupt-handler calls).
        /// <see cref="WaitForWork"/> waits for it. False, nothing posted, when the CPU is the running
        /// one (run it directly), not online, or still running earlier work. Contract: one poster at a
        /// time for a given target (the boot CPU's shell), and no lock held until <see cref="WaitForWork"/>.
        /// </summary>
        internal static bool Post(int cpu, delegate*<ulong, void> function, ulong argument)
            => !RealtimeCpu.Is(cpu) && PostAny(cpu, function, argument);

        /// <summary>
        /// <see cref="Post"/> for work that keeps the realtime CPU's contract (<see cref="RealtimeCpu"/>: no kernel heap,
        /// no managed reference held across a collection); the only way to give the realtime CPU work.
        /// </summary>
        internal static bool PostRealtime(int cpu, delegate*<ulong, void> function, ulong argument)
            => PostAny(cpu, function, argument);

        private static bool PostAny(int cpu, delegate*<ulong, void> function, ulong argument)
        {
            PerCpu* target = Get(cpu);
            if (target == null || target == Current || target->State != CpuState.Online || target->WorkPosted != target->WorkDone)
                return false;
            target->WorkFunction = function;
            target->WorkArgument = argument;
            target->WorkPosted = target->WorkDone + 1;
            LocalApic.SendFixed(target->ApicId, Interrupts.CallVector);
            return true;
        }

        /// <summary>True when CPU <paramref name="cpu"/> has no posted work outstanding (<see cref="WaitForWork"/> would return at once).</summary>
        internal static bool WorkFinished(int cpu)
        {
            PerCpu* target = Get(cpu);
            return target == null || target->WorkDone == target->WorkPosted;
        }

        /// <summary>Spins until the work <see cref="Post"/> gave CPU <paramref name="cpu"/> has returned (at once when none is outstanding).</summary>
        internal static void WaitForWork(int cpu)
        {
            PerCpu* target = Get(cpu);
            if (target == null)
                return;
            while (target->WorkDone != target->WorkPosted)
                Cpu.Pause();
        }

        /// <summary>
        /// Runs <paramref name="function"/>(<paramref name="argument"/>) on CPU <paramref name="cpu"/>
        /// and returns once it has returned there (directly when that is the running CPU; otherwise
        /// through its mailbox and an IPI on <see cref="Interrupts.CallVector"/>, the function running
        /// in that CPU's interrupt handler, interrupts off). False, nothing run, when the CPU is not
        /// online. Contract: one caller at a time for a given target (no lock exists yet: today only the
        /// boot CPU's shell calls it), the function allocates nothing, and the caller does not hold
        /// interrupts off waiting for a CPU that is calling it back.
        /// </summary>
        internal static bool RunOn(int cpu, delegate*<ulong, void> function, ulong argument)
        {
            PerCpu* target = Get(cpu);
            if (target == null || target->State != CpuState.Online)
                return false;
            if (target == Current)
            {
                function(argument);
                return true;
            }
            uint ticket = target->CallPosted + 1;
            target->CallFunction = function;
            target->CallArgument = argument;
            target->CallPosted = ticket;
            LocalApic.SendFixed(target->ApicId, Interrupts.CallVector);
            while (target->CallDone != ticket)
                Cpu.Pause();
            return true;
        }

        /// <summary>The call vector's handler: runs the posted call, if any, then marks it done.</summary>
        internal static void RunPostedCall(PerCpu* cpu)
        {
            uint ticket = cpu->CallPosted;
            if (ticket == cpu->CallDone)
                return;
            cpu->CallFunction(cpu->CallArgument);
            cpu->CallDone = ticket;
        }

        /// <summary>
        /// The kernel's periodic work (today <see cref="Housekeeping.Run"/>: the drivers' polls, through which
        /// the virtio balloon follows the host's target, and the realtime pools' resize pass), run by <see cref="s_housekeeper"/>
        /// from its idle loop whenever a timer tick wakes it, interrupts on, so it goes on while the
        /// boot CPU's shell runs a command. Null until <see cref="StartHousekeeping"/>.
        /// </summary>
        private static delegate*<void> s_housekeeping;

        /// <summary>The CPU that runs <see cref="s_housekeeping"/>: the highest-numbered online AP; -1 with one CPU (the shell's idle loop polls then).</summary>
        private static int s_housekeeper = -1;

        /// <summary>The housekeeping CPU's number, or -1 when there is none (one CPU online).</summary>
        internal static int Housekeeper => s_housekeeper;

        /// <summary>
        /// Gives <paramref name="work"/> to the highest-numbered online AP, which runs it from its idle
        /// loop at every timer tick from now on. Contract: boot CPU, once, after <see cref="Start"/>;
        /// <paramref name="work"/> returns quickly when it has nothing to do, is safe to run beside the
        /// shell (it guards itself), and is not run while the AP runs posted work. False with one CPU.
        /// </summary>
        internal static bool StartHousekeeping(delegate*<void> work)
        {
            for (int i = s_count - 1; i > 0; i--)
            {
                if (s_cpus[i]->State == CpuState.Online)
                {
                    s_housekeeper = i;
                    s_housekeeping = work;
                    return true;
                }
            }
            return false;
        }

        /// <summary>The collector's stop: the generation last asked for and the one last released (equal: none is on).</summary>
        private static volatile uint s_parkRequest;
        private static volatile uint s_parkRelease;

        /// <summary>How long <see cref="StopOthers"/> waits for a CPU to park, in TSC ticks (seconds at any TSC rate QEMU gives) before it panics.</summary>
        private const ulong ParkTimeoutTicks = 1UL << 36;

        /// <summary>
        /// Stops every other online CPU for a collection (docs/smp.md "Stopping the world"): each gets an
        /// NMI, which it takes even while spinning on a lock with interrupts off, and parks in its NMI
        /// handler (<see cref="OnNmi"/>) with its registers in the handler's frame
        /// (<see cref="PerCpu.ParkedFrame"/>) until <see cref="ResumeOthers"/>. Returns once all of them
        /// are parked: the generation, which <see cref="IsParked"/> compares against. The realtime CPU
        /// (<see cref="RealtimeCpu"/>) is not asked: it runs on through the collection. Contract: the caller
        /// holds the heap lock (one stop at a time; no parked CPU holds it) and has interrupts off, and
        /// calls <see cref="ResumeOthers"/> before it releases the lock. 0 when there is nothing to stop
        /// (before the CPUs start, or only one is online).
        /// </summary>
        internal static uint StopOthers()
        {
            if (!s_started || s_online < 2)
                return 0;
            uint generation = s_parkRequest + 1;
            if (generation == 0)
                generation = 1;
            PerCpu* self = Cpu.CurrentPerCpu();
            for (int i = 0; i < s_count; i++)
            {
                PerCpu* cpu = s_cpus[i];
                if (cpu != self && cpu->State == CpuState.Online && !RealtimeCpu.Is(i))
                    cpu->ParkAsked = generation;
            }
            s_parkRequest = generation;
            for (int i = 0; i < s_count; i++)
            {
                PerCpu* cpu = s_cpus[i];
                if (cpu->ParkAsked == generation)
                    SendWorkNmi(cpu);
            }
            for (int i = 0; i < s_count; i++)
            {
                PerCpu* cpu = s_cpus[i];
                if (cpu->ParkAsked != generation)
                    continue;
                ulong start = Cpu.ReadTsc();
                while (cpu->ParkedGeneration != generation)
                {
                    // A CPU that entered a fatal path does not park: it stops this one by NMI.
                    if (Cpu.ReadTsc() - start > ParkTimeoutTicks)
                        Panic.Halt("smp: a CPU did not park for the collector, cpu", (ulong)i);
                    Cpu.Pause();
                }
            }
            return generation;
        }

        /// <summary>True when CPU <paramref name="cpu"/> is parked by stop <paramref name="generation"/> (its frame then valid until <see cref="ResumeOthers"/>).</summary>
        internal static bool IsParked(PerCpu* cpu, uint generation)
            => generation != 0 && cpu->ParkAsked == generation && cpu->ParkedGeneration == generation;

        /// <summary>Lets the CPUs <see cref="StopOthers"/> parked go on (they return from their NMI handlers).</summary>
        internal static void ResumeOthers(uint generation)
        {
            if (generation != 0)
                s_parkRelease = generation;
        }

        /// <summary>
        /// The NMI handler's decision (<see cref="Traps"/>), true when the NMI was handled and the CPU
        /// returns to what it was doing. Another CPU's fatal path: park for good. This CPU's own fatal
        /// path (a collector's NMI that came after this CPU started its report): ignore it, the report
        /// stops the collector. A work NMI (<see cref="SendWorkNmi"/>; counted, so one that arrives
        /// after an earlier NMI already did its work is still known): a pending TLB shootdown is carried
        /// out, a process-wide barrier answered (<see cref="NmiBarrier"/>), and a collector's stop asked of this CPU parks it, the frame published, until released.
        /// More NMIs than were sent: false, a fatal NMI.
        /// </summary>
        internal static bool OnNmi(TrapFrame* frame)
        {
            int fatal = System.Threading.Volatile.Read(ref s_fatal);
            if (fatal != 0)
            {
                if (fatal != CurrentNumber + 1)
                    StopHere();
                return true;
            }
            if (!s_started)
                return false;
            PerCpu* cpu = Cpu.CurrentPerCpu();
            if (++cpu->NmisTaken > System.Threading.Volatile.Read(ref cpu->NmisSent))
                return false;
            // Every piece of work asked of this CPU, whichever sender's NMI this is (see PerCpu.NmisSent).
            TlbShootdown.Poll(cpu);
            NmiBarrier.Poll(cpu);
            uint generation = s_parkRequest;
            if (generation == s_parkRelease || cpu->ParkAsked != generation || cpu->ParkedGeneration == generation)
                return true;
            cpu->ParkedFrame = frame;
            cpu->Parks++;
            cpu->ParkedGeneration = generation;
            while (s_parkRelease != generation)
            {
                if (System.Threading.Volatile.Read(ref s_fatal) != 0)
                    StopHere();
                // A shootdown asked while parked (its NMI waits until this handler returns) is carried out here.
                TlbShootdown.Poll(cpu);
                NmiBarrier.Poll(cpu);
                Cpu.Pause();
            }
            cpu->ParkedFrame = null;
            return true;
        }

        /// <summary>
        /// An NMI asking <paramref name="cpu"/> to do work its NMI handler (<see cref="OnNmi"/>) looks for:
        /// the collector's stop or a TLB shootdown. Counted first (<see cref="PerCpu.NmisSent"/>), so the
        /// handler tells these NMIs from any other.
        /// </summary>
        internal static void SendWorkNmi(PerCpu* cpu)
        {
            AddAtomic(&cpu->NmisSent, 1);
            LocalApic.SendNmi(cpu->ApicId);
        }

        /// <summary>Adds <paramref name="value"/> to <paramref name="count"/> with a compare-exchange loop (the core library's one atomic).</summary>
        internal static void AddAtomic(int* count, int value)
        {
            int seen;
            do
                seen = *count;
            while (Cpu.CompareExchange(count, seen, seen + value) != seen);
        }

        /// <summary>True once some CPU entered a fatal path (its NMI stops every other CPU for good).</summary>
        internal static bool InFatalPath => System.Threading.Volatile.Read(ref s_fatal) != 0;

        /// <summary>
        /// Called first on every fatal path (panic, CPU exception, unhandled exception): the first CPU
        /// to get here stops the others with an NMI and returns, to print its report and end the
        /// machine; a CPU that comes second (another is already reporting) stops here for good.
        /// </summary>
        internal static void EnterFatal()
        {
            Cpu.DisableInterrupts();
            int self = CurrentNumber + 1;
            fixed (int* fatal = &s_fatal)
            {
                int previous = Cpu.CompareExchange(fatal, 0, self);
                if (previous != 0 && previous != self)
                    StopHere();
            }
            if (!s_started || s_online < 2)
                return;
            LocalApic.SendNmiToOthers();
            int stopped = 0;
            for (int ms = 0; ms <= StopTimeoutMilliseconds; ms++)
            {
                stopped = CountStopped();
                if (stopped == s_online - 1 || ms == StopTimeoutMilliseconds)
                    break;
                Pit.Wait(1000);
            }
            Console.Write("\nsmp: the other CPUs stopped by NMI: ");
            Console.Write(stopped);
            Console.Write(" of ");
            Console.Write(s_online - 1);
            Console.WriteLine();
        }

        /// <summary>How long a fatal path waits for the others to park.</summary>
        private const int StopTimeoutMilliseconds = 100;

        private static int CountStopped()
        {
            int n = 0;
            for (int i = 0; i < s_count; i++)
            {
                if (s_cpus[i]->State == CpuState.Stopped)
                    n++;
            }
            return n;
        }

        /// <summary>Parks the running CPU for good (interrupts off; an NMI wakes hlt, so it loops) and says so in its state.</summary>
        internal static void StopHere()
        {
            Cpu.DisableInterrupts();
            if (s_started)
                Cpu.CurrentPerCpu()->State = CpuState.Stopped;
            while (true)
                Cpu.Halt();
        }
    }
}
