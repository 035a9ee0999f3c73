using PoolKernel.Boot.Layout;
using PoolKernel.Boot.Text;
using PoolKernel.Memory;

namespace PoolKernel.Boot.Reports
{
    /// <summary>
    /// /proc-style reports of the pools: meminfo, pools, buddyinfo, zoneinfo, pageblocks, dump.
    /// Formats follow Linux where there is an equivalent. The kernel's shell commands
    /// (Kernel/Shell/MemoryReports.cs) and the host simulator (Kernel.Sim) print them from here, so
    /// the same pools give the same lines. <see cref="MemInfo"/> covers the pools and reservations;
    /// the kernel adds its heap's rows after it.
    /// </summary>
    public static unsafe class MemoryReports
    {
        /// <summary>
        /// The boot's one-line summary after set-up: pools, their memory, reservations, metadata, and
        /// whether pools + reservations = usable RAM.
        /// </summary>
        public static void Summary(TextOut w, PhysicalMemory* pm, ReservationTable* reservations, ulong usableBytes, ulong metadataBytes)
        {
            MemoryTotals t = pm->GetTotals();
            w.Write("pools:    ");
            w.Write(t.LivePools);
            w.Write(" pools, ");
            w.WriteSize(t.PresentPages * 4096);
            w.Write(" in ");
            w.Write(t.Pageblocks);
            w.Write(" page blocks; reserved ");
            w.WriteSize(reservations->TotalAvailableBytes);
            w.Write("; metadata ");
            w.WriteSize(metadataBytes);
            w.WriteLine(t.PresentPages * 4096 + reservations->TotalAvailableBytes == usableBytes ? "; sums add up" : "; SUMS DO NOT ADD UP");
        }

        public static void MemInfo(TextOut w, PhysicalMemory* pm, ReservationTable* reservations, ulong usableBytes)
        {
            MemoryTotals t = pm->GetTotals();
            ulong poolBytes = t.PresentPages * 4096;
            ulong reserved = reservations->TotalAvailableBytes;
            Row(w, "MemTotal (usable RAM)", usableBytes);
            Row(w, "Pools present", poolBytes);
            Row(w, "  free", t.FreePages * 4096);
            Row(w, "  in use", t.InUsePages * 4096);
            // Lent to the hypervisor by the balloon (Kernel.Memory/Balloon): present = free + in use + ballooned.
            Row(w, "  ballooned", t.BalloonedPages * 4096);
            Row(w, "Reserved", reserved);
            for (int i = 0; i < reservations->Count; i++)
            {
                ReservationTable.Entry e = reservations->Get(i);
                w.Write("  ");
                w.Write(e.Name);
                w.Write(" ");
                w.Range(e.Base, e.End);
                w.Write(": ");
                w.Write(e.AvailableBytes / 1024);
                w.WriteLine(" kB");
            }
            w.Write("Sum: pools + reserved = ");
            w.Write((poolBytes + reserved) / 1024);
            w.Write(" kB, usable = ");
            w.Write(usableBytes / 1024);
            w.WriteLine(poolBytes + reserved == usableBytes ? " kB: adds up" : " kB: MISMATCH");
            w.Write("Pool metadata: ");
            w.Write(t.MetadataBytes);
            w.Write(" bytes for ");
            w.Write(t.SpanPages);
            w.Write(" frames of span (");
            WriteRatio(w, t.MetadataBytes, t.SpanPages);
            w.WriteLine(" bytes/frame)");
        }

        public static void Row(TextOut w, string name, ulong bytes)
        {
            w.Write(name);
            w.Write(":");
            for (int i = name.Length; i < 24; i++)
                w.Write(' ');
            w.Pad((long)(bytes / 1024), 12);
            w.WriteLine(" kB");
        }

        private static void WriteRatio(TextOut w, ulong a, ulong b)
        {
            if (b == 0)
            {
                w.Write("-");
                return;
            }
            w.Write(a / b);
            w.Write(".");
            ulong frac = (a % b) * 100 / b;
            if (frac < 10)
                w.Write("0");
            w.Write(frac);
        }

