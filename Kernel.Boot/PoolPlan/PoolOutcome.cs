namespace PoolKernel.Boot.PoolPlan
{
    /// <summary>
    /// What happened to one pool spec of the command line. Each code's text
    /// (<see cref="PoolOutcome.Describe"/>) says the result and, for a refusal, what was done
    /// instead (always: the memory stays in the default pools). The numbers are in the outcome.
    /// </summary>
    public enum OutcomeCode : byte
    {
        None = 0,
        /// <summary>The pool exists with <see cref="PoolOutcome.GotBytes"/>; notes say what was adjusted.</summary>
        Created,

        // Refused: nothing was created, the memory stays in the default pools.
        /// <summary>Less memory matches than needed. PlannedBytes = needed, AvailableBytes = what could have been had.</summary>
        TooLarge,
        /// <summary><c>@NODE</c> names a node the machine does not have or that has no pool memory. Value = the machine's node count.</summary>
        NoSuchNode,
        /// <summary>The window (dma=BITS, @START-END, cma=..@START-END, node) holds no memory at all. AvailableBytes = 0.</summary>
        WindowEmpty,
        /// <summary>
        /// A pool with a range (@START-END, cma=..@START) would fit, but an earlier boot pool holds part of the
        /// range (two pools want the same range).
        /// Value = spec index of that earlier pool; AvailableBytes = what is still free there.
        /// </summary>
        RangeTaken,
        /// <summary>The name is already a pool's (a default pool such as node0-dma32). Value = that pool's id.</summary>
        NameClash,
        /// <summary><c>owner=ID</c> above 63: pools keep a 64-bit owner mask. Value = the owner id.</summary>
        OwnerUnsupported,
        /// <summary><c>kernelcore=</c> is all of memory or more: no movable memory is left. PlannedBytes = kernelcore, AvailableBytes = memory.</summary>
        CoreCoversAll,
        /// <summary><c>movablecore=</c> with <c>kernelcore=</c> also given: kernelcore decides the split. Value = spec index of kernelcore.</summary>
        CoreConflict,
        /// <summary>No free slot in the pool table. Value = its capacity.</summary>
        PoolTableFull,
        /// <summary>Kernel.Memory refused a step that the plan had checked; partial work was undone. Value = the MemoryStatus.</summary>
        Failed,
        /// <summary>
        /// The size made exact in whole units does not fit in 64 bits (e.g. 2^64 - 1 bytes rounded up to page
        /// blocks). RequestedBytes = the size asked in bytes (0 for a percentage, with the Percent note),
        /// Value = the unit in bytes it was rounded to.
        /// </summary>
        SizeOverflow,
    }

    /// <summary>Changes made to a created pool, and facts worth a word on the console. Several may apply.</summary>
    [System.Flags]
    public enum OutcomeNotes : ushort
    {
        None = 0,
        /// <summary>The size was rounded up to whole page blocks (RequestedBytes -&gt; PlannedBytes).</summary>
        RoundedUp = 1 << 0,
        /// <summary>The size was N% (of the node's pool memory, or the machine's); RequestedBytes is the resolved size.</summary>
        Percent = 1 << 1,
        /// <summary>The size was above max=: the pool got max (rounded to page blocks).</summary>
        LimitedByMax = 1 << 2,
        /// <summary>min= was above the size: the minimum is the size.</summary>
        GuaranteedClamped = 1 << 3,
        /// <summary>The range's ends are not on page-block edges: only whole page blocks inside it are used.</summary>
        RangeTrimmed = 1 << 4,
        /// <summary>boundary= / align= are recorded for allocations from the pool (DMA-pool API); the pool itself does not use them.</summary>
        RulesRecorded = 1 << 5,
        /// <summary>The memory came in several pieces (more than one run of page blocks).</summary>
        Pieces = 1 << 6,
        /// <summary>
        /// kernelcore=: less memory is free in whole page blocks than the movable rest (memory in use, partial
        /// page blocks); the movable pool got what is free (PlannedBytes) instead of RequestedBytes, and the kernel keeps more.
        /// </summary>
        KernelKeepsMore = 1 << 7,
        /// <summary>max= rounded up to whole page blocks does not fit in 64 bits: max ignored (the pool has no maximum).</summary>
        MaxOverflow = 1 << 8,
        /// <summary>min= rounded up to whole pages does not fit in 64 bits: min ignored (the pool has no minimum).</summary>
        GuaranteedOverflow = 1 << 9,
        /// <summary>min= was above the size of a realtime pool: it is made at its size with that minimum, and grows to it (docs/realtime.md).</summary>
        GrowsToMinimum = 1 << 10,
    }

    /// <summary>One pool spec's result, in the order of <see cref="CommandLine.BootOptions.Pool"/>.</summary>
    public struct PoolOutcome
    {
        /// <summary>Stride inside <see cref="PoolPlanResult"/>; a host test checks the struct fits.</summary>
        public const int StorageSize = 112;

        /// <summary>The size asked for, in bytes, percentages resolved (kernelcore: the movable remainder).</summary>
        public ulong RequestedBytes;
        /// <summary>The size the plan looked for: RequestedBytes rounded up to page blocks, limited by max=.</summary>
        public ulong PlannedBytes;
        /// <summary>Present memory of the created pool (0 when refused).</summary>
        public ulong GotBytes;
        /// <summary>For a refusal: how much memory matching the pool could have been had.</summary>
        public ulong AvailableBytes;
        /// <summary>Code-specific number (see <see cref="OutcomeCode"/>).</summary>
        public ulong Value;
        /// <summary><c>boundary=</c> and <c>align=</c> as given (0 = none): recorded for the DMA-pool API.</summary>
        public ulong Boundary;
        public ulong Align;
        /// <summary>Window the pool was given: [WindowLow, WindowHigh), WindowHigh 0 = no upper limit.</summary>
        public ulong WindowLow;
        public ulong WindowHigh;
        /// <summary>Index of the spec in BootOptions and of the token that made it.</summary>
        public int SpecIndex;
        public int TokenIndex;
        /// <summary>The node asked for, -1 = any.</summary>
        public int Node;
        /// <summary>The new pool (None when refused).</summary>
        public byte Pool;
        /// <summary>The default pool the largest share came from (None when refused), and how many default pools gave memory.</summary>
        public byte Donor;
        public byte DonorCount;
        public OutcomeCode Code;
        public OutcomeNotes Notes;

        public readonly bool IsCreated { get { return Code == OutcomeCode.Created; } }

        /// <summary>A constant description of <paramref name="code"/>: the result, then what was done instead.</summary>
        public static string Describe(OutcomeCode code)
        {
            switch (code)
            {
                case OutcomeCode.None: return "not planned";
                case OutcomeCode.Created: return "created";
                case OutcomeCode.TooLarge: return "not enough matching memory; pool not created, memory stays in the default pools";
                case OutcomeCode.NoSuchNode: return "no such node (or it has no memory); pool not created, memory stays in the default pools";
                case OutcomeCode.WindowEmpty: return "no memory in the pool's window; pool not created";
                case OutcomeCode.RangeTaken: return "an earlier boot pool holds part of that memory; pool not created, memory stays where it is";
                case OutcomeCode.NameClash: return "a pool with this name already exists; pool not created, memory stays in the default pools";
                case OutcomeCode.OwnerUnsupported: return "owner ids above 63 are not supported; pool not created, memory stays in the default pools";
                case OutcomeCode.CoreCoversAll: return "kernelcore is all of memory; no movable pool created";
                case OutcomeCode.CoreConflict: return "kernelcore= is also given and decides the split; movablecore ignored";
                case OutcomeCode.PoolTableFull: return "pool table full; pool not created, memory stays in the default pools";
                case OutcomeCode.Failed: return "the memory manager refused a step; partial work undone, memory stays in the default pools";
                case OutcomeCode.SizeOverflow: return "size rounded up to whole page blocks does not fit in 64 bits; pool not created, memory stays in the default pools";
                default: return "unknown outcome";
            }
        }

        /// <summary>A constant description of one note flag (pass a single flag).</summary>
        public static string DescribeNote(OutcomeNotes note)
        {
            switch (note)
            {
                case OutcomeNotes.RoundedUp: return "size rounded up to whole page blocks";
                case OutcomeNotes.Percent: return "percentage resolved";
                case OutcomeNotes.LimitedByMax: return "size limited to max";
                case OutcomeNotes.GuaranteedClamped: return "min above the size, lowered to the size";
                case OutcomeNotes.GrowsToMinimum: return "min above the size: the rt pool grows to it from lower priorities";
                case OutcomeNotes.RangeTrimmed: return "range trimmed to whole page blocks";
                case OutcomeNotes.RulesRecorded: return "boundary/align recorded for allocations";
                case OutcomeNotes.Pieces: return "in several pieces";
                case OutcomeNotes.MaxOverflow: return "max rounded up to whole page blocks does not fit in 64 bits; max ignored";
                case OutcomeNotes.GuaranteedOverflow: return "min rounded up to whole pages does not fit in 64 bits; min ignored";
                case OutcomeNotes.KernelKeepsMore: return "the kernel keeps more than kernelcore (memory in use or in partial page blocks cannot be movable)";
                default: return "";
            }
        }
    }
}
