using System.Runtime.InteropServices;

namespace PoolKernel.Runtime
{
    /// <summary>
    /// Resolves interface calls that ilc could not devirtualize (entered from
    /// RhpInitialDynamicInterfaceDispatch in Arch/x64/cpu.S with the dispatch cell).
    /// </summary>
    internal static unsafe class InterfaceDispatch
    {
        [UnmanagedCallersOnly(EntryPoint = "KernelResolveInterfaceDispatch")]
        private static nint Resolve(nint thisObject, nint cell)
        {
            Panic.Halt("unresolved interface dispatch cell", (ulong)cell);
            return 0;
        }
    }
}