        public static void Pools(TextOut w, PhysicalMemory* pm)
        {
            w.WriteLine(" id name             nodes  window                         flags      prio owner  present kB    free kB  pageblocks");
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                pm->GetPoolProperties(id, out PoolProperties p);
                pm->GetPoolStats(id, out PoolStats s);
                w.Pad(id.Value, 3);
                w.Write(" ");
                MemoryText.PoolName(w, p);
                for (int i = p.Name.Length; i < 16; i++)
                    w.Write(' ');
                w.Write(" ");
                NodeMask(w, p.NodeMask, 6);
                w.Write(" ");
                w.WriteHex(p.WindowLow.Value, 11);
                w.Write("-");
                w.WriteHex(p.WindowEndPfn << 12, 11);
                w.Write("  ");
                Flags(w, p.Flags);
                w.Pad(p.Priority, 5);
                w.Write(" ");
                // Who may allocate: "-" anyone, "kern" only the kernel (owner 0), else the owner id.
                if (p.OwnerMask == ulong.MaxValue)
                    w.Write("   -");
                else if (p.OwnerMask == 1)
                    w.Write("kern");
                else
                    w.Pad(p.Owner, 4);
                w.Pad((long)(s.PresentPages * 4), 12);
                w.Pad((long)(s.FreePages * 4), 11);
                w.Pad((long)s.Pageblocks, 12);
                w.WriteLine();
            }
            Ballooned(w, pm);
        }

