using static PoolKernel.Drivers.Ata.AtaRegisters;

namespace PoolKernel.Drivers.Ata
{
    /// <summary>
    /// Building a bus-master Physical Region Descriptor table (SFF-8038i): one 8-byte entry per
    /// memory region, dword 0 the region's bus address, dword 1 its byte count in bits 0-15 (where 0
    /// means 64 KiB) and the end-of-table flag in bit 31 on the last entry. Pure, host-tested; the
    /// checks of the addresses against the device's rules stay with the caller (<see cref="AtaChannel"/>).
    /// </summary>
    internal static unsafe class AtaPrd
    {
        /// <summary>The bytes the next entry covers: what is left of the transfer, at most one bounce buffer.</summary>
        internal static ulong EntryLength(ulong remaining, ulong bufferBytes) => remaining < bufferBytes ? remaining : bufferBytes;

        /// <summary>
        /// Writes entry <paramref name="index"/> of <paramref name="table"/>. The caller guarantees
        /// 1 &lt;= <paramref name="length"/> &lt;= <see cref="AtaRegisters.PrdMaxBytes"/> and a
        /// <paramref name="physical"/> below 4 GiB (the register holds 32 bits).
        /// </summary>
        internal static void Write(uint* table, int index, ulong physical, ulong length, bool last)
        {
            table[index * 2] = (uint)physical;
            table[index * 2 + 1] = (uint)(length & 0xFFFF) | (last ? PrdEndOfTable : 0);
        }
    }
}
