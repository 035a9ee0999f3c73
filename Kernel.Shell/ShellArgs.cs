using PoolKernel.Boot.CommandLine;

namespace PoolKernel.Shell
{
    /// <summary>What reading one numeric shell argument gave.</summary>
    public enum ArgStatus : byte
    {
        Ok = 0,
        /// <summary>The command line has no word there.</summary>
        Missing,
        /// <summary>Not a number: decimal, 0x hex, with at most one K/M/G/T suffix.</summary>
        NotANumber,
        /// <summary>A number beyond 2^64 - 1 (with its suffix applied).</summary>
        TooLarge,
        /// <summary>A number, but outside the range the argument accepts.</summary>
        OutOfRange,
    }

    /// <summary>
    /// The one reader of the shell's numeric arguments (pure: the Kernel.Shell project, host-tested). Every
    /// argument has an explicit range [min, max] in 64 bits, and the value is compared with it
    /// before any narrowing, so "alloc 4294967306" is refused instead of becoming order 10.
    /// Numbers are those of the kernel command line (<see cref="SizeParser.ParseSize"/>): decimal or
    /// 0x hex, optionally followed by one K, M, G or T (powers of 1024), overflow refused.
    /// </summary>
    public static unsafe class ShellArgs
    {
        /// <summary>
        /// Reads the word [p, p+length) as a number in [min, max]. A null <paramref name="p"/> means
        /// the word is missing. <paramref name="value"/> is the number when Ok, otherwise 0.
        /// </summary>
        public static ArgStatus Read(byte* p, int length, ulong min, ulong max, out ulong value)
        {
            value = 0;
            if (p == null)
                return ArgStatus.Missing;
            if (!IsNumber(p, length))
                return ArgStatus.NotANumber;
            DiagnosticCode code = SizeParser.ParseSize(p, length, false, out ulong n, out _);
            if (code == DiagnosticCode.NumberOverflow)
                return ArgStatus.TooLarge;
            if (code != DiagnosticCode.None)
                return ArgStatus.NotANumber;
            if (n < min || n > max)
                return ArgStatus.OutOfRange;
            value = n;
            return ArgStatus.Ok;
        }

        /// <summary>
        /// The syntax alone: decimal digits, or 0x/0X and hex digits, then at most one of K/M/G/T
        /// in any case. Checked first so that only a well-formed number can be "too large".
        /// </summary>
        private static bool IsNumber(byte* p, int length)
        {
            int i = 0;
            bool hex = length > 2 && p[0] == (byte)'0' && (p[1] == (byte)'x' || p[1] == (byte)'X');
            if (hex)
                i = 2;
            int digitsStart = i;
            while (i < length && (hex ? IsHexDigit(p[i]) : (uint)(p[i] - (byte)'0') <= 9))
                i++;
            if (i == digitsStart)
                return false;
            if (i == length)
                return true;
            if (i != length - 1)
                return false;
            byte suffix = (byte)(p[i] | 0x20);
            return suffix == (byte)'k' || suffix == (byte)'m' || suffix == (byte)'g' || suffix == (byte)'t';
        }

        private static bool IsHexDigit(byte c) =>
            (uint)(c - (byte)'0') <= 9 || (uint)((c | 0x20) - (byte)'a') <= 5;

        /// <summary>Why an argument was refused, as the shell prints it after the word.</summary>
        public static string Describe(ArgStatus status) => status switch
        {
            ArgStatus.Ok => "ok",
            ArgStatus.Missing => "missing",
            ArgStatus.NotANumber => "is not a number (decimal or 0x hex, optional K/M/G/T)",
            ArgStatus.TooLarge => "is beyond 2^64-1",
            _ => "is out of range",
        };
    }
}
