using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.PoolPlan;
using PoolKernel.Memory;
using PoolKernel.Startup;

namespace PoolKernel.Mm
{
    /// <summary>
    /// What the command line does to memory (docs/cmdline.md), in two steps around the pools' set-up.
    /// <see cref="ApplyEarly"/>, from MemoryBringUp.Run after the kernel's own reservations and before
    /// set-up: <c>mem=</c> and <c>memmap=</c> become named reservations, <c>numa=off</c>/<c>numa=fake=N</c>
    /// decide the node layout.
    /// <see cref="Apply"/>, right after set-up and before anything allocates: the pool specs are
    /// carved by <see cref="PoolPlanner"/>. Each step prints one console line per outcome; the
    /// shell's <c>cmdline</c> shows the same under each token.
    /// </summary>
    internal static unsafe class BootPools
    {
        /// <summary>mem= below this is raised to it: the kernel needs room for its pool metadata and a shell.</summary>
        internal const ulong MinMemCap = 32UL << 20;
        /// <summary>Fake node boundaries fall on page-block (2 MiB) edges, so no page block straddles two nodes.</summary>
        private const ulong FakeNodeAlign = 2UL << 20;
        /// <summary>
        /// numa=fake=N makes fewer nodes when N would make them smaller than this: one largest buddy
        /// block (order 10, 4 MiB), so every fake node can hold at least one block of every order.
        /// </summary>
        internal const ulong MinFakeNodeBytes = 4UL << 20;

        private static PoolPlanResult* s_result;
        /// <summary>mem=: the address where usable RAM reached the cap (0 = nothing capped), and the RAM above it.</summary>
        private static ulong s_capAt;
        private static ulong s_cappedBytes;
        private static ulong s_capUsed;
        /// <summary>What became of each memmap= range.</summary>
        private enum MemmapOutcome : byte
        {
            Reserved,
            /// <summary>It would have left the kernel less than <see cref="MinMemCap"/> of RAM.</summary>
            RefusedRam,
            /// <summary>The reservation table's command-line budget had no room for its entries.</summary>
            RefusedTableFull,
        }

        private static MemmapOutcome[] s_memmapOutcome;
        /// <summary>Reserved: the RAM the range kept from the pools (below any mem= cap). RefusedRam: the RAM that was left. RefusedTableFull: the entries it needed.</summary>
        private static ulong[] s_memmapValue;
        /// <summary>RefusedTableFull: the command-line entries already used when it was refused.</summary>
        private static int[] s_memmapUsed;
        /// <summary>Usable RAM left for the pools after mem= and the memmap= ranges so far (overlaps counted twice: conservative).</summary>
        private static ulong s_keptRam;

        internal static PoolPlanResult* Result => s_result;

        internal static void ApplyEarly()
        {
            BootOptions* o = KernelCommandLine.Options;
            s_result = (PoolPlanResult*)BootAllocator.AllocZeroed((nuint)sizeof(PoolPlanResult), 8);
            if (s_result == null)
                Runtime.Panic.Halt("boot arena too small for the pool plan");
            s_keptRam = Machine.Map->AvailableBytes;
            if (o->MemCap != 0)
                ApplyMemCap(o);
            s_memmapOutcome = new MemmapOutcome[BootOptions.MaxReservedRanges];
            s_memmapValue = new ulong[BootOptions.MaxReservedRanges];
            s_memmapUsed = new int[BootOptions.MaxReservedRanges];
            for (int i = 0; i < o->ReservedRangeCount; i++)
                ApplyMemmap(o, i);
            if (o->NumaOff)
            {
                int firmware = Machine.NodeCount;
                Machine.SetNumaOff();
                WriteTokenStart(o, LastToken(o, TokenKind.Numa, 0));
                Console.Write("one node (the firmware described ");
                Console.Write(firmware);
                Console.WriteLine(firmware == 1 ? " node)" : " nodes)");
            }
            else if (o->FakeNodeCount > 0)
            {
                ApplyFakeNodes(o);
            }
        }

