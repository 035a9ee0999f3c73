using System;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>
    /// The movable areas in the shell (docs/antifrag.md "Movable areas", docs/numa.md "Migration"):
    /// `vmalloc SIZE`, `vfree ID`, `vareas [ID]`, `vareatest SIZE [SEED]` (fill, compact, verify) and
    /// `migrate AREA NODE`. Every line starts with the command's name.
    /// </summary>
    internal static unsafe class VmAreaCommands
    {
        private const ulong PageSize = 4096;

        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "vmalloc", "vmalloc SIZE: a movable kernel virtual-memory area of SIZE bytes (4 KiB pages, up to 256M)", &Vmalloc);
            Commands.Register(ref n, "vfree", "vfree ID: give area ID back (every frame and page table)", &Vfree);
            Commands.Register(ref n, "vareas", "vareas [ID]: the areas (pages per node, moves); with ID, its frames as runs", &Vareas);
            Commands.Register(ref n, "vareatest", "vareatest SIZE [SEED]: an area scattered between fillers, filled, compact, checksum verified, frames moved", &VareaTest);
            Commands.Register(ref n, "vareatouch", "vareatouch SIZE ROUNDS [SEED]: an area moved page by page ROUNDS (1..100) times while another CPU reads it, checksummed (faults on moving pages wait)", &VareaTouch);
            Commands.Register(ref n, "vfill", "vfill ID SEED: write a seeded pattern through area ID's addresses", &Vfill);
            Commands.Register(ref n, "vverify", "vverify ID SEED: check area ID holds SEED's pattern (after moves: compaction, migration, pressure)", &Vverify);
            Commands.Register(ref n, "migrate", "migrate AREA NODE: move an area's frames to NODE's pools page by page, checksummed", &Migrate);
        }

        private static void Vmalloc(ref ShellLine line)
        {
            if (!line.Arg(1, "SIZE", 1, VmAreas.MaxPages * PageSize, out ulong size))
                return;
            AllocRequest request = AllocRequest.Any;
            int next = 2;
            if (line.WordIs(next, "pool"))
            {
                if (!MemoryCommands.LivePoolArg(ref line, next + 1, "vmalloc", out PoolId pool))
                    return;
                request = AllocRequest.InPool(pool);
                next += 2;
            }
            if (!line.NoMoreArgs(next))
                return;
            ulong pages = (size + PageSize - 1) / PageSize;
            // As the shell: the area is vmarea's. As a container (`as NAME vmalloc ...`): its frames are the container's.
            byte owner = ShellOwner.Current == Owners.Shell ? Owners.VmArea : ShellOwner.Current;
            VmAreaStatus status = VmAreas.Allocate(pages, request, owner, out int id);
            if (status != VmAreaStatus.Ok)
            {
                Refused("vmalloc", status);
                return;
            }
            Console.Write("vmalloc: area ");
            Console.Write(id);
            Console.Write(", ");
            Console.Write(pages);
            Console.Write(" pages at ");
            Console.WriteHex(VmAreas.AddressOf(id));
            Console.Write(" (");
            Console.Write(VmAreas.TablePagesOf(id));
            Console.Write(" page-table pages)");
            if (owner != Owners.VmArea && Containers.Usage(owner, out ContainerUsage u))
            {
                Console.Write(", charged to ");
                for (int i = 0; i < u.Name.Length; i++)
                    Console.Write((char)u.Name[i]);
            }
            Console.WriteLine();
        }

        /// <summary>`vfill ID SEED`: a seeded pattern written through the area's addresses (for `vverify` after moves).</summary>
        private static void Vfill(ref ShellLine line)
        {
            if (!line.Arg(1, "ID", 0, VmAreas.MaxAreas - 1, out ulong id) || !line.Arg(2, "SEED", 1, ulong.MaxValue, out ulong seed) || !line.NoMoreArgs(3))
                return;
            ulong pages = VmAreas.PagesOf((int)id);
            if (pages == 0)
            {
                Refused("vfill", VmAreaStatus.NoSuchArea);
                return;
            }
            ulong sum = Fill((int)id, pages, seed);
            Console.Write("vfill: area ");
            Console.Write(id);
            Console.Write(", ");
            Console.Write(pages);
            Console.Write(" pages filled with seed ");
            Console.Write(seed);
            Console.Write(", checksum ");
            Console.WriteHex(sum);
            Console.WriteLine();
        }

        /// <summary>`vverify ID SEED`: the area's checksum read through its addresses against the one of the seed's pattern.</summary>
        private static void Vverify(ref ShellLine line)
        {
            if (!line.Arg(1, "ID", 0, VmAreas.MaxAreas - 1, out ulong id) || !line.Arg(2, "SEED", 1, ulong.MaxValue, out ulong seed) || !line.NoMoreArgs(3))
                return;
            ulong pages = VmAreas.PagesOf((int)id);
            if (pages == 0)
            {
                Refused("vverify", VmAreaStatus.NoSuchArea);
                return;
            }
            ulong sum = Checksum((int)id, pages);
            ulong expected = PatternChecksum(pages, seed);
            Console.Write("vverify: area ");
            Console.Write(id);
            Console.Write(", ");
            Console.Write(pages);
            Console.Write(" pages, checksum ");
            Console.WriteHex(sum);
            Console.WriteLine(sum == expected ? ": intact (seed's pattern)" : ": CORRUPTED (not the seed's pattern)");
        }

        /// <summary>The checksum <see cref="Fill"/> leaves for <paramref name="pages"/> pages and <paramref name="seed"/>, computed without an area.</summary>
        private static ulong PatternChecksum(ulong pages, ulong seed)
        {
            ulong rng = seed * 0xD1B54A32D192ED03UL + 7;
            ulong sum = 0;
            for (ulong w = 0; w < pages * 512; w++)
                sum = (sum ^ Next(ref rng)) * 0x100000001B3UL + w;
            return sum;
        }

        private static void Vfree(ref ShellLine line)
        {
            if (!line.Arg(1, "ID", 0, VmAreas.MaxAreas - 1, out ulong id) || !line.NoMoreArgs(2))
                return;
            if (ShellOwner.Current != Owners.Shell && VmAreas.PagesOf((int)id) != 0 && VmAreas.OwnerOf((int)id) != ShellOwner.Current)
            {
                // Isolation: acting as a container, only its own areas may be given back.
                Console.Write("vfree: area ");
                Console.Write(id);
                Console.WriteLine(" is not this container's");
                return;
            }
            ulong tables = VmAreas.TablePagesOf((int)id);
            VmAreaStatus status = VmAreas.Free((int)id, out ulong frames);
            if (status != VmAreaStatus.Ok)
            {
                Refused("vfree", status);
                return;
            }
            Console.Write("vfree: area ");
            Console.Write(id);
            Console.Write(": ");
            Console.Write(frames);
            Console.Write(" frames and ");
            Console.Write(tables);
            Console.WriteLine(" page-table pages given back");
        }

        private static void Vareas(ref ShellLine line)
        {
            if (line.WordCount > 1)
            {
                if (!line.Arg(1, "ID", 0, VmAreas.MaxAreas - 1, out ulong one) || !line.NoMoreArgs(2))
                    return;
                if (VmAreas.PagesOf((int)one) == 0)
                {
                    Refused("vareas", VmAreaStatus.NoSuchArea);
                    return;
                }
                Summary((int)one);
                Runs((int)one);
                return;
            }
            int shown = 0;
            for (int id = 0; id < VmAreas.MaxAreas; id++)
            {
                if (VmAreas.PagesOf(id) == 0)
                    continue;
                Summary(id);
                shown++;
            }
            Console.Write("vareas: ");
            Console.Write(shown);
            Console.Write(" areas; ");
            Console.Write(VmAreas.SetUpPages);
            Console.Write(" pages of reverse map and tables; ");
            Console.Write(TlbShootdown.Sent);
            Console.WriteLine(" shootdowns sent");
        }

        /// <summary>One line: the area's address, size, pages per node, moves.</summary>
        private static void Summary(int id)
        {
            ulong pages = VmAreas.PagesOf(id);
            Console.Write("vareas: area ");
            Console.Write(id);
            Console.Write(" at ");
            Console.WriteHex(VmAreas.AddressOf(id));
            Console.Write(", ");
            Console.Write(pages);
            Console.Write(" pages:");
            int nodes = PhysicalMemoryOwner.NodeCount;
            for (int node = 0; node < nodes; node++)
            {
                ulong on = 0;
                for (ulong i = 0; i < pages; i++)
                {
                    Pfn pfn = VmAreas.FrameOf(id, i);
                    if (pfn != Pfn.None && PhysicalMemoryOwner.NodeOf(pfn) == node)
                        on++;
                }
                Console.Write(" node");
                Console.Write(node);
                Console.Write(' ');
                Console.Write(on);
            }
            VmAreas.MovesOf(id, out ulong compaction, out ulong migration, out ulong pressure);
            Console.Write("; moved ");
            Console.Write(compaction);
            Console.Write(" by compaction, ");
            Console.Write(migration);
            Console.Write(" by migration");
            if (pressure != 0)
            {
                Console.Write(", ");
                Console.Write(pressure);
                Console.Write(" out of short pools by pressure");
            }
            if (VmAreas.OwnerOf(id) != Owners.VmArea && Containers.Usage(VmAreas.OwnerOf(id), out ContainerUsage u))
            {
                Console.Write("; charged to ");
                for (int i = 0; i < u.Name.Length; i++)
                    Console.Write((char)u.Name[i]);
            }
            Console.WriteLine();
        }

        /// <summary>The area's frames as runs of consecutive frames backing consecutive pages, one line each.</summary>
        private static void Runs(int id)
        {
            ulong pages = VmAreas.PagesOf(id);
            ulong i = 0;
            while (i < pages)
            {
                Pfn first = VmAreas.FrameOf(id, i);
                ulong n = 1;
                while (i + n < pages && first != Pfn.None && VmAreas.FrameOf(id, i + n).Value == first.Value + n)
                    n++;
                Console.Write("vareas: area ");
                Console.Write(id);
                Console.Write(" pages ");
                Console.Write(i);
                Console.Write('-');
                Console.Write(i + n - 1);
                if (first == Pfn.None)
                    Console.WriteLine(": not backed");
                else
                {
                    Console.Write(": frames [");
                    Console.WriteHex(first.Value << 12);
                    Console.Write(", ");
                    Console.WriteHex((first.Value + n) << 12);
                    Console.Write(") node ");
                    Console.Write(PhysicalMemoryOwner.NodeOf(first));
                    Console.WriteLine();
                }
                i += n;
            }
        }

        /// <summary>Largest vareatest area (the table of frames before compaction is a shell page run).</summary>
        private const ulong MaxTestBytes = 64UL << 20;

        private static void VareaTest(ref ShellLine line)
        {
            if (!line.Arg(1, "SIZE", PageSize, MaxTestBytes, out ulong size)
                || !line.OptionalArg(2, "SEED", 0, ulong.MaxValue, 1, out ulong seed)
                || !line.NoMoreArgs(3))
                return;
            ulong pages = (size + PageSize - 1) / PageSize;
            ulong tablePages = (pages * 8 + PageSize - 1) / PageSize;
            AllocRequest shell = AllocRequest.Any;
            shell.Owner = Owners.Shell;
            if (PhysicalMemoryOwner.AllocateRun(tablePages, shell, out Pfn table) != MemoryStatus.Ok)
            {
                Console.WriteLine("vareatest: no memory for the table of frames");
                return;
            }
            ulong* before = (ulong*)(table.Value << 12);
            VmAreaStatus status = Scatter(pages, seed, out int id, out ulong fillers);
            if (status != VmAreaStatus.Ok)
            {
                PhysicalMemoryOwner.FreeRun(table, tablePages, Owners.Shell);
                Refused("vareatest", status);
                return;
            }
            ulong sum = Fill(id, pages, seed);
            for (ulong i = 0; i < pages; i++)
                before[i] = VmAreas.FrameOf(id, i).Value;
            ulong moved = 0;
            for (int p = 0; p < PhysicalMemoryOwner.PoolCapacity; p++)
            {
                PoolId pool = new PoolId((byte)p);
                if (PhysicalMemoryOwner.GetPoolProperties(pool, out _) == MemoryStatus.Ok)
                {
                    PhysicalMemoryOwner.Compact(pool, -1, out CompactionResult r);
                    moved += r.PagesMoved;
                }
            }
            ulong frames = 0;
            for (ulong i = 0; i < pages; i++)
            {
                if (VmAreas.FrameOf(id, i).Value != before[i])
                    frames++;
            }
            bool intact = Checksum(id, pages) == sum;
            PhysicalMemoryOwner.FreeRun(table, tablePages, Owners.Shell);
            Console.Write("vareatest: area ");
            Console.Write(id);
            Console.Write(", ");
            Console.Write(pages);
            Console.Write(" pages between ");
            Console.Write(fillers);
            Console.Write(" fillers (freed); compact moved ");
            Console.Write(moved);
            Console.Write(" pages, ");
            Console.Write(frames);
            Console.Write(" of the area's frames; checksum ");
            Console.WriteLine(intact ? "intact" : "CORRUPTED");
        }

        /// <summary>
        /// An area of <paramref name="pages"/> pages whose frames lie between fillers: before each page
        /// 0-3 frames (seeded) of the movable class are taken by the shell, and all of them are given back
        /// once the area is backed, leaving the area's page blocks part-used, as churn would.
        /// </summary>
        internal static VmAreaStatus Scatter(ulong pages, ulong seed, out int id, out ulong fillers)
        {
            fillers = 0;
            VmAreaStatus status = VmAreas.Reserve(pages, Owners.VmArea, out id);
            if (status != VmAreaStatus.Ok)
                return status;
            AllocRequest filler = AllocRequest.Any;
            filler.Owner = Owners.Shell;
            filler.Mobility = MobilityClass.Movable;
            ulong rng = seed * 0x9E3779B97F4A7C15UL + 1;
            Pfn chain = Pfn.None;
            for (ulong i = 0; i < pages && status == VmAreaStatus.Ok; i++)
            {
                ulong count = Next(ref rng) & 3;
                for (ulong f = 0; f < count; f++)
                {
                    if (PhysicalMemoryOwner.Allocate(new Order(0), filler, out Pfn pfn) != MemoryStatus.Ok)
                        break;
                    *(ulong*)(pfn.Value << 12) = chain.Value; // chained through their own first words
                    chain = pfn;
                    fillers++;
                }
                status = VmAreas.Populate(id, i, AllocRequest.Any);
            }
            while (chain != Pfn.None)
            {
                Pfn next = new Pfn(*(ulong*)(chain.Value << 12));
                PhysicalMemoryOwner.Free(chain, new Order(0), Owners.Shell);
                chain = next;
            }
            if (status != VmAreaStatus.Ok)
            {
                VmAreas.Free(id);
                id = -1;
            }
            return status;
        }

        /// <summary>Writes a seeded pattern through the area's addresses; returns its checksum.</summary>
        internal static ulong Fill(int id, ulong pages, ulong seed)
        {
            ulong* words = (ulong*)VmAreas.AddressOf(id);
            ulong rng = seed * 0xD1B54A32D192ED03UL + 7;
            for (ulong w = 0; w < pages * 512; w++)
                words[w] = Next(ref rng);
            return Checksum(id, pages);
        }

        /// <summary>A position-dependent checksum of the area's words, read through its addresses.</summary>
        internal static ulong Checksum(int id, ulong pages)
        {
            ulong* words = (ulong*)VmAreas.AddressOf(id);
            ulong sum = 0;
            for (ulong w = 0; w < pages * 512; w++)
                sum = (sum ^ words[w]) * 0x100000001B3UL + w;
            return sum;
        }

        /// <summary>What the reading CPU of `vareatouch` shares with the shell's: set before the post, read after the wait.</summary>
        private struct Sweeper
        {
            public int Area;
            public ulong Pages;
            public ulong Expected;
            /// <summary>Set by the shell's CPU when its moves are done; the sweeper stops after its current sweep.</summary>
            public int Stop;
            /// <summary>Set by the sweeper when its first sweep begins.</summary>
            public int Started;
            public ulong Sweeps;
            public ulong Wrong;
        }

        /// <summary>Runs on the other CPU: checksums the area through its addresses, sweep after sweep, until told to stop.</summary>
        private static void Sweep(ulong argument)
        {
            Sweeper* s = (Sweeper*)argument;
            System.Threading.Volatile.Write(ref s->Started, 1);
            do
            {
                if (Checksum(s->Area, s->Pages) != s->Expected)
                    s->Wrong++;
                s->Sweeps++;
            }
            while (System.Threading.Volatile.Read(ref s->Stop) == 0);
        }

        /// <summary>
        /// `vareatouch SIZE ROUNDS [SEED]`: an area filled with a seeded pattern; the first other online CPU
        /// reads it sweep after sweep (checksumming each) while this CPU moves every page of it to a new frame
        /// ROUNDS times (<see cref="VmAreas.Migrate"/> with every page). A read of a page being moved faults on its
        /// migration entry and waits (docs/antifrag.md). The area is given back at the end.
        /// </summary>
        private static void VareaTouch(ref ShellLine line)
        {
            if (!line.Arg(1, "SIZE", PageSize, MaxTestBytes, out ulong size)
                || !line.Arg(2, "ROUNDS", 1, 100, out ulong rounds)
                || !line.OptionalArg(3, "SEED", 0, ulong.MaxValue, 1, out ulong seed)
                || !line.NoMoreArgs(4))
                return;
            int other = -1;
            for (int c = 0; c < Smp.Count && other < 0; c++)
            {
                if (c != Smp.CurrentNumber && Smp.Get(c) != null && Smp.Get(c)->State == CpuState.Online)
                    other = c;
            }
            if (other < 0)
            {
                Console.WriteLine("vareatouch: needs another online CPU to read the area");
                return;
            }
            ulong pages = (size + PageSize - 1) / PageSize;
            VmAreaStatus status = VmAreas.Allocate(pages, AllocRequest.Any, out int id);
            if (status != VmAreaStatus.Ok)
            {
                Refused("vareatouch", status);
                return;
            }
            Sweeper sweeper = default;
            sweeper.Area = id;
            sweeper.Pages = pages;
            sweeper.Expected = Fill(id, pages, seed);
            ulong waitsBefore = VmAreas.MigrationWaits;
            if (!Smp.Post(other, &Sweep, (ulong)&sweeper))
            {
                VmAreas.Free(id);
                Console.WriteLine("vareatouch: the other CPU is busy");
                return;
            }
            while (System.Threading.Volatile.Read(ref sweeper.Started) == 0)
                Cpu.Pause();
            int cpuNode = Smp.Current != null ? Smp.Current->Node : 0;
            int node = PhysicalMemoryOwner.NodeOf(VmAreas.FrameOf(id, 0));
            ulong moved = 0, failed = 0;
            for (ulong r = 0; r < rounds; r++)
            {
                VmAreas.Migrate(id, node, cpuNode, true, out VmAreas.MigrationResult result);
                moved += result.Moved;
                failed += result.Failed;
            }
            System.Threading.Volatile.Write(ref sweeper.Stop, 1);
            Smp.WaitForWork(other);
            bool intact = Checksum(id, pages) == sweeper.Expected;
            ulong waits = VmAreas.MigrationWaits - waitsBefore;
            VmAreas.Free(id);
            Console.Write("vareatouch: area ");
            Console.Write(id);
            Console.Write(", ");
            Console.Write(pages);
            Console.Write(" pages moved ");
            Console.Write(rounds);
            Console.Write(" times (");
            Console.Write(moved);
            Console.Write(" moves, ");
            Console.Write(failed);
            Console.Write(" without a frame) while cpu ");
            Console.Write(other);
            Console.Write(" read it ");
            Console.Write(sweeper.Sweeps);
            Console.Write(" times; ");
            Console.Write(waits);
            Console.Write(" faults waited for a migration; ");
            Console.Write(sweeper.Wrong);
            Console.Write(" sweeps wrong; checksum ");
            Console.WriteLine(intact && sweeper.Wrong == 0 ? "intact" : "CORRUPTED");
        }

        private static void Migrate(ref ShellLine line)
        {
            if (!line.Arg(1, "AREA", 0, VmAreas.MaxAreas - 1, out ulong area)
                || !line.Arg(2, "NODE", 0, (ulong)PhysicalMemoryOwner.NodeCount - 1, out ulong node)
                || !line.NoMoreArgs(3))
                return;
            int id = (int)area;
            ulong pages = VmAreas.PagesOf(id);
            if (pages == 0)
            {
                Refused("migrate", VmAreaStatus.NoSuchArea);
                return;
            }
            ulong sum = Checksum(id, pages);
            int cpuNode = Smp.Current != null ? Smp.Current->Node : 0;
            ulong start = Cpu.ReadTsc();
            VmAreaStatus status = VmAreas.Migrate(id, (int)node, cpuNode, out VmAreas.MigrationResult r);
            ulong ticks = Cpu.ReadTsc() - start;
            if (status != VmAreaStatus.Ok)
            {
                Refused("migrate", status);
                return;
            }
            bool intact = Checksum(id, pages) == sum;
            ulong copyTicks = CopyTicks(id, pages, r.Moved);
            Console.Write("migrate: area ");
            Console.Write(id);
            Console.Write(" to node ");
            Console.Write(node);
            Console.Write(": ");
            Console.Write(r.Moved);
            Console.Write(" pages moved, ");
            Console.Write(r.AlreadyThere);
            Console.Write(" already there, ");
            Console.Write(r.Failed);
            Console.Write(" could not move");
            if (r.Failed != 0)
            {
                Console.Write(" (no frame on the node; first: page ");
                Console.Write(r.FirstFailed);
                Console.Write(')');
            }
            Console.Write("; checksum ");
            Console.Write(intact ? "intact" : "CORRUPTED");
            Console.Write("; ");
            Console.Write(ticks);
            Console.Write(" ticks, a plain copy of the same pages ");
            Console.Write(copyTicks);
            Console.WriteLine(" ticks");
        }

        /// <summary>
        /// TSC ticks to copy <paramref name="moved"/> of the area's pages (the first ones) page by page into
        /// one scratch frame through the same addresses: the plain copy migration is compared with (docs/numa.md).
        /// </summary>
        private static ulong CopyTicks(int id, ulong pages, ulong moved)
        {
            AllocRequest shell = AllocRequest.Any;
            shell.Owner = Owners.Shell;
            if (moved == 0 || PhysicalMemoryOwner.Allocate(new Order(0), shell, out Pfn scratch) != MemoryStatus.Ok)
                return 0;
            ulong* dst = (ulong*)(scratch.Value << 12);
            ulong* src = (ulong*)VmAreas.AddressOf(id);
            ulong start = Cpu.ReadTsc();
            for (ulong p = 0; p < moved && p < pages; p++)
            {
                for (int w = 0; w < 512; w++)
                    dst[w] = src[p * 512 + (ulong)w];
            }
            ulong ticks = Cpu.ReadTsc() - start;
            PhysicalMemoryOwner.Free(scratch, new Order(0), Owners.Shell);
            return ticks;
        }

        private static void Refused(string command, VmAreaStatus status)
        {
            Console.Write(command);
            Console.Write(": ");
            Console.WriteLine(status == VmAreaStatus.NoSuchArea ? "no such area (see vareas)"
                : status == VmAreaStatus.NoSlot ? "every area slot is in use"
                : status == VmAreaStatus.OutOfMemory ? "out of memory (nothing kept)"
                : status == VmAreaStatus.QuotaExceeded ? "over the container's quota (nothing kept)"
                : status == VmAreaStatus.NotPermitted ? "owner not allowed in the pool (nothing kept)"
                : "invalid argument (node without memory?)");
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
