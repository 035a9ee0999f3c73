namespace PoolKernel.Boot.Acpi
{
    /// <summary>
    /// The PCI root bridges the DSDT describes (<see cref="AmlRootBridges.Read"/>): each one's device
    /// name, base bus (<c>_BBN</c>, 0 when absent as ACPI says), <c>_UID</c>, and proximity domain
    /// (<c>_PXM</c>), so a PCI device's node is the node of the root bridge its bus is under.
    /// </summary>
    public unsafe struct RootBridges
    {
        public const int Max = 16;
        /// <summary>No <c>_PXM</c>: the bridge's devices have no node of their own.</summary>
        public const int NoProximity = -1;

        public int Count;
        /// <summary>Ok, or why the reader stopped (the bridges found before that are kept, but not trusted: see <see cref="AmlRootBridges.Read"/>).</summary>
        public AmlStatus Status;
        /// <summary>Where the reader stopped (offset in the AML) and the opcode it did not understand.</summary>
        public int StoppedAt;
        public int StoppedOpcode;

        private fixed uint _name[Max];
        private fixed ulong _bbn[Max];
        private fixed ulong _uid[Max];
        private fixed int _proximity[Max];

        public readonly uint Name(int i) => _name[(uint)i % Max];
        public readonly ulong BaseBus(int i) => _bbn[(uint)i % Max];
        public readonly ulong Uid(int i) => _uid[(uint)i % Max];
        public readonly int Proximity(int i) => _proximity[(uint)i % Max];

        internal bool Add(uint name, ulong bbn, ulong uid, int proximity)
        {
            if (Count == Max)
                return false;
            _name[Count] = name;
            _bbn[Count] = bbn;
            _uid[Count] = uid;
            _proximity[Count] = proximity;
            Count++;
            return true;
        }

        /// <summary>
        /// The root bridge whose bus range holds <paramref name="bus"/>: the one with the largest base
        /// bus not above it (root bridges own the buses from their base up to the next one's). -1 when
        /// none, or when the DSDT was not read whole (a guess from half a table is no answer).
        /// </summary>
        public readonly int BridgeOfBus(int bus)
        {
            if (Status != AmlStatus.Ok)
                return -1;
            int best = -1;
            for (int i = 0; i < Count; i++)
            {
                if (_bbn[i] <= (ulong)bus && (best < 0 || _bbn[i] > _bbn[best]))
                    best = i;
            }
            return best;
        }
    }

    /// <summary>Why the AML reader stopped.</summary>
    public enum AmlStatus : byte
    {
        Ok = 0,
        /// <summary>No DSDT (no FADT, or its DSDT pointer is 0 or the table is not a valid DSDT).</summary>
        NoDsdt,
        /// <summary>An object runs past the end of its scope or of the table.</summary>
        Truncated,
        /// <summary>An opcode the reader does not understand where it must (StoppedOpcode; ExtOp prefixed = 0x5Bxx).</summary>
        UnknownOpcode,
        /// <summary>Scopes nested deeper than the reader follows.</summary>
        TooDeep,
        /// <summary>More root bridges than <see cref="RootBridges.Max"/>.</summary>
        TooManyBridges,
    }
}
