namespace PoolKernel.Boot.PoolPlan
{
    public static unsafe partial class PoolPlanner
    {
        /// <summary>
        /// Finds <paramref name="needPages"/> of memory the properties admit and makes the pool of it.
        /// Page blocks are taken from the top of the window down (low memory is scarce), and only
        /// from default pools, wholly free.
        /// <list type="number">
        /// <item>One run: a contiguous run of such page blocks that holds enough (partial page blocks
        /// at holes count with their present frames) becomes the pool with one CreatePoolFromRange.
        /// Not for huge pages, whose blocks must be whole and aligned.</item>
        /// <item>Pieces: whole page blocks in aligned units (one page block, or 1 GiB for 1 GiB huge
        /// pages), gathered run by run: the first run with CreatePoolFromRange, each later one through a
        /// temporary pool (CreatePoolFromRange, MovePageblocks into the new pool, DestroyPool). With a
        /// minimum the gathering pool has none and the final pool is made from it in one CreatePool,
        /// because Kernel.Memory checks the minimum on creation.</item>
        /// </list>
        /// With <paramref name="fitToFree"/> (kernelcore=) the size shrinks to the free whole page blocks there are.
        /// Neither fits: refused with how much could have been had (RangeTaken when <paramref name="ranged"/> and an
        /// earlier boot pool holds what was missing). A failed step undoes the pools made so far.
        /// </summary>
        private static void Carve(ref Context ctx, int index, in Memory.PoolProperties props, ulong needPages, ulong unitPages, bool huge, bool ranged,
            bool fitToFree, PoolOutcome* o)
        {
            Memory.PhysicalMemory* pm = ctx.Pm;
            Survey survey = TakeSurvey(ref ctx, in props, unitPages, huge);
            if (fitToFree)
            {
                // kernelcore=: the movable pool is the rest of memory, but pages the kernel already uses and
                // partial page blocks cannot be movable; the kernel then keeps more than it asked for.
                ulong free = survey.UnitPages;
                ulong run = survey.BestRunPages - survey.BestRunPages % ctx.PbPages;
                if (run > free)
                    free = run;
                if (free != 0 && free < needPages)
                {
                    needPages = free;
                    o->PlannedBytes = free * PageSize;
                    o->Notes |= OutcomeNotes.KernelKeepsMore;
                }
            }

            Memory.PoolId id = Memory.PoolId.None;
            Memory.MemoryStatus status = Memory.MemoryStatus.OutOfMemory;
            if (!huge && survey.BestRunPages >= needPages)
                status = CarveOneRun(ref ctx, in props, needPages, out id);
            if (status != Memory.MemoryStatus.Ok && survey.UnitPages >= needPages)
            {
                status = CarvePieces(ref ctx, in props, needPages, unitPages, out id, out bool pieces);
                if (status == Memory.MemoryStatus.Ok && pieces)
                    o->Notes |= OutcomeNotes.Pieces;
            }

            if (status == Memory.MemoryStatus.Ok)
            {
                ctx.BootSpec[id.Value] = (byte)index;
                o->Code = OutcomeCode.Created;
                o->Pool = id.Value;
                pm->GetPoolStats(id, out Memory.PoolStats stats);
                o->GotBytes = stats.PresentPages * PageSize;
                RecordDonors(pm, id, o);
                return;
            }

            ulong available = survey.BestRunPages > survey.UnitPages && !huge ? survey.BestRunPages : survey.UnitPages;
            o->AvailableBytes = available * PageSize;
            if (status == Memory.MemoryStatus.PoolTableFull)
                Refuse(o, OutcomeCode.PoolTableFull, (ulong)pm->PoolCapacity);
            else if (status != Memory.MemoryStatus.OutOfMemory)
                Refuse(o, OutcomeCode.Failed, (ulong)status);
            else if (survey.WindowPages == 0)
                Refuse(o, survey.Nodeless ? OutcomeCode.NoSuchNode : OutcomeCode.WindowEmpty, survey.Nodeless ? (ulong)pm->NodeCount : 0);
            else if (ranged && survey.BootPoolPages != 0 && available + survey.BootPoolPages >= needPages)
                Refuse(o, OutcomeCode.RangeTaken, (ulong)survey.FirstBootSpec);
            else
                Refuse(o, OutcomeCode.TooLarge, 0);
        }

        /// <summary>What the window holds, counted before anything is carved.</summary>
        private struct Survey
        {
            /// <summary>Present pages the properties admit, in any pool.</summary>
            public ulong WindowPages;
            /// <summary>Of those, pages in pools earlier specs created, and the first such spec.</summary>
            public ulong BootPoolPages;
            public int FirstBootSpec;
            /// <summary>Present pages of the largest run of free default-pool page blocks, topped by a whole one (the one-run plan).</summary>
            public ulong BestRunPages;
            /// <summary>Pages in whole aligned units of wholly free, fully present default-pool page blocks (the pieces plan).</summary>
            public ulong UnitPages;
            /// <summary>The node mask admits no page block of the machine at all.</summary>
            public bool Nodeless;
        }

