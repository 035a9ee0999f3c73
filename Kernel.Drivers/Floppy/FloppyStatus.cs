namespace PoolKernel.Drivers.Floppy
{
    /// <summary>
    /// What the 82077AA's result bytes ST0, ST1 and ST2 mean, bit by bit, for error messages that
    /// say what failed instead of printing numbers. Pure: the driver writes the names out.
    /// </summary>
    public static class FloppyStatus
    {
        /// <summary>ST0 bits 7-6, the interrupt code: how the command ended.</summary>
        public static string Termination(byte st0) => (st0 >> 6) switch
        {
            0 => "normal termination",
            1 => "abnormal termination",
            2 => "invalid command",
            _ => "drive not ready (polling)",
        };

        /// <summary>
        /// The name of flag <paramref name="bit"/> of status register <paramref name="register"/>
        /// (0, 1 or 2), or null for a reserved bit or one that is not a flag (ST0's termination
        /// code, head and drive select: see <see cref="Termination"/> and <see cref="Head"/>).
        /// </summary>
        public static string Flag(int register, int bit)
        {
            switch (register)
            {
                case 0:
                    return bit switch
                    {
                        5 => "seek end",
                        4 => "equipment check (no track 0 signal)",
                        3 => "not ready",
                        _ => null,
                    };
                case 1:
                    return bit switch
                    {
                        7 => "end of cylinder (sector past the track's last)",
                        5 => "CRC error",
                        4 => "overrun (DMA too slow)",
                        2 => "no data (sector not found)",
                        1 => "write protected",
                        0 => "missing address mark (no medium, or wrong data rate)",
                        _ => null,
                    };
                case 2:
                    return bit switch
                    {
                        6 => "deleted data mark",
                        5 => "CRC error in the data field",
                        4 => "wrong cylinder",
                        3 => "scan equal",
                        2 => "scan not satisfied",
                        1 => "bad cylinder",
                        0 => "missing data address mark",
                        _ => null,
                    };
                default:
                    return null;
            }
        }

        /// <summary>ST0 bit 2: the head the command ended on.</summary>
        public static int Head(byte st0) => (st0 >> 2) & 1;
    }
}
