namespace PoolKernel.Boot.CommandLine
{
    /// <summary>
    /// What is wrong with a token. Each code's text (<see cref="Diagnostic.Describe"/>) says both
    /// the problem and what the parser did instead. The numbers that go with it are in
    /// <see cref="Diagnostic.Value0"/>/<see cref="Diagnostic.Value1"/>, as documented per code.
    /// </summary>
    public enum DiagnosticCode : ushort
    {
        None = 0,

        // The token as a whole.
        /// <summary>Unknown key or bare word. Token ignored.</summary>
        UnknownParameter,
        /// <summary>Known key without a value (<c>pool</c>, <c>mem=</c>). Token ignored.</summary>
        ValueMissing,
        /// <summary>Within one token, an entry given again (<c>hugepages=0:4,0:8</c>): the later entry is used. Value0 = index of the token.</summary>
        ParameterRepeated,
        /// <summary>A <c>"</c> is not closed before the end of the line. Token ignored.</summary>
        UnterminatedQuote,
        /// <summary>More than <see cref="BootOptions.MaxTokens"/> tokens. Value0 = limit, Value1 = tokens dropped.</summary>
        TooManyTokens,

        // Numbers and sizes.
        /// <summary>Not a number (decimal or 0x hex).</summary>
        NumberSyntax,
        /// <summary>Size suffix other than K, M, G, T (any case). Value0 = the suffix's first byte.</summary>
        SizeUnknownSuffix,
        /// <summary>Size or count of zero where that means nothing.</summary>
        SizeZero,
        /// <summary>Number does not fit in 64 bits (after the suffix). </summary>
        NumberOverflow,
        /// <summary><c>N%</c> with N outside 1..100. Value0 = N (saturated).</summary>
        PercentOutOfRange,
        /// <summary><c>N%</c> where only a byte size is allowed.</summary>
        PercentNotAllowed,
        /// <summary>A size is required here (<c>pool=name</c>, <c>pool=name:</c>, <c>memmap=$4G</c>). Ignored.</summary>
        SizeMissing,

        // pool=
        /// <summary>Pool name is empty. Pool ignored.</summary>
        NameEmpty,
        /// <summary>Pool name longer than 15. Value0 = length. Pool ignored.</summary>
        NameTooLong,
        /// <summary>Pool name has a byte outside [a-z0-9_-]. Value0 = the byte. Pool ignored.</summary>
        NameInvalidChar,
        /// <summary>A pool with that name already exists. Value0 = index of the existing pool. Pool ignored.</summary>
        PoolNameDuplicate,
        /// <summary>More than <see cref="BootOptions.MaxPoolSpecs"/> pools. Value0 = limit. Pool ignored.</summary>
        TooManyPools,
        /// <summary><c>@NODE</c> is not a number in 0..63. Value0 = number if it parsed. Pool ignored.</summary>
        NodeInvalid,
        /// <summary><c>@START-END</c> with a side missing or not a number. Pool ignored.</summary>
        RangeSyntax,
        /// <summary><c>@START-END</c> with START &gt;= END. Value0 = START, Value1 = END. Pool ignored.</summary>
        RangeEmpty,
        /// <summary>The range is smaller than the pool's size. Value0 = range length, Value1 = size. Pool ignored.</summary>
        RangeTooSmall,
        /// <summary>Empty option (<c>,,</c> or a trailing comma). Option ignored.</summary>
        OptionEmpty,
        /// <summary>Unknown option inside pool=. Option ignored.</summary>
        OptionUnknown,
        /// <summary>Option needs a value (<c>dma</c>) or takes none (<c>rt=1</c>), or the value is malformed. Option ignored.</summary>
        OptionValueInvalid,
        /// <summary>The same option given twice in one pool=. The later one is used.</summary>
        OptionRepeated,
        /// <summary><c>dma=BITS</c> outside 1..64. Value0 = BITS (saturated). Option ignored.</summary>
        DmaBitsOutOfRange,
        /// <summary><c>boundary=</c> or <c>align=</c> not a power of two. Value0 = value. Option ignored.</summary>
        NotPowerOfTwo,
        /// <summary><c>prio=N</c> above 255. Value0 = N (saturated). Clamped to 255.</summary>
        PrioClamped,
        /// <summary><c>owner=ID</c> above 2^32-1. Value0 = ID (saturated). Option ignored.</summary>
        OwnerOutOfRange,
        /// <summary><c>min=</c> above <c>max=</c>. Value0 = min, Value1 = max. Both ignored.</summary>
        GuaranteedAboveMax,

