using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.PoolPlan;
using PoolKernel.Memory;
using PoolKernel.Startup;

namespace PoolKernel.Mm
{
    /// <summary>
    /// The console text of what the command line did to memory (<see cref="BootPools"/>): one line
    /// per outcome at boot, "cmdline: 'TOKEN': what happened", and the same under each token for the
    /// shell's <c>cmdline</c>. Reads only the recorded <see cref="BootLayoutResult"/>.
    /// </summary>
    internal static unsafe class BootPoolsText
    {
        /// <summary>The boot lines of mem=, each memmap= range and numa=, in that order.</summary>
        internal static void WriteEarly(BootOptions* o, BootLayoutResult* r, int firmwareNodes)
        {
            if (o->MemCap != 0)
                WriteMemCap(o, r);
            for (int i = 0; i < o->ReservedRangeCount; i++)
            {
                WriteTokenStart(o, LastToken(o, TokenKind.Memmap, i));
                WriteMemmapLine(r, i, o->ReservedStart(i), o->ReservedEnd(i));
                Console.WriteLine();
            }
            if (r->Numa == NumaLayout.Off)
            {
                WriteTokenStart(o, LastToken(o, TokenKind.Numa, 0));
                Console.Write("one node (the firmware described ");
                Console.Write(firmwareNodes);
                Console.WriteLine(firmwareNodes == 1 ? " node)" : " nodes)");
            }
            else if (r->Numa == NumaLayout.Fake)
            {
                WriteFakeNodes(o, r);
            }
        }

