using System.Runtime.InteropServices;

namespace Internal.Runtime
{
    /// <summary>
    /// The fixed part of ilc's type descriptor (.NET 10 layout). After it come the vtable slots
    /// (one pointer each) and then the interface map (one MethodTable pointer each).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct MethodTable
    {
        // Low 16 bits: component size when HasComponentSizeFlag is set; high bits: flags.
        internal uint _uFlags;
        internal uint _uBaseSize;
        internal MethodTable* _relatedType;
        internal ushort _usNumVtableSlots;
        internal ushort _usNumInterfaces;
        internal uint _uHashCode;

        internal const uint HasComponentSizeFlag = 0x80000000;
        private const uint HasDispatchMapFlag = 0x00040000;
        private const uint HasFinalizerFlag = 0x00100000;

        // ElementType lives in bits 26..30 of the flags (ilc's EETypeElementType): primitives are
        // 0x01..0x0F, other structs 0x10, Nullable 0x12, classes 0x14, interfaces 0x15, arrays 0x17/0x18.
        private const int ElementTypeShift = 26;
        private const uint ElementTypeMask = 0x7C000000;
        private const uint ElementTypeNullable = 0x12;
        private const uint ElementTypeClass = 0x14;
        private const uint ElementTypeInterface = 0x15;
        private const uint ElementTypeArray = 0x17;
        private const uint ElementTypeSzArray = 0x18;

        // Size of the object header word that precedes the MethodTable pointer of every object.
        internal const uint ObjectHeaderSize = 8;

        internal bool HasDispatchMap => (_uFlags & HasDispatchMapFlag) != 0;

        internal bool IsFinalizable => (_uFlags & HasFinalizerFlag) != 0;

        internal bool HasComponentSize => (_uFlags & HasComponentSizeFlag) != 0;

        internal ushort ComponentSize => HasComponentSize ? (ushort)_uFlags : (ushort)0;

        internal uint BaseSize => _uBaseSize;

        internal uint ElementType => (_uFlags & ElementTypeMask) >> ElementTypeShift;

        internal bool IsArray => ElementType == ElementTypeArray || ElementType == ElementTypeSzArray;

        internal bool IsInterface => ElementType == ElementTypeInterface;

        internal bool IsNullable => ElementType == ElementTypeNullable;

        internal bool IsValueType => ElementType != 0 && ElementType < ElementTypeClass;

        /// <summary>Base class for classes; element type for arrays.</summary>
        internal MethodTable* RelatedType => _relatedType;

        internal uint NumVtableSlots => _usNumVtableSlots;

        internal uint NumInterfaces => _usNumInterfaces;

        internal MethodTable** InterfaceMap
        {
            get
            {
                fixed (MethodTable* self = &this)
                {
                    return (MethodTable**)((byte*)self + sizeof(MethodTable) + NumVtableSlots * (uint)sizeof(nint));
                }
            }
        }

        internal nint* Vtable
        {
            get
            {
                fixed (MethodTable* self = &this)
                {
                    return (nint*)((byte*)self + sizeof(MethodTable));
                }
            }
        }

        /// <summary>Bytes of value data in a boxed instance (base size minus header and MethodTable pointer).</summary>
        internal uint ValueTypeSize => _uBaseSize - ObjectHeaderSize - (uint)sizeof(nint);
    }
}
