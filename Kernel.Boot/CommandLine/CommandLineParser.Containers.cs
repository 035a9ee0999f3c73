namespace PoolKernel.Boot.CommandLine
{
    public static unsafe partial class CommandLineParser
    {
        private partial struct State
        {
            /// <summary>
            /// <c>container=NAME:quota=SIZE[,guarantee=SIZE][,pools=P1+P2]</c>. Any problem ignores the
            /// whole container, with one diagnostic: a container whose limit or guarantee was dropped
            /// would be another container than the one asked for. Sizes are bytes (K, M, G, T), no %.
            /// </summary>
            private void ParseContainer(int valueOffset, int valueLength)
            {
                int end = valueOffset + valueLength;
                int nameEnd = IndexOf(Text, valueOffset, end, (byte)':');
                if (!CheckContainerName(valueOffset, nameEnd - valueOffset))
                    return;
                if (Options->FindContainer(Text + valueOffset, nameEnd - valueOffset) >= 0)
                {
                    Reject(DiagnosticCode.ContainerDuplicate, valueOffset, nameEnd - valueOffset, 0, 0);
                    return;
                }
                ContainerRequest request = default;
                request.TokenIndex = TokenIndex;
                request.SetName(Text + valueOffset, nameEnd - valueOffset);
                bool quota = false, guarantee = false;
                for (int cursor = nameEnd; cursor < end; )
                {
                    // Text[cursor] is ':' (first) or ',' here.
                    int optionEnd = IndexOf(Text, cursor + 1, end, (byte)',');
                    int option = cursor + 1, optionLength = optionEnd - option;
                    int eq = IndexOf(Text, option, optionEnd, (byte)'=');
                    bool first = cursor == nameEnd;
                    if (first != KeyEquals(Text + option, eq - option, "quota") || eq == optionEnd)
                    {
                        Reject(first ? DiagnosticCode.ContainerQuotaMissing : DiagnosticCode.ContainerOptionInvalid, option, optionLength, 0, 0);
                        return;
                    }
                    if (first)
                    {
                        if (!ParseContainerSize(eq + 1, optionEnd - eq - 1, out request.QuotaBytes))
                            return;
                        quota = true;
                    }
                    else if (KeyEquals(Text + option, eq - option, "guarantee") && !guarantee)
                    {
                        if (!ParseContainerSize(eq + 1, optionEnd - eq - 1, out request.GuaranteeBytes))
                            return;
                        guarantee = true;
                    }
                    else if (KeyEquals(Text + option, eq - option, "pools") && request.PoolsLength == 0)
                    {
                        if (!CheckPoolList(eq + 1, optionEnd - eq - 1))
                            return;
                        request.PoolsOffset = eq + 1;
                        request.PoolsLength = optionEnd - eq - 1;
                    }
                    else
                    {
                        Reject(DiagnosticCode.ContainerOptionInvalid, option, optionLength, 0, 0);
                        return;
                    }
                    cursor = optionEnd;
                }
                if (!quota)
                {
                    Reject(DiagnosticCode.ContainerQuotaMissing, valueOffset, valueLength, 0, 0);
                    return;
                }
                if (request.GuaranteeBytes > request.QuotaBytes)
                {
                    Reject(DiagnosticCode.ContainerGuaranteeAboveQuota, valueOffset, valueLength, request.GuaranteeBytes, request.QuotaBytes);
                    return;
                }
                if (Options->ContainerCount == BootOptions.MaxContainers)
                {
                    Reject(DiagnosticCode.TooManyContainers, valueOffset, valueLength, BootOptions.MaxContainers, 0);
                    return;
                }
                *Options->Container(Options->ContainerCount++) = request;
            }

            /// <summary>Container names, like pool names, are 1..15 bytes of [a-z0-9_-].</summary>
            private bool CheckContainerName(int offset, int length)
            {
                if (!IsName(offset, length))
                {
                    Reject(DiagnosticCode.ContainerNameInvalid, offset, length, (ulong)length, 0);
                    return false;
                }
                return true;
            }

            /// <summary>P1+P2+...: each a name as <see cref="IsName"/> says; whether the pools exist the kernel checks.</summary>
            private bool CheckPoolList(int offset, int length)
            {
                int end = offset + length;
                for (int at = offset; at <= end; )
                {
                    int plus = IndexOf(Text, at, end, (byte)'+');
                    if (!IsName(at, plus - at))
                    {
                        Reject(DiagnosticCode.ContainerPoolsInvalid, at, plus - at, 0, 0);
                        return false;
                    }
                    at = plus + 1;
                }
                return true;
            }

            private bool IsName(int offset, int length)
            {
                if (length == 0 || length > PoolSpec.MaxNameLength)
                    return false;
                for (int i = offset; i < offset + length; i++)
                {
                    byte c = Text[i];
                    if (!((uint)(c - (byte)'a') <= 'z' - 'a' || (uint)(c - (byte)'0') <= 9 || c == (byte)'_' || c == (byte)'-'))
                        return false;
                }
                return true;
            }

            /// <summary>A container size: bytes with an optional K/M/G/T suffix, not zero, no percentage.</summary>
            private bool ParseContainerSize(int offset, int length, out ulong bytes)
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
        }
    }
}
