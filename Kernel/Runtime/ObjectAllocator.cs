using System;
using System.Runtime;
using Internal.Runtime;
using PoolKernel.Memory;

namespace PoolKernel.Runtime
{
    /// <summary>
    /// The runtime's object allocation entry points (RhpNewFast and friends) and the one heap
    /// interface behind them. At boot the heap is the bump allocator; the pool-backed heap
    /// replaces it by calling <see cref="SetHeap"/>; its allocations are collected (<see cref="Gc"/>:
    /// the heap collects before it would run out, then retries). Objects made before that live in the
    /// boot allocator's arena for good.
    ///
    /// Out of memory: when the heap returns null, the heap's reserve (pages kept back for the
    /// runtime, <see cref="SetHeap"/>) is given to the pools. If a shell command is running
    /// (<see cref="RecoveryPoint"/> armed), the command is ended there: the runtime returns to the
    /// shell, which says so and prompts again. Otherwise (boot, before the shell) the allocation is
    /// retried on the released reserve, and only if that fails too the kernel stops with
    /// <see cref="Panic.OutOfMemory"/> (docs/exit-status.md says why).
    /// </summary>
    internal static unsafe class ObjectAllocator
    {
        // Object layout (ilc): [header word][MethodTable*][fields...]; an object reference
        // points at the MethodTable word, BaseSize counts from the header.
        private const uint HeaderSize = MethodTable.ObjectHeaderSize;

        // Array layout: [header][MethodTable*][int length][pad to 8][elements].
        private const int ArrayDataOffset = 16;

        private static delegate*<nuint, nuint, void*> s_alloc;
        private static delegate*<bool> s_releaseReserve;

        /// <summary>
        /// Installs the heap: <paramref name="alloc"/> returns zeroed memory or null,
        /// <paramref name="releaseReserve"/> (may be null) hands the runtime's reserve to the pools
        /// and says whether there was one to hand.
        /// </summary>
        internal static void SetHeap(delegate*<nuint, nuint, void*> alloc, delegate*<bool> releaseReserve)
        {
            s_alloc = alloc;
            s_releaseReserve = releaseReserve;
        }

        internal static object NewObject(MethodTable* type) => FromRaw(AllocateZeroed(type->BaseSize), type);

        internal static object NewArray(MethodTable* type, int length)
        {
            if (length < 0)
                throw new OverflowException();
            ulong size = type->BaseSize + (ulong)type->ComponentSize * (uint)length;
            size = (size + 7) & ~7UL;
            if (size > uint.MaxValue)
                throw new OutOfMemoryException();
            object result = FromRaw(AllocateZeroed((uint)size), type);
            *(int*)(AddressOf(result) + sizeof(nint)) = length;
            return result;
        }

        internal static object Clone(object source)
        {
            MethodTable* type = source.m_pEEType;
            ulong size = type->BaseSize;
            if (type->HasComponentSize)
                size = (size + (ulong)type->ComponentSize * *(uint*)(AddressOf(source) + sizeof(nint)) + 7) & ~7UL;
            byte* raw = AllocateZeroed((uint)size);
            Copy(raw, AddressOf(source) - HeaderSize, (uint)size);
            return FromRaw(raw, type);
        }

        private static byte* AllocateZeroed(uint size)
        {
            if (s_alloc == null)
                Panic.Halt("object allocation before the heap exists");
            byte* raw = (byte*)s_alloc(size, 8);
            if (raw != null)
                return raw;
            bool released = s_releaseReserve != null && s_releaseReserve();
            if (RecoveryPoint.IsArmed)
                RecoveryPoint.Resume();
            if (released)
                raw = (byte*)s_alloc(size, 8);
            if (raw == null)
                Panic.OutOfMemory(size);
            return raw;
        }

        /// <summary>
        /// The object in <paramref name="raw"/>: its header word is the managed tag (the heap's, on
        /// the boot allocator's objects too: the collector finds those by it; after a clone's copy
        /// too), then the MethodTable pointer.
        /// </summary>
        private static object FromRaw(byte* raw, MethodTable* type)
        {
            *(ulong*)raw = KernelHeap.ManagedTag ^ (ulong)raw;
            byte* obj = raw + HeaderSize;
            *(MethodTable**)obj = type;
            return *(object*)&obj;
        }

        internal static byte* AddressOf(object o) => *(byte**)&o;

        /// <summary>Start of a boxed value's data.</summary>
        internal static byte* DataOf(object o) => AddressOf(o) + sizeof(nint);

        internal static byte* ArrayData(Array a) => AddressOf(a) + ArrayDataOffset;

        /// <summary>
        /// Copies <paramref name="count"/> bytes; the ranges may overlap (an array copied within itself).
        /// When both are 8-aligned it moves whole words: a reference is then never half copied, which
        /// matters because another CPU's collection may stop this one between any two instructions and
        /// trace the destination precisely (a torn reference would read as heap corruption).
        /// </summary>
        internal static void Copy(byte* destination, byte* source, uint count)
        {
            if ((((ulong)destination | (ulong)source) & 7) == 0)
            {
                ulong words = count >> 3;
                ulong* d = (ulong*)destination, s = (ulong*)source;
                uint tail = (uint)(words << 3);
                if (destination <= source || destination >= source + count)
                {
                    for (ulong i = 0; i < words; i++)
                        d[i] = s[i];
                    for (uint i = tail; i < count; i++)
                        destination[i] = source[i];
                    return;
                }
                // Overlapping, destination above: from the end down, the tail bytes first.
                for (uint i = count; i > tail; i--)
                    destination[i - 1] = source[i - 1];
                for (ulong i = words; i > 0; i--)
                    d[i - 1] = s[i - 1];
                return;
            }
            if (destination <= source || destination >= source + count)
            {
                for (uint i = 0; i < count; i++)
                    destination[i] = source[i];
                return;
            }
            for (uint i = count; i > 0; i--)
                destination[i - 1] = source[i - 1];
        }

        [RuntimeExport("RhpNewFast")]
        private static object RhpNewFast(MethodTable* type) => NewObject(type);

        [RuntimeExport("RhpNewFinalizable")]
        private static object RhpNewFinalizable(MethodTable* type) => NewObject(type);

        [RuntimeExport("RhpNewArrayFast")]
        private static object RhpNewArrayFast(MethodTable* type, int length) => NewArray(type, length);

        [RuntimeExport("RhpNewPtrArrayFast")]
        private static object RhpNewPtrArrayFast(MethodTable* type, int length) => NewArray(type, length);

        [RuntimeExport("RhpNewArray")]
        private static object RhpNewArray(MethodTable* type, int length) => NewArray(type, length);
    }
}