        /// <summary>Carves the command line's pools; call right after MemoryBringUp.Run.</summary>
        internal static void Apply()
        {
            BootOptions* o = KernelCommandLine.Options;
            PoolPlanner.Apply(PhysicalMemoryOwner.Unguarded, o, s_result);
            for (int i = 0; i < s_result->Count; i++)
            {
                PoolOutcome* outcome = s_result->Outcome(i);
                if (outcome->IsCreated)
                {
                    Console.Write("cmdline: ");
                }
                else
                {
                    WriteTokenStart(o, outcome->TokenIndex);
                }
                WriteOutcome(outcome, !outcome->IsCreated && o->Pool(outcome->SpecIndex)->Origin == PoolOrigin.Pool);
                KernelCommandLine.WriteAdjustment(outcome->TokenIndex);
                Console.WriteLine();
            }
            if (s_result->PresentPagesBefore != s_result->PresentPagesAfter)
                Runtime.Panic.Halt("boot pools lost memory, pages", s_result->PresentPagesBefore - s_result->PresentPagesAfter);
        }

        /// <summary>
        /// mem=SIZE: walks usable RAM in address order and reserves everything above the point where
        /// SIZE of it has been counted (holes do not count, as in Linux).
        /// </summary>
        private static void ApplyMemCap(BootOptions* o)
        {
            int token = LastToken(o, TokenKind.Mem, 0);
            ulong cap = o->MemCap;
            WriteTokenStart(o, token);
            if (cap < MinMemCap)
            {
                Console.Write("below the ");
                Console.WriteSize(MinMemCap);
                Console.Write(" the kernel needs, ");
                Console.WriteSize(MinMemCap);
                Console.Write(" used instead; ");
                cap = MinMemCap;
            }
            SanitizedMemoryMap* map = Machine.Map;
            ulong counted = 0;
            for (int i = 0; i < map->Count && s_capAt == 0; i++)
            {
                MemoryMapEntry r = map->Get(i);
                if (r.Type != MemoryType.Available)
                    continue;
                ulong length = r.End - r.Base;
                if (counted + length > cap)
                    s_capAt = (r.Base + (cap - counted) + 0xFFF) & ~0xFFFUL;
                counted += length;
            }
            if (s_capAt == 0)
            {
                Console.Write("the machine has only ");
                Console.WriteSize(map->AvailableBytes);
                Console.WriteLine(" of usable RAM; nothing capped");
                return;
            }
            if (!Reservations.TryAddUser("mem= cap", s_capAt, Machine.RamEnd, out int needed))
            {
                Console.Write("refused, table full: the cap needs ");
                Console.Write(needed);
                Console.Write(" reservation entries; nothing capped, all RAM stays in the pools");
                Console.WriteLine();
                s_capAt = 0;
                return;
            }
            s_capUsed = cap;
            s_cappedBytes = RamBetween(s_capAt, ulong.MaxValue);
            s_keptRam -= s_cappedBytes;
            WriteCapLine();
            Console.WriteLine();
        }

        private static void WriteCapLine()
        {
            Console.Write("usable RAM capped at ");
            Console.WriteSize(s_capUsed);
            Console.Write(": RAM from ");
            Console.WriteHex(s_capAt);
            Console.Write(" reserved as 'mem= cap' (");
            Console.WriteSize(s_cappedBytes);
            Console.Write(" not used)");
        }

