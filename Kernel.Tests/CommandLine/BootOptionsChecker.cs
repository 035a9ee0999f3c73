using System.Numerics;
using PoolKernel.Boot.CommandLine;

namespace PoolKernel.Tests.CommandLine;

/// <summary>
/// Structural checks of a parse result against the line it came from. Returns null when all
/// hold, else a message naming the first broken invariant and its values.
/// </summary>
internal static unsafe class BootOptionsChecker
{
    /// <summary>Independent tokenizer: separators are space/tab/CR/LF outside double quotes, NUL ends the line.</summary>
    public static List<(int Offset, int Length)> ReferenceTokens(byte[] line)
    {
        int end = Array.IndexOf(line, (byte)0);
        if (end < 0)
            end = line.Length;
        var tokens = new List<(int, int)>();
        int start = -1;
        bool quoted = false;
        for (int i = 0; i <= end; i++)
        {
            bool separator = i == end || (!quoted && line[i] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r');
            if (separator)
            {
                if (start >= 0)
                    tokens.Add((start, i - start));
                start = -1;
                continue;
            }
            if (start < 0)
                start = i;
            if (line[i] == (byte)'"')
                quoted = !quoted;
        }
        return tokens;
    }

    public static string Check(byte[] line, BootOptions* o)
    {
        var all = ReferenceTokens(line);
        int end = Array.IndexOf(line, (byte)0);
        if (end < 0)
            end = line.Length;
        // Tokens that end within MaxTextLength bytes are parsed; the first that does not cuts the line there.
        int kept = all.FindIndex(t => t.Offset + t.Length > BootOptions.MaxTextLength);
        if (kept < 0)
            kept = all.Count;
        int cut = kept < all.Count ? all[kept].Offset : end;
        var expected = all.Take(kept).ToList();
        int recorded = Math.Min(expected.Count, BootOptions.MaxTokens);
        if (o->TokenCount != recorded)
            return $"token count {o->TokenCount}, expected {recorded}";
        if (o->DroppedTokenCount != expected.Count - recorded)
            return $"dropped {o->DroppedTokenCount}, expected {expected.Count - recorded}";
        if (o->TextLength != cut || o->IgnoredLength != end - cut)
            return $"text length {o->TextLength} ignored {o->IgnoredLength}, expected {cut} and {end - cut}";
        bool IsRun((int Offset, int Length) t) => t.Length >= 3 && line[t.Offset] == 'r' && line[t.Offset + 1] == 'u' && line[t.Offset + 2] == 'n' && (t.Length == 3 || line[t.Offset + 3] == '=');
        DiagnosticCode runDropped = expected.Skip(recorded).Any(IsRun) ? DiagnosticCode.TooManyTokens : all.Skip(kept).Any(IsRun) ? DiagnosticCode.LineTooLong : DiagnosticCode.None;
        if (o->RunDroppedBy != runDropped)
            return $"run dropped by {o->RunDroppedBy}, expected {runDropped}";

        var diagnosticOwner = new int[o->DiagnosticCount];
        Array.Fill(diagnosticOwner, -1);
        for (int i = 0; i < o->TokenCount; i++)
        {
            TokenRecord* t = o->Token(i);
            if (t->Offset != expected[i].Offset || t->Length != expected[i].Length)
                return $"token {i} at {t->Offset}+{t->Length}, expected {expected[i].Offset}+{expected[i].Length}";
            bool accepted = t->Status == TokenStatus.Accepted;
            if (accepted != (t->DiagnosticIndex < 0))
                return $"token {i} status {t->Status} with diagnostic index {t->DiagnosticIndex}";
            if (accepted)
                continue;
            if (t->DiagnosticIndex >= o->DiagnosticCount)
                return $"token {i} diagnostic index {t->DiagnosticIndex} >= count {o->DiagnosticCount}";
            if (diagnosticOwner[t->DiagnosticIndex] >= 0)
                return $"diagnostic {t->DiagnosticIndex} shared by tokens {diagnosticOwner[t->DiagnosticIndex]} and {i}";
            diagnosticOwner[t->DiagnosticIndex] = i;
            Diagnostic* d = o->DiagnosticAt(t->DiagnosticIndex);
            if (d->TokenIndex != i || d->TokenOffset != t->Offset || d->TokenLength != t->Length)
                return $"diagnostic {t->DiagnosticIndex} names token {d->TokenIndex} at {d->TokenOffset}+{d->TokenLength}, owner is {i}";
            if (d->Code == DiagnosticCode.None || d->Code == DiagnosticCode.TooManyTokens || d->Code == DiagnosticCode.LineTooLong)
                return $"token {i} has diagnostic code {d->Code}";
            if (Diagnostic.Describe(d->Code) == Diagnostic.Describe((DiagnosticCode)0xFFFF))
                return $"token {i} code {d->Code} has no description";
            if (d->PartOffset < t->Offset || d->PartLength < 0 || d->PartOffset + d->PartLength > t->Offset + t->Length)
                return $"token {i} part {d->PartOffset}+{d->PartLength} outside token {t->Offset}+{t->Length}";
        }
        // The line-wide diagnostics come last: TooManyTokens (tokens beyond MaxTokens), then LineTooLong (bytes beyond MaxTextLength).
        var lineWide = new List<(DiagnosticCode Code, int Offset, int Length, ulong Value0, ulong Value1)>();
        if (o->DroppedTokenCount > 0)
            lineWide.Add((DiagnosticCode.TooManyTokens, expected[recorded].Offset, expected[^1].Offset + expected[^1].Length - expected[recorded].Offset, BootOptions.MaxTokens, (ulong)o->DroppedTokenCount));
        if (cut < end)
            lineWide.Add((DiagnosticCode.LineTooLong, cut, end - cut, BootOptions.MaxTextLength, (ulong)(end - cut)));
        int firstLineWide = o->DiagnosticCount - lineWide.Count;
        for (int i = 0; i < o->DiagnosticCount; i++)
        {
            if (diagnosticOwner[i] >= 0)
                continue;
            Diagnostic* d = o->DiagnosticAt(i);
            if (i < firstLineWide)
                return $"diagnostic {i} ({d->Code}) belongs to no token";
            var want = lineWide[i - firstLineWide];
            if (d->TokenIndex != -1 || (d->Code, d->PartOffset, d->PartLength, d->Value0, d->Value1) != want)
                return $"line diagnostic {i}: {d->Code} {d->PartOffset}+{d->PartLength} ({d->Value0}, {d->Value1}), expected {want}";
        }
        if (firstLineWide < 0 || (lineWide.Count > 0 && diagnosticOwner.Skip(firstLineWide).Any(owner => owner >= 0)))
            return $"line-wide diagnostics {string.Join(", ", lineWide)} missing";

        if ((uint)o->PoolCount > BootOptions.MaxPoolSpecs)
            return $"pool count {o->PoolCount}";
        var names = new HashSet<string>();
        for (int i = 0; i < o->PoolCount; i++)
        {
            PoolSpec* p = o->Pool(i);
            string name = Parsed.NameOf(p);
            if (!names.Add(name))
                return $"pool {i} name '{name}' twice";
            if (name.Length is 0 or > PoolSpec.MaxNameLength || name.Any(c => !(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '_' or '-')))
                return $"pool {i} bad name '{name}'";
            if ((uint)p->TokenIndex >= (uint)o->TokenCount || o->Token(p->TokenIndex)->Status == TokenStatus.Rejected)
                return $"pool {i} from token {p->TokenIndex} which is missing or rejected";
            if ((p->SizeBytes == 0) == (p->SizePercent == 0) || p->SizePercent > 100)
                return $"pool {i} size {p->SizeBytes} percent {p->SizePercent}";
            if ((p->Flags & PoolSpecFlags.HasRange) != 0 && p->RangeStart >= p->RangeEnd)
                return $"pool {i} range {p->RangeStart:x}-{p->RangeEnd:x}";
            if (p->DmaBits > 64 || p->Node < -1 || p->Node >= BootOptions.MaxNodes)
                return $"pool {i} dma {p->DmaBits} node {p->Node}";
            if ((p->Boundary != 0 && !BitOperations.IsPow2(p->Boundary)) || (p->Align != 0 && !BitOperations.IsPow2(p->Align)))
                return $"pool {i} boundary {p->Boundary} align {p->Align}";
            if (p->Guaranteed != 0 && p->Max != 0 && p->Guaranteed > p->Max)
                return $"pool {i} min {p->Guaranteed} > max {p->Max}";
            if (p->Origin == PoolOrigin.None || p->Origin > PoolOrigin.MovableCore)
                return $"pool {i} origin {p->Origin}";
        }

        if ((uint)o->ReservedRangeCount > BootOptions.MaxReservedRanges)
            return $"reserved range count {o->ReservedRangeCount}";
        for (int i = 0; i < o->ReservedRangeCount; i++)
        {
            if (o->ReservedStart(i) >= o->ReservedEnd(i))
                return $"reserved range {i} {o->ReservedStart(i):x}-{o->ReservedEnd(i):x}";
        }
        if ((uint)o->FakeNodeCount > BootOptions.MaxFakeNodes || (o->NumaOff && o->FakeNodeCount != 0))
            return $"numa off {o->NumaOff} fake {o->FakeNodeCount}";
        if (o->RunOffset < 0 || o->RunOffset + o->RunLength > o->TextLength || o->TestOffset < 0 || o->TestOffset + o->TestLength > o->TextLength)
            return $"run {o->RunOffset}+{o->RunLength} test {o->TestOffset}+{o->TestLength} outside {o->TextLength}";
        return null;
    }
}
