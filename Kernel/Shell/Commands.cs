using System;
using PoolKernel.Platform;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>The shell's command table: name, one line of help, and the handler.</summary>
    internal static unsafe class Commands
    {
        private struct Entry
        {
            public string Name;
            public string Help;
            public delegate*<ref ShellLine, void> Handler;
        }

        private static Entry[] s_table;

        private static void Add(ref int n, string name, string help, delegate*<ref ShellLine, void> handler)
        {
            if (n == s_table.Length)
                Runtime.Panic.Halt("shell: command table full; raise its size in Commands.Build");
            s_table[n].Name = name;
            s_table[n].Help = help;
            s_table[n].Handler = handler;
            n++;
        }

        /// <summary>Builds the table (once); the shell calls it before the first command, outside the recovery point.</summary>
        internal static void Build()
        {
            if (s_table != null)
                return;
            s_table = new Entry[96];
            int n = 0;
            Add(ref n, "help", "list the commands", &Help);
            Add(ref n, "numa", "NUMA nodes, their CPUs, memory and distances", &Numa);
            Add(ref n, "efimap", "the EFI memory map the loader handed over, descriptor by descriptor (UEFI boots)", &EfiMapCommand.Run);
            CpuCommands.Register(ref n);
            Add(ref n, "cmdline", "the kernel command line, token by token", &CmdlineCommand.Run);
            Add(ref n, "halt", "end the machine (QEMU exits with status 33)", &Halt);
            MemoryCommands.Register(ref n);
            DriverCommands.Register(ref n);
            BlockCacheCommands.Register(ref n);
            NumaCommands.Register(ref n);
            ContainerCommands.Register(ref n);
            VmAreaCommands.Register(ref n);
            RtBench.Register(ref n);
            s_count = n;
        }

        private static int s_count;

        /// <summary>Adds a command; used by the memory and driver command sets.</summary>
        internal static void Register(ref int n, string name, string help, delegate*<ref ShellLine, void> handler)
            => Add(ref n, name, help, handler);

        internal static bool TryRun(ref ShellLine line)
        {
            for (int i = 0; i < s_count; i++)
            {
                if (line.WordIs(0, s_table[i].Name))
                {
                    s_table[i].Handler(ref line);
                    return true;
                }
            }
            return false;
        }

        private static void Help(ref ShellLine line)
        {
            for (int i = 0; i < s_count; i++)
            {
                Console.Write("  ");
                Console.Write(s_table[i].Name);
                for (int pad = s_table[i].Name.Length; pad < 12; pad++)
                    Console.Write(' ');
                Console.WriteLine(s_table[i].Help);
            }
        }

        private static void Halt(ref ShellLine line)
        {
            Console.WriteLine("halting");
            QemuExit.Exit(ExitCode.Halt);
        }

        private static void Numa(ref ShellLine line) => Banner.PrintNuma();
    }
}
