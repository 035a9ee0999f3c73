namespace PoolKernel.Boot.CommandLine
{
    /// <summary>Which command-line spelling produced a <see cref="PoolSpec"/>.</summary>
    public enum PoolOrigin : byte
    {
        None = 0,
        /// <summary><c>pool=NAME:SIZE...</c></summary>
        Pool = 1,
        /// <summary><c>hugepages=N</c> or <c>hugepages=NODE:N,...</c> (with <c>hugepagesz=</c>).</summary>
        HugePages = 2,
        /// <summary><c>cma=SIZE[@START[-END]]</c></summary>
        Cma = 3,
        /// <summary><c>kernelcore=SIZE|N%</c></summary>
        KernelCore = 4,
        /// <summary><c>movablecore=SIZE|N%</c></summary>
        MovableCore = 5,
    }

    /// <summary>
    /// What a pool spec on the command line said, as parsed: options given and which of them were
    /// present. Not the pool's own flags (Kernel.Memory's PoolFlags, with Realtime on another bit):
    /// the pool planner translates these into those.
    /// </summary>
    [System.Flags]
    public enum PoolSpecFlags : ushort
    {
        None = 0,
        /// <summary><c>,rt</c>: allocations from this pool must not wait for reclaim or compaction.</summary>
        Realtime = 1 << 0,
        /// <summary><c>,movable</c>: only movable allocations may use the pool.</summary>
        Movable = 1 << 1,
        /// <summary>RangeStart/RangeEnd are meaningful (<c>@START-END</c>, or <c>cma=..@START</c>).</summary>
        HasRange = 1 << 2,
        /// <summary><see cref="PoolSpec.Owner"/> was given (owner 0 is a valid id).</summary>
        HasOwner = 1 << 3,
        /// <summary><see cref="PoolSpec.Prio"/> was given.</summary>
        HasPrio = 1 << 4,
        /// <summary><c>,elastic</c>: ordinary memory anyone may allocate, lent to the hypervisor's balloon first (not reserved).</summary>
        Elastic = 1 << 5,
    }

    /// <summary>
    /// One pool the command line asks for. The parser only checks what it can check
    /// without knowing the machine (syntax, ranges, powers of two, unique names); the
    /// kernel resolves percentages and nodes against the real memory map later.
    /// Fields that were not given are 0, except <see cref="Node"/> which is -1.
    /// </summary>
    public unsafe struct PoolSpec
    {
        public const int MaxNameLength = 15;

        /// <summary>Stride of a PoolSpec inside <see cref="BootOptions"/>; a host test checks sizeof(PoolSpec) fits.</summary>
        public const int StorageSize = 128;

        /// <summary><see cref="RangeEnd"/> of a range that has a start but no end (<c>cma=SIZE@START</c>).</summary>
        public const ulong OpenEnd = ~0UL;

        /// <summary>Size in bytes; 0 when the size is a percentage (<see cref="SizePercent"/>).</summary>
        public ulong SizeBytes;
        /// <summary>First byte of the allowed physical range (with <see cref="PoolSpecFlags.HasRange"/>).</summary>
        public ulong RangeStart;
        /// <summary>One past the last byte of the allowed range, or <see cref="OpenEnd"/>.</summary>
        public ulong RangeEnd;
        /// <summary>No block may cross a multiple of this (power of two), 0 = none.</summary>
        public ulong Boundary;
        /// <summary>Minimum alignment of blocks (power of two), 0 = none.</summary>
        public ulong Align;
        /// <summary>
        /// <c>min=</c>: the guaranteed size in bytes, 0 = none. The pool never gives page blocks away
        /// below it (PoolProperties.MinimumPages); it is not a watermark that triggers reclaim.
        /// </summary>
        public ulong Guaranteed;
        /// <summary>Upper limit the pool may grow to in bytes, 0 = none.</summary>
        public ulong Max;
        /// <summary>Block size of a hugepage pool (2 MiB or 1 GiB), 0 for ordinary pools.</summary>
        public ulong BlockSize;
        public uint Owner;
        /// <summary>NUMA node (<c>@NODE</c>), -1 = any node.</summary>
        public int Node;
        /// <summary>Index of the token that produced the pool.</summary>
        public int TokenIndex;
        /// <summary>1..100 when the size is <c>N%</c> of the node's (or machine's) memory, else 0.</summary>
        public byte SizePercent;
        /// <summary>Addressing limit of the device in bits (1..64), 0 = none.</summary>
        public byte DmaBits;
        public byte Prio;
        public PoolSpecFlags Flags;
        public PoolOrigin Origin;
        private SpecName _name;

        /// <summary>The name's length in bytes (1..<see cref="MaxNameLength"/>).</summary>
        public byte NameLength => _name.Length;

        /// <summary>Name byte <paramref name="index"/> (0 past the end).</summary>
        public byte NameByte(int index) => _name.Byte(index);

        /// <summary>True when the name equals <paramref name="length"/> bytes at <paramref name="text"/>.</summary>
        public bool NameEquals(byte* text, int length) => _name.Equals(text, length);

        /// <summary>Copies a name the caller has already validated (1..15 bytes).</summary>
        internal void SetName(byte* text, int length) => _name.Set(text, length);

        internal bool Has(PoolSpecFlags flag) => (Flags & flag) != 0;
    }
}
