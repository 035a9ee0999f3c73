namespace PoolKernel.Boot.CommandLine
{
    public static unsafe partial class CommandLineParser
    {
        /// <summary>Bits of the options seen in one pool=, to notice repeats.</summary>
        private enum PoolOption : ushort
        {
            None = 0,
            Dma = 1 << 0,
            Boundary = 1 << 1,
            Align = 1 << 2,
            Prio = 1 << 3,
            Owner = 1 << 4,
            Realtime = 1 << 5,
            Movable = 1 << 6,
            Guaranteed = 1 << 7,
            Max = 1 << 8,
            Elastic = 1 << 9,
        }

        private partial struct State
        {
            /// <summary>
            /// <c>pool=NAME:SIZE[@NODE|@START-END][,option...]</c>. A problem with the name, size or
            /// placement ignores the pool; a problem with an option ignores (or clamps) that option only.
            /// </summary>
            private void ParsePool(int valueOffset, int valueLength)
            {
                int end = valueOffset + valueLength;
                int nameEnd = valueOffset;
                while (nameEnd < end && Text[nameEnd] != (byte)':' && Text[nameEnd] != (byte)',' && Text[nameEnd] != (byte)'@')
                    nameEnd++;
                if (!CheckName(valueOffset, nameEnd - valueOffset))
                    return;
                if (nameEnd == end || Text[nameEnd] != (byte)':')
                {
                    Reject(DiagnosticCode.SizeMissing, valueOffset, valueLength, 0, 0);
                    return;
                }

                PoolSpec spec = default;
                spec.Node = -1;
                spec.Origin = PoolOrigin.Pool;
                spec.TokenIndex = TokenIndex;
                spec.SetName(Text + valueOffset, nameEnd - valueOffset);

                int sizeOffset = nameEnd + 1;
                int sizeEnd = sizeOffset;
                while (sizeEnd < end && Text[sizeEnd] != (byte)'@' && Text[sizeEnd] != (byte)',')
                    sizeEnd++;
                DiagnosticCode code = SizeParser.ParseSize(Text + sizeOffset, sizeEnd - sizeOffset, true, out spec.SizeBytes, out spec.SizePercent);
                if (code == DiagnosticCode.None && spec.SizeBytes == 0 && spec.SizePercent == 0)
                    code = DiagnosticCode.SizeZero;
                if (code != DiagnosticCode.None)
                {
                    Reject(code, sizeOffset, sizeEnd - sizeOffset, 0, 0);
                    return;
                }

                int cursor = sizeEnd;
                if (cursor < end && Text[cursor] == (byte)'@')
                {
                    int placementEnd = IndexOf(Text, cursor + 1, end, (byte)',');
                    if (!ParsePlacement(cursor + 1, placementEnd - cursor - 1, ref spec)
                        || !CheckRangeHoldsSize(cursor + 1, placementEnd - cursor - 1, ref spec))
                        return;
                    cursor = placementEnd;
                }

                PoolOption seen = PoolOption.None;
                while (cursor < end)
                {
                    // Text[cursor] is ',' here: the size and placement stop only at ',' or end.
                    int optionEnd = IndexOf(Text, cursor + 1, end, (byte)',');
                    ParseOption(cursor + 1, optionEnd - cursor - 1, ref spec, ref seen);
                    cursor = optionEnd;
                }

                if (spec.Guaranteed != 0 && spec.Max != 0 && spec.Guaranteed > spec.Max)
                {
                    Adjust(DiagnosticCode.GuaranteedAboveMax, valueOffset, valueLength, spec.Guaranteed, spec.Max);
                    spec.Guaranteed = 0;
                    spec.Max = 0;
                }

                AddPool(ref spec, valueOffset, valueLength);
            }

            /// <summary>Pool names are 1..15 bytes of [a-z0-9_-]; reports and returns false otherwise.</summary>
            private bool CheckName(int offset, int length)
            {
                if (length == 0)
                {
                    Reject(DiagnosticCode.NameEmpty, offset, 0, 0, 0);
                    return false;
                }
                if (length > PoolSpec.MaxNameLength)
                {
                    Reject(DiagnosticCode.NameTooLong, offset, length, (ulong)length, 0);
                    return false;
                }
                for (int i = offset; i < offset + length; i++)
                {
                    byte c = Text[i];
                    bool ok = (uint)(c - (byte)'a') <= 'z' - 'a' || (uint)(c - (byte)'0') <= 9 || c == (byte)'_' || c == (byte)'-';
                    if (!ok)
                    {
                        Reject(DiagnosticCode.NameInvalidChar, i, 1, c, 0);
                        return false;
                    }
                }
                return true;
            }

            /// <summary><c>@NODE</c> (0..63) or <c>@START-END</c> (addresses with optional suffix, START &lt; END).</summary>
            private bool ParsePlacement(int offset, int length, ref PoolSpec spec)
            {
                int end = offset + length;
                int dash = IndexOf(Text, offset, end, (byte)'-');
                if (dash == end)
                {
                    DiagnosticCode code = SizeParser.ParseNumber(Text + offset, length, out ulong node);
                    if (code != DiagnosticCode.None || node >= BootOptions.MaxNodes)
                    {
                        Reject(DiagnosticCode.NodeInvalid, offset, length, code == DiagnosticCode.None ? node : 0, 0);
                        return false;
                    }
                    spec.Node = (int)node;
                    return true;
                }
                return ParseRange(offset, dash, end, false, ref spec);
            }

            /// <summary>
            /// START-END in [offset, end) with the '-' at <paramref name="dash"/> (dash == end: START alone,
            /// allowed only when <paramref name="allowOpenEnd"/>, giving END = <see cref="PoolSpec.OpenEnd"/>).
            /// </summary>
            private bool ParseRange(int offset, int dash, int end, bool allowOpenEnd, ref PoolSpec spec)
            {
                if (dash == offset || (dash == end && !allowOpenEnd) || dash + 1 == end)
                {
                    Reject(DiagnosticCode.RangeSyntax, offset, end - offset, 0, 0);
                    return false;
                }
                DiagnosticCode code = SizeParser.ParseSize(Text + offset, dash - offset, false, out ulong start, out _);
                if (code != DiagnosticCode.None)
                {
                    Reject(code, offset, dash - offset, 0, 0);
                    return false;
                }
                ulong limit = PoolSpec.OpenEnd;
                if (dash < end)
                {
                    code = SizeParser.ParseSize(Text + dash + 1, end - dash - 1, false, out limit, out _);
                    if (code != DiagnosticCode.None)
                    {
                        Reject(code, dash + 1, end - dash - 1, 0, 0);
                        return false;
                    }
                }
                if (start >= limit)
                {
                    Reject(DiagnosticCode.RangeEmpty, offset, end - offset, start, limit);
                    return false;
                }
                spec.RangeStart = start;
                spec.RangeEnd = limit;
                spec.Flags |= PoolSpecFlags.HasRange;
                return true;
            }

            /// <summary>A byte size must fit in the pool's range (a percentage is checked by the kernel).</summary>
            private bool CheckRangeHoldsSize(int offset, int length, ref PoolSpec spec)
            {
                if (!spec.Has(PoolSpecFlags.HasRange) || spec.SizePercent != 0 || spec.RangeEnd - spec.RangeStart >= spec.SizeBytes)
                    return true;
                Reject(DiagnosticCode.RangeTooSmall, offset, length, spec.RangeEnd - spec.RangeStart, spec.SizeBytes);
                return false;
            }

            /// <summary>One <c>key[=value]</c> option of pool=; a bad one is ignored (prio is clamped).</summary>
            private void ParseOption(int offset, int length, ref PoolSpec spec, ref PoolOption seen)
            {
                if (length == 0)
                {
                    Adjust(DiagnosticCode.OptionEmpty, offset, 0, 0, 0);
                    return;
                }
                int end = offset + length;
                int eq = IndexOf(Text, offset, end, (byte)'=');
                byte* key = Text + offset;
                int keyLength = eq - offset;
                bool hasValue = eq < end;
                int valueOffset = hasValue ? eq + 1 : end;
                int valueLength = end - valueOffset;
                byte* value = Text + valueOffset;

                PoolOption option;
                if (ValueEquals(key, keyLength, "dma")) option = PoolOption.Dma;
                else if (ValueEquals(key, keyLength, "boundary")) option = PoolOption.Boundary;
                else if (ValueEquals(key, keyLength, "align")) option = PoolOption.Align;
                else if (ValueEquals(key, keyLength, "prio")) option = PoolOption.Prio;
                else if (ValueEquals(key, keyLength, "owner")) option = PoolOption.Owner;
                else if (ValueEquals(key, keyLength, "rt")) option = PoolOption.Realtime;
                else if (ValueEquals(key, keyLength, "movable")) option = PoolOption.Movable;
                else if (ValueEquals(key, keyLength, "elastic")) option = PoolOption.Elastic;
                else if (ValueEquals(key, keyLength, "min")) option = PoolOption.Guaranteed;
                else if (ValueEquals(key, keyLength, "max")) option = PoolOption.Max;
                else
                {
                    Adjust(DiagnosticCode.OptionUnknown, offset, length, 0, 0);
                    return;
                }

                bool isFlag = option == PoolOption.Realtime || option == PoolOption.Movable || option == PoolOption.Elastic;
                if (isFlag == hasValue || (!isFlag && valueLength == 0))
                {
                    Adjust(DiagnosticCode.OptionValueInvalid, offset, length, 0, 0);
                    return;
                }

                ulong number;
                DiagnosticCode code;
                switch (option)
                {
                    case PoolOption.Dma:
                        code = SizeParser.ParseNumber(value, valueLength, out number);
                        if (code == DiagnosticCode.NumberOverflow || (code == DiagnosticCode.None && (number == 0 || number > 64)))
                            code = DiagnosticCode.DmaBitsOutOfRange;
                        if (code != DiagnosticCode.None)
                        {
                            Adjust(code, offset, length, number, 0);
                            return;
                        }
                        spec.DmaBits = (byte)number;
                        break;

                    case PoolOption.Boundary:
                    case PoolOption.Align:
                        code = SizeParser.ParseSize(value, valueLength, false, out number, out _);
                        if (code == DiagnosticCode.None && number == 0)
                            code = DiagnosticCode.SizeZero;
                        else if (code == DiagnosticCode.None && !System.Numerics.BitOperations.IsPow2(number))
                            code = DiagnosticCode.NotPowerOfTwo;
                        if (code != DiagnosticCode.None)
                        {
                            Adjust(code, offset, length, number, 0);
                            return;
                        }
                        if (option == PoolOption.Boundary)
                            spec.Boundary = number;
                        else
                            spec.Align = number;
                        break;

                    case PoolOption.Prio:
                        code = SizeParser.ParseNumber(value, valueLength, out number);
                        if (code == DiagnosticCode.NumberSyntax)
                        {
                            Adjust(code, offset, length, 0, 0);
                            return;
                        }
                        // Overflow saturates, so it is clamped like any other large value.
                        if (number > 255)
                        {
                            Adjust(DiagnosticCode.PrioClamped, offset, length, number, 0);
                            number = 255;
                        }
                        spec.Prio = (byte)number;
                        spec.Flags |= PoolSpecFlags.HasPrio;
                        break;

                    case PoolOption.Owner:
                        code = SizeParser.ParseNumber(value, valueLength, out number);
                        if (code == DiagnosticCode.NumberOverflow || (code == DiagnosticCode.None && number > 0xFFFF_FFFFUL))
                            code = DiagnosticCode.OwnerOutOfRange;
                        if (code != DiagnosticCode.None)
                        {
                            Adjust(code, offset, length, number, 0);
                            return;
                        }
                        spec.Owner = (uint)number;
                        spec.Flags |= PoolSpecFlags.HasOwner;
                        break;

                    case PoolOption.Guaranteed:
                    case PoolOption.Max:
                        code = SizeParser.ParseSize(value, valueLength, false, out number, out _);
                        if (code == DiagnosticCode.None && number == 0 && option == PoolOption.Max)
                            code = DiagnosticCode.SizeZero;
                        if (code != DiagnosticCode.None)
                        {
                            Adjust(code, offset, length, 0, 0);
                            return;
                        }
                        if (option == PoolOption.Guaranteed)
                            spec.Guaranteed = number;
                        else
                            spec.Max = number;
                        break;

                    case PoolOption.Realtime:
                        spec.Flags |= PoolSpecFlags.Realtime;
                        break;

                    case PoolOption.Movable:
                        spec.Flags |= PoolSpecFlags.Movable;
                        break;

                    case PoolOption.Elastic:
                        spec.Flags |= PoolSpecFlags.Elastic;
                        break;
                }

                if ((seen & option) != 0)
                    Adjust(DiagnosticCode.OptionRepeated, offset, length, 0, 0);
                seen |= option;
            }

            /// <summary>Adds a pool= pool: refused when the name is taken or all pools are used.</summary>
            private void AddPool(ref PoolSpec spec, int partOffset, int partLength)
            {
                int existing = FindPool(ref spec);
                if (existing >= 0)
                {
                    Reject(DiagnosticCode.PoolNameDuplicate, partOffset, partLength, (ulong)existing, 0);
                    return;
                }
                if (Options->PoolCount >= BootOptions.MaxPoolSpecs)
                {
                    Reject(DiagnosticCode.TooManyPools, partOffset, partLength, BootOptions.MaxPoolSpecs, 0);
                    return;
                }
                *Options->Pool(Options->PoolCount++) = spec;
            }

            /// <summary>
            /// Adds a pool made by a Linux spelling. If a pool of the same name came from the same
            /// spelling (cma= twice, hugepages= twice for one size and node), this one replaces it,
            /// as the later value wins in Linux; a pool= of that name refuses it.
            /// Returns false when the pool was refused.
            /// </summary>
            private bool AddDerivedPool(ref PoolSpec spec, int partOffset, int partLength)
            {
                int existing = FindPool(ref spec);
                if (existing >= 0)
                {
                    PoolSpec* old = Options->Pool(existing);
                    if (old->Origin != spec.Origin)
                    {
                        Reject(DiagnosticCode.PoolNameDuplicate, partOffset, partLength, (ulong)existing, 0);
                        return false;
                    }
                    int earlierToken = old->TokenIndex;
                    *old = spec;
                    if (earlierToken == TokenIndex)
                        Adjust(DiagnosticCode.ParameterRepeated, partOffset, partLength, (ulong)earlierToken, 0);
                    else
                        Override(earlierToken, MadeAnyPool(earlierToken));
                    return true;
                }
                if (Options->PoolCount >= BootOptions.MaxPoolSpecs)
                {
                    Reject(DiagnosticCode.TooManyPools, partOffset, partLength, BootOptions.MaxPoolSpecs, 0);
                    return false;
                }
                *Options->Pool(Options->PoolCount++) = spec;
                return true;
            }

            /// <summary>True when a pool spec made by token <paramref name="token"/> is still in the options.</summary>
            private bool MadeAnyPool(int token)
            {
                for (int i = 0; i < Options->PoolCount; i++)
                {
                    if (Options->Pool(i)->TokenIndex == token)
                        return true;
                }
                return false;
            }

            private int FindPool(ref PoolSpec spec)
            {
                for (int i = 0; i < Options->PoolCount; i++)
                {
                    PoolSpec* pool = Options->Pool(i);
                    if (pool->NameLength != spec.NameLength)
                        continue;
                    int j = 0;
                    while (j < spec.NameLength && pool->NameByte(j) == spec.NameByte(j))
                        j++;
                    if (j == spec.NameLength)
                        return i;
                }
                return -1;
            }

            private PoolSpec NewDerivedPool(PoolOrigin origin, string name)
            {
                PoolSpec spec = default;
                spec.Node = -1;
                spec.Origin = origin;
                spec.TokenIndex = TokenIndex;
                byte* bytes = stackalloc byte[PoolSpec.MaxNameLength];
                for (int i = 0; i < name.Length; i++)
                    bytes[i] = (byte)name[i];
                spec.SetName(bytes, name.Length);
                return spec;
            }

            /// <summary><c>cma=SIZE[@START[-END]]</c>: a movable pool named "cma".</summary>
            private void ParseCma(int valueOffset, int valueLength)
            {
                int end = valueOffset + valueLength;
                int at = IndexOf(Text, valueOffset, end, (byte)'@');
                if (!ParseNonZeroSize(valueOffset, at - valueOffset, out ulong size))
                    return;
                PoolSpec spec = NewDerivedPool(PoolOrigin.Cma, "cma");
                spec.SizeBytes = size;
                spec.Flags |= PoolSpecFlags.Movable;
                if (at < end)
                {
                    int rangeOffset = at + 1;
                    int dash = IndexOf(Text, rangeOffset, end, (byte)'-');
                    if (!ParseRange(rangeOffset, dash, end, true, ref spec)
                        || !CheckRangeHoldsSize(rangeOffset, end - rangeOffset, ref spec))
                        return;
                }
                AddDerivedPool(ref spec, valueOffset, valueLength);
            }

            /// <summary>
            /// <c>kernelcore=SIZE|N%</c> / <c>movablecore=SIZE|N%</c>: recorded as a value and as a pool
            /// ("kernelcore", or "movablecore" with the movable flag); the rest of memory forms the other kind.
            /// </summary>
            private void ParseCore(int valueOffset, int valueLength, PoolOrigin origin)
            {
                byte* value = Text + valueOffset;
                DiagnosticCode code = SizeParser.ParseSize(value, valueLength, true, out ulong bytes, out byte percent);
                if (code == DiagnosticCode.None && bytes == 0 && percent == 0)
                    code = DiagnosticCode.SizeZero;
                if (code == DiagnosticCode.NumberSyntax && ValueEquals(value, valueLength, "mirror"))
                    code = DiagnosticCode.CoreValueUnsupported;
                if (code != DiagnosticCode.None)
                {
                    Reject(code, valueOffset, valueLength, 0, 0);
                    return;
                }

                bool kernel = origin == PoolOrigin.KernelCore;
                PoolSpec spec = NewDerivedPool(origin, kernel ? "kernelcore" : "movablecore");
                spec.SizeBytes = bytes;
                spec.SizePercent = percent;
                if (!kernel)
                    spec.Flags |= PoolSpecFlags.Movable;
                if (!AddDerivedPool(ref spec, valueOffset, valueLength))
                    return;
                if (kernel)
                {
                    Options->KernelCoreBytes = bytes;
                    Options->KernelCorePercent = percent;
                }
                else
                {
                    Options->MovableCoreBytes = bytes;
                    Options->MovableCorePercent = percent;
                }
            }

            /// <summary>
            /// <c>hugepages=N</c> (pool "huge2m"/"huge1g" of N blocks of the current huge page size) or
            /// <c>hugepages=NODE:N[,NODE:N...]</c> (one pool per node, "huge2m-n0"...). A count of 0 asks for nothing.
            /// </summary>
            private void ParseHugePages(int valueOffset, int valueLength)
            {
                int end = valueOffset + valueLength;
                if (IndexOf(Text, valueOffset, end, (byte)':') == end)
                {
                    DiagnosticCode code = SizeParser.ParseNumber(Text + valueOffset, valueLength, out ulong count);
                    if (code != DiagnosticCode.None)
                    {
                        Reject(code, valueOffset, valueLength, 0, 0);
                        return;
                    }
                    AddHugePagePool(-1, count, valueOffset, valueLength);
                    return;
                }

                int applied = 0;
                int cursor = valueOffset;
                while (true)
                {
                    int entryEnd = IndexOf(Text, cursor, end, (byte)',');
                    if (ParseHugePagesEntry(cursor, entryEnd - cursor))
                        applied++;
                    if (entryEnd == end)
                        break;
                    cursor = entryEnd + 1;
                }

                // Nothing of the token applied: it was ignored as a whole, not adjusted.
                TokenRecord* token = Options->Token(TokenIndex);
                if (applied == 0 && token->Status == TokenStatus.Adjusted)
                    token->Status = TokenStatus.Rejected;
            }

            /// <summary>One NODE:COUNT entry; returns true when it was applied (count 0 applies nothing but is valid).</summary>
            private bool ParseHugePagesEntry(int offset, int length)
            {
                int end = offset + length;
                int colon = IndexOf(Text, offset, end, (byte)':');
                if (colon == end
                    || SizeParser.ParseNumber(Text + offset, colon - offset, out ulong node) != DiagnosticCode.None
                    || node >= BootOptions.MaxNodes
                    || SizeParser.ParseNumber(Text + colon + 1, end - colon - 1, out ulong count) != DiagnosticCode.None)
                {
                    Adjust(DiagnosticCode.HugePagesEntryInvalid, offset, length, 0, 0);
                    return false;
                }
                return AddHugePagePool((int)node, count, offset, length);
            }

            private bool AddHugePagePool(int node, ulong count, int partOffset, int partLength)
            {
                if (count == 0)
                    return true;
                ulong block = HugePageSize;
                if (!CheckedMath.Multiply(count, block, out ulong bytes))
                {
                    Report(DiagnosticCode.NumberOverflow, node < 0 ? TokenStatus.Rejected : TokenStatus.Adjusted, partOffset, partLength, count, block);
                    return false;
                }

                PoolSpec spec = NewDerivedPool(PoolOrigin.HugePages, block == BootOptions.HugePageSize1G ? "huge1g" : "huge2m");
                if (node >= 0)
                {
                    // "huge2m" + "-n" + up to two digits: at most 10 bytes.
                    byte* name = stackalloc byte[PoolSpec.MaxNameLength];
                    int length = 0;
                    for (; length < spec.NameLength; length++)
                        name[length] = spec.NameByte(length);
                    name[length++] = (byte)'-';
                    name[length++] = (byte)'n';
                    if (node >= 10)
                        name[length++] = (byte)('0' + node / 10);
                    name[length++] = (byte)('0' + node % 10);
                    spec.SetName(name, length);
                    spec.Node = node;
                }
                spec.BlockSize = block;
                spec.SizeBytes = bytes;
                spec.Align = block;

                if (node < 0)
                    return AddDerivedPool(ref spec, partOffset, partLength);

                // In the per-node form a refused entry is one part of the token: adjust, not reject.
                int existing = FindPool(ref spec);
                if (existing >= 0 && Options->Pool(existing)->Origin != PoolOrigin.HugePages)
                {
                    Adjust(DiagnosticCode.PoolNameDuplicate, partOffset, partLength, (ulong)existing, 0);
                    return false;
                }
                if (existing < 0 && Options->PoolCount >= BootOptions.MaxPoolSpecs)
                {
                    Adjust(DiagnosticCode.TooManyPools, partOffset, partLength, BootOptions.MaxPoolSpecs, 0);
                    return false;
                }
                return AddDerivedPool(ref spec, partOffset, partLength);
            }
        }
    }
}
