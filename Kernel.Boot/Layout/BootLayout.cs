using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Memory;

namespace PoolKernel.Boot.Layout
{
    /// <summary>
    /// The arithmetic of the command line's memory layout (docs/cmdline.md), before the pools are
    /// set up: mem= and memmap= become named reservations, numa=off and numa=fake=N decide the
    /// nodes. Pure: the kernel applies the result (reservations into its table, nodes into Machine)
    /// and prints it; the host tests run it over QEMU's maps.
    /// </summary>
    public static unsafe class BootLayout
    {
        /// <summary>mem= below this is raised to it: the kernel needs room for its pool metadata and a shell.</summary>
        public const ulong MinMemCap = 32UL << 20;
        /// <summary>Fake node boundaries fall on page-block (2 MiB) edges, so no page block straddles two nodes.</summary>
        public const ulong FakeNodeAlign = 2UL << 20;
        /// <summary>
        /// numa=fake=N makes fewer nodes when N would make them smaller than this: one largest buddy
        /// block (order 10, 4 MiB), so every fake node can hold at least one block of every order.
        /// </summary>
        public const ulong MinFakeNodeBytes = 4UL << 20;

        private const ulong PageMask = 0xFFF;

        /// <summary>
        /// mem=, then every accepted memmap= range in order, then numa=: reservations go into
        /// <paramref name="table"/> (the command line's share), everything else into
        /// <paramref name="result"/> (cleared first, except its <see cref="BootLayoutResult.Pools"/>).
        /// <paramref name="ramEnd"/> is the end of the highest available range: the cap reserves up to it.
        /// </summary>
        public static void Apply(SanitizedMemoryMap* map, BootOptions* options, ReservationTable* table, ulong ramEnd, BootLayoutResult* result)
        {
            result->Cap = MemCapOutcome.None;
            result->CapRaised = false;
            result->CapUsed = 0;
            result->CapAt = 0;
            result->CappedBytes = 0;
            result->AvailableBytes = map->AvailableBytes;
            result->KeptRam = result->AvailableBytes;
            result->Numa = NumaLayout.Firmware;
            result->FakeNodeCount = 0;
            result->FakeTotal = 0;
            result->FakeTooSmall = false;
            if (options->MemCap != 0)
                ApplyMemCap(map, options->MemCap, table, ramEnd, result);
            for (int i = 0; i < options->ReservedRangeCount; i++)
                ApplyMemmap(map, options->ReservedStart(i), options->ReservedEnd(i), i, table, result);
            if (options->NumaOff)
                result->Numa = NumaLayout.Off;
            else if (options->FakeNodeCount > 0)
                SplitFakeNodes(map, result->CapAt != 0 ? result->CapAt : ulong.MaxValue, options->FakeNodeCount, result);
        }

        /// <summary>
        /// The page-aligned address where <paramref name="cap"/> bytes of usable RAM have been counted,
        /// walking the map in address order (holes do not count, as in Linux); 0 when the machine has
        /// no more usable RAM than that.
        /// </summary>
        public static ulong CapAddress(SanitizedMemoryMap* map, ulong cap)
        {
            ulong counted = 0;
            for (int i = 0; i < map->Count; i++)
            {
                MemoryMapEntry r = map->Get(i);
                if (r.Type != MemoryType.Available)
                    continue;
                ulong length = r.End - r.Base;
                if (counted + length > cap)
                    return (r.Base + (cap - counted) + PageMask) & ~PageMask;
                counted += length;
            }
            return 0;
        }

        /// <summary>
        /// memmap= may reserve <paramref name="ram"/> bytes of RAM only if <see cref="MinMemCap"/> of
        /// the <paramref name="keptRam"/> the pools still have is left afterwards.
        /// </summary>
        public static bool LeavesTooLittle(ulong keptRam, ulong ram) => ram != 0 && keptRam < ram + MinMemCap;

