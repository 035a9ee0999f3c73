using System.Runtime;
using System.Runtime.CompilerServices;

namespace System.Threading
{
    /// <summary>
    /// The atomic operations the pure projects use (Kernel.Memory/Sync/SpinLock.cs), with the BCL's
    /// names and signatures so the same source builds on the host: each is one instruction in
    /// Kernel/Arch/x64/atomic.S (a call, so the compiler neither reorders memory accesses across it nor
    /// caches the word in a register).
    /// </summary>
    public static class Interlocked
    {
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("atomic_cmpxchg32")]
        public static extern int CompareExchange(ref int location1, int value, int comparand);
    }

    /// <summary>Volatile (release store, acquire load) word accesses: see <see cref="Interlocked"/>.</summary>
    public static class Volatile
    {
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("atomic_store32")]
        public static extern void Write(ref int location, int value);

        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("atomic_load32")]
        public static extern int Read(ref int location);
    }
}
