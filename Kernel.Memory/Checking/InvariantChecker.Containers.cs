using System.Threading;

namespace PoolKernel.Memory;

public static unsafe partial class InvariantChecker
{
    /// <summary>
    /// Step 9: the containers' accounting (Owners/). One walk over the frames sums the pages held by
    /// each owner (the frames of every block and run whose head carries it) and, per pool, by the
    /// live containers; then, for every container, its held count equals its pages per the frames and
    /// the sums of its per-pool and per-node counts; per pool, the containers' per-pool counts add up
    /// to their pages there per the frames; held is within the quota and the peak; its guarantee pool
    /// is live, owner-masked to it alone and as large as its guarantee; every head records its owner in the accounted
    /// form exactly when the owner is a live container, and every live pool's <see cref="Pool.UnaccountedOwners"/> is its
    /// owner mask less the containers (what keeps the fast paths from serving a container, <see cref="InvariantCode.AccountedOwnerForm"/>).
    /// The counts are exact only when no allocation is in flight (the caller holds the pools quiet).
    /// </summary>
    private static InvariantReport CheckContainers(ref PhysicalMemory pm, bool butRealtime)
    {
        // The fast paths' owner masks: every live pool's, realtime pools' too (written under the table lock, which the checker holds).
        for (int p = 0; p < pm._poolLimit; p++)
        {
            ref Pool pool = ref pm._buddy._pools[p];
            ulong unaccounted = pool.Properties.OwnerMask & ~pm._accountedOwners;
            if (pool.Live != 0 && pool.UnaccountedOwners != unaccounted)
                return InvariantReport.Broken(InvariantCode.AccountedOwnerForm, 0, p, 1, unaccounted, pool.UnaccountedOwners);
        }
        if (pm._containers == null)
            return pm._accountedOwners == 0 ? default : InvariantReport.Broken(InvariantCode.ContainerRecord, 0, 0, 4, 0, pm._accountedOwners);
        ref BuddyAllocator b = ref pm._buddy;
        ulong* byOwner = stackalloc ulong[FrameOwner.Count];
        ulong* containersInPool = stackalloc ulong[PoolId.MaxIds];
        for (int i = 0; i < FrameOwner.Count; i++)
            byOwner[i] = 0;
        for (int i = 0; i < PoolId.MaxIds; i++)
            containersInPool[i] = 0;
        byte runOwner = FrameOwner.None;
        for (ulong i = 0; i < b._spanPages; )
        {
            byte state = b._frames[i];
            FrameKind kind = FrameState.KindOf(state);
            ulong pages = 1UL << FrameState.OrderOf(state);
            byte owner;
            if (kind == FrameKind.Allocated || kind == FrameKind.RunFirst)
            {
                byte recorded = b._owners[i];
                owner = FrameOwner.OwnerOf(recorded);
                // The accounted form exactly on a live container's heads: the fast paths serve every plain one.
                if (FrameOwner.IsValid(owner) && FrameOwner.IsAccountedForm(recorded) != (((pm._accountedOwners >> owner) & 1) != 0) &&
                    !SkipFrame(ref pm, butRealtime, i))
                    return InvariantReport.Broken(InvariantCode.AccountedOwnerForm, pm._basePfn + i, b.PoolOfFrame(i), 0,
                        (ulong)(recorded ^ FrameOwner.Accounted), recorded);
            }
            else if (kind == FrameKind.RunNext)
                owner = runOwner;
            else
            {
                i++;
                continue;
            }
            if (SkipFrame(ref pm, butRealtime, i))
            {
                // A realtime pool's block (a run never spans pools: its next pieces are skipped the same way).
                runOwner = kind == FrameKind.Allocated ? FrameOwner.None : owner;
                i += pages;
                continue;
            }
            runOwner = kind == FrameKind.Allocated ? FrameOwner.None : owner;
            if (FrameOwner.IsValid(owner))
            {
                byOwner[owner] += pages;
                if (((pm._accountedOwners >> owner) & 1) != 0)
                    containersInPool[b.PoolOfFrame(i)] += pages;
            }
            i += pages;
        }

        // An accounted allocation or free in flight on another CPU (its reservation taken, its pool
        // call or its commit not yet done: Owners/PhysicalMemory.Accounted.cs) leaves that container's
        // counts and the frames a block apart until it finishes; such a container's counts are
        // compared only when it is quiet, and the per-pool sum only when every container is.
        bool allQuiet = true;
        for (int o = 0; o < FrameOwner.Count; o++)
        {
            Container* c = pm._containers + o;
            bool live = ((pm._accountedOwners >> o) & 1) != 0;
            if (live != (c->Live != 0))
                return InvariantReport.Broken(InvariantCode.ContainerRecord, 0, o, 4, live ? 1UL : 0UL, c->Live);
            if (!live)
                continue;
            if (Volatile.Read(ref c->_inFlight) != 0 || (butRealtime && AdmittedByRealtime(ref pm, (byte)o)))
            {
                allQuiet = false;
                continue;
            }
            ulong held = (ulong)c->_held;
            if (held != byOwner[o])
                return InvariantReport.Broken(InvariantCode.ContainerHeld, 0, o, 0, byOwner[o], held);
            ulong inPools = 0, onNodes = 0;
            for (int p = 0; p < PoolId.MaxIds; p++)
            {
                inPools += (ulong)c->_heldInPool[p];
                containersInPool[p] -= (ulong)c->_heldInPool[p];
            }
            for (int n = 0; n < NodeDistances.MaxNodes; n++)
                onNodes += (ulong)c->_heldOnNode[n];
            if (inPools != held)
                return InvariantReport.Broken(InvariantCode.ContainerHeld, 0, o, 1, held, inPools);
            if (onNodes != held)
                return InvariantReport.Broken(InvariantCode.ContainerHeld, 0, o, 2, held, onNodes);
            if (c->_held > c->QuotaPages)
                return InvariantReport.Broken(InvariantCode.ContainerRecord, 0, o, 1, (ulong)c->QuotaPages, held);
            if (c->_peak < c->_held)
                return InvariantReport.Broken(InvariantCode.ContainerRecord, 0, o, 2, held, (ulong)c->_peak);
            if (!c->GuaranteePool.IsNone)
            {
                int g = c->GuaranteePool.Value;
                if (!pm.IsLive(c->GuaranteePool) || b._pools[g].Properties.OwnerMask != 1UL << o ||
                    b._pools[g].PresentPages < (ulong)c->GuaranteePages)
                    return InvariantReport.Broken(InvariantCode.ContainerRecord, 0, o, 3, (ulong)c->GuaranteePages,
                        g < pm._poolCapacity ? b._pools[g].PresentPages : 0);
            }
        }
        for (int p = 0; p < PoolId.MaxIds && allQuiet; p++)
            if (containersInPool[p] != 0)
                return InvariantReport.Broken(InvariantCode.ContainerPoolHeld, 0, p, 0, 0, containersInPool[p]);
        return default;
    }

    /// <summary>True when a live realtime pool admits <paramref name="owner"/>: its pages there change under that pool's locks alone.</summary>
    private static bool AdmittedByRealtime(ref PhysicalMemory pm, byte owner)
    {
        for (int p = 0; p < pm._poolCapacity; p++)
            if (pm._buddy._pools[p].Live != 0 && pm.IsRealtime(p) && pm._buddy._pools[p].Properties.AllowsOwner(owner))
                return true;
        return false;
    }
}
