using PoolKernel.Memory;

namespace PoolKernel.Boot.CommandLine
{
    /// <summary>
    /// Everything the kernel command line says, as <see cref="CommandLineParser.Parse"/> leaves it.
    /// The caller owns the storage (a static kernel block or a stack local on the host); the
    /// parser clears it first. Spans (<c>run=</c>, <c>test=</c>, tokens) are offsets into
    /// <see cref="Text"/>, which must stay valid while they are used.
    /// Values that were not given are 0 (<see cref="RunLength"/> 0 means no run=).
    /// </summary>
    public unsafe struct BootOptions
    {
        /// <summary>
        /// <c>pool=</c> specs kept (later ones are refused with <see cref="DiagnosticCode.TooManyPools"/>): 16, far
        /// more than real lines declare, and small enough that the pool table always has room for them
        /// next to the default pools of every node (the kernel sizes its table with this number).
        /// </summary>
        public const int MaxPoolSpecs = 16;
        public const int MaxReservedRanges = 16;
        /// <summary><c>container=</c> requests kept; later ones are refused with <see cref="DiagnosticCode.TooManyContainers"/>.</summary>
        public const int MaxContainers = 8;
        /// <summary>Tokens recorded; a 2 KiB line of one-letter words has 1024, real lines have a few dozen.</summary>
        public const int MaxTokens = 128;
        /// <summary>One per token, plus one each for <see cref="DiagnosticCode.TooManyTokens"/> and <see cref="DiagnosticCode.LineTooLong"/>.</summary>
        public const int MaxDiagnostics = MaxTokens + 2;
        /// <summary>
        /// Bytes of command line parsed (as Linux's COMMAND_LINE_SIZE on x86). A token that ends beyond it is
        /// ignored with the rest of the line, and one <see cref="DiagnosticCode.LineTooLong"/> says how much.
        /// </summary>
        public const int MaxTextLength = 4096;
        /// <summary>
        /// Nodes 0..MaxNodes-1 are accepted in <c>@NODE</c> and <c>hugepages=NODE:N</c>: the one node limit
        /// of the kernel (the SRAT parser and the memory manager use the same constant).
        /// </summary>
        public const int MaxNodes = Memory.NodeDistances.MaxNodes;
        /// <summary>numa=fake=N: up to every node the kernel can name.</summary>
        public const int MaxFakeNodes = MaxNodes;
        public const ulong HugePageSize2M = 2UL << 20;
        public const ulong HugePageSize1G = 1UL << 30;

        /// <summary>
        /// The command line; <see cref="TextLength"/> is the part that was parsed (at most <see cref="MaxTextLength"/>,
        /// ending before a token that crossed it), <see cref="IgnoredLength"/> the bytes after it up to the first NUL.
        /// </summary>
        public byte* Text;
        public int TextLength;
        public int IgnoredLength;
        /// <summary>
        /// A <c>run=</c> token was among the tokens not parsed, whose commands will not run: the line-wide
        /// diagnostic that dropped the first one (<see cref="DiagnosticCode.TooManyTokens"/> or
        /// <see cref="DiagnosticCode.LineTooLong"/>), None when no run= was dropped.
        /// </summary>
        public DiagnosticCode RunDroppedBy;

        public int PoolCount;
        /// <summary><c>container=</c> requests kept (<see cref="Container"/>).</summary>
        public int ContainerCount;
        public int ReservedRangeCount;
        public int TokenCount;
        public int DiagnosticCount;
        /// <summary>Tokens after the first <see cref="MaxTokens"/>, not parsed (one TooManyTokens diagnostic covers them).</summary>
        public int DroppedTokenCount;

        /// <summary><c>mem=</c>: ignore memory above this many bytes, 0 = no cap.</summary>
        public ulong MemCap;
        /// <summary><c>default_hugepagesz=</c> (2 MiB or 1 GiB), 0 = not given (hugepages= then uses 2 MiB).</summary>
        public ulong DefaultHugePageSize;
        /// <summary><c>kernelcore=</c> in bytes, or 0 with <see cref="KernelCorePercent"/> set.</summary>
        public ulong KernelCoreBytes;
        public ulong MovableCoreBytes;
        public byte KernelCorePercent;
        public byte MovableCorePercent;
        /// <summary><c>numa=off</c>: treat the machine as one node.</summary>
        public bool NumaOff;
        /// <summary><c>numa=fake=N</c>: split memory into N (1..8) nodes, 0 = not given.</summary>
        public int FakeNodeCount;
        /// <summary><c>rtcpu=N</c>: the realtime CPU's number, 0 when none was given (0, the boot CPU, is refused); the token's index in <see cref="RealtimeCpuToken"/>.</summary>
        public int RealtimeCpu;
        public int RealtimeCpuToken;
        /// <summary><c>numa_policy=</c>: the kernel-wide policy, shape-checked (the machine check is the kernel's); valid when <see cref="NumaPolicyGiven"/>.</summary>
        public NumaPolicy NumaPolicy;
        public bool NumaPolicyGiven;

