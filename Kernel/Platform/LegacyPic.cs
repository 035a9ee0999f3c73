namespace PoolKernel.Platform
{
    /// <summary>
    /// The two 8259 PICs, which the kernel does not use (interrupts come from the local APICs). They
    /// are re-initialised so their 16 lines land on vectors <see cref="Interrupts.LegacyFirst"/>..+15,
    /// away from the CPU exceptions the BIOS mapping overlaps, and then every line is masked. A
    /// spurious PIC interrupt (IRQ 7 or 15) can still arrive; the trap code counts it and sends no EOI.
    /// </summary>
    internal static class LegacyPic
    {
        private const ushort MasterCommand = 0x20, MasterData = 0x21, SlaveCommand = 0xA0, SlaveData = 0xA1;
        private const byte Icw1Init = 0x11;     // edge-triggered, cascade, ICW4 follows
        private const byte Icw4Mode8086 = 0x01;

        internal static void Disable()
        {
            Cpu.OutB(MasterCommand, Icw1Init);
            Cpu.OutB(SlaveCommand, Icw1Init);
            Cpu.OutB(MasterData, Interrupts.LegacyFirst);
            Cpu.OutB(SlaveData, Interrupts.LegacyFirst + 8);
            Cpu.OutB(MasterData, 0x04);         // the slave on line 2
            Cpu.OutB(SlaveData, 0x02);          // its cascade identity
            Cpu.OutB(MasterData, Icw4Mode8086);
            Cpu.OutB(SlaveData, Icw4Mode8086);
            Cpu.OutB(MasterData, 0xFF);
            Cpu.OutB(SlaveData, 0xFF);
        }
    }
}
