using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Layout;
using PoolKernel.Boot.PoolPlan;
using PoolKernel.Boot.Text;
using PoolKernel.Memory;

namespace PoolKernel.Boot.Reports
{
    /// <summary>
    /// The text of the command line: its diagnostics (one line per bad token) and what it did to
    /// memory (Kernel/Mm/BootPools.cs): one line per outcome at boot, "cmdline: 'TOKEN': what
    /// happened", and the same under each token for the shell's <c>cmdline</c>. Reads only the
    /// parsed options, the recorded <see cref="BootLayoutResult"/>, the node layout and the pools.
    /// The kernel has one on its console; the host simulator (Kernel.Sim) one on a string.
    /// Call its methods on the variable that holds it (a copy would not see Result and Memory set later).
    /// </summary>
    public unsafe struct CommandLineText
    {
        private readonly TextOut _w;
        private readonly BootOptions* _o;
        private readonly NodeLayout* _nodes;

        /// <summary>What the command line did to memory; set before <see cref="WriteEarly"/> output is asked for again (cmdline).</summary>
        public BootLayoutResult* Result;

        /// <summary>The pools, once set up (outcome lines name pools by their names).</summary>
        public PhysicalMemory* Memory;

        public CommandLineText(TextOut w, BootOptions* options, NodeLayout* nodes)
        {
            _w = w;
            _o = options;
            _nodes = nodes;
            Result = null;
            Memory = null;
        }

        /// <summary>The boot lines of mem=, each memmap= range and numa=, in that order.</summary>
        public void WriteEarly(BootOptions* o, BootLayoutResult* r, int firmwareNodes)
        {
            if (o->MemCap != 0)
                WriteMemCap(o, r);
            for (int i = 0; i < o->ReservedRangeCount; i++)
            {
                WriteTokenStart(o, LastToken(o, TokenKind.Memmap, i));
                WriteMemmapLine(r, i, o->ReservedStart(i), o->ReservedEnd(i));
                _w.WriteLine();
            }
            if (r->Numa == NumaLayout.Off)
            {
                WriteTokenStart(o, LastToken(o, TokenKind.Numa, 0));
                _w.Write("one node (the firmware described ");
                _w.Write(firmwareNodes);
                _w.WriteLine(firmwareNodes == 1 ? " node)" : " nodes)");
            }
            else if (r->Numa == NumaLayout.Fake)
            {
                WriteFakeNodes(o, r);
            }
        }

        /// <summary>The boot lines of the pool specs: one per outcome, created or refused.</summary>
        public void WritePools(BootOptions* o, PoolPlanResult* pools)
        {
            for (int i = 0; i < pools->Count; i++)
            {
                PoolOutcome* outcome = pools->Outcome(i);
                if (outcome->IsCreated)
                {
                    _w.Write("cmdline: ");
                }
                else
                {
                    WriteTokenStart(o, outcome->TokenIndex);
                }
                WriteOutcome(outcome, !outcome->IsCreated && o->Pool(outcome->SpecIndex)->Origin == PoolOrigin.Pool);
                WriteAdjustment(outcome->TokenIndex);
                _w.WriteLine();
            }
        }

        private void WriteMemCap(BootOptions* o, BootLayoutResult* r)
        {
            WriteTokenStart(o, LastToken(o, TokenKind.Mem, 0));
            if (r->CapRaised)
            {
                _w.Write("below the ");
                _w.WriteSize(BootLayout.MinMemCap);
                _w.Write(" the kernel needs, ");
                _w.WriteSize(BootLayout.MinMemCap);
                _w.Write(" used instead; ");
            }
            if (r->Cap == MemCapOutcome.NotReached)
            {
                _w.Write("the machine has only ");
                _w.WriteSize(r->AvailableBytes);
                _w.WriteLine(" of usable RAM; nothing capped");
                return;
            }
            if (r->Cap == MemCapOutcome.RefusedTableFull)
            {
                _w.Write("refused, table full: the cap needs ");
                _w.Write(r->CappedBytes);
                _w.Write(" reservation entries; nothing capped, all RAM stays in the pools");
                _w.WriteLine();
                return;
            }
            WriteCapLine(r);
            _w.WriteLine();
        }

