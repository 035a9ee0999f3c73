using System;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>
    /// /proc-style reports of the pools: meminfo, pools, buddyinfo, zoneinfo, pageblocks, dump.
    /// Formats follow Linux where there is an equivalent.
    /// </summary>
    internal static unsafe class MemoryReports
    {
        private static PhysicalMemory* Pm => PhysicalMemoryOwner.Unguarded;

        internal static void MemInfo(ref ShellLine line)
        {
            MemoryTotals t = Pm->GetTotals();
            ulong poolBytes = t.PresentPages * 4096;
            ulong reserved = Reservations.TotalAvailableBytes;
            Row("MemTotal (usable RAM)", MemoryBringUp.UsableBytes);
            Row("Pools present", poolBytes);
            Row("  free", t.FreePages * 4096);
            Row("  in use", t.InUsePages * 4096);
            Row("Reserved", reserved);
            for (int i = 0; i < Reservations.Count; i++)
            {
                Boot.Layout.ReservationTable.Entry e = Reservations.Get(i);
                Console.Write("  ");
                Console.Write(e.Name);
                Console.Write(" ");
                Banner.Range(e.Base, e.End);
                Console.Write(": ");
                Console.Write(e.AvailableBytes / 1024);
                Console.WriteLine(" kB");
            }
            Console.Write("Sum: pools + reserved = ");
            Console.Write((poolBytes + reserved) / 1024);
            Console.Write(" kB, usable = ");
            Console.Write(MemoryBringUp.UsableBytes / 1024);
            Console.WriteLine(poolBytes + reserved == MemoryBringUp.UsableBytes ? " kB: adds up" : " kB: MISMATCH");
            Console.Write("Pool metadata: ");
            Console.Write(t.MetadataBytes);
            Console.Write(" bytes for ");
            Console.Write(t.SpanPages);
            Console.Write(" frames of span (");
            WriteRatio(t.MetadataBytes, t.SpanPages);
            Console.WriteLine(" bytes/frame)");
            Row("Heap pages held", Heap.KernelHeapGlue.PagesHeld * 4096);
            Row("Heap bytes in use", Heap.KernelHeapGlue.BytesInUse);
            Row("Heap metadata", Heap.KernelHeapGlue.MetadataBytes);
            Console.Write("Boot allocator: ");
            Console.Write(Mm.BootAllocator.Used / 1024);
            Console.WriteLine(Mm.BootAllocator.Retired ? " kB used, retired (its arena is in the kernel image reservation)" : " kB used, active");
        }

        private static void Row(string name, ulong bytes)
        {
            Console.Write(name);
            Console.Write(":");
            for (int i = name.Length; i < 24; i++)
                Console.Write(' ');
            Banner.Pad((long)(bytes / 1024), 12);
            Console.WriteLine(" kB");
        }

        private static void WriteRatio(ulong a, ulong b)
        {
            if (b == 0)
            {
                Console.Write("-");
                return;
            }
            Console.Write(a / b);
            Console.Write(".");
            ulong frac = (a % b) * 100 / b;
            if (frac < 10)
                Console.Write("0");
            Console.Write(frac);
        }

        internal static void Pools(ref ShellLine line)
        {
            Console.WriteLine(" id name             nodes  window                         flags      prio owner  present kB    free kB  pageblocks");
            for (PoolId id = Pm->FirstPool(); !id.IsNone; id = Pm->NextPool(id))
            {
                Pm->GetPoolProperties(id, out PoolProperties p);
                Pm->GetPoolStats(id, out PoolStats s);
                Banner.Pad(id.Value, 3);
                Console.Write(" ");
                MemoryText.PoolName(p);
                for (int i = p.Name.Length; i < 16; i++)
                    Console.Write(' ');
                Console.Write(" ");
                NodeMask(p.NodeMask, 6);
                Console.Write(" ");
                Console.WriteHex(p.WindowLow.Value, 11);
                Console.Write("-");
                Console.WriteHex(p.WindowEndPfn << 12, 11);
                Console.Write("  ");
                Flags(p.Flags);
                Banner.Pad(p.Priority, 5);
                Console.Write(" ");
                // Who may allocate: "-" anyone, "kern" only the kernel (owner 0), else the owner id.
                if (p.OwnerMask == ulong.MaxValue)
                    Console.Write("   -");
                else if (p.OwnerMask == 1)
                    Console.Write("kern");
                else
                    Banner.Pad(p.Owner, 4);
                Banner.Pad((long)(s.PresentPages * 4), 12);
                Banner.Pad((long)(s.FreePages * 4), 11);
                Banner.Pad((long)s.Pageblocks, 12);
                Console.WriteLine();
            }
        }

        private static void NodeMask(ulong mask, int width)
        {
            int written = 0;
            if (mask == ulong.MaxValue)
            {
                Console.Write("any");
                for (written = 3; written < width; written++)
                    Console.Write(' ');
                return;
            }
            for (int n = 0; n < 64; n++)
            {
                if ((mask & (1UL << n)) == 0)
                    continue;
                if (written > 0)
                {
                    Console.Write(",");
                    written++;
                }
                Console.Write(n);
                written += n < 10 ? 1 : 2;
            }
            for (; written < width; written++)
                Console.Write(' ');
        }

        private static void Flags(PoolFlags f)
        {
            int n = 0;
            if ((f & PoolFlags.Dma) != 0) { Console.Write("dma "); n += 4; }
            if ((f & PoolFlags.Reserved) != 0) { Console.Write("resv "); n += 5; }
            if ((f & PoolFlags.Realtime) != 0) { Console.Write("rt "); n += 3; }
            if ((f & PoolFlags.MovableOnly) != 0) { Console.Write("mov "); n += 4; }
            if ((f & PoolFlags.Elastic) != 0) { Console.Write("el "); n += 3; }
            if (n == 0) { Console.Write("-"); n = 1; }
            for (; n < 10; n++)
                Console.Write(' ');
        }

        /// <summary>Linux's /proc/buddyinfo shape: free blocks per order, one line per pool.</summary>
        internal static void BuddyInfo(ref ShellLine line)
        {
            for (PoolId id = Pm->FirstPool(); !id.IsNone; id = Pm->NextPool(id))
            {
                Pm->GetPoolProperties(id, out PoolProperties p);
                Console.Write("Node ");
                Console.Write(FirstNode(p.NodeMask));
                Console.Write(", pool ");
                MemoryText.PoolName(p);
                for (int i = p.Name.Length; i < 16; i++)
                    Console.Write(' ');
                for (int o = 0; o <= Pm->MaxOrder; o++)
                    Banner.Pad((long)Pm->FreeBlocks(id, new Order(o)), 7);
                Console.WriteLine();
            }
        }

        private static int FirstNode(ulong mask)
        {
            for (int n = 0; n < 64; n++)
            {
                if ((mask & (1UL << n)) != 0)
                    return n;
            }
            return 0;
        }

        /// <summary>The zone view, derived from the pools: each default pool is a (node, zone) pair.</summary>
        internal static void ZoneInfo(ref ShellLine line)
        {
            for (int node = 0; node < Machine.NodeCount; node++)
            {
                Zone(node, "DMA", 0, 16UL << 20);
                Zone(node, "DMA32", 16UL << 20, 4UL << 30);
                Zone(node, "Normal", 4UL << 30, ulong.MaxValue);
            }
        }

        private static void Zone(int node, string zone, ulong low, ulong high)
        {
            ulong present = 0, free = 0, blocks = 0;
            int pools = 0;
            for (PoolId id = Pm->FirstPool(); !id.IsNone; id = Pm->NextPool(id))
            {
                Pm->GetPoolProperties(id, out PoolProperties p);
                if (p.NodeMask != 1UL << node || p.WindowLow.Value < low || p.WindowLow.Value >= high)
                    continue;
                Pm->GetPoolStats(id, out PoolStats s);
                present += s.PresentPages;
                free += s.FreePages;
                blocks += s.Pageblocks;
                pools++;
            }
            Console.Write("Node ");
            Console.Write(node);
            Console.Write(", zone ");
            Console.Write(zone);
            for (int i = zone.Length; i < 7; i++)
                Console.Write(' ');
            Console.Write(" pages free ");
            Banner.Pad((long)free, 9);
            Console.Write(" present ");
            Banner.Pad((long)present, 9);
            Console.Write(" pageblocks ");
            Banner.Pad((long)blocks, 6);
            Console.Write("  (from ");
            Console.Write(pools);
            Console.WriteLine(pools == 1 ? " pool)" : " pools)");
        }

        /// <summary>
        /// Use of every page block, pool by pool: one character a page block
        /// ('.' empty, '1'-'9' tenths in use, '#' full, ' ' absent), 64 to a line.
        /// </summary>
        internal static void Pageblocks(ref ShellLine line)
        {
            ulong count = Pm->PageblockCount;
            for (PoolId id = Pm->FirstPool(); !id.IsNone; id = Pm->NextPool(id))
            {
                ulong empty = 0, full = 0, partial = 0;
                Console.Write("pool ");
                MemoryText.PoolName(Pm, id);
                Console.WriteLine(":");
                int column = 0;
                for (ulong i = 0; i < count; i++)
                {
                    if (Pm->GetPageblock(i, out PageblockUse u) != MemoryStatus.Ok || u.Pool != id)
                        continue;
                    if (column == 0)
                    {
                        Console.Write("  ");
                        Console.WriteHex(u.Start.Value << 12, 12);
                        Console.Write(" ");
                    }
                    char c;
                    if (u.PresentPages == 0) c = ' ';
                    else if (u.InUsePages == 0) { c = '.'; empty++; }
                    else if (u.InUsePages == u.PresentPages) { c = '#'; full++; }
                    else { c = (char)('1' + (int)(u.InUsePages * 9 / u.PresentPages) - (u.InUsePages * 9 / u.PresentPages == 9 ? 1 : 0)); partial++; }
                    Console.Write(c);
                    if (++column == 64)
                    {
                        Console.WriteLine();
                        column = 0;
                    }
                }
                if (column != 0)
                    Console.WriteLine();
                Console.Write("  empty ");
                Console.Write(empty);
                Console.Write(", partly used ");
                Console.Write(partial);
                Console.Write(", full ");
                Console.Write(full);
                Console.WriteLine();
            }
        }

        /// <summary>The whole memory state as one machine-readable block between markers, for host tools.</summary>
        internal static void Dump(ref ShellLine line)
        {
            MemoryTotals t = Pm->GetTotals();
            Console.WriteLine("=== POOLKERNEL DUMP BEGIN v1 ===");
            Kv("usable_bytes", MemoryBringUp.UsableBytes);
            Kv("present_pages", t.PresentPages);
            Kv("free_pages", t.FreePages);
            Kv("inuse_pages", t.InUsePages);
            Kv("span_pages", t.SpanPages);
            Kv("pageblocks", t.Pageblocks);
            Kv("pageblock_order", (ulong)Pm->PageblockOrder);
            Kv("max_order", (ulong)Pm->MaxOrder);
            Kv("metadata_bytes", t.MetadataBytes);
            Kv("nodes", (ulong)Machine.NodeCount);
            // Frames held per owner (Kernel/Mm/Owners.cs names them), owners holding none left out.
            ulong* owned = stackalloc ulong[FrameOwner.Count];
            Pm->GetOwnerPages(owned);
            for (int o = 0; o < FrameOwner.Count; o++)
            {
                if (owned[o] == 0)
                    continue;
                Console.Write("owner_pages_");
                Console.Write(o);
                Console.Write("=");
                Console.Write(owned[o]);
                Console.WriteLine();
            }
            for (int i = 0; i < Reservations.Count; i++)
            {
                Boot.Layout.ReservationTable.Entry e = Reservations.Get(i);
                Console.Write("reservation base=");
                Console.WriteHex(e.Base);
                Console.Write(" end=");
                Console.WriteHex(e.End);
                Console.Write(" ram_bytes=");
                Console.Write(e.AvailableBytes);
                Console.Write(" name=");
                Console.WriteLine(e.Name);
            }
            for (PoolId id = Pm->FirstPool(); !id.IsNone; id = Pm->NextPool(id))
            {
                Pm->GetPoolProperties(id, out PoolProperties p);
                Pm->GetPoolStats(id, out PoolStats s);
                Console.Write("pool id=");
                Console.Write(id.Value);
                Console.Write(" name=");
                MemoryText.PoolName(p);
                Console.Write(" nodemask=");
                Console.WriteHex(p.NodeMask);
                Console.Write(" low=");
                Console.WriteHex(p.WindowLow.Value);
                Console.Write(" high=");
                Console.WriteHex(p.WindowHigh.Value);
                Console.Write(" flags=");
                Console.WriteHex((ulong)p.Flags);
                Console.Write(" prio=");
                Console.Write(p.Priority);
                Console.Write(" owner=");
                Console.Write(p.Owner);
                Console.Write(" ownermask=");
                Console.WriteHex(p.OwnerMask);
                Console.Write(" minpages=");
                Console.Write(p.MinimumPages);
                Console.Write(" maxpages=");
                Console.Write(p.MaximumPages);
                Console.Write(" present=");
                Console.Write(s.PresentPages);
                Console.Write(" free=");
                Console.Write(s.FreePages);
                Console.Write(" pageblocks=");
                Console.Write(s.Pageblocks);
                Console.Write(" buddy=");
                for (int o = 0; o <= Pm->MaxOrder; o++)
                {
                    if (o > 0)
                        Console.Write(",");
                    Console.Write(Pm->FreeBlocks(id, new Order(o)));
                }
                // Free order-0 frames in the pool's frame cache: in free=, not in the buddy= columns.
                Console.Write(" cached=");
                Console.Write(s.CachedPages);
                Console.WriteLine();
            }
            Console.WriteLine("=== POOLKERNEL DUMP END ===");
        }

        private static void Kv(string key, ulong value)
        {
            Console.Write(key);
            Console.Write("=");
            Console.Write(value);
            Console.WriteLine();
        }
    }
}
