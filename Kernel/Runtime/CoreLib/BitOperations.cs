namespace System.Numerics
{
    /// <summary>
    /// Bit arithmetic for orders and alignments. Same names and contracts as the BCL's
    /// System.Numerics.BitOperations, so shared code compiles unchanged on the host.
    /// Software loops: the kernel targets a baseline x86-64 CPU without LZCNT/TZCNT.
    /// </summary>
    public static class BitOperations
    {
        public static bool IsPow2(ulong value) => value != 0 && (value & (value - 1)) == 0;

        public static bool IsPow2(uint value) => value != 0 && (value & (value - 1)) == 0;

        /// <summary>Floor of log2; 0 for 0, like the BCL.</summary>
        public static int Log2(ulong value)
        {
            int result = 0;
            if ((value >> 32) != 0) { value >>= 32; result += 32; }
            if ((value >> 16) != 0) { value >>= 16; result += 16; }
            if ((value >> 8) != 0) { value >>= 8; result += 8; }
            if ((value >> 4) != 0) { value >>= 4; result += 4; }
            if ((value >> 2) != 0) { value >>= 2; result += 2; }
            if ((value >> 1) != 0) { result += 1; }
            return result;
        }

        public static int Log2(uint value) => Log2((ulong)value);

        public static int LeadingZeroCount(ulong value) => value == 0 ? 64 : 63 - Log2(value);

        public static int LeadingZeroCount(uint value) => value == 0 ? 32 : 31 - Log2((ulong)value);

        public static int TrailingZeroCount(ulong value)
        {
            if (value == 0)
                return 64;
            return Log2(value & (~value + 1));
        }

        public static int TrailingZeroCount(uint value) => value == 0 ? 32 : TrailingZeroCount((ulong)value);

        public static int TrailingZeroCount(long value) => TrailingZeroCount((ulong)value);

        public static int TrailingZeroCount(int value) => TrailingZeroCount((uint)value);

        public static int PopCount(ulong value)
        {
            value -= (value >> 1) & 0x5555555555555555UL;
            value = (value & 0x3333333333333333UL) + ((value >> 2) & 0x3333333333333333UL);
            value = (value + (value >> 4)) & 0x0F0F0F0F0F0F0F0FUL;
            return (int)((value * 0x0101010101010101UL) >> 56);
        }

        public static int PopCount(uint value) => PopCount((ulong)value);

        public static ulong RoundUpToPowerOf2(ulong value)
        {
            if (value <= 1)
                return 1;
            return 1UL << (Log2(value - 1) + 1);
        }
    }
}
