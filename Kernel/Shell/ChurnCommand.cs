using System;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Startup;

namespace PoolKernel.Shell
{
    /// <summary>
    /// `churn [SEED]` (docs/antifrag.md): Gorman's churn inside the kernel, on the largest open pool.
    /// The pool is filled to 90% of its present frames (or until it refuses) with a seeded mix of 70%
    /// movable, 20% unmovable and 10% reclaimable blocks of orders 0-3, about half of them freed at
    /// random, then order-9 blocks are allocated until one fails, once plainly and once through
    /// compaction (<see cref="PhysicalMemoryOwner.AllocateCompacting"/>); one line gives both as the
    /// share of the pool's free frames obtained as order-9 blocks. The movable and reclaimable blocks
    /// belong to <see cref="Owners.Churn"/>, whose mover copies a block through the identity map and
    /// rewrites this command's table (the only way the command reaches its blocks); each frame holds a
    /// checksum of its slot and index in its first and last words, checked after compaction. Unmovable
    /// blocks are the shell's. Everything is given back and the checker runs at the end.
    /// The tables (a slot per allocation, a slot number per frame of the pool's extent) are a page run
    /// allocated before the churn.
    /// </summary>
    internal static unsafe class ChurnCommand
    {
        /// <summary>A slot's entry: the block's frame number, its order in bits 56-59, <see cref="Freed"/> once given back.</summary>
        private const ulong Freed = 1UL << 63;
        private const int OrderShift = 56;
        private const ulong PfnMask = (1UL << OrderShift) - 1;

        /// <summary>The mover's state: the slot table, and per frame of [Low, End) its slot + 1 (0: none of the churn's).</summary>
        private struct State
        {
            public ulong* Slots;
            public uint* SlotOfFrame;
            public ulong Low;
            public ulong End;
            public ulong PagesMoved;
        }

        private static State s_state;

        internal static void Run(ref ShellLine line)
        {
            ulong seed = 1;
            if (line.WordCount > 1 && !line.Arg(1, "SEED", 1, ulong.MaxValue, out seed))
                return;
            if (!line.NoMoreArgs(line.WordCount > 1 ? 2 : 1))
                return;
            if (!ChoosePool(out PoolId pool, out ulong low, out ulong end, out ulong present))
            {
                Console.WriteLine("churn: no open pool to churn");
                return;
            }
            ulong maxSlots = present * 9 / 10 + 1;
            ulong tablePages = (maxSlots * 8 + (end - low) * 4 + 4095) / 4096;
            AllocRequest shell = AllocRequest.Any;
            shell.Owner = Owners.Shell;
            if (PhysicalMemoryOwner.AllocateRun(tablePages, shell, out Pfn table) != MemoryStatus.Ok)
            {
                Console.WriteLine("churn: no memory for the tables");
                return;
            }
            fixed (State* st = &s_state)
            {
                st->Slots = (ulong*)(table.Value << 12);
                st->SlotOfFrame = (uint*)(st->Slots + maxSlots);
                st->Low = low;
                st->End = end;
                st->PagesMoved = 0;
                for (ulong i = 0; i < end - low; i++)
                    st->SlotOfFrame[i] = 0;
                FrameMover mover = default;
                mover.Context = st;
                mover.CanMove = &CanMove;
                mover.Move = &Move;
                PhysicalMemoryOwner.RegisterMover(Owners.Churn, mover);
                Churn(st, pool, seed, present, maxSlots);
                PhysicalMemoryOwner.UnregisterMover(Owners.Churn);
            }
            PhysicalMemoryOwner.FreeRun(table, tablePages, Owners.Shell);
            MemoryText.Report(ConsoleOut.Instance, PhysicalMemoryOwner.Check());
        }

