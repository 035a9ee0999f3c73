namespace PoolKernel.Boot.CommandLine
{
    /// <summary>
    /// Numbers and sizes of the command line. Every function reads exactly the bytes
    /// [p, p+length) it is given and reports problems as a <see cref="DiagnosticCode"/>.
    /// </summary>
    public static unsafe class SizeParser
    {
        /// <summary>
        /// An unsigned number: decimal, or hex after <c>0x</c>/<c>0X</c>. The whole input must be digits.
        /// Returns None, NumberSyntax (also for empty input) or NumberOverflow.
        /// </summary>
        public static DiagnosticCode ParseNumber(byte* p, int length, out ulong value)
        {
            value = 0;
            int digits = ScanNumber(p, length, out value, out bool overflow);
            if (digits <= 0 || digits != length)
                return DiagnosticCode.NumberSyntax;
            return overflow ? DiagnosticCode.NumberOverflow : DiagnosticCode.None;
        }

        /// <summary>
        /// A size: a number followed by nothing (bytes) or one of K, M, G, T in any case (powers of 1024),
        /// or, when <paramref name="allowPercent"/>, decimal <c>N%</c> with N in 1..100.
        /// Zero is returned as a value (callers decide whether zero is allowed).
        /// </summary>
        public static DiagnosticCode ParseSize(byte* p, int length, bool allowPercent, out ulong bytes, out byte percent)
        {
            bytes = 0;
            percent = 0;
            if (length <= 0)
                return DiagnosticCode.SizeMissing;

            if (p[length - 1] == (byte)'%')
            {
                DiagnosticCode code = ParseNumber(p, length - 1, out ulong n);
                if (code != DiagnosticCode.None)
                    return code;
                if (!IsDecimal(p, length - 1))
                    return DiagnosticCode.NumberSyntax;
                if (!allowPercent)
                    return DiagnosticCode.PercentNotAllowed;
                if (n == 0 || n > 100)
                    return DiagnosticCode.PercentOutOfRange;
                percent = (byte)n;
                return DiagnosticCode.None;
            }

            int digits = ScanNumber(p, length, out ulong value, out bool overflow);
            if (digits <= 0)
                return DiagnosticCode.NumberSyntax;
            if (overflow)
                return DiagnosticCode.NumberOverflow;
            int rest = length - digits;
            if (rest == 0)
            {
                bytes = value;
                return DiagnosticCode.None;
            }
            int shift = rest == 1 ? SuffixShift(p[digits]) : -1;
            if (shift < 0)
                return DiagnosticCode.SizeUnknownSuffix;
            if (!CheckedMath.ShiftLeft(value, shift, out bytes))
                return DiagnosticCode.NumberOverflow;
            return DiagnosticCode.None;
        }

        /// <summary>
        /// Scans the number at the start of [p, p+length): returns how many bytes it used
        /// (0 when there is no digit, -1 for a bare "0x"). On overflow the value saturates.
        /// </summary>
        private static int ScanNumber(byte* p, int length, out ulong value, out bool overflow)
        {
            value = 0;
            overflow = false;
            if (length >= 2 && p[0] == (byte)'0' && (p[1] == (byte)'x' || p[1] == (byte)'X'))
            {
                int i = 2;
                for (; i < length; i++)
                {
                    int digit = HexDigit(p[i]);
                    if (digit < 0)
                        break;
                    if (value > ~0UL >> 4)
                        overflow = true;
                    value = overflow ? ~0UL : (value << 4) | (uint)digit;
                }
                return i == 2 ? -1 : i;
            }

            int n = 0;
            for (; n < length; n++)
            {
                uint digit = (uint)(p[n] - (byte)'0');
                if (digit > 9)
                    break;
                // value * 10 + digit must stay within 2^64 - 1.
                if (value > (~0UL - digit) / 10)
                    overflow = true;
                value = overflow ? ~0UL : value * 10 + digit;
            }
            return n;
        }

        private static bool IsDecimal(byte* p, int length)
        {
            for (int i = 0; i < length; i++)
            {
                if ((uint)(p[i] - (byte)'0') > 9)
                    return false;
            }
            return length > 0;
        }

        private static int HexDigit(byte c)
        {
            if ((uint)(c - (byte)'0') <= 9)
                return c - (byte)'0';
            if ((uint)(c - (byte)'a') <= 5)
                return c - (byte)'a' + 10;
            if ((uint)(c - (byte)'A') <= 5)
                return c - (byte)'A' + 10;
            return -1;
        }

        /// <summary>log2 of the multiplier of a size suffix, or -1 when <paramref name="c"/> is not one.</summary>
        private static int SuffixShift(byte c)
        {
            switch (c | 0x20)
            {
                case 'k': return 10;
                case 'm': return 20;
                case 'g': return 30;
                case 't': return 40;
                default: return -1;
            }
        }
    }
}