        /// <summary><c>run=CMD;CMD</c>: the value (quotes removed) as offset and length in <see cref="Text"/>.</summary>
        public int RunOffset;
        public int RunLength;
        /// <summary><c>test=NAME</c> with a known name: the test, and the value as offset and length in <see cref="Text"/>.</summary>
        public int TestOffset;
        public int TestLength;
        public BootTest Test;

        // The byte buffers below hold structs with ulong fields at fixed strides. They stay 8-byte
        // aligned because they follow the ulong arrays and every stride is a multiple of 8
        // (a host test checks this). The accessors reduce the index modulo the capacity: a wrong
        // index reads the wrong entry of this block, never memory outside it.
        private fixed ulong _reservedStart[MaxReservedRanges];
        private fixed ulong _reservedEnd[MaxReservedRanges];
        private fixed byte _pools[MaxPoolSpecs * PoolSpec.StorageSize];
        private fixed byte _containers[MaxContainers * ContainerRequest.StorageSize];
        private fixed byte _tokens[MaxTokens * TokenRecord.StorageSize];
        private fixed byte _diagnostics[MaxDiagnostics * Diagnostic.StorageSize];

        /// <summary>Pool <paramref name="index"/> (0 &lt;= index &lt; MaxPoolSpecs; only PoolCount are filled).</summary>
        public PoolSpec* Pool(int index)
        {
            fixed (byte* pools = _pools)
            {
                return (PoolSpec*)(pools + (uint)index % MaxPoolSpecs * PoolSpec.StorageSize);
            }
        }

        public TokenRecord* Token(int index)
        {
            fixed (byte* tokens = _tokens)
            {
                return (TokenRecord*)(tokens + (uint)index % MaxTokens * TokenRecord.StorageSize);
            }
        }

        public Diagnostic* DiagnosticAt(int index)
        {
            fixed (byte* diagnostics = _diagnostics)
            {
                return (Diagnostic*)(diagnostics + (uint)index % MaxDiagnostics * Diagnostic.StorageSize);
            }
        }

        /// <summary>Reserved range <paramref name="index"/> from <c>memmap=SIZE$START</c>: [start, end).</summary>
        public ulong ReservedStart(int index)
        {
            fixed (ulong* starts = _reservedStart)
            {
                return (uint)index < (uint)ReservedRangeCount ? starts[index] : 0;
            }
        }

        public ulong ReservedEnd(int index)
        {
            fixed (ulong* ends = _reservedEnd)
            {
                return (uint)index < (uint)ReservedRangeCount ? ends[index] : 0;
            }
        }

        /// <summary>Appends a reserved range; false when all <see cref="MaxReservedRanges"/> are used.</summary>
        internal bool AddReservedRange(ulong start, ulong end)
        {
            if (ReservedRangeCount >= MaxReservedRanges)
                return false;
            fixed (ulong* starts = _reservedStart)
            fixed (ulong* ends = _reservedEnd)
            {
                starts[ReservedRangeCount] = start;
                ends[ReservedRangeCount] = end;
            }
            ReservedRangeCount++;
            return true;
        }

        /// <summary>
        /// Walks the <c>run=</c> commands, which are separated by ';' (empty ones are skipped).
        /// Start with <paramref name="cursor"/> = 0; each call returns the next command as an
        /// offset and length in <see cref="Text"/>, or false when there is none left.
        /// </summary>
        public bool NextRunCommand(ref int cursor, out int offset, out int length)
        {
            offset = RunOffset + RunLength;
            length = 0;
            if ((uint)cursor > (uint)RunLength)
                return false;
            int end = RunOffset + RunLength;
            int pos = RunOffset + cursor;
            while (pos < end && Text[pos] == (byte)';')
                pos++;
            offset = pos;
            while (pos < end && Text[pos] != (byte)';')
                pos++;
            length = pos - offset;
            cursor = pos - RunOffset;
            return length > 0;
        }

        /// <summary>Container request <paramref name="index"/> (0 &lt;= index &lt; MaxContainers; only ContainerCount are filled).</summary>
        public ContainerRequest* Container(int index)
        {
            fixed (byte* containers = _containers)
            {
                return (ContainerRequest*)(containers + (uint)index % MaxContainers * ContainerRequest.StorageSize);
            }
        }

        /// <summary>Index of the container named by <paramref name="length"/> bytes at <paramref name="name"/>, or -1.</summary>
        public int FindContainer(byte* name, int length)
        {
            for (int i = 0; i < ContainerCount; i++)
            {
                if (Container(i)->NameEquals(name, length))
                    return i;
            }
            return -1;
        }

        /// <summary>Index of the pool named by <paramref name="length"/> bytes at <paramref name="name"/>, or -1.</summary>
        public int FindPool(byte* name, int length)
        {
            for (int i = 0; i < PoolCount; i++)
            {
                if (Pool(i)->NameEquals(name, length))
                    return i;
            }
            return -1;
        }
    }
}