        /// <summary>
        /// memmap=SIZE$START: a named reservation of the range (the i-th accepted memmap= token),
        /// unless it takes RAM and would leave the kernel less than <see cref="MinMemCap"/> of it, or
        /// its entries do not fit the reservation table's command-line budget. A refused range changes
        /// nothing. RAM above a mem= cap is already out of the pools and is not counted again.
        /// </summary>
        private static void ApplyMemmap(BootOptions* o, int index)
        {
            ulong start = o->ReservedStart(index), end = o->ReservedEnd(index);
            ulong below = s_capAt != 0 && end > s_capAt ? s_capAt : end;
            ulong ram = start < below ? RamBetween(start, below) : 0;
            WriteTokenStart(o, LastToken(o, TokenKind.Memmap, index));
            if (ram != 0 && s_keptRam < ram + MinMemCap)
            {
                s_memmapOutcome[index] = MemmapOutcome.RefusedRam;
                s_memmapValue[index] = s_keptRam;
            }
            else
            {
                int used = Reservations.UserCount;
                if (Reservations.TryAddUser("memmap= range", start, end, out int needed))
                {
                    s_keptRam -= ram;
                    s_memmapOutcome[index] = MemmapOutcome.Reserved;
                    s_memmapValue[index] = ram;
                }
                else
                {
                    s_memmapOutcome[index] = MemmapOutcome.RefusedTableFull;
                    s_memmapValue[index] = (ulong)needed;
                    s_memmapUsed[index] = used;
                }
            }
            WriteMemmapLine(index, start, end);
            Console.WriteLine();
        }

        private static void WriteMemmapLine(int index, ulong start, ulong end)
        {
            ulong value = s_memmapValue[index];
            if (s_memmapOutcome[index] == MemmapOutcome.RefusedRam)
            {
                Console.Write("refused: reserving ");
                Banner.Range(start, end);
                Console.Write(" would leave less than the ");
                Console.WriteSize(MinMemCap);
                Console.Write(" of RAM the kernel needs (");
                Console.WriteSize(value);
                Console.Write(" left); not reserved, the range stays in the pools");
                return;
            }
            if (s_memmapOutcome[index] == MemmapOutcome.RefusedTableFull)
            {
                Console.Write("refused, table full: ");
                Banner.Range(start, end);
                Console.Write(" needs ");
                Console.Write(value);
                Console.Write(value == 1 ? " reservation entry and " : " reservation entries and ");
                Console.Write(Reservations.UserEntries - s_memmapUsed[index]);
                Console.Write(" of the command line's ");
                Console.Write(Reservations.UserEntries);
                Console.Write(" are left; not reserved, the range stays in the pools");
                return;
            }
            Console.Write("reserved ");
            Banner.Range(start, end);
            bool aboveCap = s_capAt != 0 && end > s_capAt;
            if (value == 0)
                Console.Write(aboveCap ? " (no RAM below the mem= cap in it; nothing more taken from the pools)" : " (no RAM there; nothing taken from the pools)");
            else
            {
                Console.Write(" (");
                Console.WriteSize(value);
                Console.Write(aboveCap ? " of RAM below the mem= cap in it, kept from the pools)" : " of RAM in it, kept from the pools)");
            }
        }

