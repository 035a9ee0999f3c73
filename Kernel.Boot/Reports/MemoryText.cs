using PoolKernel.Boot.Text;
using PoolKernel.Memory;

namespace PoolKernel.Boot.Reports
{
    /// <summary>Report text (kernel console, host simulator) for Kernel.Memory's result codes and reports (the core itself has no strings).</summary>
    public static unsafe class MemoryText
    {
        public static string Status(MemoryStatus s) => s switch
        {
            MemoryStatus.Ok => "ok",
            MemoryStatus.OutOfMemory => "out of memory",
            MemoryStatus.NoPoolSatisfies => "no pool holds memory the rules allow",
            MemoryStatus.QuotaExceeded => "over the container's quota",
            MemoryStatus.InvalidArgument => "invalid argument",
            MemoryStatus.InvalidOrder => "invalid order",
            MemoryStatus.Unaligned => "start not on a page-block edge",
            MemoryStatus.AlreadyFree => "frame is free, not allocated",
            MemoryStatus.NotAllocated => "frame is not the head of an allocated block",
            MemoryStatus.WrongOrder => "freed with the wrong order",
            MemoryStatus.OutsideEveryPool => "frame outside every pool",
            MemoryStatus.OwnerRefused => "owner not allowed in the pool",
            MemoryStatus.NoSuchPool => "no such pool",
            MemoryStatus.PoolTableFull => "pool table full",
            MemoryStatus.PoolInUse => "pool in use",
            MemoryStatus.PagesInUse => "pages in use",
            MemoryStatus.BelowMinimum => "below the pool's minimum",
            MemoryStatus.AboveMaximum => "above the pool's maximum",
            MemoryStatus.PropertiesMismatch => "memory does not match the pool's properties",
            MemoryStatus.ImpossibleRules => "rules no memory can satisfy",
            MemoryStatus.MetadataTooSmall => "metadata too small",
            MemoryStatus.WrongRunLength => "run freed with the wrong length",
            MemoryStatus.PoolIsHome => "pool is a home pool",
            MemoryStatus.RealtimeProtected => "realtime pool's memory is kept from lower priorities",
            MemoryStatus.RunFreedAsBlock => "a run freed as a block",
            MemoryStatus.BlockFreedAsRun => "a block freed as a run",
            MemoryStatus.NotOwner => "block belongs to another owner",
            MemoryStatus.NotBallooned => "page block not lent to the balloon",
            MemoryStatus.Corruption => "CORRUPTION",
            _ => "memory map or configuration refused",
        };

        public static string Invariant(InvariantCode c) => c switch
        {
            InvariantCode.Ok => "ok",
            InvariantCode.PageblockOwnership => "page block ownership",
            InvariantCode.PageblockPresentCount => "page block present count",
            InvariantCode.PageblockHeldCount => "page block held count",
            InvariantCode.ChoiceMemoStale => "remembered pool choice names a dead pool",
            InvariantCode.ChoiceMemoNotImplied => "remembered pool choice marks a pool as obeying rules it does not imply",
            InvariantCode.ChoiceMemoLastRequest => "last request found names a remembered pool choice of another request",
            InvariantCode.AccountedOwnerForm => "a fast path could serve a container: owner form, pool's unaccounted owners or remembered choice wrong",
            InvariantCode.FrameOwnerBad => "frame owner byte wrong (allocated head without an owner 0..63, or an owner on another frame)",
            InvariantCode.PageblockOutsideWindow => "page block outside its pool's window or nodes",
            InvariantCode.OrphanTail => "tail frame where a block head was expected",
            InvariantCode.BlockMisaligned => "block misaligned or order too large",
            InvariantCode.BlockNotContiguous => "block not contiguous",
            InvariantCode.BlockCrossesPools => "block crosses pools",
            InvariantCode.UnmergedBuddies => "free buddies not merged",
            InvariantCode.IsolatedLeft => "isolated block outside a move",
            InvariantCode.FreeListBadNode => "free-list link to a wrong frame",
            InvariantCode.FreeListBadLink => "free-list back link broken",
            InvariantCode.FreeListCount => "free-list count",
            InvariantCode.PoolCounters => "pool counters",
            InvariantCode.PresentNotConserved => "present frames not conserved",
            InvariantCode.CacheBadEntry => "frame-cache entry is not a cached frame of its pool",
            InvariantCode.CacheDuplicate => "frame-cache entry twice",
            InvariantCode.CacheCount => "frame-cache count",
            InvariantCode.CacheAboveHigh => "frame-cache high mark not sized to its pool, or exceeded",
            InvariantCode.ListedOrdersMask => "pool's non-empty-list mask disagrees with its lists",
            InvariantCode.IdleNodeLinked => "free-list node of no free block still linked",
            InvariantCode.BalloonBlockBad => "balloon block not a whole page block of a pool it may take from",
            InvariantCode.BalloonCount => "pool's lent frames miscounted or below its guarantee",
            InvariantCode.ContainerHeld => "container's held pages disagree with its blocks or its per-pool/per-node counts",
            InvariantCode.ContainerPoolHeld => "containers' pages in a pool disagree with their per-pool counts",
            InvariantCode.ContainerRecord => "container record (quota, peak, guarantee pool, live bit) wrong",
            InvariantCode.PageblockIndexBroken => "cheapest-block index disagrees with a page block",
            InvariantCode.PageblockClassRefused => "page block steered to a class its pool refuses",
            InvariantCode.CachedFrameOfAnotherClass => "frame-cache entry in a page block of another class than its cache serves",
            InvariantCode.RealtimeClassMixed => "realtime pool page block of another class than its pool's",
            _ => "unknown frame kind",
        };

        public static void PoolName(TextOut w, in PoolProperties p)
        {
            for (int i = 0; i < p.Name.Length; i++)
                w.Write((char)p.Name[i]);
        }

        public static void PoolName(TextOut w, PhysicalMemory* pm, PoolId id)
        {
            if (pm->GetPoolProperties(id, out PoolProperties p) == MemoryStatus.Ok)
                PoolName(w, p);
        }

        public static void Report(TextOut w, in InvariantReport r)
        {
            if (r.IsOk && !r.NotChecked.IsEmpty)
            {
                // Realtime pools that kept changing under their bounded check: neither clean nor broken.
                w.Write("check: busy, not checked: realtime pool");
                for (int p = 0; p < PoolId.MaxIds; p++)
                {
                    if (!r.NotChecked.Contains(p))
                        continue;
                    w.Write(" ");
                    w.Write(p);
                }
                w.WriteLine("; every other invariant ok");
                return;
            }
            if (r.IsOk)
            {
                w.WriteLine("check: ok (buddies aligned, no page in two pools, counts conserved, free lists consistent)");
                return;
            }
            w.Write("check: BROKEN ");
            w.Write(Invariant(r.Code));
            w.Write(" at pfn ");
            w.WriteHex(r.Pfn.Value);
            w.Write(" pool ");
            w.Write(r.Pool.Value);
            w.Write(" order ");
            w.Write(r.Order);
            w.Write(" expected ");
            w.Write(r.Expected);
            w.Write(" actual ");
            w.Write(r.Actual);
            w.WriteLine();
        }
    }
}
