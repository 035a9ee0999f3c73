using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.PoolPlan;

namespace PoolKernel.Boot.Layout
{
    /// <summary>What mem= did.</summary>
    public enum MemCapOutcome : byte
    {
        /// <summary>No mem= on the command line.</summary>
        None,
        /// <summary>The machine has no more usable RAM than the cap: nothing capped.</summary>
        NotReached,
        /// <summary>The reservation table's command-line budget had no room: nothing capped.</summary>
        RefusedTableFull,
        /// <summary>RAM from <see cref="BootLayoutResult.CapAt"/> up is reserved as 'mem= cap'.</summary>
        Capped,
    }

    /// <summary>What became of one memmap= range.</summary>
    public enum MemmapOutcome : byte
    {
        Reserved,
        /// <summary>It would have left the kernel less than <see cref="BootLayout.MinMemCap"/> of RAM.</summary>
        RefusedRam,
        /// <summary>The reservation table's command-line budget had no room for its entries.</summary>
        RefusedTableFull,
    }

    /// <summary>How the node layout was decided.</summary>
    public enum NumaLayout : byte
    {
        /// <summary>The firmware's SRAT (or one node without one).</summary>
        Firmware,
        /// <summary>numa=off: one node.</summary>
        Off,
        /// <summary>numa=fake=N: <see cref="BootLayoutResult.FakeNodeCount"/> nodes from <see cref="BootLayoutResult.FakeStart"/>.</summary>
        Fake,
    }

    /// <summary>
    /// Everything the command line did to memory at boot, in one value: mem=, each memmap= range,
    /// the node layout (<see cref="BootLayout.Apply"/>) and the pool specs (<see cref="Pools"/>,
    /// <see cref="PoolPlanner.Apply"/>). The boot prints it once and the shell's cmdline again.
    /// The caller owns the storage; a zeroed value is "nothing done".
    /// </summary>
    public unsafe struct BootLayoutResult
    {
        public MemCapOutcome Cap;
        /// <summary>mem= was below <see cref="BootLayout.MinMemCap"/> and was raised to it.</summary>
        public bool CapRaised;
        /// <summary>The cap that was applied (mem=, or <see cref="BootLayout.MinMemCap"/> when raised).</summary>
        public ulong CapUsed;
        /// <summary>With <see cref="MemCapOutcome.Capped"/>: the page-aligned address where usable RAM reached the cap; otherwise 0.</summary>
        public ulong CapAt;
        /// <summary>Capped: the usable RAM above <see cref="CapAt"/>. RefusedTableFull: the entries the cap needed.</summary>
        public ulong CappedBytes;
        /// <summary>NotReached: the machine's usable RAM.</summary>
        public ulong AvailableBytes;

        private fixed byte _memmapOutcome[BootOptions.MaxReservedRanges];
        private fixed ulong _memmapValue[BootOptions.MaxReservedRanges];
        private fixed int _memmapUsed[BootOptions.MaxReservedRanges];

        /// <summary>Usable RAM left for the pools after mem= and the memmap= ranges (overlaps counted twice: conservative).</summary>
        public ulong KeptRam;

        public NumaLayout Numa;
        /// <summary>Fake: the nodes made, each starting at <see cref="FakeStart"/>.</summary>
        public int FakeNodeCount;
        /// <summary>Fake: usable RAM below the mem= cap that was split.</summary>
        public ulong FakeTotal;
        /// <summary>Fake: fewer nodes than asked because they would have been smaller than <see cref="BootLayout.MinFakeNodeBytes"/>.</summary>
        public bool FakeTooSmall;
        private fixed ulong _fakeStart[BootOptions.MaxFakeNodes];

        /// <summary>The command line's pools, carved after set-up.</summary>
        public PoolPlanResult Pools;

        public MemmapOutcome MemmapOutcomeOf(int index) => (uint)index < BootOptions.MaxReservedRanges ? (MemmapOutcome)_memmapOutcome[index] : MemmapOutcome.Reserved;

        /// <summary>Reserved: the RAM the range kept from the pools (below any mem= cap). RefusedRam: the RAM that was left. RefusedTableFull: the entries it needed.</summary>
        public ulong MemmapValue(int index) => (uint)index < BootOptions.MaxReservedRanges ? _memmapValue[index] : 0;

        /// <summary>RefusedTableFull: the command-line entries already used when it was refused.</summary>
        public int MemmapUsed(int index) => (uint)index < BootOptions.MaxReservedRanges ? _memmapUsed[index] : 0;

        /// <summary>Fake: first address of node <paramref name="node"/> (node 0 starts at 0).</summary>
        public ulong FakeStart(int node) => (uint)node < BootOptions.MaxFakeNodes ? _fakeStart[node] : 0;

        /// <summary>Fake: the starts as one array of <see cref="FakeNodeCount"/> entries, for the node layout.</summary>
        public ulong* FakeStarts
        {
            get
            {
                fixed (ulong* starts = _fakeStart)
                {
                    return starts;
                }
            }
        }

        internal void SetMemmap(int index, MemmapOutcome outcome, ulong value, int used)
        {
            _memmapOutcome[index] = (byte)outcome;
            _memmapValue[index] = value;
            _memmapUsed[index] = used;
        }

        internal void SetFakeStart(int node, ulong start) => _fakeStart[node] = start;
    }
}
