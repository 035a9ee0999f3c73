using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Platform;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>
    /// The serial-console shell. Commands come from the keyboard (prompt "pk> ") or, with
    /// run=CMD;CMD;... on the kernel command line, from there: the commands run in order and the
    /// machine halts cleanly afterwards, so scripted boots need no typing.
    /// </summary>
    internal static unsafe class KernelShell
    {
        internal const string Prompt = "pk> ";

        private static CommandLineBuffer s_line;

        internal static void Run()
        {
            BootOptions* options = KernelCommandLine.Options;
            if (options->RunLength > 0)
            {
                int cursor = 0;
                while (options->NextRunCommand(ref cursor, out int offset, out int length))
                {
                    Console.Write(Prompt);
                    Console.WriteAscii(options->Text + offset, (ulong)length);
                    Console.WriteLine();
                    s_line.Set(options->Text + offset, length);
                    Execute();
                }
                Console.WriteLine("run=: done, halting");
                QemuExit.Exit(ExitCode.Halt);
            }
            while (true)
            {
                Console.Write(Prompt);
                s_line.ReadLine();
                Execute();
            }
        }

        private static void Execute()
        {
            if (s_line.WordCount == 0)
                return;
            if (!Commands.TryRun(ref s_line))
            {
                Console.Write("unknown command '");
                s_line.WriteWord(0);
                Console.WriteLine("'; type help");
            }
        }
    }
}
