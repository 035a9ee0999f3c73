using System;
using PoolKernel.Memory;
using PoolKernel.Mm;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>
    /// The shell's reclaimable memory of a container (<c>container cache NAME PAGES</c>,
    /// docs/containers.md "Pressure"): order-0 pages allocated as the container and kept like clean
    /// cache pages, which its reclaim hook (<see cref="PhysicalMemory.SetReclaimHook"/>) drops when the
    /// kernel runs out of memory (<see cref="MemoryShortage.Relieve"/> → <see cref="Containers.Reclaim"/>).
    /// The hook frees only pages outside the container's guarantee pool (pressure from no pool) or in
    /// the pool it is asked for, so a guarantee is never broken. It is the shell's experiment, as
    /// <c>alloc</c> is: the kernel has no page cache yet, and this is what one plugs into.
    ///
    /// The pages of each container are chained through their own first bytes (no other memory).
    /// <see cref="s_lock"/> guards the chains and counts: the hook may run on any CPU, in an interrupt
    /// handler, with the heap lock held; it takes this lock and then the pools' (by freeing), never the
    /// other way round, and nothing allocates while holding it.
    /// </summary>
    internal static unsafe class ContainerCache
    {
        private struct Link
        {
            public Link* Next;
        }

        private static SpinLock s_lock;
        private static bool s_hooked;
        private static Link*[] s_chains;
        private static ulong[] s_pages;
        private static ulong[] s_reclaimed;

        /// <summary>Makes the tables at the first fill (on the shell's CPU, before any hook can run).</summary>
        private static void EnsureTables()
        {
            if (s_hooked)
                return;
            s_lock.SetInterruptHooks(&Cpu.SaveAndDisableInterrupts, &Cpu.RestoreInterrupts);
            s_chains = new Link*[FrameOwner.Count];
            s_pages = new ulong[FrameOwner.Count];
            s_reclaimed = new ulong[FrameOwner.Count];
            s_hooked = true;
        }

        /// <summary>
        /// Allocates up to <paramref name="pages"/> order-0 pages as container <paramref name="owner"/> and keeps them
        /// as its cache (its hook installed at the first page); the pages kept, and the status that stopped it early.
        /// </summary>
        internal static ulong Fill(byte owner, ulong pages, out MemoryStatus stopped)
        {
            stopped = MemoryStatus.Ok;
            EnsureTables();
            ReclaimHook hook;
            hook.Function = &Reclaim;
            hook.Context = null;
            ulong kept = 0;
            if ((stopped = Containers.SetReclaimHook(owner, hook)) != MemoryStatus.Ok)
                return 0;
            AllocRequest request = AllocRequest.Any;
            request.Owner = owner;
            for (; kept < pages; kept++)
            {
                stopped = PhysicalMemoryOwner.Allocate(new Order(0), request, out Pfn pfn);
                if (stopped != MemoryStatus.Ok)
                    break;
                Link* link = (Link*)(pfn.Value << 12);
                ulong state = s_lock.Acquire();
                link->Next = s_chains[owner];
                s_chains[owner] = link;
                s_pages[owner]++;
                s_lock.Release(state);
            }
            return kept;
        }

        /// <summary>Frees every cached page of <paramref name="owner"/> (before its container is destroyed); the pages freed.</summary>
        internal static ulong Drop(byte owner)
        {
            if (!s_hooked)
                return 0;
            ulong state = s_lock.Acquire();
            ulong freed = 0;
            for (Link* link = s_chains[owner]; link != null; )
            {
                Link* next = link->Next;
                PhysicalMemoryOwner.Free(new Pfn((ulong)link >> 12), new Order(0), owner);
                freed++;
                link = next;
            }
            s_chains[owner] = null;
            s_pages[owner] = 0;
            s_reclaimed[owner] = 0;
            s_lock.Release(state);
            return freed;
        }

        /// <summary>Pages <paramref name="owner"/> keeps as cache, and those its hook gave back under pressure; false when it has none and gave none.</summary>
        internal static bool Counts(byte owner, out ulong pages, out ulong reclaimed)
        {
            pages = 0;
            reclaimed = 0;
            if (!s_hooked)
                return false;
            ulong state = s_lock.Acquire();
            pages = s_pages[owner];
            reclaimed = s_reclaimed[owner];
            s_lock.Release(state);
            return pages != 0 || reclaimed != 0;
        }

        /// <summary>
        /// The reclaim hook: drops up to <paramref name="wanted"/> cached pages of <paramref name="owner"/> in
        /// <paramref name="pool"/>, or, for None, anywhere but its guarantee pool. Called without the pools' lock.
        /// </summary>
        private static ulong Reclaim(void* context, byte owner, PoolId pool, ulong wanted)
        {
            PoolId guarantee = Containers.Usage(owner, out ContainerUsage usage) ? usage.GuaranteePool : PoolId.None;
            ulong state = s_lock.Acquire();
            ulong freed = 0, removed = 0;
            fixed (Link** heads = s_chains)
            {
                Link** at = heads + owner;
                while (*at != null && freed < wanted)
                {
                    Link* link = *at;
                    Pfn pfn = new Pfn((ulong)link >> 12);
                    PoolId holder = PhysicalMemoryOwner.PoolOf(pfn);
                    bool take = pool.IsNone ? holder != guarantee : holder == pool;
                    if (!take)
                    {
                        at = &link->Next;
                        continue;
                    }
                    *at = link->Next;
                    removed++;
                    if (PhysicalMemoryOwner.Free(pfn, new Order(0), owner) == MemoryStatus.Ok)
                        freed++;
                }
            }
            s_pages[owner] -= removed;
            s_reclaimed[owner] += freed;
            s_lock.Release(state);
            return freed;
        }
    }
}
