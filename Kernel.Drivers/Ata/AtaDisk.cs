using PoolKernel.Drivers.Dma;

namespace PoolKernel.Drivers.Ata
{
    /// <summary>
    /// One ATA disk behind the PIIX controller, named by its position: hda primary master, hdb
    /// primary slave, hdc secondary master, hdd secondary slave. Transfers go through the driver,
    /// which owns the bounce buffers and runs one DMA command at a time.
    /// </summary>
    internal sealed unsafe class AtaDisk : BlockDevice
    {
        private readonly PiixIdeDriver _driver;
        private readonly string _name;
        private readonly ulong _sectors;

        public AtaDisk(PiixIdeDriver driver, AtaChannel channel, bool slave, string name, ulong sectors)
        {
            _driver = driver;
            Channel = channel;
            Slave = slave;
            _name = name;
            _sectors = sectors;
        }

        public AtaChannel Channel { get; }
        public bool Slave { get; }

        public override string Name => _name;
        public override ulong SectorCount => _sectors;
        public override DmaDevice Rules => _driver.Rules;

        protected override bool ReadSectors(ulong lba, uint count, byte* destination) => _driver.Transfer(this, lba, count, destination, false);

        protected override bool WriteSectors(ulong lba, uint count, byte* source) => _driver.Transfer(this, lba, count, source, true);

        /// <summary>hda..hdd by channel and position, as Linux's old IDE driver named them.</summary>
        public static string NameOf(int channel, bool slave)
            => channel == 0 ? (slave ? "hdb" : "hda") : (slave ? "hdd" : "hdc");
    }
}
