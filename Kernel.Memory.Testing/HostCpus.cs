namespace PoolKernel.Memory.Testing;

/// <summary>
/// The host's stand-in for "the CPU making the call" (<see cref="MemoryConfig.CurrentCpu"/>): a thread-static
/// number each thread sets for itself (<see cref="Enter"/>) before it calls a <see cref="PhysicalMemory"/>
/// configured by <see cref="Config"/>; 0 for a thread that never set one. Two threads that call the same
/// instance at once must use different numbers, as two CPUs have.
/// </summary>
public static unsafe class HostCpus
{
    [ThreadStatic]
    private static int t_cpu;

    /// <summary>The calling thread's CPU number (the hook).</summary>
    public static int Current() => t_cpu;

    /// <summary>Makes the calling thread CPU <paramref name="cpu"/> from now on.</summary>
    public static void Enter(int cpu) => t_cpu = cpu;

    /// <summary>
    /// The process-wide barrier of <see cref="MemoryConfig.ProcessWideBarrier"/> on the host: every other thread of
    /// the process executes a full memory barrier before it returns (Linux membarrier, or the runtime's fallback),
    /// whichever CPUs <paramref name="cpus"/> names (a thread is not tied to one CPU number).
    /// </summary>
    public static void Barrier(ulong cpus) => System.Threading.Interlocked.MemoryBarrierProcessWide();

    /// <summary>
    /// The default config for <paramref name="cpus"/> CPUs, numbered by <see cref="Current"/>, with the host's
    /// process-wide barrier (<see cref="Barrier"/>): each thread uses its own caches without a lock.
    /// </summary>
    public static MemoryConfig Config(int cpus)
    {
        MemoryConfig config = MemoryConfig.Default;
        config.MaxCpus = (byte)cpus;
        config.CurrentCpu = &Current;
        config.ProcessWideBarrier = &Barrier;
        return config;
    }
}
