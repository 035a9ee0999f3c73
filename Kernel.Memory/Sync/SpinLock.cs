using System.Threading;

namespace PoolKernel.Memory;

/// <summary>
/// A spin lock that holds interrupts off while it is held: the locks of a <see cref="PhysicalMemory"/>
/// (a lock a pool and the pool table's, PhysicalMemory.Locks.cs) and of the kernel's heap glue: one word,
/// taken with <see cref="Interlocked.CompareExchange(ref int, int, int)"/> (0 to 1) and released with
/// <see cref="Volatile.Write(ref int, int)"/> (a release store), so every write made under the lock is
/// seen by the next CPU that takes it.
///
/// Interrupts: <see cref="Acquire"/> first saves the interrupt state and disables interrupts (the
/// hooks the kernel sets with <see cref="SetInterruptHooks"/>: pushfq/cli and popfq), then spins;
/// <see cref="Release"/> restores the state it was given. So code running in an interrupt handler may
/// take a lock that the interrupted code on the same CPU cannot be holding (it cannot be interrupted
/// while it holds it): allocation from interrupt context does not deadlock. Without hooks (the host)
/// the saved state is 0 and restoring does nothing.
///
/// Not recursive: taking a lock the running CPU (or thread) already holds spins for ever. Not fair.
/// A zeroed value is a free lock without interrupt hooks.
/// </summary>
public unsafe struct SpinLock
{
    /// <summary>0 when free, 1 when held. Written only through the atomics above.</summary>
    private int _held;
    private delegate*<ulong> _saveAndDisable;
    private delegate*<ulong, void> _restore;

    /// <summary>
    /// Sets the interrupt hooks: <paramref name="saveAndDisable"/> returns the interrupt state and
    /// disables interrupts, <paramref name="restore"/> puts a saved state back. Before the lock is
    /// first taken; both null (the host) or both set.
    /// </summary>
    public void SetInterruptHooks(delegate*<ulong> saveAndDisable, delegate*<ulong, void> restore)
    {
        _saveAndDisable = saveAndDisable;
        _restore = restore;
    }

    /// <summary>
    /// Takes the lock, interrupts off first; returns the interrupt state to hand to <see cref="Release"/>.
    /// Spins on plain reads while another holder has it (no locked instruction per spin).
    /// </summary>
    public ulong Acquire()
    {
        ulong state = _saveAndDisable != null ? _saveAndDisable() : 0;
        while (Interlocked.CompareExchange(ref _held, 1, 0) != 0)
        {
            while (Volatile.Read(ref _held) != 0)
            {
            }
        }
        return state;
    }

    /// <summary>Releases the lock (the caller holds it) and puts back the interrupt state <see cref="Acquire"/> returned.</summary>
    public void Release(ulong state)
    {
        Volatile.Write(ref _held, 0);
        if (_restore != null)
            _restore(state);
    }

    /// <summary>
    /// Releases the lock and leaves interrupts as they are: for a lock taken under an outer lock of the same
    /// holder (interrupts already off, the outer lock's release puts them back).
    /// </summary>
    public void ReleaseInner()
    {
        Volatile.Write(ref _held, 0);
    }

    /// <summary>True while some CPU holds the lock (a snapshot: for assertions and reports, not for deciding to take it).</summary>
    public bool IsHeld => Volatile.Read(ref _held) != 0;
}