        /// <summary>
        /// numa=fake=N: usable RAM below the mem= cap, cut into N equal parts in address order, each
        /// boundary rounded up to a page-block edge.
        /// </summary>
        private static void ApplyFakeNodes(BootOptions* o)
        {
            int count = o->FakeNodeCount;
            SanitizedMemoryMap* map = Machine.Map;
            ulong limit = s_capAt != 0 ? s_capAt : ulong.MaxValue;
            ulong total = RamBetween(0, limit);
            // Fewer, larger nodes rather than nodes too small to be useful (or to hold the metadata).
            bool tooSmall = false;
            if (total / (ulong)count < MinFakeNodeBytes)
            {
                ulong fit = total / MinFakeNodeBytes;
                count = fit < 1 ? 1 : (int)fit;
                tooSmall = true;
            }
            ulong* starts = stackalloc ulong[BootOptions.MaxFakeNodes];
            starts[0] = 0;
            int made = 1;
            ulong counted = 0;
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
                    if (at <= starts[made - 1] || at >= end)
                        break;
                    starts[made++] = at;
                }
                counted += length;
            }
            Machine.SetFakeNodes(starts, made);
            WriteTokenStart(o, LastToken(o, TokenKind.Numa, 0));
            Console.Write(made);
            Console.Write(made == 1 ? " fake node of about " : " fake nodes of about ");
            Console.WriteSize((total / (ulong)made) & ~((1UL << 20) - 1));
            if (tooSmall)
            {
                Console.Write(" (fewer than the ");
                Console.Write(o->FakeNodeCount);
                Console.Write(" asked: nodes would be smaller than ");
                Console.WriteSize(MinFakeNodeBytes);
                Console.Write(")");
            }
            else if (made < count)
                Console.Write(" (fewer than asked: too little RAM to split)");
            Console.Write(", distances 10/20, CPUs round-robin; starts");
            for (int n = 0; n < made; n++)
            {
                Console.Write(" ");
                Console.WriteHex(starts[n]);
            }
            Console.WriteLine();
        }

        /// <summary>Bytes of usable RAM (sanitized map) in [start, end).</summary>
        private static ulong RamBetween(ulong start, ulong end)
        {
            SanitizedMemoryMap* map = Machine.Map;
            ulong total = 0;
            for (int i = 0; i < map->Count; i++)
            {
                MemoryMapEntry r = map->Get(i);
                if (r.Type != MemoryType.Available)
                    continue;
                ulong lo = r.Base > start ? r.Base : start;
                ulong hi = r.End < end ? r.End : end;
                if (hi > lo)
                    total += hi - lo;
            }
            return total;
        }

        /// <summary>Index of the <paramref name="nth"/> (0-based) token of a kind that was not rejected; -1 if none.</summary>
        private static int LastToken(BootOptions* o, TokenKind kind, int nth)
        {
            int found = -1, seen = 0;
            for (int i = 0; i < o->TokenCount; i++)
            {
                TokenRecord* t = o->Token(i);
                if (t->Kind != kind || t->Status == TokenStatus.Rejected)
                    continue;
                if (kind == TokenKind.Memmap)
                {
                    if (seen++ == nth)
                        return i;
                    continue;
                }
                found = i;
            }
            return found;
        }

        private static void WriteTokenStart(BootOptions* o, int token)
        {
            Console.Write("cmdline: '");
            if (token >= 0)
            {
                TokenRecord* t = o->Token(token);
                Console.WriteAscii(o->Text + t->Offset, (ulong)t->Length);
            }
            Console.Write("': ");
        }

        private static void WriteSpecName(PoolSpec* s)
        {
            for (int c = 0; c < s->NameLength; c++)
                Console.Write((char)s->NameByte(c));
        }

        /// <summary>
        /// The outcome as text, without a line end: "pool NAME: created 64 MiB in node0-dma32; notes"
        /// or, for a refusal, the numbers and what was done instead. <paramref name="nameInToken"/>:
        /// the token already shows the name, so a refusal does not repeat it.
        /// </summary>
        internal static void WriteOutcome(PoolOutcome* r, bool nameInToken)
        {
            BootOptions* o = KernelCommandLine.Options;
            PoolSpec* s = o->Pool(r->SpecIndex);
            PhysicalMemory* pm = PhysicalMemoryOwner.Unguarded;
            if (r->IsCreated || !nameInToken)
            {
                Console.Write("pool ");
                if (s->Origin == PoolOrigin.KernelCore)
                    Console.Write("movable");
                else
                    WriteSpecName(s);
                Console.Write(": ");
            }
            const string Kept = "pool not created, memory stays in the default pools";
            switch (r->Code)
            {
                case OutcomeCode.Created:
                    Console.Write("created ");
                    Console.WriteSize(r->GotBytes);
                    Console.Write(" in ");
                    MemoryText.PoolName(pm, new PoolId(r->Donor));
                    if (r->DonorCount > 1)
                    {
                        Console.Write(" and ");
                        Console.Write(r->DonorCount - 1);
                        Console.Write(r->DonorCount == 2 ? " more pool" : " more pools");
                    }
                    WriteNotes(r, s);
                    return;
                case OutcomeCode.TooLarge:
                    Console.Write("needs ");
                    Console.WriteSize(r->PlannedBytes);
                    Console.Write(", only ");
                    Console.WriteSize(r->AvailableBytes);
                    Console.Write(" matches; ");
                    Console.Write(Kept);
                    return;
                case OutcomeCode.RangeTaken:
                    Console.Write("needs ");
                    Console.WriteSize(r->PlannedBytes);
                    Console.Write(", but pool ");
                    WriteSpecName(o->Pool((int)r->Value));
                    Console.Write(" already holds part of that memory (");
                    Console.WriteSize(r->AvailableBytes);
                    Console.Write(" could have been had); ");
                    Console.Write(Kept);
                    return;
                case OutcomeCode.SizeOverflow:
                    if ((r->Notes & OutcomeNotes.Percent) != 0)
                    {
                        Console.Write(s->SizePercent);
                        Console.Write("% of memory");
                    }
                    else
                    {
                        Console.Write(r->RequestedBytes);
                        Console.Write(" B");
                    }
                    Console.Write(" rounded up to whole ");
                    Console.WriteSize(r->Value);
                    Console.Write(" units does not fit in 64 bits; ");
                    Console.Write(Kept);
                    return;
                case OutcomeCode.NoSuchNode:
                    Console.Write("node ");
                    Console.Write(r->Node);
                    Console.Write(" does not exist or has no memory (the machine has ");
                    Console.Write(r->Value);
                    Console.Write(r->Value == 1 ? " node, 0 bytes could have been had); " : " nodes, 0 bytes could have been had); ");
                    Console.Write(Kept);
                    return;
                case OutcomeCode.WindowEmpty:
                    Console.Write("no memory in ");
                    Console.WriteHex(r->WindowLow);
                    Console.Write("-");
                    if (r->WindowHigh == 0)
                        Console.Write("end");
                    else
                        Console.WriteHex(r->WindowHigh);
                    Console.Write(" (0 bytes could have been had); ");
                    Console.Write(Kept);
                    return;
                case OutcomeCode.NameClash:
                    Console.Write("the name is taken by pool ");
                    Console.Write(r->Value);
                    Console.Write(" (");
                    MemoryText.PoolName(pm, new PoolId((byte)r->Value));
                    Console.Write("); ");
                    Console.Write(Kept);
                    return;
                case OutcomeCode.OwnerUnsupported:
                    Console.Write("owner ");
                    Console.Write(r->Value);
                    Console.Write(" is above 63 (pools keep a 64-bit owner mask); ");
                    Console.Write(Kept);
                    return;
                case OutcomeCode.CoreCoversAll:
                    Console.Write("kernelcore ");
                    Console.WriteSize(r->PlannedBytes);
                    Console.Write(" leaves no whole page block of the ");
                    Console.WriteSize(r->AvailableBytes);
                    Console.Write(" of memory movable; no movable pool created");
                    return;
                case OutcomeCode.Failed:
                    Console.Write("the memory manager refused a step (");
                    Console.Write(MemoryText.Status((MemoryStatus)r->Value));
                    Console.Write("); partial work undone, ");
                    Console.Write(Kept);
                    return;
                default:
                    Console.Write(PoolOutcome.Describe(r->Code));
                    return;
            }
        }

        private static void WriteNotes(PoolOutcome* r, PoolSpec* s)
        {
            if ((r->Notes & OutcomeNotes.Percent) != 0 && s->Origin == PoolOrigin.KernelCore)
            {
                Console.Write("; the kernel keeps ");
                Console.Write(s->SizePercent);
                Console.Write("%, the rest is movable");
            }
            else if ((r->Notes & OutcomeNotes.Percent) != 0)
            {
                Console.Write("; ");
                Console.Write(s->SizePercent);
                Console.Write(s->Node >= 0 ? "% of the node's memory is " : "% of the machine's memory is ");
                Console.WriteSize(r->RequestedBytes);
            }
            if ((r->Notes & OutcomeNotes.RoundedUp) != 0)
            {
                Console.Write("; size rounded up to whole page blocks (asked ");
                Console.WriteSize(r->RequestedBytes);
                Console.Write(")");
            }
            if ((r->Notes & OutcomeNotes.KernelKeepsMore) != 0)
            {
                Console.Write("; only ");
                Console.WriteSize(r->PlannedBytes);
                Console.Write(" of the ");
                Console.WriteSize(r->RequestedBytes);
                Console.Write(" beyond kernelcore is free in whole page blocks, so the kernel keeps more than kernelcore");
            }
            WriteNote(r, OutcomeNotes.LimitedByMax);
            WriteNote(r, OutcomeNotes.MinClamped);
            WriteNote(r, OutcomeNotes.MaxOverflow);
            WriteNote(r, OutcomeNotes.MinOverflow);
            WriteNote(r, OutcomeNotes.RangeTrimmed);
            WriteNote(r, OutcomeNotes.Pieces);
            if ((r->Notes & OutcomeNotes.RulesRecorded) != 0 && s->BlockSize == 0)
            {
                Console.Write(";");
                if (r->Boundary != 0)
                {
                    Console.Write(" boundary ");
                    Console.WriteSize(r->Boundary);
                }
                if (r->Align != 0)
                {
                    Console.Write(" align ");
                    Console.WriteSize(r->Align);
                }
                Console.Write(" recorded for allocations");
            }
        }

        private static void WriteNote(PoolOutcome* r, OutcomeNotes note)
        {
            if ((r->Notes & note) == 0)
                return;
            Console.Write("; ");
            Console.Write(PoolOutcome.DescribeNote(note));
        }

        /// <summary>
        /// For the shell's cmdline: what the token did to memory, as indented lines (nothing for
        /// tokens that do not touch memory).
        /// </summary>
        internal static void WriteApplied(int token)
        {
            BootOptions* o = KernelCommandLine.Options;
            TokenRecord* t = o->Token(token);
            if (t->Status == TokenStatus.Rejected)
                return;
            if (t->Kind == TokenKind.Mem && token == LastToken(o, TokenKind.Mem, 0))
            {
                Console.Write("       -> ");
                if (s_capAt == 0)
                    Console.Write("nothing capped (less usable RAM than the cap)");
                else
                    WriteCapLine();
                Console.WriteLine();
            }
            if (t->Kind == TokenKind.Memmap)
            {
                for (int i = 0; i < o->ReservedRangeCount; i++)
                {
                    if (LastToken(o, TokenKind.Memmap, i) != token)
                        continue;
                    Console.Write("       -> ");
                    WriteMemmapLine(i, o->ReservedStart(i), o->ReservedEnd(i));
                    Console.WriteLine();
                }
            }
            if (t->Kind == TokenKind.Numa && token == LastToken(o, TokenKind.Numa, 0))
            {
                Console.Write("       -> ");
                Console.Write(Machine.NodeCount);
                Console.WriteLine(Machine.Numa == Machine.NumaMode.Fake ? " fake nodes" : Machine.Numa == Machine.NumaMode.Off ? " node (numa=off)" : " nodes (firmware)");
            }
            for (int i = 0; i < s_result->Count; i++)
            {
                PoolOutcome* r = s_result->Outcome(i);
                if (r->TokenIndex != token)
                    continue;
                Console.Write("       -> ");
                WriteOutcome(r, false);
                Console.WriteLine();
            }
        }
    }
}
