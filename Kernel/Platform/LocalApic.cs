namespace PoolKernel.Platform
{
    /// <summary>
    /// The local APIC of the running CPU, in xAPIC mode: 32-bit registers at 16-byte offsets in a
    /// 4 KiB MMIO page at the MADT's address (identity-mapped, below 4 GiB), every CPU seeing its own
    /// APIC there. Register offsets from the Intel SDM vol. 3A, 11.4.1 (table 11-1).
    /// <see cref="Initialize"/> runs once on the boot CPU; the rest is per CPU and allocates nothing.
    /// </summary>
    internal static unsafe class LocalApic
    {
        private const uint RegId = 0x20, RegTaskPriority = 0x80, RegEoi = 0xB0, RegSpurious = 0xF0,
            RegErrorStatus = 0x280, RegIcrLow = 0x300, RegIcrHigh = 0x310, RegLvtTimer = 0x320,
            RegLvtLint0 = 0x350, RegLvtLint1 = 0x360, RegLvtError = 0x370,
            RegTimerInitial = 0x380, RegTimerCurrent = 0x390, RegTimerDivide = 0x3E0;

        private const uint ApicBaseMsr = 0x1B;
        private const ulong ApicBaseEnable = 1UL << 11;
        private const uint SpuriousEnable = 1u << 8;
        private const uint LvtMasked = 1u << 16;
        private const uint LvtPeriodic = 1u << 17;
        /// <summary>Timer divide configuration 0b0011: bus clock / 16.</summary>
        private const uint DivideBy16 = 0x3;

        // Interrupt command register (low word): delivery mode in bits 8-10, level assert bit 14,
        // trigger mode bit 15, delivery status (send pending) bit 12, destination shorthand bits 18-19.
        private const uint DeliveryFixed = 0 << 8, DeliveryNmi = 4 << 8, DeliveryInit = 5 << 8, DeliveryStartup = 6 << 8;
        private const uint LevelAssert = 1u << 14;
        private const uint SendPending = 1u << 12;
        private const uint AllButSelf = 3u << 18;

        /// <summary>The MMIO base, set by <see cref="Initialize"/>.</summary>
        private static ulong s_base;
        /// <summary>Timer counts (bus / 16) in one timer period, set by <see cref="CalibrateTimer"/>.</summary>
        private static uint s_countPerPeriod;

        internal static ulong Base => s_base;

        /// <summary>Timer counts a period (bus clock / 16), 0 before calibration.</summary>
        internal static uint CountPerPeriod => s_countPerPeriod;

        /// <summary>
        /// Where the APIC is: the MADT's address when there is one, else the APIC base MSR's. Sets the
        /// global enable bit in that MSR if firmware left it clear.
        /// </summary>
        internal static void Initialize(ulong madtAddress)
        {
            ulong msr = Cpu.ReadMsr(ApicBaseMsr);
            s_base = madtAddress != 0 ? madtAddress : msr & 0x000F_FFFF_FFFF_F000;
            if ((msr & ApicBaseEnable) == 0)
                Cpu.WriteMsr(ApicBaseMsr, msr | ApicBaseEnable);
        }

        private static uint Read(uint register) => Cpu.MmioRead32(s_base + register);

        private static void Write(uint register, uint value) => Cpu.MmioWrite32(s_base + register, value);

        /// <summary>The running CPU's APIC id (bits 24-31 of the ID register).</summary>
        internal static uint Id => Read(RegId) >> 24;

        /// <summary>
        /// Software-enables this CPU's APIC with the spurious vector, accepts every priority, and masks
        /// the LINT0/LINT1 pins (the PIC's ExtINT and the legacy NMI are not used) and the error LVT.
        /// </summary>
        internal static void EnableOnThisCpu()
        {
            ulong msr = Cpu.ReadMsr(ApicBaseMsr);
            if ((msr & ApicBaseEnable) == 0)
                Cpu.WriteMsr(ApicBaseMsr, msr | ApicBaseEnable);
            Write(RegLvtLint0, LvtMasked);
            Write(RegLvtLint1, LvtMasked);
            Write(RegLvtError, LvtMasked);
            Write(RegLvtTimer, LvtMasked);
            Write(RegTaskPriority, 0);
            Write(RegSpurious, SpuriousEnable | Interrupts.SpuriousVector);
            Write(RegErrorStatus, 0);
        }

        /// <summary>Ends the interrupt being handled (not for the spurious vector).</summary>
        internal static void EndOfInterrupt() => Write(RegEoi, 0);

        /// <summary>
        /// Measures the timer against PIT channel 2: counts (bus / 16) elapsed in
        /// <paramref name="microseconds"/>, then the count for one period at <paramref name="hertz"/>.
        /// False when the PIT never ran out or the timer did not move (the timer is then not started).
        /// Boot CPU, interrupts off.
        /// </summary>
        internal static bool CalibrateTimer(uint microseconds, uint hertz)
        {
            Write(RegLvtTimer, LvtMasked | Interrupts.TimerVector);
            Write(RegTimerDivide, DivideBy16);
            Pit.Start(microseconds);
            Write(RegTimerInitial, 0xFFFF_FFFF);
            // Bounded: a PIT that never runs out must not hang the boot; 2^28 polls is far beyond
            // any PIT period (each poll is an I/O port read, about a microsecond).
            uint polls = 0;
            while (!Pit.Expired && polls < (1u << 28))
                polls++;
            uint elapsed = 0xFFFF_FFFF - Read(RegTimerCurrent);
            Write(RegTimerInitial, 0);
            if (!Pit.Expired || elapsed == 0)
                return false;
            ulong perSecond = (ulong)elapsed * 1000000 / microseconds;
            s_countPerPeriod = (uint)(perSecond / hertz);
            return s_countPerPeriod != 0;
        }

        /// <summary>Starts this CPU's timer, periodic at the calibrated rate, on <see cref="Interrupts.TimerVector"/>.</summary>
        internal static void StartTimer()
        {
            Write(RegTimerDivide, DivideBy16);
            Write(RegLvtTimer, LvtPeriodic | Interrupts.TimerVector);
            Write(RegTimerInitial, s_countPerPeriod);
        }

        private static void WaitForSend()
        {
            while ((Read(RegIcrLow) & SendPending) != 0)
                Cpu.Pause();
        }

        private static void Send(uint apicId, uint command)
        {
            WaitForSend();
            Write(RegIcrHigh, apicId << 24);
            Write(RegIcrLow, command);      // the low word's write sends
            WaitForSend();
        }

        /// <summary>INIT (level assert) to one CPU: it resets and waits for a STARTUP IPI.</summary>
        internal static void SendInit(uint apicId) => Send(apicId, DeliveryInit | LevelAssert);

        /// <summary>STARTUP to one CPU: it starts in real mode at page <paramref name="page"/> (address = page &lt;&lt; 12, below 1 MiB).</summary>
        internal static void SendStartup(uint apicId, uint page) => Send(apicId, DeliveryStartup | LevelAssert | (page & 0xFF));

        /// <summary>A fixed interrupt on <paramref name="vector"/> to one CPU.</summary>
        internal static void SendFixed(uint apicId, uint vector) => Send(apicId, DeliveryFixed | LevelAssert | (vector & 0xFF));

        /// <summary>An NMI to one CPU (the collector's stop, <see cref="Smp.StopOthers"/>): it arrives even while that CPU has interrupts off.</summary>
        internal static void SendNmi(uint apicId) => Send(apicId, DeliveryNmi | LevelAssert);

        /// <summary>
        /// An NMI to every CPU but this one (the panic stop). The wait for an earlier send is bounded:
        /// a panic must go on even if this APIC is stuck.
        /// </summary>
        internal static void SendNmiToOthers()
        {
            for (uint polls = 0; (Read(RegIcrLow) & SendPending) != 0 && polls < (1u << 20); polls++)
                Cpu.Pause();
            Write(RegIcrHigh, 0);
            Write(RegIcrLow, DeliveryNmi | LevelAssert | AllButSelf);
        }
    }
}
