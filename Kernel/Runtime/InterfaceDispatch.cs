using System.Runtime.InteropServices;
using Internal.Runtime;

namespace PoolKernel.Runtime
{
    /// <summary>
    /// Resolves interface calls that ilc could not devirtualize. Entered from
    /// RhpInitialDynamicInterfaceDispatch (Arch/x64/cpu.S) with the object and the dispatch cell.
    ///
    /// A dispatch cell is two words: the stub address and a "cache" word whose low two bits say
    /// how it names the interface (1: a pointer, 3: a 32-bit relative pointer). Cells come in groups
    /// ending with a terminator cell (stub 0) whose cache word holds the interface slot.
    /// The implementation is found in the dispatch map of the object's type or of a base type.
    /// Cells are not patched: every such call resolves again (no cache yet).
    /// In practice ilc sees the whole kernel and lowers interface calls to direct or virtual calls
    /// (the boot self-test's interface calls never reach here, and dispatch maps of such types are
    /// empty); this path is the runtime's obligation for the calls it cannot lower.
    /// </summary>
    internal static unsafe class InterfaceDispatch
    {
        private const nint CacheTagMask = 0x3;
        private const nint CacheTagPointer = 0x1;
        private const nint CacheTagRelative = 0x3;

        [StructLayout(LayoutKind.Sequential)]
        private struct DispatchCell
        {
            public nint Stub;
            public nint Cache;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct DispatchMapEntry
        {
            public ushort InterfaceIndex;
            public ushort InterfaceMethodSlot;
            public ushort ImplementationSlot;
        }

        /// <summary>Calls resolved so far (the self-test checks the path is really taken).</summary>
        internal static ulong Resolutions;

        [UnmanagedCallersOnly(EntryPoint = "KernelResolveInterfaceDispatch")]
        private static nint Resolve(MethodTable** thisObject, DispatchCell* cell)
        {
            if (thisObject == null)
                Panic.Halt("interface call on a null reference");
            DispatchCell* terminator = cell;
            while (terminator->Stub != 0)
                terminator++;
            ushort slot = (ushort)terminator->Cache;

            MethodTable* itf;
            nint tag = cell->Cache & CacheTagMask;
            if (tag == CacheTagRelative)
                itf = (MethodTable*)(((nint)(&cell->Cache) + (int)cell->Cache) & ~CacheTagMask);
            else if (tag == CacheTagPointer)
                itf = (MethodTable*)(cell->Cache & ~CacheTagMask);
            else
            {
                Panic.Halt("unsupported interface dispatch cell", (ulong)cell);
                return 0;
            }

            Resolutions++;
            nint target = Find(*thisObject, itf, slot);
            if (target == 0)
                Panic.Halt("no implementation for interface slot; cell", (ulong)cell);
            return target;
        }

        internal static nint Find(MethodTable* type, MethodTable* itf, ushort slot)
        {
            for (int pass = 0; pass < 2; pass++)
            {
                // Pass 0: implementations on the class chain; pass 1: default interface methods.
                for (MethodTable* current = type; current != null; current = current->IsArray ? null : current->RelatedType)
                {
                    DispatchMapEntry* map = DispatchMapOf(current, out int first, out int count, pass);
                    for (int i = first; i < first + count; i++)
                    {
                        if (map[i].InterfaceMethodSlot != slot || current->InterfaceMap[map[i].InterfaceIndex] != itf)
                            continue;
                        ushort impl = map[i].ImplementationSlot;
                        if (impl < current->NumVtableSlots)
                            return type->Vtable[impl];
                        return SealedVirtualSlot(current, (ushort)(impl - current->NumVtableSlots));
                    }
                }
            }
            return 0;
        }

        // After the interface map: type manager (rel32), writable data (rel32), then, when flagged,
        // dispatch map, finalizer and sealed virtual slot table (rel32 each), in that order.
        private static int* OptionalFields(MethodTable* type)
            => (int*)((byte*)type->InterfaceMap + type->NumInterfaces * (uint)sizeof(nint)) + 2;

        private static byte* Relative(int* field) => (byte*)field + *field;

        private static DispatchMapEntry* DispatchMapOf(MethodTable* type, out int first, out int count, int pass)
        {
            first = 0;
            count = 0;
            if (!type->HasDispatchMap)
                return null;
            ushort* header = (ushort*)Relative(OptionalFields(type));
            ushort standard = header[0], defaults = header[1];
            first = pass == 0 ? 0 : standard;
            count = pass == 0 ? standard : defaults;
            return (DispatchMapEntry*)(header + 4);
        }

        private static nint SealedVirtualSlot(MethodTable* type, ushort index)
        {
            int* field = OptionalFields(type);
            if (type->HasDispatchMap)
                field++;
            if (type->IsFinalizable)
                field++;
            int* table = (int*)Relative(field);
            return (nint)Relative(table + index);
        }
    }
}