        // Linux spellings.
        /// <summary><c>hugepagesz=</c>/<c>default_hugepagesz=</c> other than 2M or 1G. Value0 = size. Ignored; the previous size stays.</summary>
        HugePageSizeUnsupported,
        /// <summary>An entry of <c>hugepages=NODE:N,...</c> is malformed or its node is not 0..63. Entry ignored, the others apply.</summary>
        HugePagesEntryInvalid,
        /// <summary><c>memmap=</c> with <c>@</c> (use only this as RAM) or another type than <c>$</c>. Value0 = the type byte. Ignored.</summary>
        MemmapUnsupported,
        /// <summary><c>memmap=SIZE$START</c> malformed (no <c>$</c>, or START+SIZE overflows). Ignored.</summary>
        MemmapSyntax,
        /// <summary>More than <see cref="BootOptions.MaxReservedRanges"/> memmap= ranges. Value0 = limit. Ignored.</summary>
        TooManyReservedRanges,
        /// <summary><c>numa=</c> value other than <c>off</c> or <c>fake=N</c>. Ignored.</summary>
        NumaOptionUnknown,
        /// <summary><c>numa=fake=N</c> with N above 8. Value0 = N (saturated). Clamped to 8.</summary>
        FakeNodesClamped,
        /// <summary><c>kernelcore=mirror</c> and other non-size forms. Ignored.</summary>
        CoreValueUnsupported,

        // Appended, so that the codes above keep their numbers.
        /// <summary>
        /// The command line is longer than <see cref="BootOptions.MaxTextLength"/>: the token crossing the limit and
        /// everything after it are ignored. Line-wide (TokenIndex -1). Value0 = the limit, Value1 = bytes ignored;
        /// <see cref="BootOptions.RunDroppedBy"/> says whether a run= was among them.
        /// </summary>
        LineTooLong,
        /// <summary>
        /// A later token of the same parameter replaced this one (mem= twice, cma= twice, hugepages= for the same
        /// size and node). Rejected when nothing of it applies any more, adjusted when part does. Value0 = the later token's index.
        /// </summary>
        ParameterOverridden,
        /// <summary><c>test=NAME</c> with a name that is not a known test (<see cref="BootTests.KnownNames"/>). Ignored.</summary>
        TestNameUnknown,
        /// <summary>
        /// <c>numa_policy=</c> is not a policy (<see cref="PoolKernel.Memory.PolicyParser.Parse"/>). Value0 = the
        /// <see cref="PoolKernel.Memory.PolicyStatus"/> that says why. Ignored; the kernel-wide policy stays local.
        /// </summary>
        NumaPolicyInvalid,
        /// <summary><c>container=</c> name empty, longer than 15 or not [a-z0-9_-]. Value0 = length. Container ignored.</summary>
        ContainerNameInvalid,
        /// <summary><c>container=NAME:</c> not followed by <c>quota=SIZE</c>. Container ignored.</summary>
        ContainerQuotaMissing,
        /// <summary>A container option other than one <c>guarantee=SIZE</c> and one <c>pools=P1+P2</c>. Container ignored.</summary>
        ContainerOptionInvalid,
        /// <summary><c>guarantee=</c> above <c>quota=</c>. Value0 = guarantee, Value1 = quota. Container ignored.</summary>
        ContainerGuaranteeAboveQuota,
        /// <summary><c>pools=</c> with an empty or malformed pool name. Container ignored.</summary>
        ContainerPoolsInvalid,
        /// <summary>A container with that name was given before. Container ignored.</summary>
        ContainerDuplicate,
        /// <summary>More than <see cref="BootOptions.MaxContainers"/> containers. Value0 = limit. Container ignored.</summary>
        TooManyContainers,
        /// <summary><c>rtcpu=0</c>: the boot CPU runs the shell and the collector, so it cannot be the realtime CPU. Ignored.</summary>
        RtCpuIsBootCpu,
    }

