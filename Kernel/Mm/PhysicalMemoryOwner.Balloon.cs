using PoolKernel.Memory;

namespace PoolKernel.Mm
{
    /// <summary>
    /// The balloon's calls into the pools (Kernel.Memory/Balloon), each under the pools' lock and the
    /// owner's policy. The virtio-balloon driver is their one caller (docs/balloon.md).
    /// </summary>
    internal static unsafe partial class PhysicalMemoryOwner
    {
        /// <summary><see cref="PhysicalMemory.InflatePageblock"/> under the lock.</summary>
        internal static MemoryStatus InflatePageblock(out Pfn start, out PoolId pool)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->InflatePageblock(out start, out pool);
            s_lock.Release(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.DeflatePageblock"/> under the lock.</summary>
        internal static MemoryStatus DeflatePageblock(Pfn start)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->DeflatePageblock(start);
            s_lock.Release(state);
            return Passed(status);
        }

        /// <summary>
        /// <see cref="PhysicalMemory.NextBallooned"/> then <see cref="PhysicalMemory.DeflatePageblock"/>
        /// in one hold of the lock: the page block given back, or NotBallooned when none is lent.
        /// </summary>
        internal static MemoryStatus DeflateNext(out Pfn start, out PoolId pool)
        {
            ulong state = s_lock.Acquire();
            MemoryStatus status = s_memory->NextBallooned(out start, out pool);
            if (status == MemoryStatus.Ok)
                status = s_memory->DeflatePageblock(start);
            s_lock.Release(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.BalloonablePages"/> under the lock.</summary>
        internal static ulong BalloonablePages()
        {
            ulong state = s_lock.Acquire();
            ulong pages = s_memory->BalloonablePages();
            s_lock.Release(state);
            return pages;
        }

        /// <summary>Free blocks of <paramref name="order"/> in pool <paramref name="id"/>, under the lock.</summary>
        internal static ulong FreeBlocks(PoolId id, Order order)
        {
            ulong state = s_lock.Acquire();
            ulong blocks = s_memory->FreeBlocks(id, order);
            s_lock.Release(state);
            return blocks;
        }

        /// <summary>Fixed at set-up: read without the lock.</summary>
        internal static int PageblockOrder => s_memory->PageblockOrder;
    }
}
