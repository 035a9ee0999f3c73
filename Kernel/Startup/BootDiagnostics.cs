using System;
using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;

namespace PoolKernel.Startup
{
    /// <summary>One console line per problem the boot parsers reported, with the numbers.</summary>
    internal static unsafe class BootDiagnostics
    {
        internal static void Print(MultibootDiagnostics* list)
        {
            for (int i = 0; i < list->Count; i++)
            {
                MultibootDiagnostic d = list->Get(i);
                Console.Write("multiboot: ");
                if (d.Index >= 0)
                {
                    Console.Write("item ");
                    Console.Write(d.Index);
                    Console.Write(": ");
                }
                DescribeWithValues(MultibootDiagnostics.Describe(d.Code), d.Value0, d.Value1);
            }
            Dropped(list->Dropped, "multiboot");
        }

        internal static void Print(MemoryMapDiagnostics* list, RawMemoryMap* raw)
        {
            for (int i = 0; i < list->Count; i++)
            {
                MemoryMapDiagnostic d = list->Get(i);
                Console.Write("memmap: entry ");
                Console.Write(d.Index);
                if ((uint)d.Index < (uint)raw->Count)
                {
                    MemoryMapEntry r = raw->Get(d.Index);
                    Console.Write(" [");
                    Console.WriteHex(r.Base);
                    Console.Write(" +");
                    Console.WriteHex(r.Length);
                    Console.Write("]");
                }
                if (d.Other >= 0)
                {
                    Console.Write(" vs entry ");
                    Console.Write(d.Other);
                }
                Console.Write(": ");
                DescribeWithValues(MemoryMapDiagnostics.Describe(d.Code), d.Value0, d.Value1);
            }
            Dropped(list->Dropped, "memmap");
        }

        internal static void Print(AcpiDiagnostics* list)
        {
            for (int i = 0; i < list->Count; i++)
            {
                AcpiDiagnostic d = list->Get(i);
                Console.Write("acpi: ");
                if (d.Signature != 0)
                {
                    for (int b = 0; b < 4; b++)
                        Console.Write((char)((d.Signature >> (8 * b)) & 0xFF));
                    Console.Write(" ");
                }
                if (d.Index >= 0)
                {
                    Console.Write("#");
                    Console.Write(d.Index);
                    Console.Write(" ");
                }
                DescribeWithValues(AcpiDiagnostics.Describe(d.Code), d.Value0, d.Value1);
            }
            Dropped(list->Dropped, "acpi");
        }

        /// <summary>
        /// Prints a diagnostic text whose trailing "(name, name)" says what Value0 and Value1 are, with each
        /// number after its name: "...; length clamped (type 0x2)". A text without names gets no numbers
        /// (they mean nothing there), so no bare pair like "(0x2, 0x0)" is ever printed.
        /// </summary>
        private static void DescribeWithValues(string text, ulong a, ulong b)
        {
            int open = -1;
            if (text.Length > 0 && text[text.Length - 1] == ')')
            {
                for (int i = text.Length - 1; i >= 0 && open < 0; i--)
                {
                    if (text[i] == '(')
                        open = i;
                }
            }
            int end = open > 0 && text[open - 1] == ' ' ? open - 1 : text.Length;
            if (end == text.Length)
                open = -1;
            for (int i = 0; i < end; i++)
                Console.Write(text[i]);
            if (open < 0)
            {
                Console.WriteLine();
                return;
            }
            Console.Write(" (");
            int value = 0;
            for (int i = open + 1; i < text.Length - 1; i++)
            {
                if (text[i] == ',' && value == 0)
                {
                    Console.Write(" ");
                    Console.WriteHex(a);
                    value = 1;
                }
                Console.Write(text[i]);
            }
            Console.Write(" ");
            Console.WriteHex(value == 0 ? a : b);
            Console.WriteLine(")");
        }

        private static void Dropped(int count, string area)
        {
            if (count <= 0)
                return;
            Console.Write(area);
            Console.Write(": ");
            Console.Write(count);
            Console.WriteLine(" further problems not listed");
        }
    }
}
