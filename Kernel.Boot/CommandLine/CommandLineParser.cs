namespace PoolKernel.Boot.CommandLine
{
    /// <summary>
    /// Parses the kernel command line into a caller-provided <see cref="BootOptions"/>.
    /// Pure: no allocation, no static state, reads only [text, text+length) and stops at a NUL.
    /// Bad input never stops parsing; every token ends up either accepted (no diagnostic) or
    /// adjusted/rejected with exactly one diagnostic that says what was done instead.
    /// Applying the result (resolving percentages and nodes, building pools) is the kernel's job.
    /// </summary>
    public static unsafe partial class CommandLineParser
    {
        /// <summary>
        /// Parses <paramref name="length"/> bytes of ASCII at <paramref name="text"/> into
        /// <paramref name="result"/>, which is cleared first. A null text or negative length is an
        /// empty line. Returns the number of diagnostics (0 for a clean line).
        /// </summary>
        public static int Parse(byte* text, int length, BootOptions* result)
        {
            byte* clear = (byte*)result;
            for (int i = 0; i < sizeof(BootOptions); i++)
                clear[i] = 0;

            int end = 0;
            if (text != null)
            {
                while (end < length && text[end] != 0)
                    end++;
            }
            // Only tokens that end within MaxTextLength bytes are parsed; a token crossing the limit is
            // ignored whole with everything after it (a cut run= must not run half its commands).
            int parseEnd = end;
            if (end > BootOptions.MaxTextLength)
            {
                int scan = 0;
                while (NextToken(text, end, ref scan, out int s, out int l, out _))
                {
                    if (s + l > BootOptions.MaxTextLength)
                    {
                        parseEnd = s;
                        break;
                    }
                }
            }
            result->Text = text;
            result->TextLength = parseEnd;
            result->IgnoredLength = end - parseEnd;

            State state = default;
            state.Options = result;
            state.Text = text;
            state.LastRun = state.LastTest = state.LastMem = state.LastDefaultHuge = state.LastNuma = state.LastNumaPolicy = state.LastRtCpu = -1;
            state.HugePageSize = FindDefaultHugePageSize(text, parseEnd);

            int firstDropped = -1;
            int droppedEnd = 0;
            int pos = 0;
            while (NextToken(text, parseEnd, ref pos, out int start, out int tokenLength, out bool quoteOpen))
            {
                if (result->TokenCount == BootOptions.MaxTokens)
                {
                    if (firstDropped < 0)
                        firstDropped = start;
                    droppedEnd = start + tokenLength;
                    result->DroppedTokenCount++;
                    NoteDroppedRun(text, start, tokenLength, DiagnosticCode.TooManyTokens, result);
                    continue;
                }

                int index = result->TokenCount++;
                TokenRecord* token = result->Token(index);
                token->Offset = start;
                token->Length = tokenLength;
                token->DiagnosticIndex = -1;
                token->Status = TokenStatus.Accepted;
                state.TokenIndex = index;
                state.ParseToken(start, tokenLength, quoteOpen);
            }
            while (NextToken(text, end, ref pos, out int start, out int tokenLength, out _))
                NoteDroppedRun(text, start, tokenLength, DiagnosticCode.LineTooLong, result);

            if (firstDropped >= 0)
                AddLineDiagnostic(result, DiagnosticCode.TooManyTokens, firstDropped, droppedEnd - firstDropped, BootOptions.MaxTokens, (ulong)result->DroppedTokenCount);
            if (parseEnd < end)
                AddLineDiagnostic(result, DiagnosticCode.LineTooLong, parseEnd, end - parseEnd, BootOptions.MaxTextLength, (ulong)(end - parseEnd));
            return result->DiagnosticCount;
        }

        /// <summary>A diagnostic about the line rather than one token (TokenIndex -1): what was dropped, as a span.</summary>
        private static void AddLineDiagnostic(BootOptions* result, DiagnosticCode code, int offset, int length, ulong value0, ulong value1)
        {
            Diagnostic* d = result->DiagnosticAt(result->DiagnosticCount++);
            d->Code = code;
            d->TokenIndex = -1;
            d->TokenOffset = d->PartOffset = offset;
            d->TokenLength = d->PartLength = length;
            d->Value0 = value0;
            d->Value1 = value1;
        }

        /// <summary>A token that is not parsed (beyond a limit): remember when it was a run=, whose loss must be said.</summary>
        private static void NoteDroppedRun(byte* text, int start, int length, DiagnosticCode droppedBy, BootOptions* result)
        {
            SplitKeyValue(text, start, length, out int keyLength, out _, out _);
            if (KindOf(text + start, keyLength) == TokenKind.Run && result->RunDroppedBy == DiagnosticCode.None)
                result->RunDroppedBy = droppedBy;
        }

        /// <summary>
        /// Finds the next token at or after <paramref name="pos"/> in [text, text+end). Tokens are
        /// separated by space, tab, CR or LF outside double quotes. <paramref name="quoteOpen"/> is
        /// true when the token ends at the end of the line inside a quote.
        /// </summary>
        public static bool NextToken(byte* text, int end, ref int pos, out int start, out int length, out bool quoteOpen)
        {
            while (pos < end && IsSeparator(text[pos]))
                pos++;
            start = pos;
            quoteOpen = false;
            while (pos < end && (quoteOpen || !IsSeparator(text[pos])))
            {
                if (text[pos] == (byte)'"')
                    quoteOpen = !quoteOpen;
                pos++;
            }
            length = pos - start;
            return length > 0;
        }

        private static bool IsSeparator(byte c) => c == (byte)' ' || c == (byte)'\t' || c == (byte)'\n' || c == (byte)'\r';

        /// <summary>
        /// The size a <c>hugepages=</c> before any <c>hugepagesz=</c> uses: the last valid
        /// <c>default_hugepagesz=</c> anywhere on the line (as in Linux), else 2 MiB.
        /// Diagnostics for default_hugepagesz= come from the main pass.
        /// </summary>
        private static ulong FindDefaultHugePageSize(byte* text, int end)
        {
            ulong size = BootOptions.HugePageSize2M;
            int pos = 0;
            int seen = 0;
            while (seen < BootOptions.MaxTokens && NextToken(text, end, ref pos, out int start, out int length, out bool quoteOpen))
            {
                seen++;
                if (quoteOpen)
                    continue;
                SplitKeyValue(text, start, length, out int keyLength, out int valueOffset, out int valueLength);
                if (!KeyEquals(text + start, keyLength, "default_hugepagesz"))
                    continue;
                if (SizeParser.ParseSize(text + valueOffset, valueLength, false, out ulong bytes, out _) == DiagnosticCode.None
                    && IsHugePageSize(bytes))
                {
                    size = bytes;
                }
            }
            return size;
        }

        private static bool IsHugePageSize(ulong bytes) => bytes == BootOptions.HugePageSize2M || bytes == BootOptions.HugePageSize1G;

        /// <summary>
        /// Splits a token at its first '='. Without '=' the key is the whole token and the value
        /// is empty (valueLength 0, valueOffset -1). A value wrapped in double quotes loses them.
        /// </summary>
        private static void SplitKeyValue(byte* text, int start, int length, out int keyLength, out int valueOffset, out int valueLength)
        {
            keyLength = 0;
            while (keyLength < length && text[start + keyLength] != (byte)'=')
                keyLength++;
            if (keyLength == length)
            {
                valueOffset = -1;
                valueLength = 0;
                return;
            }
            valueOffset = start + keyLength + 1;
            valueLength = length - keyLength - 1;
            if (valueLength >= 2 && text[valueOffset] == (byte)'"' && text[valueOffset + valueLength - 1] == (byte)'"')
            {
                valueOffset++;
                valueLength -= 2;
            }
        }

        /// <summary>Compares a parameter key with a literal; '-' and '_' are the same, as in Linux.</summary>
        private static bool KeyEquals(byte* key, int length, string literal)
        {
            if (length != literal.Length)
                return false;
            for (int i = 0; i < length; i++)
            {
                byte c = key[i] == (byte)'-' ? (byte)'_' : key[i];
                if (c != literal[i])
                    return false;
            }
            return true;
        }

        /// <summary>Exact comparison of a value with a literal.</summary>
        private static bool ValueEquals(byte* value, int length, string literal)
        {
            if (length != literal.Length)
                return false;
            for (int i = 0; i < length; i++)
            {
                if (value[i] != literal[i])
                    return false;
            }
            return true;
        }

        private static TokenKind KindOf(byte* key, int length)
        {
            if (KeyEquals(key, length, "pool")) return TokenKind.Pool;
            if (KeyEquals(key, length, "run")) return TokenKind.Run;
            if (KeyEquals(key, length, "test")) return TokenKind.Test;
            if (KeyEquals(key, length, "hugepages")) return TokenKind.HugePages;
            if (KeyEquals(key, length, "hugepagesz")) return TokenKind.HugePageSize;
            if (KeyEquals(key, length, "default_hugepagesz")) return TokenKind.DefaultHugePageSize;
            if (KeyEquals(key, length, "cma")) return TokenKind.Cma;
            if (KeyEquals(key, length, "mem")) return TokenKind.Mem;
            if (KeyEquals(key, length, "memmap")) return TokenKind.Memmap;
            if (KeyEquals(key, length, "kernelcore")) return TokenKind.KernelCore;
            if (KeyEquals(key, length, "movablecore")) return TokenKind.MovableCore;
            if (KeyEquals(key, length, "numa")) return TokenKind.Numa;
            if (KeyEquals(key, length, "numa_policy")) return TokenKind.NumaPolicy;
            if (KeyEquals(key, length, "container")) return TokenKind.Container;
            if (KeyEquals(key, length, "rtcpu")) return TokenKind.RtCpu;
            return TokenKind.Unknown;
        }

        /// <summary>Index of the first byte at or after <paramref name="from"/> that is <paramref name="c"/>, or <paramref name="end"/>.</summary>
        private static int IndexOf(byte* text, int from, int end, byte c)
        {
            int i = from;
            while (i < end && text[i] != c)
                i++;
            return i;
        }
    }
}
