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
                Console.Write(MultibootDiagnostics.Describe(d.Code));
                Values(d.Value0, d.Value1);
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
                Console.Write(MemoryMapDiagnostics.Describe(d.Code));
                Values(d.Value0, d.Value1);
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
                Console.Write(AcpiDiagnostics.Describe(d.Code));
                Values(d.Value0, d.Value1);
            }
            Dropped(list->Dropped, "acpi");
        }

        private static void Values(ulong a, ulong b)
        {
            Console.Write(" (");
            Console.WriteHex(a);
            Console.Write(", ");
            Console.WriteHex(b);
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