        private void WriteCapLine(BootLayoutResult* r)
        {
            _w.Write("usable RAM capped at ");
            _w.WriteSize(r->CapUsed);
            _w.Write(": RAM from ");
            _w.WriteHex(r->CapAt);
            _w.Write(" reserved as 'mem= cap' (");
            _w.WriteSize(r->CappedBytes);
            _w.Write(" not used)");
        }

        private void WriteMemmapLine(BootLayoutResult* r, int index, ulong start, ulong end)
        {
            ulong value = r->MemmapValue(index);
            MemmapOutcome outcome = r->MemmapOutcomeOf(index);
            if (outcome == MemmapOutcome.RefusedRam)
            {
                _w.Write("refused: reserving ");
                _w.Range(start, end);
                _w.Write(" would leave less than the ");
                _w.WriteSize(BootLayout.MinMemCap);
                _w.Write(" of RAM the kernel needs (");
                _w.WriteSize(value);
                _w.Write(" left); not reserved, the range stays in the pools");
                return;
            }
            if (outcome == MemmapOutcome.RefusedTableFull)
            {
                _w.Write("refused, table full: ");
                _w.Range(start, end);
                _w.Write(" needs ");
                _w.Write(value);
                _w.Write(value == 1 ? " reservation entry and " : " reservation entries and ");
                _w.Write(ReservationTable.UserEntries - r->MemmapUsed(index));
                _w.Write(" of the command line's ");
                _w.Write(ReservationTable.UserEntries);
                _w.Write(" are left; not reserved, the range stays in the pools");
                return;
            }
            _w.Write("reserved ");
            _w.Range(start, end);
            bool aboveCap = r->CapAt != 0 && end > r->CapAt;
            if (value == 0)
                _w.Write(aboveCap ? " (no RAM below the mem= cap in it; nothing more taken from the pools)" : " (no RAM there; nothing taken from the pools)");
            else
            {
                _w.Write(" (");
                _w.WriteSize(value);
                _w.Write(aboveCap ? " of RAM below the mem= cap in it, kept from the pools)" : " of RAM in it, kept from the pools)");
            }
        }

        private void WriteFakeNodes(BootOptions* o, BootLayoutResult* r)
        {
            int made = r->FakeNodeCount;
            WriteTokenStart(o, LastToken(o, TokenKind.Numa, 0));
            _w.Write(made);
            _w.Write(made == 1 ? " fake node of about " : " fake nodes of about ");
            _w.WriteSize((r->FakeTotal / (ulong)made) & ~((1UL << 20) - 1));
            if (r->FakeTooSmall)
            {
                _w.Write(" (fewer than the ");
                _w.Write(o->FakeNodeCount);
                _w.Write(" asked: nodes would be smaller than ");
                _w.WriteSize(BootLayout.MinFakeNodeBytes);
                _w.Write(")");
            }
            else if (made < o->FakeNodeCount)
                _w.Write(" (fewer than asked: too little RAM to split)");
            _w.Write(", distances 10/20, CPUs round-robin; starts");
            for (int n = 0; n < made; n++)
            {
                _w.Write(" ");
                _w.WriteHex(r->FakeStart(n));
            }
            _w.WriteLine();
        }

        /// <summary>Index of the <paramref name="nth"/> (0-based) token of a kind that was not rejected; -1 if none.</summary>
        private int LastToken(BootOptions* o, TokenKind kind, int nth)
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

        private void WriteTokenStart(BootOptions* o, int token)
        {
            _w.Write("cmdline: '");
            if (token >= 0)
            {
                TokenRecord* t = o->Token(token);
                _w.WriteAscii(o->Text + t->Offset, (ulong)t->Length);
            }
            _w.Write("': ");
        }

        private void WriteSpecName(PoolSpec* s)
        {
            for (int c = 0; c < s->NameLength; c++)
                _w.Write((char)s->NameByte(c));
        }

