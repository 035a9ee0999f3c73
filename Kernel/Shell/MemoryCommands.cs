namespace PoolKernel.Shell
{
    /// <summary>Memory commands (meminfo, pools, buddyinfo, ...): filled in with the kernel's pools.</summary>
    internal static unsafe class MemoryCommands
    {
        internal static void Register(ref int n)
        {
        }
    }
}
