namespace PoolKernel.Boot.CommandLine
{
    /// <summary>What a token was recognised as, by its key.</summary>
    public enum TokenKind : byte
    {
        /// <summary>A key the parser does not know, or a bare word.</summary>
        Unknown = 0,
        Run,
        Test,
        Pool,
        HugePages,
        HugePageSize,
        DefaultHugePageSize,
        Cma,
        Mem,
        Memmap,
        KernelCore,
        MovableCore,
        Numa,
        /// <summary><c>numa_policy=MODE[:NODES[:WEIGHTS]]</c>: the kernel-wide NUMA memory policy (docs/numa.md).</summary>
        NumaPolicy,
        Container,
        /// <summary><c>rtcpu=N</c>: CPU N runs realtime work only, and the collector neither parks it nor scans it (docs/realtime.md).</summary>
        RtCpu,
    }

    /// <summary>What happened to a token. Accepted tokens have no diagnostic; the others have exactly one.</summary>
    public enum TokenStatus : byte
    {
        /// <summary>Applied as written.</summary>
        Accepted = 0,
        /// <summary>Applied with a change (an option ignored, a value clamped, an earlier value replaced).</summary>
        Adjusted = 1,
        /// <summary>Ignored as a whole.</summary>
        Rejected = 2,
    }

    /// <summary>One space-separated token of the command line, for the shell's <c>cmdline</c> command.</summary>
    public struct TokenRecord
    {
        /// <summary>Stride of a TokenRecord inside <see cref="BootOptions"/>.</summary>
        public const int StorageSize = 16;

        /// <summary>Byte offset of the token in the command line.</summary>
        public int Offset;
        public int Length;
        /// <summary>Index into the diagnostics of <see cref="BootOptions"/>, or -1 when accepted.</summary>
        public short DiagnosticIndex;
        public TokenKind Kind;
        public TokenStatus Status;
    }
}
