using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Mm;

namespace PoolKernel.Startup
{
    /// <summary>
    /// The kernel command line, parsed once at boot (syntax: docs/cmdline.md). Every bad token
    /// was reported on one console line; everything else applies.
    /// </summary>
    internal static unsafe class KernelCommandLine
    {
        internal static BootOptions* Options;

        internal static void Parse(BootInfo* boot)
        {
            Options = (BootOptions*)BootAllocator.AllocZeroed((nuint)sizeof(BootOptions), 8);
            if (Options == null)
                Runtime.Panic.Halt("boot arena too small for the command line");
            byte* text = boot->HasCommandLine ? (byte*)boot->CommandLine : null;
            int length = boot->HasCommandLine ? (int)boot->CommandLineLength : 0;
            SkipImagePath(boot, ref text, ref length);
            CommandLineParser.Parse(text, length, Options);
            for (int i = 0; i < Options->DiagnosticCount; i++)
            {
                // A pool token the parser only adjusted still goes to the pool planner, whose
                // outcome line carries the adjustment too (one line a token: Mm/BootPoolsText.cs).
                if (IsAdjustedPoolToken(Options->DiagnosticAt(i)->TokenIndex))
                    continue;
                PrintDiagnostic(Options->DiagnosticAt(i));
            }
        }

        // Multiboot1 loaders (QEMU -kernel, GRUB's multiboot) put the image path first.
        private static void SkipImagePath(BootInfo* boot, ref byte* text, ref int length)
        {
            if (boot->Loader != BootLoaderKind.Multiboot1 || text == null)
                return;
            int end = 0;
            while (end < length && text[end] != ' ' && text[end] != 0)
            {
                if (text[end] == '=')
                    return;
                end++;
            }
            while (end < length && text[end] == ' ')
                end++;
            text += end;
            length -= end;
        }

        internal static bool IsAdjustedPoolToken(int tokenIndex)
        {
            if (tokenIndex < 0 || tokenIndex >= Options->TokenCount)
                return false;
            TokenRecord* t = Options->Token(tokenIndex);
            if (t->Status != TokenStatus.Adjusted)
                return false;
            return t->Kind == TokenKind.Pool || t->Kind == TokenKind.HugePages || t->Kind == TokenKind.Cma
                || t->Kind == TokenKind.KernelCore || t->Kind == TokenKind.MovableCore;
        }

        /// <summary>The parser's note on an adjusted token, appended to the planner's line for it.</summary>
        internal static void WriteAdjustment(int tokenIndex)
        {
            if (!IsAdjustedPoolToken(tokenIndex))
                return;
            TokenRecord* t = Options->Token(tokenIndex);
            if (t->DiagnosticIndex < 0)
                return;
            Console.Write("; also: ");
            Console.Write(Diagnostic.Describe(Options->DiagnosticAt(t->DiagnosticIndex)->Code));
        }

        private static void PrintDiagnostic(Diagnostic* d)
        {
            if (d->TokenIndex < 0)
            {
                PrintLineDiagnostic(d);
                return;
            }
            Console.Write("cmdline: '");
            Console.WriteAscii(Options->Text + d->TokenOffset, (ulong)d->TokenLength);
            Console.Write("': ");
            Console.Write(Diagnostic.Describe(d->Code));
            WriteValues(d);
            Console.WriteLine();
        }

        /// <summary>The diagnostic's numbers, each after the words that say what it is (Diagnostic.ValueNames).</summary>
        private static void WriteValues(Diagnostic* d)
        {
            Diagnostic.ValueNames(d->Code, out string first, out string second, out bool bytes);
            if (first.Length == 0 || (d->Value0 == 0 && d->Value1 == 0))
                return;
            Console.Write(" (");
            WriteValue(first, d->Value0, bytes);
            if (second.Length != 0)
            {
                Console.Write(", ");
                WriteValue(second, d->Value1, bytes);
            }
            if (d->Code == DiagnosticCode.ParameterOverridden && d->Value0 < (ulong)Options->TokenCount)
            {
                TokenRecord* later = Options->Token((int)d->Value0);
                Console.Write(" '");
                Console.WriteAscii(Options->Text + later->Offset, (ulong)later->Length);
                Console.Write("'");
            }
            Console.Write(")");
        }

        private static void WriteValue(string name, ulong value, bool bytes)
        {
            Console.Write(name);
            Console.Write(" ");
            if (bytes)
            {
                Console.Write(value);
                Console.Write(" B");
            }
            else
            {
                Console.Write(value);
            }
        }

        /// <summary>
        /// A diagnostic about the line (tokens or bytes beyond a limit): how much was ignored, where it starts,
        /// and whether a run= was lost with it (then the machine waits at the prompt instead of running it).
        /// </summary>
        internal static void PrintLineDiagnostic(Diagnostic* d)
        {
            Console.Write(d->Code == DiagnosticCode.TooManyTokens ? "cmdline: more than " : "cmdline: longer than ");
            Console.Write(d->Value0);
            Console.Write(d->Code == DiagnosticCode.TooManyTokens ? " tokens: the last " : " bytes: the last ");
            Console.Write(d->Value1);
            Console.Write(d->Code == DiagnosticCode.TooManyTokens ? " tokens" : " bytes");
            Console.Write(" (from byte ");
            Console.Write(d->PartOffset);
            Console.Write(") are ignored");
            if (Options->RunDroppedBy == d->Code)
                Console.Write(" (run= lost: its commands will not run, the machine waits at the prompt)");
            Console.WriteLine();
        }
    }
}
