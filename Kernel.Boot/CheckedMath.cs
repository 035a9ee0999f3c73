namespace PoolKernel.Boot
{
    /// <summary>
    /// Arithmetic on numbers that came from the user (the command line) or that such numbers decide.
    /// Every operation either gives the exact mathematical result or returns false and leaves the
    /// output 0: it never wraps and never saturates silently. Callers turn false into a refusal with
    /// a line. Pure: used by the command-line parser and the pool planner (host-tested with them).
    /// </summary>
    public static class CheckedMath
    {
        /// <summary><paramref name="a"/> + <paramref name="b"/>, false when the sum exceeds 2^64 - 1.</summary>
        public static bool Add(ulong a, ulong b, out ulong sum)
        {
            sum = 0;
            if (a > ~0UL - b)
                return false;
            sum = a + b;
            return true;
        }

        /// <summary><paramref name="a"/> * <paramref name="b"/>, false when the product exceeds 2^64 - 1.</summary>
        public static bool Multiply(ulong a, ulong b, out ulong product)
        {
            product = 0;
            if (a != 0 && b > ~0UL / a)
                return false;
            product = a * b;
            return true;
        }

        /// <summary><paramref name="value"/> * 2^<paramref name="shift"/> (shift 0..63), false when a set bit would be shifted out.</summary>
        public static bool ShiftLeft(ulong value, int shift, out ulong result)
        {
            result = 0;
            if ((uint)shift > 63 || value > ~0UL >> shift)
                return false;
            result = value << shift;
            return true;
        }

        /// <summary>
        /// The smallest multiple of <paramref name="unit"/> (non-zero) that is at least <paramref name="value"/>;
        /// false when that multiple exceeds 2^64 - 1 (or unit is 0).
        /// </summary>
        public static bool RoundUp(ulong value, ulong unit, out ulong rounded)
        {
            rounded = 0;
            if (unit == 0)
                return false;
            ulong rest = value % unit;
            if (rest == 0)
            {
                rounded = value;
                return true;
            }
            return Add(value - rest, unit, out rounded);
        }

        /// <summary>Ceiling of <paramref name="value"/> / <paramref name="unit"/> (unit non-zero): exact for every value, never overflows.</summary>
        public static ulong DivideRoundUp(ulong value, ulong unit)
        {
            return value / unit + (value % unit != 0 ? 1UL : 0UL);
        }

        /// <summary>
        /// floor(<paramref name="value"/> * <paramref name="percent"/> / 100) for percent 0..100, exact for
        /// every value (computed without forming value * percent).
        /// </summary>
        public static ulong PercentOf(ulong value, uint percent)
        {
            if (percent > 100)
                percent = 100;
            // value = 100q + r: value * p / 100 = q * p + r * p / 100, and r * p < 10^4.
            return value / 100 * percent + value % 100 * percent / 100;
        }
    }
}
