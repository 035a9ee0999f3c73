using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Boot.Text;

namespace PoolKernel.Boot.Reports
{
    /// <summary>One line per problem the boot parsers reported, with the numbers (the kernel's console at boot, the host simulator).</summary>
    public static unsafe class BootDiagnostics
    {
        public static void Print(TextOut w, MultibootDiagnostics* list)
        {
            for (int i = 0; i < list->Count; i++)
            {
                MultibootDiagnostic d = list->Get(i);
                w.Write("multiboot: ");
                if (d.Index >= 0)
                {
                    w.Write("item ");
                    w.Write(d.Index);
                    w.Write(": ");
                }
                DescribeWithValues(w, MultibootDiagnostics.Describe(d.Code), d.Value0, d.Value1);
            }
            Dropped(w, list->Dropped, "multiboot");
        }

        public static void Print(TextOut w, MemoryMapDiagnostics* list, RawMemoryMap* raw)
        {
            for (int i = 0; i < list->Count; i++)
            {
                MemoryMapDiagnostic d = list->Get(i);
                w.Write("memmap: entry ");
                w.Write(d.Index);
                if ((uint)d.Index < (uint)raw->Count)
                {
                    MemoryMapEntry r = raw->Get(d.Index);
                    w.Write(" [");
                    w.WriteHex(r.Base);
                    w.Write(" +");
                    w.WriteHex(r.Length);
                    w.Write("]");
                }
                if (d.Other >= 0)
                {
                    w.Write(" vs entry ");
                    w.Write(d.Other);
                }
                w.Write(": ");
                DescribeWithValues(w, MemoryMapDiagnostics.Describe(d.Code), d.Value0, d.Value1);
            }
            Dropped(w, list->Dropped, "memmap");
        }

        public static void Print(TextOut w, AcpiDiagnostics* list)
        {
            for (int i = 0; i < list->Count; i++)
            {
                AcpiDiagnostic d = list->Get(i);
                w.Write("acpi: ");
                if (d.Signature != 0)
                {
                    for (int b = 0; b < 4; b++)
                        w.Write((char)((d.Signature >> (8 * b)) & 0xFF));
                    w.Write(" ");
                }
                if (d.Index >= 0)
                {
                    w.Write("#");
                    w.Write(d.Index);
                    w.Write(" ");
                }
                DescribeWithValues(w, AcpiDiagnostics.Describe(d.Code), d.Value0, d.Value1);
            }
            Dropped(w, list->Dropped, "acpi");
        }

        /// <summary>The line for a SRAT that NodeLayout.UseFirmware dropped: how much RAM it left on no node.</summary>
        public static void PrintSratDropped(TextOut w, ulong uncovered)
        {
            w.Write("acpi: the SRAT's nodes leave ");
            w.WriteSize(uncovered);
            w.Write(" of RAM on no node; SRAT not used, one node (as numa=off)");
            w.WriteLine();
        }

        /// <summary>
        /// Reclaims the map's ACPI-reclaimable memory once the tables are read (<see cref="SanitizedMemoryMap.ReclaimAcpi"/>)
        /// and says how much became available RAM; silent when there was none. The kernel and the
        /// simulator call it at the same point: after ACPI is parsed, before the node layout.
        /// </summary>
        public static void ReclaimAcpi(TextOut w, SanitizedMemoryMap* map)
        {
            ulong reclaimed = map->ReclaimAcpi();
            if (reclaimed == 0)
                return;
            w.Write("acpi: tables read; ");
            w.WriteSize(reclaimed);
            w.Write(" of ACPI-reclaimable memory is available RAM now");
            w.WriteLine();
        }

        /// <summary>
        /// Prints a diagnostic text whose trailing "(name, name)" says what Value0 and Value1 are, with each
        /// number after its name: "...; length clamped (type 0x2)". A text without names gets no numbers
        /// (they mean nothing there), so no bare pair like "(0x2, 0x0)" is ever printed.
        /// </summary>
        private static void DescribeWithValues(TextOut w, string text, ulong a, ulong b)
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
                w.Write(text[i]);
            if (open < 0)
            {
                w.WriteLine();
                return;
            }
            w.Write(" (");
            int value = 0;
            for (int i = open + 1; i < text.Length - 1; i++)
            {
                if (text[i] == ',' && value == 0)
                {
                    w.Write(" ");
                    w.WriteHex(a);
                    value = 1;
                }
                w.Write(text[i]);
            }
            w.Write(" ");
            w.WriteHex(value == 0 ? a : b);
            w.WriteLine(")");
        }

        private static void Dropped(TextOut w, int count, string area)
        {
            if (count <= 0)
                return;
            w.Write(area);
            w.Write(": ");
            w.Write(count);
            w.WriteLine(" further problems not listed");
        }
    }
}
