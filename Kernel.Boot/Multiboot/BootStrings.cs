namespace PoolKernel.Boot.Multiboot
{
    internal static unsafe class BootStrings
    {
        /// <summary>
        /// Bound for strings reached through a bare pointer (multiboot1): a kernel command line or a
        /// loader name is far shorter; a longer run without NUL means the pointer is wrong.
        /// </summary>
        public const uint MaxPointerStringLength = 4096;

        /// <summary>
        /// Bound for the command line through a bare pointer: beyond the 4096 bytes the kernel parses
        /// (CommandLine.BootOptions.MaxTextLength), so that the parser can say how much it ignored and
        /// whether a run= was lost, instead of the line being cut silently here.
        /// </summary>
        public const uint MaxPointerCommandLineLength = 64 * 1024;

        /// <summary>
        /// Bytes before the first NUL within [s, s + limit). Returns false (length = limit) when there
        /// is no NUL inside the bound.
        /// </summary>
        public static bool BoundedLength(byte* s, uint limit, out uint length)
        {
            for (uint i = 0; i < limit; i++)
            {
                if (s[i] == 0)
                {
                    length = i;
                    return true;
                }
            }
            length = limit;
            return false;
        }
    }
}
