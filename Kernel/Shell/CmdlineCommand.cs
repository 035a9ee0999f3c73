using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>
    /// Shell 'cmdline': every token of the kernel command line, what it was read as, what happened
    /// to it, and (indented, "-&gt;") what it did to memory: pools created or refused, reservations, nodes.
    /// </summary>
    internal static unsafe class CmdlineCommand
    {
        internal static void Run(ref ShellLine line)
        {
            BootOptions* o = KernelCommandLine.Options;
            Console.Write("cmdline: ");
            Console.WriteAscii(o->Text, (ulong)o->TextLength);
            Console.WriteLine();
            for (int i = 0; i < o->TokenCount; i++)
            {
                TokenRecord* t = o->Token(i);
                Console.Write("  ");
                Banner.Pad(i, 2);
                Console.Write(" ");
                Console.Write(t->Status == TokenStatus.Accepted ? "ok       " : t->Status == TokenStatus.Adjusted ? "adjusted " : "rejected ");
                Console.Write(KindName(t->Kind));
                Console.Write(" '");
                Console.WriteAscii(o->Text + t->Offset, (ulong)t->Length);
                Console.Write("'");
                if (t->Status != TokenStatus.Accepted && t->DiagnosticIndex >= 0)
                {
                    Console.Write(": ");
                    Console.Write(Diagnostic.Describe(o->DiagnosticAt(t->DiagnosticIndex)->Code));
                }
                Console.WriteLine();
                KernelCommandLine.Text.WriteApplied(i);
            }
            for (int i = 0; i < o->DiagnosticCount; i++)
            {
                Diagnostic* d = o->DiagnosticAt(i);
                if (d->TokenIndex < 0)
                {
                    Console.Write("  ");
                    KernelCommandLine.Text.PrintLineDiagnostic(d);
                }
            }
            for (int p = 0; p < o->PoolCount; p++)
            {
                PoolSpec* s = o->Pool(p);
                Console.Write("  pool spec ");
                for (int c = 0; c < s->NameLength; c++)
                    Console.Write((char)s->NameByte(c));
                Console.Write(": ");
                if (s->SizePercent != 0)
                {
                    Console.Write(s->SizePercent);
                    Console.Write("%");
                }
                else
                {
                    Console.WriteSize(s->SizeBytes);
                }
                if (s->Node >= 0)
                {
                    Console.Write(" node ");
                    Console.Write(s->Node);
                }
                if (s->DmaBits != 0)
                {
                    Console.Write(" dma=");
                    Console.Write(s->DmaBits);
                }
                Console.WriteLine();
            }
        }

        private static string KindName(TokenKind kind) => kind switch
        {
            TokenKind.Run => "run        ",
            TokenKind.Test => "test       ",
            TokenKind.Pool => "pool       ",
            TokenKind.HugePages => "hugepages  ",
            TokenKind.HugePageSize => "hugepagesz ",
            TokenKind.DefaultHugePageSize => "default_hugepagesz",
            TokenKind.Cma => "cma        ",
            TokenKind.Mem => "mem        ",
            TokenKind.Memmap => "memmap     ",
            TokenKind.KernelCore => "kernelcore ",
            TokenKind.MovableCore => "movablecore",
            TokenKind.Numa => "numa       ",
            TokenKind.Container => "container  ",
            _ => "unknown    ",
        };
    }
}