        /// <summary>The boot lines of the pool specs: one per outcome, created or refused.</summary>
        internal static void WritePools(BootOptions* o, PoolPlanResult* pools)
        {
            for (int i = 0; i < pools->Count; i++)
            {
                PoolOutcome* outcome = pools->Outcome(i);
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
        }

        private static void WriteMemCap(BootOptions* o, BootLayoutResult* r)
        {
            WriteTokenStart(o, LastToken(o, TokenKind.Mem, 0));
            if (r->CapRaised)
            {
                Console.Write("below the ");
                Console.WriteSize(BootLayout.MinMemCap);
                Console.Write(" the kernel needs, ");
                Console.WriteSize(BootLayout.MinMemCap);
                Console.Write(" used instead; ");
            }
            if (r->Cap == MemCapOutcome.NotReached)
            {
                Console.Write("the machine has only ");
                Console.WriteSize(r->AvailableBytes);
                Console.WriteLine(" of usable RAM; nothing capped");
                return;
            }
            if (r->Cap == MemCapOutcome.RefusedTableFull)
            {
                Console.Write("refused, table full: the cap needs ");
                Console.Write(r->CappedBytes);
                Console.Write(" reservation entries; nothing capped, all RAM stays in the pools");
                Console.WriteLine();
                return;
            }
            WriteCapLine(r);
            Console.WriteLine();
        }

        private static void WriteCapLine(BootLayoutResult* r)
        {
            Console.Write("usable RAM capped at ");
            Console.WriteSize(r->CapUsed);
            Console.Write(": RAM from ");
            Console.WriteHex(r->CapAt);
            Console.Write(" reserved as 'mem= cap' (");
            Console.WriteSize(r->CappedBytes);
            Console.Write(" not used)");
        }

        private static void WriteMemmapLine(BootLayoutResult* r, int index, ulong start, ulong end)
        {
            ulong value = r->MemmapValue(index);
            MemmapOutcome outcome = r->MemmapOutcomeOf(index);
            if (outcome == MemmapOutcome.RefusedRam)
            {
                Console.Write("refused: reserving ");
                Banner.Range(start, end);
                Console.Write(" would leave less than the ");
                Console.WriteSize(BootLayout.MinMemCap);
                Console.Write(" of RAM the kernel needs (");
                Console.WriteSize(value);
                Console.Write(" left); not reserved, the range stays in the pools");
                return;
            }
            if (outcome == MemmapOutcome.RefusedTableFull)
            {
                Console.Write("refused, table full: ");
                Banner.Range(start, end);
                Console.Write(" needs ");
                Console.Write(value);
                Console.Write(value == 1 ? " reservation entry and " : " reservation entries and ");
                Console.Write(ReservationTable.UserEntries - r->MemmapUsed(index));
                Console.Write(" of the command line's ");
                Console.Write(ReservationTable.UserEntries);
                Console.Write(" are left; not reserved, the range stays in the pools");
                return;
            }
            Console.Write("reserved ");
            Banner.Range(start, end);
            bool aboveCap = r->CapAt != 0 && end > r->CapAt;
            if (value == 0)
                Console.Write(aboveCap ? " (no RAM below the mem= cap in it; nothing more taken from the pools)" : " (no RAM there; nothing taken from the pools)");
            else
            {
                Console.Write(" (");
                Console.WriteSize(value);
                Console.Write(aboveCap ? " of RAM below the mem= cap in it, kept from the pools)" : " of RAM in it, kept from the pools)");
            }
        }

        private static void WriteFakeNodes(BootOptions* o, BootLayoutResult* r)
        {
            int made = r->FakeNodeCount;
            WriteTokenStart(o, LastToken(o, TokenKind.Numa, 0));
            Console.Write(made);
            Console.Write(made == 1 ? " fake node of about " : " fake nodes of about ");
            Console.WriteSize((r->FakeTotal / (ulong)made) & ~((1UL << 20) - 1));
            if (r->FakeTooSmall)
            {
                Console.Write(" (fewer than the ");
                Console.Write(o->FakeNodeCount);
                Console.Write(" asked: nodes would be smaller than ");
                Console.WriteSize(BootLayout.MinFakeNodeBytes);
                Console.Write(")");
            }
            else if (made < o->FakeNodeCount)
                Console.Write(" (fewer than asked: too little RAM to split)");
            Console.Write(", distances 10/20, CPUs round-robin; starts");
            for (int n = 0; n < made; n++)
            {
                Console.Write(" ");
                Console.WriteHex(r->FakeStart(n));
            }
            Console.WriteLine();
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
        private static void WriteOutcome(PoolOutcome* r, bool nameInToken)
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
            WriteNote(r, OutcomeNotes.GuaranteedClamped);
            WriteNote(r, OutcomeNotes.MaxOverflow);
            WriteNote(r, OutcomeNotes.GuaranteedOverflow);
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
            BootLayoutResult* r = BootPools.Result;
            TokenRecord* t = o->Token(token);
            if (t->Status == TokenStatus.Rejected)
                return;
            if (t->Kind == TokenKind.Mem && token == LastToken(o, TokenKind.Mem, 0))
            {
                Console.Write("       -> ");
                if (r->CapAt == 0)
                    Console.Write("nothing capped (less usable RAM than the cap)");
                else
                    WriteCapLine(r);
                Console.WriteLine();
            }
            if (t->Kind == TokenKind.Memmap)
            {
                for (int i = 0; i < o->ReservedRangeCount; i++)
                {
                    if (LastToken(o, TokenKind.Memmap, i) != token)
                        continue;
                    Console.Write("       -> ");
                    WriteMemmapLine(r, i, o->ReservedStart(i), o->ReservedEnd(i));
                    Console.WriteLine();
                }
            }
            if (t->Kind == TokenKind.Numa && token == LastToken(o, TokenKind.Numa, 0))
            {
                Console.Write("       -> ");
                Console.Write(Machine.NodeCount);
                Console.WriteLine(Machine.Numa == Machine.NumaMode.Fake ? " fake nodes" : Machine.Numa == Machine.NumaMode.Off ? " node (numa=off)" : " nodes (firmware)");
            }
            for (int i = 0; i < r->Pools.Count; i++)
            {
                PoolOutcome* outcome = r->Pools.Outcome(i);
                if (outcome->TokenIndex != token)
                    continue;
                Console.Write("       -> ");
                WriteOutcome(outcome, false);
                Console.WriteLine();
            }
        }
    }
}
