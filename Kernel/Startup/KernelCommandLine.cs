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
                // outcome line carries the adjustment too (one line a token: Mm/BootPools.cs).
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
            Console.Write("cmdline: '");
            Console.WriteAscii(Options->Text + d->TokenOffset, (ulong)d->TokenLength);
            Console.Write("': ");
            Console.Write(Diagnostic.Describe(d->Code));
            if (d->Value0 != 0 || d->Value1 != 0)
            {
                Console.Write(" (");
                Console.Write(d->Value0);
                Console.Write(", ");
                Console.Write(d->Value1);
                Console.Write(")");
            }
            Console.WriteLine();
        }

        /// <summary>True when test=NAME was given with exactly this name.</summary>
        internal static bool TestIs(string name) => Equals(Options->TestOffset, Options->TestLength, name);

        internal static bool Equals(int offset, int length, string literal)
        {
            if (length != literal.Length)
                return false;
            for (int i = 0; i < length; i++)
            {
                if (Options->Text[offset + i] != literal[i])
                    return false;
            }
            return true;
        }
    }
}
