using PoolKernel.Memory;

namespace PoolKernel.Boot.CommandLine
{
    public static unsafe partial class CommandLineParser
    {
        /// <summary>The parser's working state for one <see cref="Parse"/> call; lives on the stack.</summary>
        private partial struct State
        {
            public BootOptions* Options;
            public byte* Text;
            /// <summary>The token being parsed.</summary>
            public int TokenIndex;
            /// <summary>Block size for the next <c>hugepages=</c>: the last <c>hugepagesz=</c>, else the default.</summary>
            public ulong HugePageSize;
            /// <summary>Token indices of the earlier occurrence of single-valued parameters, -1 = none yet.</summary>
            public int LastRun, LastTest, LastMem, LastDefaultHuge, LastNuma, LastNumaPolicy, LastRtCpu;

            public void ParseToken(int start, int length, bool quoteOpen)
            {
                SplitKeyValue(Text, start, length, out int keyLength, out int valueOffset, out int valueLength);
                TokenKind kind = KindOf(Text + start, keyLength);
                Options->Token(TokenIndex)->Kind = kind;

                if (quoteOpen)
                {
                    Reject(DiagnosticCode.UnterminatedQuote, start, length, 0, 0);
                    return;
                }
                if (kind == TokenKind.Unknown)
                {
                    Reject(DiagnosticCode.UnknownParameter, start, keyLength, 0, 0);
                    return;
                }
                if (valueLength == 0)
                {
                    Reject(DiagnosticCode.ValueMissing, start, length, 0, 0);
                    return;
                }

                switch (kind)
                {
                    case TokenKind.Run:
                        ParseSpan(valueOffset, valueLength, ref Options->RunOffset, ref Options->RunLength, ref LastRun);
                        break;
                    case TokenKind.Test:
                        ParseTest(valueOffset, valueLength);
                        break;
                    case TokenKind.Pool:
                        ParsePool(valueOffset, valueLength);
                        break;
                    case TokenKind.HugePages:
                        ParseHugePages(valueOffset, valueLength);
                        break;
                    case TokenKind.HugePageSize:
                        ParseHugePageSize(valueOffset, valueLength, false);
                        break;
                    case TokenKind.DefaultHugePageSize:
                        ParseHugePageSize(valueOffset, valueLength, true);
                        break;
                    case TokenKind.Cma:
                        ParseCma(valueOffset, valueLength);
                        break;
                    case TokenKind.Mem:
                        ParseMem(valueOffset, valueLength);
                        break;
                    case TokenKind.Memmap:
                        ParseMemmap(valueOffset, valueLength);
                        break;
                    case TokenKind.KernelCore:
                        ParseCore(valueOffset, valueLength, PoolOrigin.KernelCore);
                        break;
                    case TokenKind.MovableCore:
                        ParseCore(valueOffset, valueLength, PoolOrigin.MovableCore);
                        break;
                    case TokenKind.Numa:
                        ParseNuma(valueOffset, valueLength);
                        break;
                    case TokenKind.NumaPolicy:
                        ParseNumaPolicy(valueOffset, valueLength);
                        break;
                    case TokenKind.Container:
                        ParseContainer(valueOffset, valueLength);
                        break;
                    case TokenKind.RtCpu:
                        ParseRtCpu(valueOffset, valueLength);
                        break;
                }
            }

            /// <summary>
            /// Records a problem of the current token. A token keeps one diagnostic: the first one,
            /// unless a later problem rejects a token that was only adjusted so far; the problems
            /// not described are counted in <see cref="Diagnostic.MoreProblems"/>.
            /// </summary>
            private void Report(DiagnosticCode code, TokenStatus status, int partOffset, int partLength, ulong value0, ulong value1)
                => ReportOn(TokenIndex, code, status, partOffset, partLength, value0, value1);

            /// <summary><see cref="Report"/> for token <paramref name="tokenIndex"/>, the current one or an earlier one.</summary>
            private void ReportOn(int tokenIndex, DiagnosticCode code, TokenStatus status, int partOffset, int partLength, ulong value0, ulong value1)
            {
                TokenRecord* token = Options->Token(tokenIndex);
                Diagnostic* d;
                if (token->DiagnosticIndex >= 0)
                {
                    d = Options->DiagnosticAt(token->DiagnosticIndex);
                    d->MoreProblems++;
                    if (status != TokenStatus.Rejected || token->Status == TokenStatus.Rejected)
                        return;
                }
                else
                {
                    token->DiagnosticIndex = (short)Options->DiagnosticCount;
                    d = Options->DiagnosticAt(Options->DiagnosticCount++);
                    d->TokenIndex = tokenIndex;
                    d->TokenOffset = token->Offset;
                    d->TokenLength = token->Length;
                }
                token->Status = status;
                d->Code = code;
                d->PartOffset = partOffset;
                d->PartLength = partLength;
                d->Value0 = value0;
                d->Value1 = value1;
            }