        /// <summary>
        /// The outcome as text, without a line end: "pool NAME: created 64 MiB in node0-dma32; notes"
        /// or, for a refusal, the numbers and what was done instead. <paramref name="nameInToken"/>:
        /// the token already shows the name, so a refusal does not repeat it.
        /// </summary>
        private void WriteOutcome(PoolOutcome* r, bool nameInToken)
        {
            BootOptions* o = _o;
            PoolSpec* s = o->Pool(r->SpecIndex);
            PhysicalMemory* pm = Memory;
            if (r->IsCreated || !nameInToken)
            {
                _w.Write("pool ");
                if (s->Origin == PoolOrigin.KernelCore)
                    _w.Write("movable");
                else
                    WriteSpecName(s);
                _w.Write(": ");
            }
            const string Kept = "pool not created, memory stays in the default pools";
            switch (r->Code)
            {
                case OutcomeCode.Created:
                    _w.Write("created ");
                    _w.WriteSize(r->GotBytes);
                    _w.Write(" in ");
                    MemoryText.PoolName(_w, pm, new PoolId(r->Donor));
                    if (r->DonorCount > 1)
                    {
                        _w.Write(" and ");
                        _w.Write(r->DonorCount - 1);
                        _w.Write(r->DonorCount == 2 ? " more pool" : " more pools");
                    }
                    WriteNotes(r, s);
                    return;
                case OutcomeCode.TooLarge:
                    _w.Write("needs ");
                    _w.WriteSize(r->PlannedBytes);
                    _w.Write(", only ");
                    _w.WriteSize(r->AvailableBytes);
                    _w.Write(" matches; ");
                    _w.Write(Kept);
                    return;
                case OutcomeCode.RangeTaken:
                    _w.Write("needs ");
                    _w.WriteSize(r->PlannedBytes);
                    _w.Write(", but pool ");
                    WriteSpecName(o->Pool((int)r->Value));
                    _w.Write(" already holds part of that memory (");
                    _w.WriteSize(r->AvailableBytes);
                    _w.Write(" could have been had); ");
                    _w.Write(Kept);
                    return;
                case OutcomeCode.SizeOverflow:
                    if ((r->Notes & OutcomeNotes.Percent) != 0)
                    {
                        _w.Write(s->SizePercent);
                        _w.Write("% of memory");
                    }
                    else
                    {
                        _w.Write(r->RequestedBytes);
                        _w.Write(" B");
                    }
                    _w.Write(" rounded up to whole ");
                    _w.WriteSize(r->Value);
                    _w.Write(" units does not fit in 64 bits; ");
                    _w.Write(Kept);
                    return;
                case OutcomeCode.NoSuchNode:
                    _w.Write("node ");
                    _w.Write(r->Node);
                    _w.Write(" does not exist or has no memory (the machine has ");
                    _w.Write(r->Value);
                    _w.Write(r->Value == 1 ? " node, 0 bytes could have been had); " : " nodes, 0 bytes could have been had); ");
                    _w.Write(Kept);
                    return;
                case OutcomeCode.WindowEmpty:
                    _w.Write("no memory in ");
                    _w.WriteHex(r->WindowLow);
                    _w.Write("-");
                    if (r->WindowHigh == 0)
                        _w.Write("end");
                    else
                        _w.WriteHex(r->WindowHigh);
                    _w.Write(" (0 bytes could have been had); ");
                    _w.Write(Kept);
                    return;
                case OutcomeCode.NameClash:
                    _w.Write("the name is taken by pool ");
                    _w.Write(r->Value);
                    _w.Write(" (");
                    MemoryText.PoolName(_w, pm, new PoolId((byte)r->Value));
                    _w.Write("); ");
                    _w.Write(Kept);
                    return;
                case OutcomeCode.OwnerUnsupported:
                    _w.Write("owner ");
                    _w.Write(r->Value);
                    _w.Write(" is above 63 (pools keep a 64-bit owner mask); ");
                    _w.Write(Kept);
                    return;
                case OutcomeCode.CoreCoversAll:
                    _w.Write("kernelcore ");
                    _w.WriteSize(r->PlannedBytes);
                    _w.Write(" leaves no whole page block of the ");
                    _w.WriteSize(r->AvailableBytes);
                    _w.Write(" of memory movable; no movable pool created");
                    return;
                case OutcomeCode.Failed:
                    _w.Write("the memory manager refused a step (");
                    _w.Write(MemoryText.Status((MemoryStatus)r->Value));
                    _w.Write("); partial work undone, ");
                    _w.Write(Kept);
                    return;
                default:
                    _w.Write(PoolOutcome.Describe(r->Code));
                    return;
            }
        }

