using System.Runtime;
using System.Runtime.CompilerServices;
using Internal.Runtime;
using PoolKernel.Memory;
using PoolKernel.Platform;

namespace PoolKernel.Runtime
{
    /// <summary>
    /// Does what NativeAOT's startup code does for a module: allocates the GC static bases and
    /// runs the eager class constructors. ilc lists its modules' ReadyToRun headers in the
    /// __modules section. In .NET 10 the entries of both regions are 32-bit relative pointers.
    /// </summary>
    internal static unsafe class ModuleInitializer
    {
        private const uint ReadyToRunSignature = 0x00525452;   // "RTR"
        private const int GCStaticRegionSection = 201;
        private const int EagerCctorSection = 205;
        private const int HeaderSize = 16;                      // signature, versions, flags, count, entry size/type
        private const int RowSize = 24;                         // section id, flags, start, end

        // Low bits of a GC static cell before initialisation.
        private const nint StaticUninitialized = 0x1;
        private const nint StaticHasPreInitializedData = 0x2;
        private const nint StaticFlagMask = 0x3;

        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_modules_start")] private static extern nint* ModulesStart();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_modules_end")] private static extern nint* ModulesEnd();

        /// <summary>Number of GC static bases allocated, for the boot self-test.</summary>
        internal static int GCStaticBases;

        internal static void Run()
        {
            for (nint* module = ModulesStart(); module < ModulesEnd(); module++)
            {
                byte* header = (byte*)*module;
                if (header == null)
                    continue;
                if (*(uint*)header != ReadyToRunSignature)
                    Panic.Halt("bad ReadyToRun header in __modules at", (ulong)header);
                ushort sections = *(ushort*)(header + 12);
                for (int pass = 0; pass < 2; pass++)
                {
                    // Statics first, then the eager constructors that may use them.
                    for (int i = 0; i < sections; i++)
                    {
                        byte* row = header + HeaderSize + i * RowSize;
                        int id = *(int*)row;
                        byte* start = *(byte**)(row + 8);
                        byte* end = *(byte**)(row + 16);
                        if (pass == 0 && id == GCStaticRegionSection)
                            InitializeGCStatics(start, end);
                        else if (pass == 1 && id == EagerCctorSection)
                            RunEagerConstructors(start, end);
                    }
                }
            }
        }

        private static byte* ReadRelative32(void* address) => (byte*)address + *(int*)address;

        /// <summary>
        /// The collector's precise static roots: every GC static base <see cref="Run"/> set up (the
        /// cells of the GC static regions, walked again), its reference fields traced through its
        /// type's GC descriptor. Corruption when a static holds a reference to no object.
        /// </summary>
        internal static HeapStatus TraceStaticBases(HeapCollector* collector)
        {
            for (nint* module = ModulesStart(); module < ModulesEnd(); module++)
            {
                byte* header = (byte*)*module;
                if (header == null)
                    continue;
                ushort sections = *(ushort*)(header + 12);
                for (int i = 0; i < sections; i++)
                {
                    byte* row = header + HeaderSize + i * RowSize;
                    if (*(int*)row != GCStaticRegionSection)
                        continue;
                    byte* end = *(byte**)(row + 16);
                    for (byte* entry = *(byte**)(row + 8); entry < end; entry += sizeof(int))
                    {
                        nint value = *(nint*)ReadRelative32(entry);
                        if ((value & StaticUninitialized) != 0)
                            continue;
                        if (collector->TraceFields((byte*)value) != HeapStatus.Ok)
                            return HeapStatus.Corruption;
                    }
                }
            }
            return HeapStatus.Ok;
        }

        private static void InitializeGCStatics(byte* start, byte* end)
        {
            for (byte* entry = start; entry < end; entry += sizeof(int))
            {
                nint* cell = (nint*)ReadRelative32(entry);
                nint value = (nint)ReadRelative32(cell);
                if ((value & StaticUninitialized) == 0)
                    continue;
                MethodTable* type = (MethodTable*)(value & ~StaticFlagMask);
                object baseObject = ObjectAllocator.NewObject(type);
                if ((value & StaticHasPreInitializedData) != 0)
                {
                    byte* data = ReadRelative32((int*)cell + 1);
                    ObjectAllocator.Copy(ObjectAllocator.DataOf(baseObject), data, type->BaseSize - MethodTable.ObjectHeaderSize - (uint)sizeof(nint));
                }
                *cell = (nint)ObjectAllocator.AddressOf(baseObject);
                GCStaticBases++;
            }
        }

        private static void RunEagerConstructors(byte* start, byte* end)
        {
            for (byte* entry = start; entry < end; entry += sizeof(int))
                ((delegate*<void>)ReadRelative32(entry))();
        }
    }
}