            private void Reject(DiagnosticCode code, int partOffset, int partLength, ulong value0, ulong value1)
                => Report(code, TokenStatus.Rejected, partOffset, partLength, value0, value1);

            private void Adjust(DiagnosticCode code, int partOffset, int partLength, ulong value0, ulong value1)
                => Report(code, TokenStatus.Adjusted, partOffset, partLength, value0, value1);

            /// <summary>
            /// A single-valued parameter: this token replaces the earlier one, which gets its own line
            /// (<see cref="DiagnosticCode.ParameterOverridden"/>); this token applies as written.
            /// </summary>
            private void NoteRepeat(ref int last)
            {
                if (last >= 0)
                    Override(last, false);
                last = TokenIndex;
            }

            /// <summary>
            /// Records on token <paramref name="earlier"/> that the current token replaced (part of) what it set:
            /// rejected when nothing of it applies any more, adjusted when <paramref name="partStillApplies"/>.
            /// Value0 = the current token's index. A token keeps one diagnostic (see <see cref="Report"/>).
            /// </summary>
            private void Override(int earlier, bool partStillApplies)
            {
                TokenRecord* token = Options->Token(earlier);
                ReportOn(earlier, DiagnosticCode.ParameterOverridden, partStillApplies ? TokenStatus.Adjusted : TokenStatus.Rejected,
                    token->Offset, token->Length, (ulong)TokenIndex, 0);
            }

            /// <summary><c>test=NAME</c>: only the names of <see cref="BootTests"/>; another is refused, naming it.</summary>
            private void ParseTest(int valueOffset, int valueLength)
            {
                BootTest test = BootTests.Parse(Text + valueOffset, valueLength);
                if (test == BootTest.None)
                {
                    Reject(DiagnosticCode.TestNameUnknown, valueOffset, valueLength, 0, 0);
                    return;
                }
                Options->Test = test;
                ParseSpan(valueOffset, valueLength, ref Options->TestOffset, ref Options->TestLength, ref LastTest);
            }

            private void ParseSpan(int valueOffset, int valueLength, ref int offset, ref int length, ref int last)
            {
                offset = valueOffset;
                length = valueLength;
                NoteRepeat(ref last);
            }

            /// <summary>
            /// Parses a byte size (no percent) that must not be zero; reports and returns false otherwise.
            /// Used where a bad size means the whole token is ignored.
            /// </summary>
            private bool ParseNonZeroSize(int offset, int length, out ulong bytes)
            {
                DiagnosticCode code = SizeParser.ParseSize(Text + offset, length, false, out bytes, out _);
                if (code == DiagnosticCode.None && bytes == 0)
                    code = DiagnosticCode.SizeZero;
                if (code != DiagnosticCode.None)
                {
                    Reject(code, offset, length, 0, 0);
                    return false;
                }
                return true;
            }

            private void ParseMem(int valueOffset, int valueLength)
            {
                if (!ParseNonZeroSize(valueOffset, valueLength, out ulong bytes))
                    return;
                Options->MemCap = bytes;
                NoteRepeat(ref LastMem);
            }

            private void ParseHugePageSize(int valueOffset, int valueLength, bool isDefault)
            {
                if (!ParseNonZeroSize(valueOffset, valueLength, out ulong bytes))
                    return;
                if (!IsHugePageSize(bytes))
                {
                    Reject(DiagnosticCode.HugePageSizeUnsupported, valueOffset, valueLength, bytes, 0);
                    return;
                }
                if (isDefault)
                {
                    Options->DefaultHugePageSize = bytes;
                    NoteRepeat(ref LastDefaultHuge);
                }
                else
                {
                    HugePageSize = bytes;
                }
            }

            /// <summary><c>memmap=SIZE$START</c> reserves [START, START+SIZE); other memmap types are refused.</summary>
            private void ParseMemmap(int valueOffset, int valueLength)
            {
                int end = valueOffset + valueLength;
                int type = valueOffset;
                while (type < end && !IsMemmapType(Text[type]))
                    type++;
                if (type == end)
                {
                    if (ValueEquals(Text + valueOffset, valueLength, "exactmap"))
                        Reject(DiagnosticCode.MemmapUnsupported, valueOffset, valueLength, 0, 0);
                    else
                        Reject(DiagnosticCode.MemmapSyntax, valueOffset, valueLength, 0, 0);
                    return;
                }
                if (Text[type] != (byte)'$')
                {
                    Reject(DiagnosticCode.MemmapUnsupported, type, 1, Text[type], 0);
                    return;
                }
                if (!ParseNonZeroSize(valueOffset, type - valueOffset, out ulong size))
                    return;
                int startOffset = type + 1;
                DiagnosticCode code = SizeParser.ParseSize(Text + startOffset, end - startOffset, false, out ulong start, out _);
                if (code == DiagnosticCode.SizeMissing)
                    code = DiagnosticCode.MemmapSyntax;
                if (code != DiagnosticCode.None)
                {
                    Reject(code, startOffset, end - startOffset, 0, 0);
                    return;
                }
                if (!CheckedMath.Add(start, size, out ulong rangeEnd))
                {
                    Reject(DiagnosticCode.MemmapSyntax, valueOffset, valueLength, start, size);
                    return;
                }
                if (!Options->AddReservedRange(start, rangeEnd))
                    Reject(DiagnosticCode.TooManyReservedRanges, valueOffset, valueLength, BootOptions.MaxReservedRanges, 0);
            }