        private static Survey TakeSurvey(ref Context ctx, in Memory.PoolProperties props, ulong unitPages, bool huge)
        {
            Memory.PhysicalMemory* pm = ctx.Pm;
            Survey survey = default;
            survey.FirstBootSpec = -1;
            survey.Nodeless = true;
            ulong run = 0;
            for (ulong pb = pm->PageblockCount; pb-- > 0;)
            {
                pm->GetPageblock(pb, out Memory.PageblockUse use);
                if (use.PresentPages != 0 && ((props.NodeMask >> use.Node) & 1) != 0)
                    survey.Nodeless = false;
                bool admitted = use.PresentPages != 0 && props.Admits(use.Start.Value, ctx.PbPages, use.Node);
                if (admitted)
                {
                    survey.WindowPages += use.PresentPages;
                    byte spec = ctx.BootSpec[use.Pool.Value];
                    if (spec != NoPool)
                    {
                        survey.BootPoolPages += use.PresentPages;
                        if (survey.FirstBootSpec < 0)
                            survey.FirstBootSpec = spec;
                    }
                }
                if (admitted && Takeable(ref ctx, in use) && (run != 0 || use.PresentPages == ctx.PbPages))
                {
                    run += use.PresentPages;
                    if (run > survey.BestRunPages)
                        survey.BestRunPages = run;
                }
                else
                {
                    run = 0;
                }
            }

            ulong unitBlocks = unitPages >> ctx.Pbo;
            for (ulong pb = FirstUnit(ref ctx, unitPages); pb + unitBlocks <= pm->PageblockCount; pb += unitBlocks)
            {
                if (UnitTakeable(ref ctx, in props, pb, unitBlocks))
                    survey.UnitPages += unitPages;
            }
            return survey;
        }

        /// <summary>A page block the plan may take: in a default pool, nothing allocated in it.</summary>
        private static bool Takeable(ref Context ctx, in Memory.PageblockUse use)
        {
            return use.PresentPages != 0 && !use.Pool.IsNone && ctx.IsDonor[use.Pool.Value] != 0 && use.InUsePages == 0;
        }

        /// <summary>Every page block of the unit is takeable, fully present and admitted.</summary>
        private static bool UnitTakeable(ref Context ctx, in Memory.PoolProperties props, ulong firstPb, ulong unitBlocks)
        {
            for (ulong pb = firstPb; pb < firstPb + unitBlocks; pb++)
            {
                ctx.Pm->GetPageblock(pb, out Memory.PageblockUse use);
                if (use.PresentPages != ctx.PbPages || !Takeable(ref ctx, in use) || !props.Admits(use.Start.Value, ctx.PbPages, use.Node))
                    return false;
            }
            return true;
        }

        /// <summary>Index of the first page block that starts a unit aligned to <paramref name="unitPages"/> frames.</summary>
        private static ulong FirstUnit(ref Context ctx, ulong unitPages)
        {
            ulong basePfn = ctx.Pm->BasePfn.Value;
            ulong skip = (unitPages - basePfn % unitPages) % unitPages;
            return skip >> ctx.Pbo;
        }

        /// <summary>The highest run of takeable, admitted page blocks holding enough: one CreatePoolFromRange.</summary>
        private static Memory.MemoryStatus CarveOneRun(ref Context ctx, in Memory.PoolProperties props, ulong needPages, out Memory.PoolId id)
        {
            id = Memory.PoolId.None;
            Memory.PhysicalMemory* pm = ctx.Pm;
            ulong run = 0, top = 0;
            for (ulong pb = pm->PageblockCount; pb-- > 0;)
            {
                pm->GetPageblock(pb, out Memory.PageblockUse use);
                // A run starts (at its top) with a whole page block, so a partial one only ever ends it.
                if (use.PresentPages == 0 || !props.Admits(use.Start.Value, ctx.PbPages, use.Node) || !Takeable(ref ctx, in use)
                    || (run == 0 && use.PresentPages != ctx.PbPages))
                {
                    run = 0;
                    continue;
                }
                if (run == 0)
                    top = pb;
                run += use.PresentPages;
                if (run < needPages)
                    continue;
                // Partial page blocks can overshoot the maximum; then only the pieces plan (whole blocks) can fit.
                if (props.MaximumPages != 0 && run > props.MaximumPages)
                    return Memory.MemoryStatus.OutOfMemory;
                return pm->CreatePoolFromRange(in props, use.Start, top - pb + 1, out id);
            }
            return Memory.MemoryStatus.OutOfMemory;
        }