        /// <summary>
        /// The pools' line for memory lent to the hypervisor (Kernel.Memory/Balloon), after the table and
        /// only while the balloon holds some (so the table alone is one row a pool for tools that read it):
        /// the total, then each pool that lent some, by id; the present column above includes it, so
        /// present = free + in use + ballooned still holds pool by pool.
        /// </summary>
        private static void Ballooned(TextOut w, PhysicalMemory* pm)
        {
            MemoryTotals t = pm->GetTotals();
            if (t.BalloonedPages == 0)
                return;
            w.Write("ballooned: ");
            w.Write(t.BalloonedPages * 4);
            w.Write(" kB");
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                pm->GetPoolStats(id, out PoolStats s);
                if (s.BalloonedPages == 0)
                    continue;
                w.Write(", pool ");
                w.Write(id.Value);
                w.Write(" ");
                w.Write(s.BalloonedPages * 4);
                w.Write(" kB");
            }
            w.WriteLine();
        }

        private static void NodeMask(TextOut w, ulong mask, int width)
        {
            int written = 0;
            if (mask == ulong.MaxValue)
            {
                w.Write("any");
                for (written = 3; written < width; written++)
                    w.Write(' ');
                return;
            }
            for (int n = 0; n < 64; n++)
            {
                if ((mask & (1UL << n)) == 0)
                    continue;
                if (written > 0)
                {
                    w.Write(",");
                    written++;
                }
                w.Write(n);
                written += n < 10 ? 1 : 2;
            }
            for (; written < width; written++)
                w.Write(' ');
        }

        private static void Flags(TextOut w, PoolFlags f)
        {
            int n = 0;
            if ((f & PoolFlags.Dma) != 0) { w.Write("dma "); n += 4; }
            if ((f & PoolFlags.Reserved) != 0) { w.Write("resv "); n += 5; }
            if ((f & PoolFlags.Realtime) != 0) { w.Write("rt "); n += 3; }
            if ((f & PoolFlags.MovableOnly) != 0) { w.Write("mov "); n += 4; }
            if ((f & PoolFlags.Elastic) != 0) { w.Write("el "); n += 3; }
            if (n == 0) { w.Write("-"); n = 1; }
            for (; n < 10; n++)
                w.Write(' ');
        }

        /// <summary>Linux's /proc/buddyinfo shape: free blocks per order, one line per pool.</summary>
        public static void BuddyInfo(TextOut w, PhysicalMemory* pm)
        {
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                pm->GetPoolProperties(id, out PoolProperties p);
                w.Write("Node ");
                w.Write(FirstNode(p.NodeMask));
                w.Write(", pool ");
                MemoryText.PoolName(w, p);
                for (int i = p.Name.Length; i < 16; i++)
                    w.Write(' ');
                for (int o = 0; o <= pm->MaxOrder; o++)
                    w.Pad((long)pm->FreeBlocks(id, new Order(o)), 7);
                w.WriteLine();
            }
        }

        /// <summary>
        /// Linux's /proc/pagetypeinfo shape, pool by pool: free blocks per order on each mobility class's
        /// lists (orders below the page-block order; a class's lists hold the free blocks inside its page
        /// blocks), the whole free page blocks and larger blocks on the shared lists (no class: `whole`), then
        /// the page blocks per class (a page block with no frame held counted as `free`, whatever it was
        /// steered to). Columns are orders 0..MaxOrder; `-` where a list cannot exist.
        /// </summary>
        public static void PageTypeInfo(TextOut w, PhysicalMemory* pm)
        {
            int pbo = pm->PageblockOrder;
            w.Write("Page block order: ");
            w.Write(pbo);
            w.Write(" (");
            w.Write(1L << pbo);
            w.WriteLine(" pages)");
            w.Write("Free blocks per class      order");
            for (int o = 0; o <= pm->MaxOrder; o++)
                w.Pad(o, 7);
            w.WriteLine();
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                for (int cls = 0; cls <= 3; cls++)
                {
                    PoolLabel(w, pm, id, 22);
                    string name = cls == 3 ? "whole" : ClassName((MobilityClass)cls);
                    w.Write(' ');
                    w.Write(name);
                    for (int i = name.Length; i < 12; i++)
                        w.Write(' ');
                    for (int o = 0; o <= pm->MaxOrder; o++)
                    {
                        if ((cls == 3) != (o >= pbo))
                            w.Write("      -");
                        else if (cls == 3)
                            w.Pad((long)pm->FreeBlocks(id, new Order(o)), 7);
                        else
                            w.Pad((long)pm->FreeBlocks(id, new Order(o), (MobilityClass)cls), 7);
                    }
                    w.WriteLine();
                }
            }
            w.WriteLine();
            w.WriteLine("Page blocks per class       unmovable    movable reclaimable       free");
            ulong count = pm->PageblockCount;
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                ulong unmovable = 0, movable = 0, reclaimable = 0, free = 0;
                for (ulong i = 0; i < count; i++)
                {
                    if (pm->GetPageblock(i, out PageblockUse u) != MemoryStatus.Ok || u.Pool != id || u.PresentPages == 0)
                        continue;
                    if (u.InUsePages == 0 && u.CachedPages == 0)
                        free++;
                    else if (u.Mobility == MobilityClass.Movable)
                        movable++;
                    else if (u.Mobility == MobilityClass.Reclaimable)
                        reclaimable++;
                    else
                        unmovable++;
                }
                PoolLabel(w, pm, id, 23);
                w.Pad((long)unmovable, 14);
                w.Pad((long)movable, 11);
                w.Pad((long)reclaimable, 12);
                w.Pad((long)free, 11);
                w.WriteLine();
            }
        }

        /// <summary>"pool NAME" padded with spaces to <paramref name="width"/> characters.</summary>
        private static void PoolLabel(TextOut w, PhysicalMemory* pm, PoolId id, int width)
        {
            pm->GetPoolProperties(id, out PoolProperties p);
            w.Write("pool ");
            MemoryText.PoolName(w, p);
            for (int n = 5 + p.Name.Length; n < width; n++)
                w.Write(' ');
        }

        private static string ClassName(MobilityClass cls)
        {
            return cls == MobilityClass.Movable ? "movable" : cls == MobilityClass.Reclaimable ? "reclaimable" : "unmovable";
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
        public static void ZoneInfo(TextOut w, PhysicalMemory* pm, int nodeCount)
        {
            for (int node = 0; node < nodeCount; node++)
            {
                Zone(w, pm, node, "DMA", 0, 16UL << 20);
                Zone(w, pm, node, "DMA32", 16UL << 20, 4UL << 30);
                Zone(w, pm, node, "Normal", 4UL << 30, ulong.MaxValue);
            }
        }

        private static void Zone(TextOut w, PhysicalMemory* pm, int node, string zone, ulong low, ulong high)
        {
            ulong present = 0, free = 0, blocks = 0;
            int pools = 0;
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                pm->GetPoolProperties(id, out PoolProperties p);
                if (p.NodeMask != 1UL << node || p.WindowLow.Value < low || p.WindowLow.Value >= high)
                    continue;
                pm->GetPoolStats(id, out PoolStats s);
                present += s.PresentPages;
                free += s.FreePages;
                blocks += s.Pageblocks;
                pools++;
            }
            w.Write("Node ");
            w.Write(node);
            w.Write(", zone ");
            w.Write(zone);
            for (int i = zone.Length; i < 7; i++)
                w.Write(' ');
            w.Write(" pages free ");
            w.Pad((long)free, 9);
            w.Write(" present ");
            w.Pad((long)present, 9);
            w.Write(" pageblocks ");
            w.Pad((long)blocks, 6);
            w.Write("  (from ");
            w.Write(pools);
            w.WriteLine(pools == 1 ? " pool)" : " pools)");
        }

        /// <summary>
        /// Use of every page block, pool by pool: one character a page block
        /// ('.' empty, '1'-'9' tenths in use, '#' full, 'b' lent to the hypervisor, ' ' absent), 64 to a line.
        /// </summary>
        public static void Pageblocks(TextOut w, PhysicalMemory* pm)
        {
            ulong count = pm->PageblockCount;
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                ulong empty = 0, full = 0, partial = 0, lent = 0;
                w.Write("pool ");
                MemoryText.PoolName(w, pm, id);
                w.WriteLine(":");
                int column = 0;
                for (ulong i = 0; i < count; i++)
                {
                    if (pm->GetPageblock(i, out PageblockUse u) != MemoryStatus.Ok || u.Pool != id)
                        continue;
                    if (column == 0)
                    {
                        w.Write("  ");
                        w.WriteHex(u.Start.Value << 12, 12);
                        w.Write(" ");
                    }
                    char c;
                    if (u.PresentPages == 0) c = ' ';
                    else if (u.Ballooned) { c = 'b'; lent++; }
                    else if (u.InUsePages == 0) { c = '.'; empty++; }
                    else if (u.InUsePages == u.PresentPages) { c = '#'; full++; }
                    else { c = (char)('1' + (int)(u.InUsePages * 9 / u.PresentPages) - (u.InUsePages * 9 / u.PresentPages == 9 ? 1 : 0)); partial++; }
                    w.Write(c);
                    if (++column == 64)
                    {
                        w.WriteLine();
                        column = 0;
                    }
                }
                if (column != 0)
                    w.WriteLine();
                w.Write("  empty ");
                w.Write(empty);
                w.Write(", partly used ");
                w.Write(partial);
                w.Write(", full ");
                w.Write(full);
                if (lent != 0)
                {
                    w.Write(", ballooned ");
                    w.Write(lent);
                }
                w.WriteLine();
            }
        }

        /// <summary>The whole memory state as one machine-readable block between markers, for host tools.</summary>
        public static void Dump(TextOut w, PhysicalMemory* pm, ReservationTable* reservations, ulong usableBytes, int nodeCount)
        {
            MemoryTotals t = pm->GetTotals();
            w.WriteLine("=== POOLKERNEL DUMP BEGIN v1 ===");
            Kv(w, "usable_bytes", usableBytes);
            Kv(w, "present_pages", t.PresentPages);
            Kv(w, "free_pages", t.FreePages);
            Kv(w, "inuse_pages", t.InUsePages);
            Kv(w, "ballooned_pages", t.BalloonedPages);
            Kv(w, "span_pages", t.SpanPages);
            Kv(w, "pageblocks", t.Pageblocks);
            Kv(w, "pageblock_order", (ulong)pm->PageblockOrder);
            Kv(w, "max_order", (ulong)pm->MaxOrder);
            Kv(w, "metadata_bytes", t.MetadataBytes);
            Kv(w, "nodes", (ulong)nodeCount);
            // Frames held per owner (Kernel/Mm/Owners.cs names them), owners holding none left out.
            ulong* owned = stackalloc ulong[FrameOwner.Count];
            pm->GetOwnerPages(owned);
            for (int o = 0; o < FrameOwner.Count; o++)
            {
                if (owned[o] == 0)
                    continue;
                w.Write("owner_pages_");
                w.Write(o);
                w.Write("=");
                w.Write(owned[o]);
                w.WriteLine();
            }
            for (int i = 0; i < reservations->Count; i++)
            {
                ReservationTable.Entry e = reservations->Get(i);
                w.Write("reservation base=");
                w.WriteHex(e.Base);
                w.Write(" end=");
                w.WriteHex(e.End);
                w.Write(" ram_bytes=");
                w.Write(e.AvailableBytes);
                w.Write(" name=");
                w.WriteLine(e.Name);
            }
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                pm->GetPoolProperties(id, out PoolProperties p);
                pm->GetPoolStats(id, out PoolStats s);
                w.Write("pool id=");
                w.Write(id.Value);
                w.Write(" name=");
                MemoryText.PoolName(w, p);
                w.Write(" nodemask=");
                w.WriteHex(p.NodeMask);
                w.Write(" low=");
                w.WriteHex(p.WindowLow.Value);
                w.Write(" high=");
                w.WriteHex(p.WindowHigh.Value);
                w.Write(" flags=");
                w.WriteHex((ulong)p.Flags);
                w.Write(" prio=");
                w.Write(p.Priority);
                w.Write(" owner=");
                w.Write(p.Owner);
                w.Write(" ownermask=");
                w.WriteHex(p.OwnerMask);
                w.Write(" minpages=");
                w.Write(p.MinimumPages);
                w.Write(" maxpages=");
                w.Write(p.MaximumPages);
                w.Write(" present=");
                w.Write(s.PresentPages);
                w.Write(" free=");
                w.Write(s.FreePages);
                w.Write(" pageblocks=");
                w.Write(s.Pageblocks);
                w.Write(" buddy=");
                for (int o = 0; o <= pm->MaxOrder; o++)
                {
                    if (o > 0)
                        w.Write(",");
                    w.Write(pm->FreeBlocks(id, new Order(o)));
                }
                // Free order-0 frames in the pool's frame cache: in free=, not in the buddy= columns.
                w.Write(" cached=");
                w.Write(s.CachedPages);
                w.WriteLine();
            }
            // Page blocks, for pictures (Kernel.Sim --dump): runs of neighbouring page blocks of one
            // pool and node, at most 64 a line, each block's present and in-use frames.
            ulong count = pm->PageblockCount;
            ulong b = 0;
            while (b < count)
            {
                if (pm->GetPageblock(b, out PageblockUse first) != MemoryStatus.Ok || first.PresentPages == 0)
                {
                    b++;
                    continue;
                }
                ulong run = 1;
                while (run < 64 && b + run < count && pm->GetPageblock(b + run, out PageblockUse next) == MemoryStatus.Ok
                    && next.PresentPages != 0 && next.Pool == first.Pool && next.Node == first.Node)
                    run++;
                w.Write("blocks start=");
                w.WriteHex(first.Start.Value);
                w.Write(" node=");
                w.Write(first.Node);
                w.Write(" pool=");
                w.Write(first.Pool.Value);
                w.Write(" present=");
                for (ulong k = 0; k < run; k++)
                {
                    pm->GetPageblock(b + k, out PageblockUse u);
                    if (k > 0)
                        w.Write(",");
                    w.Write(u.PresentPages);
                }
                w.Write(" inuse=");
                for (ulong k = 0; k < run; k++)
                {
                    pm->GetPageblock(b + k, out PageblockUse u);
                    if (k > 0)
                        w.Write(",");
                    w.Write(u.InUsePages);
                }
                w.WriteLine();
                b += run;
            }
            w.WriteLine("=== POOLKERNEL DUMP END ===");
        }

        private static void Kv(TextOut w, string key, ulong value)
        {
            w.Write(key);
            w.Write("=");
            w.Write(value);
            w.WriteLine();
        }
    }
}