        private static void Churn(State* st, PoolId pool, ulong seed, ulong present, ulong maxSlots)
        {
            ulong rng = seed * 0x9E3779B97F4A7C15UL + 1;
            ulong slots = 0, held = 0;
            while (held < present * 9 / 10 && slots < maxSlots)
            {
                ulong r = Next(ref rng) % 100;
                MobilityClass cls = r < 70 ? MobilityClass.Movable : r < 90 ? MobilityClass.Unmovable : MobilityClass.Reclaimable;
                int order = (int)(Next(ref rng) & 3);
                AllocRequest request = AllocRequest.InPool(pool);
                request.Mobility = cls;
                request.Owner = cls == MobilityClass.Unmovable ? Owners.Shell : Owners.Churn;
                if (PhysicalMemoryOwner.Allocate(new Order(order), request, out Pfn pfn) != MemoryStatus.Ok)
                    break;
                st->Slots[slots] = pfn.Value | ((ulong)order << OrderShift) | (request.Owner == Owners.Churn ? 0 : 1UL << 62);
                if (request.Owner == Owners.Churn)
                {
                    for (ulong i = 0; i < 1UL << order; i++)
                    {
                        ulong* frame = (ulong*)((pfn.Value + i) << 12);
                        frame[0] = Pattern(slots, i);
                        frame[511] = ~Pattern(slots, i);
                    }
                    st->SlotOfFrame[pfn.Value - st->Low] = (uint)(slots + 1);
                }
                held += 1UL << order;
                slots++;
            }
            for (ulong s = 0; s < slots; s++)
                if ((Next(ref rng) & 1) != 0)
                    Release(st, s);
            PhysicalMemoryOwner.GetPoolStats(pool, out PoolStats stats);
            ulong free = stats.FreePages;
            ulong plain = Order9Pages(pool, compacting: false);
            ulong compacted = Order9Pages(pool, compacting: true);
            bool intact = Intact(st, slots);
            for (ulong s = 0; s < slots; s++)
                Release(st, s);

            Console.Write("churn: seed ");
            Console.Write(seed);
            Console.Write(", pool ");
            Console.Write(pool.Value);
            Console.Write(": order-9 blocks for ");
            WritePercent(plain, free);
            Console.Write(" of free memory without compaction, ");
            WritePercent(compacted, free);
            Console.Write(" with compaction; ");
            Console.Write(st->PagesMoved);
            Console.Write(" pages moved, contents ");
            Console.WriteLine(intact ? "intact" : "CORRUPTED");
        }

        /// <summary>Frees slot <paramref name="s"/>'s block unless it is free already.</summary>
        private static void Release(State* st, ulong s)
        {
            ulong e = st->Slots[s];
            if ((e & Freed) != 0)
                return;
            ulong pfn = e & PfnMask & ~(1UL << 62);
            int order = (int)((e >> OrderShift) & 0xF);
            bool movable = (e & (1UL << 62)) == 0;
            PhysicalMemoryOwner.Free(new Pfn(pfn), new Order(order), movable ? Owners.Churn : Owners.Shell);
            if (movable)
                st->SlotOfFrame[pfn - st->Low] = 0;
            st->Slots[s] = e | Freed;
        }

        /// <summary>Frames obtained as order-9 blocks until one fails (given back afterwards).</summary>
        private static ulong Order9Pages(PoolId pool, bool compacting)
        {
            AllocRequest request = AllocRequest.InPool(pool);
            request.Owner = Owners.Shell;
            ulong pages = 0;
            Pfn chain = Pfn.None;
            while ((compacting ? PhysicalMemoryOwner.AllocateCompacting(new Order(9), request, out Pfn pfn)
                               : PhysicalMemoryOwner.Allocate(new Order(9), request, out pfn)) == MemoryStatus.Ok)
            {
                *(ulong*)(pfn.Value << 12) = chain.Value; // chained through their own first words
                chain = pfn;
                pages += 512;
            }
            while (chain != Pfn.None)
            {
                Pfn next = new Pfn(*(ulong*)(chain.Value << 12));
                PhysicalMemoryOwner.Free(chain, new Order(9), Owners.Shell);
                chain = next;
            }
            return pages;
        }