            private static bool IsMemmapType(byte c) => c == (byte)'$' || c == (byte)'@' || c == (byte)'#' || c == (byte)'!' || c == (byte)'%';

            /// <summary>
            /// <c>numa_policy=MODE[:NODES[:WEIGHTS]]</c>: shape-checked here (<see cref="PolicyParser.Parse"/>);
            /// the nodes are checked against the machine when the kernel applies it. A bad value is refused
            /// whole (one diagnostic naming why) and the kernel-wide policy stays local; a later token replaces an earlier one.
            /// </summary>
            private void ParseNumaPolicy(int valueOffset, int valueLength)
            {
                PolicyStatus status = PolicyParser.Parse(Text + valueOffset, valueLength, out NumaPolicy policy);
                if (status != PolicyStatus.Ok)
                {
                    Reject(DiagnosticCode.NumaPolicyInvalid, valueOffset, valueLength, (ulong)status, 0);
                    return;
                }
                Options->NumaPolicy = policy;
                Options->NumaPolicyGiven = true;
                NoteRepeat(ref LastNumaPolicy);
            }

            /// <summary>
            /// <c>rtcpu=N</c>: the realtime CPU (docs/realtime.md). N is a CPU number (decimal or 0x hex); 0, the boot
            /// CPU, is refused here (it runs the shell and collects); whether CPU N exists and is not the housekeeping
            /// CPU is known only once the CPUs are up (Platform/Smp.cs refuses it then, naming this token). A later
            /// rtcpu= replaces this one.
            /// </summary>
            private void ParseRtCpu(int valueOffset, int valueLength)
            {
                DiagnosticCode code = SizeParser.ParseNumber(Text + valueOffset, valueLength, out ulong cpu);
                if (code == DiagnosticCode.None && cpu == 0)
                    code = DiagnosticCode.RtCpuIsBootCpu;
                if (code != DiagnosticCode.None)
                {
                    Reject(code, valueOffset, valueLength, cpu, 0);
                    return;
                }
                // A number no machine has CPUs for is kept as the largest int: refused as absent when applied.
                Options->RealtimeCpu = cpu > int.MaxValue ? int.MaxValue : (int)cpu;
                Options->RealtimeCpuToken = TokenIndex;
                NoteRepeat(ref LastRtCpu);
            }

            private void ParseNuma(int valueOffset, int valueLength)
            {
                byte* value = Text + valueOffset;
                if (ValueEquals(value, valueLength, "off"))
                {
                    Options->NumaOff = true;
                    Options->FakeNodeCount = 0;
                    NoteRepeat(ref LastNuma);
                    return;
                }

                const int prefix = 5; // "fake="
                if (valueLength <= prefix || !ValueEquals(value, prefix, "fake="))
                {
                    Reject(DiagnosticCode.NumaOptionUnknown, valueOffset, valueLength, 0, 0);
                    return;
                }
                int countOffset = valueOffset + prefix;
                int countLength = valueLength - prefix;
                DiagnosticCode code = SizeParser.ParseNumber(Text + countOffset, countLength, out ulong count);
                if (code == DiagnosticCode.NumberOverflow)
                    code = DiagnosticCode.None; // saturated: clamped below like any other large count
                if (code == DiagnosticCode.None && count == 0)
                    code = DiagnosticCode.SizeZero;
                if (code != DiagnosticCode.None)
                {
                    Reject(code, countOffset, countLength, 0, 0);
                    return;
                }
                Options->NumaOff = false;
                if (count > BootOptions.MaxFakeNodes)
                {
                    Options->FakeNodeCount = BootOptions.MaxFakeNodes;
                    Adjust(DiagnosticCode.FakeNodesClamped, countOffset, countLength, count, 0);
                }
                else
                {
                    Options->FakeNodeCount = (int)count;
                }
                NoteRepeat(ref LastNuma);
            }
        }
    }
}
