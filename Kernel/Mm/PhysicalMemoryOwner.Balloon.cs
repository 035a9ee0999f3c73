using PoolKernel.Memory;
using PoolKernel.Platform;

namespace PoolKernel.Mm
{
    /// <summary>
    /// The balloon's calls into the pools (Kernel.Memory/Balloon), each with interrupts off (the calls take
    /// every lock of the instance themselves) and the owner's policy. The virtio-balloon driver is their one caller (docs/balloon.md).
    /// </summary>
    internal static unsafe partial class PhysicalMemoryOwner
    {
        /// <summary><see cref="PhysicalMemory.InflatePageblock"/> with interrupts off (the instance locks itself).</summary>
        internal static MemoryStatus InflatePageblock(out Pfn start, out PoolId pool)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->InflatePageblock(out start, out pool);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.DeflatePageblock"/> with interrupts off (the instance locks itself).</summary>
        internal static MemoryStatus DeflatePageblock(Pfn start)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->DeflatePageblock(start);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        /// <summary>
        /// <see cref="PhysicalMemory.NextBallooned"/> then <see cref="PhysicalMemory.DeflatePageblock"/>:
        /// the page block given back, or NotBallooned when none is lent (or when another CPU gave the block
        /// found back in between: DeflatePageblock checks it again under the locks).
        /// </summary>
        internal static MemoryStatus DeflateNext(out Pfn start, out PoolId pool)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->NextBallooned(out start, out pool);
            if (status == MemoryStatus.Ok)
                status = s_memory->DeflatePageblock(start);
            Cpu.RestoreInterrupts(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.BalloonablePages"/> with interrupts off (the instance locks itself).</summary>
        internal static ulong BalloonablePages()
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            ulong pages = s_memory->BalloonablePages();
            Cpu.RestoreInterrupts(state);
            return pages;
        }

        /// <summary>Free blocks of <paramref name="order"/> in pool <paramref name="id"/>, with interrupts off (the instance locks itself).</summary>
        internal static ulong FreeBlocks(PoolId id, Order order)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            ulong blocks = s_memory->FreeBlocks(id, order);
            Cpu.RestoreInterrupts(state);
            return blocks;
        }

        /// <summary>Fixed at set-up: read without the lock.</summary>
        internal static int PageblockOrder => s_memory->PageblockOrder;
    }
}