        /// <summary>Every live movable block is where the table says, allocated to the churn, with its checksums.</summary>
        private static bool Intact(State* st, ulong slots)
        {
            for (ulong s = 0; s < slots; s++)
            {
                ulong e = st->Slots[s];
                if ((e & Freed) != 0 || (e & (1UL << 62)) != 0)
                    continue;
                ulong pfn = e & PfnMask;
                int order = (int)((e >> OrderShift) & 0xF);
                if (PhysicalMemoryOwner.OwnerOf(new Pfn(pfn)) != Owners.Churn || st->SlotOfFrame[pfn - st->Low] != s + 1)
                    return false;
                for (ulong i = 0; i < 1UL << order; i++)
                {
                    ulong* frame = (ulong*)((pfn + i) << 12);
                    if (frame[0] != Pattern(s, i) || frame[511] != ~Pattern(s, i))
                        return false;
                }
            }
            return true;
        }

        private static bool CanMove(void* context, Pfn pfn, int order)
        {
            State* st = (State*)context;
            return pfn.Value >= st->Low && pfn.Value < st->End && st->SlotOfFrame[pfn.Value - st->Low] != 0;
        }

        /// <summary>Copies the block through the identity map and points the slot at the copy (no mapping but the table to rewrite).</summary>
        private static bool Move(void* context, Pfn from, Pfn to, int order)
        {
            State* st = (State*)context;
            if (!CanMove(context, from, order) || to.Value < st->Low || to.Value >= st->End)
                return false;
            ulong words = (1UL << order) * 512;
            ulong* src = (ulong*)(from.Value << 12);
            ulong* dst = (ulong*)(to.Value << 12);
            for (ulong i = 0; i < words; i++)
                dst[i] = src[i];
            uint slot = st->SlotOfFrame[from.Value - st->Low];
            st->SlotOfFrame[from.Value - st->Low] = 0;
            st->SlotOfFrame[to.Value - st->Low] = slot;
            ulong e = st->Slots[slot - 1];
            st->Slots[slot - 1] = (e & ~PfnMask) | to.Value;
            st->PagesMoved += 1UL << order;
            return true;
        }

        /// <summary>The live, non-reserved pool accepting every class with the most present frames, and the frame range its page blocks span.</summary>
        private static bool ChoosePool(out PoolId pool, out ulong low, out ulong end, out ulong present)
        {
            pool = PoolId.None;
            low = end = present = 0;
            PhysicalMemory* pm = PhysicalMemoryOwner.LockForReport(out ulong state);
            for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                pm->GetPoolProperties(id, out PoolProperties props);
                pm->GetPoolStats(id, out PoolStats stats);
                if ((props.Flags & (PoolFlags.Reserved | PoolFlags.Dma)) != 0 || props.AcceptedMobility != MobilityMask.All)
                    continue;
                if (stats.PresentPages > present)
                {
                    present = stats.PresentPages;
                    pool = id;
                }
            }
            if (!pool.IsNone)
            {
                low = ulong.MaxValue;
                for (ulong pb = 0; pb < pm->PageblockCount; pb++)
                {
                    pm->GetPageblock(pb, out PageblockUse use);
                    if (use.Pool != pool)
                        continue;
                    if (use.Start.Value < low)
                        low = use.Start.Value;
                    end = use.Start.Value + (1UL << pm->PageblockOrder);
                }
            }
            PhysicalMemoryOwner.Unlock(state);
            return !pool.IsNone;
        }

        private static ulong Pattern(ulong slot, ulong i) { return (slot * 0x9E3779B97F4A7C15UL) ^ (i + 0x5151); }

        /// <summary>Writes part / whole as a percentage with one decimal.</summary>
        private static void WritePercent(ulong part, ulong whole)
        {
            ulong permille = whole == 0 ? 0 : part * 1000 / whole;
            Console.Write(permille / 10);
            Console.Write('.');
            Console.Write(permille % 10);
            Console.Write('%');
        }

        private static ulong Next(ref ulong state)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            return state;
        }
    }
}
