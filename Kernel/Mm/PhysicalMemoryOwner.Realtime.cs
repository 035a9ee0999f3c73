using PoolKernel.Memory;
using PoolKernel.Platform;

namespace PoolKernel.Mm
{
    /// <summary>The realtime pools' calls (docs/realtime.md), with interrupts off around each and the owner's error policy.</summary>
    internal static unsafe partial class PhysicalMemoryOwner
    {
        /// <summary>
        /// <see cref="PhysicalMemory.AllocateRealtime"/> with interrupts off. Unlike <see cref="Allocate"/>, a
        /// shortage runs no handler (a balloon deflation is not bounded): OutOfMemory goes back as it is.
        /// </summary>
        internal static MemoryStatus AllocateRealtime(PoolId pool, Order order, byte owner, out Pfn pfn)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->AllocateRealtime(pool, order, owner, out pfn);
            Cpu.RestoreInterrupts(state);
            return status == MemoryStatus.Ok ? status : Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.FreeRealtime"/> with interrupts off and the owner's policy.</summary>
        internal static MemoryStatus FreeRealtime(Pfn pfn, Order order, byte owner)
        {
            ulong state = Cpu.SaveAndDisableInterrupts();
            MemoryStatus status = s_memory->FreeRealtime(pfn, order, owner);
            Cpu.RestoreInterrupts(state);
            return status == MemoryStatus.Ok ? status : Passed(status);
        }

        /// <summary>CPU <paramref name="cpu"/>'s realtime step counts (a snapshot).</summary>
        internal static RealtimeSteps GetRealtimeSteps(int cpu) => s_memory->GetRealtimeSteps(cpu);

        /// <summary>Zeroes CPU <paramref name="cpu"/>'s realtime step counts.</summary>
        internal static void ResetRealtimeSteps(int cpu) => s_memory->ResetRealtimeSteps(cpu);

        /// <summary>The longest section a non-realtime path held a realtime pool's lock, in steps (<see cref="PhysicalMemory.RealtimeAdminHoldMax"/>).</summary>
        internal static ulong RealtimeAdminHoldMax => s_memory->RealtimeAdminHoldMax;

        /// <summary>Zeroes <see cref="RealtimeAdminHoldMax"/>.</summary>
        internal static void ResetRealtimeAdminHold() => s_memory->ResetRealtimeAdminHold();

        /// <summary>The bound of such a section (<see cref="PhysicalMemory.AdminSectionSteps"/>).</summary>
        internal static ulong AdminSectionSteps => s_memory->AdminSectionSteps;

        /// <summary>The step bound of the realtime path (<see cref="RealtimeSteps.Bound"/>).</summary>
        internal static ulong RealtimeStepBound => s_memory->RealtimeStepBound;

        /// <summary>
        /// <see cref="PhysicalMemory.RebalanceRealtimePools"/>: the housekeeping pass (<see cref="Housekeeping"/>);
        /// it takes its locks, interrupts off, one page-block move at a time. Returns the page blocks moved.
        /// </summary>
        internal static int RebalanceRealtimePools() => s_memory == null ? 0 : s_memory->RebalanceRealtimePools();

        /// <summary>
        /// Takes what the realtime path holds on the running CPU (<paramref name="pool"/>'s lock with that CPU's cache
        /// lock, PhysicalMemory.LockCpuPool), interrupts off, until <see cref="UnholdRealtimePath"/>: for `rtbench hold`,
        /// which shows that another CPU's path does not wait for it. The holder calls nothing of the instance meanwhile.
        /// </summary>
        internal static ulong HoldRealtimePath(PoolId pool) => s_memory->LockCpuPool(pool.Value, Smp.CurrentNumber);

        /// <summary>Releases what <see cref="HoldRealtimePath"/> took (on the same CPU).</summary>
        internal static void UnholdRealtimePath(PoolId pool, ulong state) => s_memory->UnlockCpuPool(pool.Value, Smp.CurrentNumber, state);

        /// <summary>The first live realtime pool, or None.</summary>
        internal static PoolId FirstRealtimePool()
        {
            for (PoolId id = s_memory->FirstPool(); !id.IsNone; id = s_memory->NextPool(id))
                if (GetPoolProperties(id, out PoolProperties props) == MemoryStatus.Ok && (props.Flags & PoolFlags.Realtime) != 0)
                    return id;
            return PoolId.None;
        }

        /// <summary>
        /// CPU <paramref name="cpu"/> takes its caches' locks from now on, and no freeze of its caches sends it a barrier NMI
        /// (<see cref="PhysicalMemory.UseLockedCaches"/>; the realtime CPU, docs/realtime.md). Takes its locks itself.
        /// </summary>
        internal static MemoryStatus UseLockedCaches(int cpu) => s_memory->UseLockedCaches(cpu);
    }
}