        /// <summary>Whole aligned units from the top down, gathered run by run (see <see cref="Carve"/>).</summary>
        private static Memory.MemoryStatus CarvePieces(ref Context ctx, in Memory.PoolProperties props, ulong needPages, ulong unitPages,
            out Memory.PoolId id, out bool pieces)
        {
            id = Memory.PoolId.None;
            pieces = false;
            Memory.PhysicalMemory* pm = ctx.Pm;
            Memory.PoolProperties gather = props;
            gather.MinimumPages = 0;
            Memory.PoolId pool = Memory.PoolId.None;
            ulong unitBlocks = unitPages >> ctx.Pbo;
            ulong first = FirstUnit(ref ctx, unitPages);
            ulong taken = 0;
            // The pending run of units is [runStart, runEnd) in page blocks, grown downwards.
            ulong runStart = 0, runEnd = 0;
            Memory.MemoryStatus status = Memory.MemoryStatus.Ok;
            ulong units = first <= pm->PageblockCount ? (pm->PageblockCount - first) / unitBlocks : 0;
            for (ulong u = units; u-- > 0 && taken < needPages;)
            {
                ulong pb = first + u * unitBlocks;
                if (!UnitTakeable(ref ctx, in props, pb, unitBlocks))
                    continue;
                if (runEnd != 0 && pb + unitBlocks != runStart)
                {
                    status = AddRun(ref ctx, in gather, ref pool, runStart, runEnd - runStart);
                    if (status != Memory.MemoryStatus.Ok)
                        break;
                    pieces = true;
                    runEnd = 0;
                }
                if (runEnd == 0)
                    runEnd = pb + unitBlocks;
                runStart = pb;
                taken += unitPages;
            }
            if (status == Memory.MemoryStatus.Ok && taken < needPages)
                status = Memory.MemoryStatus.OutOfMemory;
            if (status == Memory.MemoryStatus.Ok)
                status = AddRun(ref ctx, in gather, ref pool, runStart, runEnd - runStart);
            if (status == Memory.MemoryStatus.Ok && props.MinimumPages != 0)
            {
                // Now the whole size is known to be there: make the pool with its minimum from the gathering pool.
                pm->GetPoolStats(pool, out Memory.PoolStats stats);
                status = pm->CreatePool(in props, pool, stats.Pageblocks, out Memory.PoolId final);
                if (status == Memory.MemoryStatus.Ok)
                {
                    pm->DestroyPool(pool);
                    pool = final;
                }
            }
            if (status != Memory.MemoryStatus.Ok)
            {
                if (!pool.IsNone)
                    pm->DestroyPool(pool);
                return status;
            }
            id = pool;
            return Memory.MemoryStatus.Ok;
        }

        /// <summary>Adds page blocks [start, start + count) (all whole and free) to <paramref name="pool"/>, creating it on the first run.</summary>
        private static Memory.MemoryStatus AddRun(ref Context ctx, in Memory.PoolProperties props, ref Memory.PoolId pool, ulong start, ulong count)
        {
            Memory.PhysicalMemory* pm = ctx.Pm;
            Memory.Pfn pfn = new Memory.Pfn(pm->BasePfn.Value + (start << ctx.Pbo));
            if (pool.IsNone)
                return pm->CreatePoolFromRange(in props, pfn, count, out pool);
            Memory.PoolProperties temporary = props;
            temporary.MaximumPages = 0;
            Memory.MemoryStatus status = pm->CreatePoolFromRange(in temporary, pfn, count, out Memory.PoolId piece);
            if (status != Memory.MemoryStatus.Ok)
                return status;
            status = pm->MovePageblocks(piece, pool, count);
            // Empty after a successful move; after a failed one it still holds the run, which goes home.
            pm->DestroyPool(piece);
            return status;
        }

        /// <summary>The default pool that gave the most page blocks, and how many gave any.</summary>
        private static void RecordDonors(Memory.PhysicalMemory* pm, Memory.PoolId id, PoolOutcome* o)
        {
            ulong* blocks = stackalloc ulong[256];
            for (int i = 0; i < 256; i++)
                blocks[i] = 0;
            for (ulong pb = 0; pb < pm->PageblockCount; pb++)
            {
                pm->GetPageblock(pb, out Memory.PageblockUse use);
                if (use.Pool == id && !use.Home.IsNone)
                    blocks[use.Home.Value]++;
            }
            ulong best = 0;
            for (int i = 0; i < 256; i++)
            {
                if (blocks[i] == 0)
                    continue;
                o->DonorCount++;
                if (blocks[i] > best)
                {
                    best = blocks[i];
                    o->Donor = (byte)i;
                }
            }
        }
    }
}
