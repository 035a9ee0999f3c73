using System;
using System.Runtime.CompilerServices;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Heap;
using PoolKernel.Platform;
using PoolKernel.Runtime;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>
    /// The serial-console shell. Commands come from the keyboard (prompt "pk> ") or, with
    /// run=CMD;CMD;... on the kernel command line, from there: the commands run in order and the
    /// machine halts cleanly afterwards, so scripted boots need no typing.
    ///
    /// Each command runs with the runtime's <see cref="RecoveryPoint"/> armed: if an object
    /// allocation fails inside it, the command is ended ("out of memory: command ended", after the
    /// hook the command registered has given back its work in progress) and the shell goes on.
    /// The shell loop itself allocates nothing (the command table is built before the first command).
    /// </summary>
    internal static unsafe class KernelShell
    {
        internal const string Prompt = "pk> ";

        private static ShellLine s_line;

        internal static void Run()
        {
            Commands.Build();
            ulong* context = stackalloc ulong[RecoveryPoint.ContextWords];
            BootOptions* options = KernelCommandLine.Options;
            if (options->RunLength > 0)
            {
                int cursor = 0;
                while (options->NextRunCommand(ref cursor, out int offset, out int length))
                {
                    s_line.Set(options->Text + offset, length);
                    Console.Write(Prompt);
                    s_line.WriteLineText();
                    Console.WriteLine();
                    Execute(context);
                }
                Console.WriteLine("run=: done, halting");
                QemuExit.Exit(ExitCode.Halt);
            }
            while (true)
            {
                Console.Write(Prompt);
                s_line.ReadLine();
                Execute(context);
            }
        }

        /// <summary>
        /// Runs the command in <see cref="s_line"/> with the recovery point saved in
        /// <paramref name="context"/> and armed. Not inlined and with no locals across the save,
        /// as <see cref="RecoveryPoint.Save"/> requires.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Execute(ulong* context)
        {
            if (s_line.Fault != LineFault.None)
            {
                Console.Write(s_line.Fault == LineFault.TooLong ? "line longer than " : "line of more than ");
                Console.Write(s_line.Fault == LineFault.TooLong ? ShellLine.Capacity - 1 : ShellLine.MaxWords);
                Console.WriteLine(s_line.Fault == LineFault.TooLong ? " bytes; not run" : " words; not run");
                return;
            }
            if (s_line.WordCount == 0)
                return;
            KernelHeapGlue.RefillReserve();
            Gc.ClearDeadStack();
            if (RecoveryPoint.Save(context) != 0)
            {
                // An `as` command ended here: the shell's own objects come from the kernel's heap again, before the hook allocates.
                ContainerArenas.StopActing();
                ContainerArenas.TraceScopes(false);
                RecoveryPoint.RunAbandonHook();
                Console.WriteLine("out of memory: command ended");
                return;
            }
            ShellOwner.Current = Mm.Owners.Shell;
            ContainerArenas.StopActing();
            RecoveryPoint.Arm(context);
            bool known = Commands.TryRun(ref s_line);
            RecoveryPoint.Disarm();
            if (!known)
            {
                Console.Write("unknown command '");
                s_line.WriteWord(0);
                Console.WriteLine("'; type help");
            }
        }
    }
}
