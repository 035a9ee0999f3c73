namespace PoolKernel.Boot.PoolPlan
{
    /// <summary>
    /// Creates the pools the command line asks for (pool=, hugepages=, cma=, kernelcore=,
    /// movablecore=) in a freshly set-up <see cref="Memory.PhysicalMemory"/>, in command-line order,
    /// before anything else allocates. Pure: no statics, no allocation, no strings; every outcome
    /// is a code with numbers in a <see cref="PoolPlanResult"/> the caller turns into text.
    ///
    /// Contract: <c>pm</c> is set up and nothing else calls it meanwhile (boot, one CPU); the default pools (those that
    /// are some page block's home) are the only donors; a spec that cannot be met in full changes
    /// nothing (partial work is undone with DestroyPool, which sends page blocks home), so the
    /// present pages of all pools are the same before and after.
    /// </summary>
    public static unsafe partial class PoolPlanner
    {
        private const byte NoPool = 0xFF;
        private const ulong PageSize = 4096;
        /// <summary>Kernel.Memory windows end at 2^52 (PoolProperties.WindowEndPfn); higher ends mean "no limit".</summary>
        private const ulong AddressLimit = 1UL << 52;

        /// <summary>What every spec of one Apply call shares: the instance and tables taken before the first spec.</summary>
        private struct Context
        {
            public Memory.PhysicalMemory* Pm;
            public CommandLine.BootOptions* Options;
            /// <summary>Per pool id: 1 when the pool is a default pool (a page block's home), so it may donate.</summary>
            public byte* IsDonor;
            /// <summary>Per pool id: the spec index of a pool this call created, or NoPool.</summary>
            public byte* BootSpec;
            /// <summary>Per node: present pages of the default pools before any spec applied (what N% is of).</summary>
            public ulong* NodePages;
            public ulong TotalPages;
            public int Pbo;
            public ulong PbPages;
            /// <summary>Spec index of kernelcore=, or -1.</summary>
            public int KernelCoreSpec;
        }

        /// <summary>
        /// Applies every pool spec of <paramref name="options"/> to <paramref name="pm"/> and records
        /// the outcome of each in <paramref name="result"/> (cleared first).
        /// </summary>
        public static void Apply(Memory.PhysicalMemory* pm, CommandLine.BootOptions* options, PoolPlanResult* result)
        {
            *result = default;
            Context ctx = default;
            ctx.Pm = pm;
            ctx.Options = options;
            byte* isDonor = stackalloc byte[256];
            byte* bootSpec = stackalloc byte[256];
            ulong* nodePages = stackalloc ulong[Memory.NodeDistances.MaxNodes];
            for (int i = 0; i < 256; i++)
            {
                isDonor[i] = 0;
                bootSpec[i] = NoPool;
            }
            for (int n = 0; n < Memory.NodeDistances.MaxNodes; n++)
                nodePages[n] = 0;
            ctx.IsDonor = isDonor;
            ctx.BootSpec = bootSpec;
            ctx.NodePages = nodePages;
            ctx.Pbo = pm->PageblockOrder;
            ctx.PbPages = 1UL << ctx.Pbo;
            ctx.KernelCoreSpec = -1;

            for (ulong pb = 0; pb < pm->PageblockCount; pb++)
            {
                pm->GetPageblock(pb, out Memory.PageblockUse use);
                if (use.PresentPages == 0 || use.Home.IsNone)
                    continue;
                isDonor[use.Home.Value] = 1;
                nodePages[use.Node] += use.PresentPages;
                ctx.TotalPages += use.PresentPages;
            }
            result->PresentPagesBefore = LivePresentPages(pm);

            int count = options->PoolCount;
            if (count > PoolPlanResult.MaxOutcomes)
                count = PoolPlanResult.MaxOutcomes;
            for (int i = 0; i < count; i++)
            {
                if (options->Pool(i)->Origin == CommandLine.PoolOrigin.KernelCore)
                    ctx.KernelCoreSpec = i;
            }
            for (int i = 0; i < count; i++)
            {
                PoolOutcome* o = result->Outcome(i);
                PlanOne(ref ctx, i, o);
                result->Count++;
                if (o->IsCreated)
                    result->CreatedCount++;
                else
                    result->RefusedCount++;
            }
            result->PresentPagesAfter = LivePresentPages(pm);
        }

        private static ulong LivePresentPages(Memory.PhysicalMemory* pm)
        {
            ulong total = 0;
            for (Memory.PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                pm->GetPoolStats(id, out Memory.PoolStats stats);
                total += stats.PresentPages;
            }
            return total;
        }

        /// <summary>Resolves one spec into properties and a size, checks what can be checked, then carves.</summary>
        private static void PlanOne(ref Context ctx, int index, PoolOutcome* o)
        {
            CommandLine.PoolSpec* s = ctx.Options->Pool(index);
            Memory.PhysicalMemory* pm = ctx.Pm;
            *o = default;
            o->SpecIndex = index;
            o->TokenIndex = s->TokenIndex;
            o->Node = s->Node;
            o->Pool = NoPool;
            o->Donor = NoPool;
            o->Boundary = s->Boundary;
            o->Align = s->Align;
            if (s->Boundary != 0 || s->Align != 0)
                o->Notes |= OutcomeNotes.RulesRecorded;

            bool kernelCore = s->Origin == CommandLine.PoolOrigin.KernelCore;
            Memory.PoolProperties props = Memory.PoolProperties.Open("");
            if (kernelCore)
                props.Name = Memory.PoolName.From("movable");
            else
                props.Name = NameOf(s);

            // Names are unique among specs (the parser saw to that); here against the pools that exist.
            for (Memory.PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            {
                pm->GetPoolProperties(id, out Memory.PoolProperties existing);
                if (SameName(existing.Name, props.Name))
                {
                    Refuse(o, OutcomeCode.NameClash, id.Value);
                    return;
                }
            }

            if (s->Origin == CommandLine.PoolOrigin.MovableCore && ctx.KernelCoreSpec >= 0)
            {
                Refuse(o, OutcomeCode.CoreConflict, (ulong)ctx.KernelCoreSpec);
                return;
            }

            bool hasOwner = (s->Flags & CommandLine.PoolSpecFlags.HasOwner) != 0;
            if (s->Origin == CommandLine.PoolOrigin.Pool)
            {
                if (hasOwner && s->Owner > 63)
                {
                    Refuse(o, OutcomeCode.OwnerUnsupported, s->Owner);
                    return;
                }
                // Preallocated: only requests that name the pool, and only its owner (owner 0 = the kernel).
                props.Owner = hasOwner ? (byte)s->Owner : (byte)0;
                props.OwnerMask = 1UL << props.Owner;
                props.Flags = Memory.PoolFlags.Reserved;
                if ((s->Flags & CommandLine.PoolSpecFlags.Realtime) != 0)
                    props.Flags |= Memory.PoolFlags.Realtime;
                if ((s->Flags & CommandLine.PoolSpecFlags.Movable) != 0)
                    props.Flags |= Memory.PoolFlags.MovableOnly;
                if (s->DmaBits != 0)
                    props.Flags |= Memory.PoolFlags.Dma;
                if ((s->Flags & CommandLine.PoolSpecFlags.Elastic) != 0)
                {
                    // Elastic: general memory the balloon lends first (Kernel.Memory/Balloon), so not
                    // reserved, and open to every owner unless owner= names one.
                    props.Flags = (props.Flags & ~Memory.PoolFlags.Reserved) | Memory.PoolFlags.Elastic;
                    if (!hasOwner)
                        props.OwnerMask = ulong.MaxValue;
                }
                if ((s->Flags & CommandLine.PoolSpecFlags.HasPrio) != 0)
                    props.Priority = s->Prio;
            }
            else if (s->Origin == CommandLine.PoolOrigin.HugePages)
            {
                props.Flags = Memory.PoolFlags.Reserved;
            }
            else
            {
                // cma=, kernelcore=, movablecore=: memory for movable allocations, open to them all.
                props.Flags = Memory.PoolFlags.MovableOnly;
            }
            if ((props.Flags & Memory.PoolFlags.MovableOnly) != 0)
                props.AcceptedMobility = Memory.MobilityMask.Movable;

            if (s->Node >= 0)
            {
                if (s->Node >= pm->NodeCount || ctx.NodePages[s->Node] == 0)
                {
                    Refuse(o, OutcomeCode.NoSuchNode, (ulong)pm->NodeCount);
                    return;
                }
                props.NodeMask = 1UL << s->Node;
            }

            // The window: @START-END (or cma's @START[-END]) narrowed by dma=BITS.
            ulong low = 0, high = 0;
            if ((s->Flags & CommandLine.PoolSpecFlags.HasRange) != 0)
            {
                low = s->RangeStart;
                high = s->RangeEnd == CommandLine.PoolSpec.OpenEnd || s->RangeEnd >= AddressLimit ? 0 : s->RangeEnd;
                ulong pbBytes = ctx.PbPages * PageSize;
                if (low % pbBytes != 0 || (high != 0 && high % pbBytes != 0))
                    o->Notes |= OutcomeNotes.RangeTrimmed;
            }
            if (s->DmaBits != 0 && s->DmaBits < 52)
            {
                ulong limit = 1UL << s->DmaBits;
                if (high == 0 || limit < high)
                    high = limit;
            }
            o->WindowLow = low;
            o->WindowHigh = high;
            if (low >= AddressLimit || (high != 0 && low >= high))
            {
                Refuse(o, OutcomeCode.WindowEmpty, 0);
                return;
            }
            props.WindowLow = new Memory.PhysAddr(low);
            props.WindowHigh = new Memory.PhysAddr(high);

            // The size: bytes or N% of the node's (or the machine's) pool memory. Every step is checked
            // (CheckedMath): a size whose exact value does not fit in 64 bits is refused, never wrapped.
            ulong basePages = s->Node >= 0 ? ctx.NodePages[s->Node] : ctx.TotalPages;
            ulong requested = s->SizeBytes;
            if (s->SizePercent != 0)
            {
                o->Notes |= OutcomeNotes.Percent;
                if (!CheckedMath.Multiply(CheckedMath.PercentOf(basePages, s->SizePercent), PageSize, out requested))
                {
                    RefuseOverflow(o, 0, PageSize);
                    return;
                }
            }
            if (kernelCore)
            {
                // kernelcore= says how much stays for the kernel; the movable pool is the rest.
                ulong total = ctx.TotalPages * PageSize;
                if (requested >= total)
                {
                    o->PlannedBytes = requested;
                    o->AvailableBytes = total;
                    Refuse(o, OutcomeCode.CoreCoversAll, 0);
                    return;
                }
                requested = total - requested;
                // Whole page blocks of movable memory: round the remainder down so the kernel keeps at least kernelcore.
                requested -= requested % (ctx.PbPages * PageSize);
                if (requested == 0)
                {
                    o->PlannedBytes = 0;
                    o->AvailableBytes = 0;
                    Refuse(o, OutcomeCode.CoreCoversAll, 0);
                    return;
                }
            }
            o->RequestedBytes = requested;

            ulong blockBytes = ctx.PbPages * PageSize;
            ulong unitBytes = s->BlockSize > blockBytes ? s->BlockSize : blockBytes;
            if (!CheckedMath.RoundUp(requested == 0 ? 1 : requested, unitBytes, out ulong planned))
            {
                RefuseOverflow(o, requested, unitBytes);
                return;
            }
            if (planned != requested)
                o->Notes |= OutcomeNotes.RoundedUp;
            // max= rounds up to page blocks and min= to pages; one that cannot be rounded within 64 bits is
            // ignored with a note (the pool is still made), never wrapped to a small limit.
            if (s->Max != 0)
            {
                if (CheckedMath.RoundUp(s->Max, blockBytes, out ulong max))
                {
                    if (planned > max)
                    {
                        planned = max;
                        o->Notes |= OutcomeNotes.LimitedByMax;
                    }
                    props.MaximumPages = max / PageSize;
                }
                else
                {
                    o->Notes |= OutcomeNotes.MaxOverflow;
                }
            }
            ulong growTo = 0; // pages: a realtime pool's minimum above its size, set once it is made
            if (s->Guaranteed != 0)
            {
                if (CheckedMath.RoundUp(s->Guaranteed, PageSize, out ulong min))
                {
                    if (min > planned)
                    {
                        // A realtime pool is made at its size and then given the minimum it asked for, which
                        // the housekeeping pass grows it to from lower priorities (docs/realtime.md); any other
                        // pool's minimum is lowered to its size.
                        if ((props.Flags & Memory.PoolFlags.Realtime) != 0)
                        {
                            growTo = min / PageSize;
                            o->Notes |= OutcomeNotes.GrowsToMinimum;
                        }
                        else
                        {
                            o->Notes |= OutcomeNotes.GuaranteedClamped;
                        }
                        min = planned;
                    }
                    props.MinimumPages = min / PageSize;
                }
                else
                {
                    o->Notes |= OutcomeNotes.GuaranteedOverflow;
                }
            }
            o->PlannedBytes = planned;

            Carve(ref ctx, index, in props, planned / PageSize, unitBytes / PageSize, s->BlockSize != 0,
                (s->Flags & CommandLine.PoolSpecFlags.HasRange) != 0, kernelCore, o);
            if (growTo != 0 && o->Pool != NoPool)
                pm->SetRealtimeLimits(new Memory.PoolId((byte)o->Pool), growTo, props.MaximumPages);
        }

        /// <summary>Refuses a spec whose size, made exact in <paramref name="unit"/>s, does not fit in 64 bits.</summary>
        private static void RefuseOverflow(PoolOutcome* o, ulong asked, ulong unit)
        {
            o->RequestedBytes = asked;
            Refuse(o, OutcomeCode.SizeOverflow, unit);
        }

        private static void Refuse(PoolOutcome* o, OutcomeCode code, ulong value)
        {
            o->Code = code;
            o->Value = value;
        }

        /// <summary>The spec's name as a pool name (1..15 bytes of a-z 0-9 _ -, checked by the parser).</summary>
        private static Memory.PoolName NameOf(CommandLine.PoolSpec* spec)
        {
            // PoolName is its 16 bytes and nothing else; it has no constructor from bytes (only from a string).
            Memory.PoolName name = default;
            byte* bytes = (byte*)&name;
            for (int i = 0; i < spec->NameLength && i < Memory.PoolName.Capacity; i++)
                bytes[i] = spec->NameByte(i);
            return name;
        }

        private static bool SameName(in Memory.PoolName a, in Memory.PoolName b)
        {
            for (int i = 0; i < Memory.PoolName.Capacity; i++)
            {
                if (a[i] != b[i])
                    return false;
            }
            return true;
        }
    }
}