        private void WriteNotes(PoolOutcome* r, PoolSpec* s)
        {
            if ((r->Notes & OutcomeNotes.Percent) != 0 && s->Origin == PoolOrigin.KernelCore)
            {
                _w.Write("; the kernel keeps ");
                _w.Write(s->SizePercent);
                _w.Write("%, the rest is movable");
            }
            else if ((r->Notes & OutcomeNotes.Percent) != 0)
            {
                _w.Write("; ");
                _w.Write(s->SizePercent);
                _w.Write(s->Node >= 0 ? "% of the node's memory is " : "% of the machine's memory is ");
                _w.WriteSize(r->RequestedBytes);
            }
            if ((r->Notes & OutcomeNotes.RoundedUp) != 0)
            {
                _w.Write("; size rounded up to whole page blocks (asked ");
                _w.WriteSize(r->RequestedBytes);
                _w.Write(")");
            }
            if ((r->Notes & OutcomeNotes.KernelKeepsMore) != 0)
            {
                _w.Write("; only ");
                _w.WriteSize(r->PlannedBytes);
                _w.Write(" of the ");
                _w.WriteSize(r->RequestedBytes);
                _w.Write(" beyond kernelcore is free in whole page blocks, so the kernel keeps more than kernelcore");
            }
            WriteNote(r, OutcomeNotes.LimitedByMax);
            WriteNote(r, OutcomeNotes.GuaranteedClamped);
            WriteNote(r, OutcomeNotes.GrowsToMinimum);
            WriteNote(r, OutcomeNotes.MaxOverflow);
            WriteNote(r, OutcomeNotes.GuaranteedOverflow);
            WriteNote(r, OutcomeNotes.RangeTrimmed);
            WriteNote(r, OutcomeNotes.Pieces);
            if ((r->Notes & OutcomeNotes.RulesRecorded) != 0 && s->BlockSize == 0)
            {
                _w.Write(";");
                if (r->Boundary != 0)
                {
                    _w.Write(" boundary ");
                    _w.WriteSize(r->Boundary);
                }
                if (r->Align != 0)
                {
                    _w.Write(" align ");
                    _w.WriteSize(r->Align);
                }
                _w.Write(" recorded for allocations");
            }
        }

        private void WriteNote(PoolOutcome* r, OutcomeNotes note)
        {
            if ((r->Notes & note) == 0)
                return;
            _w.Write("; ");
            _w.Write(PoolOutcome.DescribeNote(note));
        }

        /// <summary>
        /// For the shell's cmdline: what the token did to memory, as indented lines (nothing for
        /// tokens that do not touch memory).
        /// </summary>
        public void WriteApplied(int token)
        {
            BootOptions* o = _o;
            BootLayoutResult* r = Result;
            TokenRecord* t = o->Token(token);
            if (t->Status == TokenStatus.Rejected)
                return;
            if (t->Kind == TokenKind.Mem && token == LastToken(o, TokenKind.Mem, 0))
            {
                _w.Write("       -> ");
                if (r->CapAt == 0)
                    _w.Write("nothing capped (less usable RAM than the cap)");
                else
                    WriteCapLine(r);
                _w.WriteLine();
            }
            if (t->Kind == TokenKind.Memmap)
            {
                for (int i = 0; i < o->ReservedRangeCount; i++)
                {
                    if (LastToken(o, TokenKind.Memmap, i) != token)
                        continue;
                    _w.Write("       -> ");
                    WriteMemmapLine(r, i, o->ReservedStart(i), o->ReservedEnd(i));
                    _w.WriteLine();
                }
            }
            if (t->Kind == TokenKind.Numa && token == LastToken(o, TokenKind.Numa, 0))
            {
                _w.Write("       -> ");
                _w.Write(_nodes->NodeCount);
                _w.WriteLine(_nodes->Mode == NumaMode.Fake ? " fake nodes" : _nodes->Mode == NumaMode.Off ? " node (numa=off)" : " nodes (firmware)");
            }
            for (int i = 0; i < r->Pools.Count; i++)
            {
                PoolOutcome* outcome = r->Pools.Outcome(i);
                if (outcome->TokenIndex != token)
                    continue;
                _w.Write("       -> ");
                WriteOutcome(outcome, false);
                _w.WriteLine();
            }
        }

