using System;
using PoolKernel.Boot.Layout;

namespace PoolKernel.Mm
{
    /// <summary>
    /// The kernel's one reservation table (<see cref="ReservationTable"/>, pure: the rules and the
    /// interval arithmetic are there and host-tested). Its storage comes from the boot allocator on
    /// first use; a kernel reservation that does not fit stops the kernel rather than give the range
    /// to the pools.
    /// </summary>
    internal static unsafe class Reservations
    {
        private static ReservationTable* s_table;

        /// <summary>The table; allocated on first use.</summary>
        internal static ReservationTable* Table
        {
            get
            {
                if (s_table == null)
                {
                    s_table = (ReservationTable*)BootAllocator.AllocZeroed((nuint)sizeof(ReservationTable), 8);
                    if (s_table == null)
                        Runtime.Panic.Halt("boot arena too small for the reservation table");
                }
                return s_table;
            }
        }

        internal static int Count => Table->Count;

        internal static ReservationTable.Entry Get(int i) => Table->Get(i);

        /// <summary>
        /// A kernel reservation: never dropped: a full table here means
        /// <see cref="ReservationTable.KernelEntries"/> is wrong, and the kernel stops.
        /// </summary>
        internal static void AddKernel(ReservationName name, ulong start, ulong end)
        {
            if (!Table->TryAddKernel(name, start, end, out int needed))
                Runtime.Panic.Halt("reservations: table full for a kernel reservation, entries needed", (ulong)needed);
        }

        internal static ulong TotalAvailableBytes => Table->TotalAvailableBytes;
    }
}