    /// <summary>One problem with one token. A token has at most one; see <see cref="MoreProblems"/>.</summary>
    public struct Diagnostic
    {
        /// <summary>Stride of a Diagnostic inside <see cref="BootOptions"/>.</summary>
        public const int StorageSize = 48;

        public ulong Value0;
        public ulong Value1;
        /// <summary>Index of the token, or -1 for <see cref="DiagnosticCode.TooManyTokens"/>.</summary>
        public int TokenIndex;
        public int TokenOffset;
        public int TokenLength;
        /// <summary>The offending part of the token (an option, a suffix); the whole token when nothing narrower applies.</summary>
        public int PartOffset;
        public int PartLength;
        /// <summary>
        /// Further problems found in the same token, handled the same way but not described:
        /// a token gets one diagnostic, the one that decided its fate (the first that rejected it,
        /// else the first that adjusted it).
        /// </summary>
        public ushort MoreProblems;
        public DiagnosticCode Code;

        /// <summary>
        /// What <see cref="Value0"/> and <see cref="Value1"/> mean for <paramref name="code"/>, as the words to print
        /// before each number ("" = not meaningful, do not print). <paramref name="bytes"/>: the numbers are byte
        /// sizes or addresses (print them as such). Codes whose values are duplicated by the token text have none.
        /// </summary>
        public static void ValueNames(DiagnosticCode code, out string first, out string second, out bool bytes)
        {
            first = "";
            second = "";
            bytes = false;
            switch (code)
            {
                case DiagnosticCode.TooManyTokens: first = "limit"; second = "tokens ignored"; break;
                case DiagnosticCode.LineTooLong: first = "limit in bytes"; second = "bytes ignored"; break;
                case DiagnosticCode.ParameterRepeated: break;
                case DiagnosticCode.ParameterOverridden: first = "by token"; break;
                case DiagnosticCode.NameTooLong: first = "length"; break;
                case DiagnosticCode.TooManyPools: first = "limit"; break;
                case DiagnosticCode.RangeEmpty: first = "start"; second = "end"; bytes = true; break;
                case DiagnosticCode.RangeTooSmall: first = "range"; second = "size"; bytes = true; break;
                case DiagnosticCode.GuaranteedAboveMax: first = "min"; second = "max"; bytes = true; break;
                case DiagnosticCode.HugePageSizeUnsupported: first = "size"; bytes = true; break;
                case DiagnosticCode.MemmapSyntax: first = "start"; second = "size"; bytes = true; break;
                case DiagnosticCode.TooManyReservedRanges: first = "limit"; break;
                case DiagnosticCode.NumberOverflow: first = "count"; second = "block bytes"; break;
                case DiagnosticCode.ContainerGuaranteeAboveQuota: first = "guarantee"; second = "quota"; bytes = true; break;
                case DiagnosticCode.TooManyContainers: first = "limit"; break;
            }
        }

