using System.Runtime;
using System.Runtime.CompilerServices;

namespace PoolKernel.Runtime
{
    /// <summary>
    /// Where the runtime returns when an object allocation fails and there is no unwinder to carry
    /// an exception: a saved execution context (Kernel/Arch/x64/cpu.S, setjmp/longjmp in spirit).
    /// The shell arms it around each command; <see cref="ObjectAllocator"/> resumes it instead of
    /// panicking when the heap (and its reserve) cannot give an object. Nothing else uses it.
    ///
    /// Contract for the caller of <see cref="Save"/>: call it directly from the frame that will
    /// stay live while the point is armed (not through a helper that returns), keep no locals
    /// that change between the save and the resume, and disarm before that frame returns.
    /// Frames below are abandoned without running any code: what they held (heap blocks, pool
    /// blocks) is theirs to give back through <see cref="OnAbandon"/>; the heap and the pools are
    /// consistent because an allocation that fails changes nothing.
    /// </summary>
    internal static unsafe class RecoveryPoint
    {
        /// <summary>Quadwords in a saved context (see cpu.S).</summary>
        internal const int ContextWords = 8;

        /// <summary>Saves the context in <paramref name="context"/>; 0 now, 1 when <see cref="Resume"/> comes back here.</summary>
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_save_context")]
        internal static extern ulong Save(ulong* context);

        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_resume_context")]
        private static extern void ResumeContext(ulong* context);

        private static ulong* s_armed;
        /// <summary>The CPU that armed it: a context saved on one CPU's stack is resumed only there.</summary>
        private static int s_armedCpu;
        private static delegate*<void> s_onAbandon;

        /// <summary>
        /// Armed, by the running CPU (another CPU's managed allocation that fails does not return into the shell's frame), and
        /// the running code is not an interrupt handler (<see cref="Platform.PerCpu.InterruptDepth"/>: one that interrupted the
        /// shell's command, such as `cpu N irqalloc`'s object, would leave its frame half run and its interrupt unacknowledged).
        /// </summary>
        internal static bool IsArmed => s_armed != null && s_armedCpu == Platform.Smp.CurrentNumber &&
            !(Platform.Smp.Started && Platform.Smp.Current->InterruptDepth != 0);

        /// <summary>Makes <paramref name="context"/> (filled by <see cref="Save"/>) the place to return to, on the running CPU.</summary>
        internal static void Arm(ulong* context)
        {
            s_armedCpu = Platform.Smp.CurrentNumber;
            s_armed = context;
            s_onAbandon = null;
        }

        internal static void Disarm()
        {
            s_armed = null;
            s_onAbandon = null;
        }

        /// <summary>
        /// Registers what gives back the armed frame's work in progress when it is abandoned (one
        /// hook; the last registered wins; cleared on disarm). The hook runs after the resume, on
        /// the armed frame, so it may use the heap again.
        /// </summary>
        internal static void OnAbandon(delegate*<void> hook) => s_onAbandon = hook;

        /// <summary>
        /// Runs and clears the hook registered with <see cref="OnAbandon"/>; the armed frame calls it
        /// after <see cref="Save"/> returned 1.
        /// </summary>
        internal static void RunAbandonHook()
        {
            delegate*<void> hook = s_onAbandon;
            s_onAbandon = null;
            if (hook != null)
                hook();
        }

        /// <summary>Returns to the armed context (disarming it, the hook kept for the resumed frame); never returns.</summary>
        internal static void Resume()
        {
            ulong* context = s_armed;
            s_armed = null;
            ResumeContext(context);
        }
    }
}