        /// <summary>
        /// One line per diagnostic of the parsed command line, at boot; a pool token the parser only
        /// adjusted is left to the pool planner, whose outcome line carries the adjustment too
        /// (one line a token).
        /// </summary>
        public void WriteDiagnostics()
        {
            for (int i = 0; i < _o->DiagnosticCount; i++)
            {
                if (IsAdjustedPoolToken(_o->DiagnosticAt(i)->TokenIndex))
                    continue;
                PrintDiagnostic(_o->DiagnosticAt(i));
            }
        }

        public bool IsAdjustedPoolToken(int tokenIndex)
        {
            if (tokenIndex < 0 || tokenIndex >= _o->TokenCount)
                return false;
            TokenRecord* t = _o->Token(tokenIndex);
            if (t->Status != TokenStatus.Adjusted)
                return false;
            return t->Kind == TokenKind.Pool || t->Kind == TokenKind.HugePages || t->Kind == TokenKind.Cma
                || t->Kind == TokenKind.KernelCore || t->Kind == TokenKind.MovableCore;
        }

        /// <summary>The parser's note on an adjusted token, appended to the planner's line for it.</summary>
        public void WriteAdjustment(int tokenIndex)
        {
            if (!IsAdjustedPoolToken(tokenIndex))
                return;
            TokenRecord* t = _o->Token(tokenIndex);
            if (t->DiagnosticIndex < 0)
                return;
            _w.Write("; also: ");
            _w.Write(Diagnostic.Describe(_o->DiagnosticAt(t->DiagnosticIndex)->Code));
        }

        private void PrintDiagnostic(Diagnostic* d)
        {
            if (d->TokenIndex < 0)
            {
                PrintLineDiagnostic(d);
                return;
            }
            _w.Write("cmdline: '");
            _w.WriteAscii(_o->Text + d->TokenOffset, (ulong)d->TokenLength);
            _w.Write("': ");
            _w.Write(Diagnostic.Describe(d->Code));
            WriteValues(d);
            _w.WriteLine();
        }

        /// <summary>The diagnostic's numbers, each after the words that say what it is (Diagnostic.ValueNames).</summary>
        private void WriteValues(Diagnostic* d)
        {
            if (d->Code == DiagnosticCode.NumaPolicyInvalid)
            {
                _w.Write(" (");
                _w.Write(NumaText.Reason((PolicyStatus)d->Value0));
                _w.Write(")");
                return;
            }
            Diagnostic.ValueNames(d->Code, out string first, out string second, out bool bytes);
            if (first.Length == 0 || (d->Value0 == 0 && d->Value1 == 0))
                return;
            _w.Write(" (");
            WriteValue(first, d->Value0, bytes);
            if (second.Length != 0)
            {
                _w.Write(", ");
                WriteValue(second, d->Value1, bytes);
            }
            if (d->Code == DiagnosticCode.ParameterOverridden && d->Value0 < (ulong)_o->TokenCount)
            {
                TokenRecord* later = _o->Token((int)d->Value0);
                _w.Write(" '");
                _w.WriteAscii(_o->Text + later->Offset, (ulong)later->Length);
                _w.Write("'");
            }
            _w.Write(")");
        }

        private void WriteValue(string name, ulong value, bool bytes)
        {
            _w.Write(name);
            _w.Write(" ");
            if (bytes)
            {
                _w.Write(value);
                _w.Write(" B");
            }
            else
            {
                _w.Write(value);
            }
        }

        /// <summary>
        /// A diagnostic about the line (tokens or bytes beyond a limit): how much was ignored, where it starts,
        /// and whether a run= was lost with it (then the machine waits at the prompt instead of running it).
        /// </summary>
        public void PrintLineDiagnostic(Diagnostic* d)
        {
            _w.Write(d->Code == DiagnosticCode.TooManyTokens ? "cmdline: more than " : "cmdline: longer than ");
            _w.Write(d->Value0);
            _w.Write(d->Code == DiagnosticCode.TooManyTokens ? " tokens: the last " : " bytes: the last ");
            _w.Write(d->Value1);
            _w.Write(d->Code == DiagnosticCode.TooManyTokens ? " tokens" : " bytes");
            _w.Write(" (from byte ");
            _w.Write(d->PartOffset);
            _w.Write(") are ignored");
            if (_o->RunDroppedBy == d->Code)
                _w.Write(" (run= lost: its commands will not run, the machine waits at the prompt)");
            _w.WriteLine();
        }
    }
}