        /// <summary>A constant description of <paramref name="code"/>: the problem, then what was done instead.</summary>
        public static string Describe(DiagnosticCode code)
        {
            switch (code)
            {
                case DiagnosticCode.None: return "no problem";
                case DiagnosticCode.UnknownParameter: return "unknown parameter; ignored";
                case DiagnosticCode.ValueMissing: return "parameter needs a value; ignored";
                case DiagnosticCode.ParameterRepeated: return "entry given again in this token; the later value is used";
                case DiagnosticCode.UnterminatedQuote: return "quote not closed before end of line; ignored";
                case DiagnosticCode.TooManyTokens: return "too many tokens; the rest of the line is ignored";
                case DiagnosticCode.NumberSyntax: return "not a number (decimal or 0x hex); ignored";
                case DiagnosticCode.SizeUnknownSuffix: return "unknown size suffix (use K, M, G or T); ignored";
                case DiagnosticCode.SizeZero: return "size or count is zero; ignored";
                case DiagnosticCode.NumberOverflow: return "number does not fit in 64 bits; ignored";
                case DiagnosticCode.PercentOutOfRange: return "percentage not in 1..100; ignored";
                case DiagnosticCode.PercentNotAllowed: return "percentage not allowed here, give a size; ignored";
                case DiagnosticCode.SizeMissing: return "size missing; ignored";
                case DiagnosticCode.NameEmpty: return "pool name is empty; pool ignored";
                case DiagnosticCode.NameTooLong: return "pool name longer than 15 characters; pool ignored";
                case DiagnosticCode.NameInvalidChar: return "pool name may only use a-z 0-9 _ -; pool ignored";
                case DiagnosticCode.PoolNameDuplicate: return "a pool with this name already exists; pool ignored";
                case DiagnosticCode.TooManyPools: return "more than 16 pools; pool ignored";
                case DiagnosticCode.NodeInvalid: return "node is not a number in 0..63; pool ignored";
                case DiagnosticCode.RangeSyntax: return "range must be START-END with two addresses; pool ignored";
                case DiagnosticCode.RangeEmpty: return "range start is not below its end; pool ignored";
                case DiagnosticCode.RangeTooSmall: return "range is smaller than the pool size; pool ignored";
                case DiagnosticCode.OptionEmpty: return "empty pool option; option ignored";
                case DiagnosticCode.OptionUnknown: return "unknown pool option; option ignored";
                case DiagnosticCode.OptionValueInvalid: return "pool option value missing, unexpected or malformed; option ignored";
                case DiagnosticCode.OptionRepeated: return "pool option given twice; the later value is used";
                case DiagnosticCode.DmaBitsOutOfRange: return "dma bits not in 1..64; option ignored";
                case DiagnosticCode.NotPowerOfTwo: return "boundary or align is not a power of two; option ignored";
                case DiagnosticCode.PrioClamped: return "prio above 255; clamped to 255";
                case DiagnosticCode.OwnerOutOfRange: return "owner id above 4294967295; option ignored";
                case DiagnosticCode.GuaranteedAboveMax: return "min is above max; both ignored";
                case DiagnosticCode.HugePageSizeUnsupported: return "huge page size must be 2M or 1G; ignored, previous size kept";
                case DiagnosticCode.HugePagesEntryInvalid: return "hugepages entry must be NODE:COUNT with node 0..63; entry ignored";
                case DiagnosticCode.MemmapUnsupported: return "only memmap=SIZE$START (reserve) is supported; ignored";
                case DiagnosticCode.MemmapSyntax: return "memmap must be SIZE$START inside 64 bits; ignored";
                case DiagnosticCode.TooManyReservedRanges: return "more than 16 memmap ranges; ignored";
                case DiagnosticCode.NumaOptionUnknown: return "numa accepts off or fake=N; ignored";
                case DiagnosticCode.FakeNodesClamped: return "numa=fake above 64 nodes; clamped to 64";
                case DiagnosticCode.CoreValueUnsupported: return "only a size or N% is supported here; ignored";
                case DiagnosticCode.LineTooLong: return "command line longer than 4096 bytes; the rest is ignored";
                case DiagnosticCode.ParameterOverridden: return "a later token of the same parameter replaces it; the replaced value is ignored";
                case DiagnosticCode.NumaPolicyInvalid: return "numa_policy must be MODE[:NODES[:WEIGHTS]]; ignored, the policy stays local";
                case DiagnosticCode.TestNameUnknown: return "unknown test name (known: fault, ud, divide, gp, doublefault, throw); ignored";
                case DiagnosticCode.ContainerNameInvalid: return "container name must be 1..15 of a-z 0-9 _ -; container ignored";
                case DiagnosticCode.ContainerQuotaMissing: return "container needs quota=SIZE after its name; container ignored";
                case DiagnosticCode.ContainerOptionInvalid: return "container option must be guarantee=SIZE or pools=P1+P2, once each; container ignored";
                case DiagnosticCode.ContainerGuaranteeAboveQuota: return "container guarantee is above its quota; container ignored";
                case DiagnosticCode.RtCpuIsBootCpu: return "rtcpu cannot be CPU 0, the boot CPU (it runs the shell and the collector); rtcpu ignored";
                case DiagnosticCode.ContainerPoolsInvalid: return "container pools must be pool names joined by +; container ignored";
                case DiagnosticCode.ContainerDuplicate: return "a container with this name was given before; container ignored";
                case DiagnosticCode.TooManyContainers: return "more than 8 containers; container ignored";
                default: return "unknown diagnostic code";
            }
        }
    }
}