        /// <summary>
        /// numa=fake=N: usable RAM below <paramref name="limit"/>, cut into N equal parts in address
        /// order, each boundary rounded up to a page-block edge; fewer, larger nodes when a part would
        /// be smaller than <see cref="MinFakeNodeBytes"/>, or when a boundary would not fall inside
        /// RAM past the previous one.
        /// </summary>
        public static void SplitFakeNodes(SanitizedMemoryMap* map, ulong limit, int asked, BootLayoutResult* result)
        {
            int count = asked;
            ulong total = map->AvailableBytesIn(0, limit);
            bool tooSmall = false;
            if (total / (ulong)count < MinFakeNodeBytes)
            {
                ulong fit = total / MinFakeNodeBytes;
                count = fit < 1 ? 1 : (int)fit;
                tooSmall = true;
            }
            result->SetFakeStart(0, 0);
            int made = 1;
            ulong counted = 0;
            ulong previous = 0;
            for (int i = 0; i < map->Count && made < count; i++)
            {
                MemoryMapEntry r = map->Get(i);
                if (r.Type != MemoryType.Available || r.Base >= limit)
                    continue;
                ulong end = r.End < limit ? r.End : limit;
                ulong length = end - r.Base;
                while (made < count && counted + length > total / (ulong)count * (ulong)made)
                {
                    ulong at = r.Base + (total / (ulong)count * (ulong)made - counted);
                    at = (at + FakeNodeAlign - 1) & ~(FakeNodeAlign - 1);
                    if (at <= previous || at >= end)
                        break;
                    result->SetFakeStart(made++, at);
                    previous = at;
                }
                counted += length;
            }
            result->Numa = NumaLayout.Fake;
            result->FakeNodeCount = made;
            result->FakeTotal = total;
            result->FakeTooSmall = tooSmall;
        }

        private static void ApplyMemCap(SanitizedMemoryMap* map, ulong asked, ReservationTable* table, ulong ramEnd, BootLayoutResult* result)
        {
            ulong cap = asked;
            if (cap < MinMemCap)
            {
                cap = MinMemCap;
                result->CapRaised = true;
            }
            result->CapUsed = cap;
            ulong at = CapAddress(map, cap);
            if (at == 0)
            {
                result->Cap = MemCapOutcome.NotReached;
                return;
            }
            if (!table->TryAddUser(ReservationName.MemCap, at, ramEnd, out int needed))
            {
                result->Cap = MemCapOutcome.RefusedTableFull;
                result->CappedBytes = (ulong)needed;
                return;
            }
            result->Cap = MemCapOutcome.Capped;
            result->CapAt = at;
            result->CappedBytes = map->AvailableBytesIn(at, ulong.MaxValue);
            result->KeptRam -= result->CappedBytes;
        }

        /// <summary>
        /// memmap=SIZE$START: a named reservation of the range, unless it takes RAM and would leave the
        /// kernel less than <see cref="MinMemCap"/> of it, or its entries do not fit the command line's
        /// budget. A refused range changes nothing. RAM above a mem= cap is already out of the pools
        /// and is not counted again.
        /// </summary>
        private static void ApplyMemmap(SanitizedMemoryMap* map, ulong start, ulong end, int index, ReservationTable* table, BootLayoutResult* result)
        {
            ulong below = result->CapAt != 0 && end > result->CapAt ? result->CapAt : end;
            ulong ram = start < below ? map->AvailableBytesIn(start, below) : 0;
            if (LeavesTooLittle(result->KeptRam, ram))
            {
                result->SetMemmap(index, MemmapOutcome.RefusedRam, result->KeptRam, 0);
                return;
            }
            int used = table->UserCount;
            if (!table->TryAddUser(ReservationName.MemmapRange, start, end, out int needed))
            {
                result->SetMemmap(index, MemmapOutcome.RefusedTableFull, (ulong)needed, used);
                return;
            }
            result->KeptRam -= ram;
            result->SetMemmap(index, MemmapOutcome.Reserved, ram, 0);
        }
    }
}
