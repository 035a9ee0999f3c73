using Internal.Runtime;

namespace System.Runtime
{
    /// <summary>
    /// Casting helpers the compiler calls for is/as/casts and covariant array stores.
    /// Walks base types and the interface map; no variance or generic-interface matching
    /// beyond exact MethodTable identity (a single module: identical types share one MethodTable).
    /// </summary>
    internal static unsafe class TypeCast
    {
        private static bool IsAssignable(MethodTable* source, MethodTable* target)
        {
            if (source == target)
                return true;
            if (target->IsInterface)
                return ImplementsInterface(source, target);
            if (source->IsArray)
                return false;
            for (MethodTable* t = source->RelatedType; t != null; t = t->RelatedType)
            {
                if (t == target)
                    return true;
            }
            return false;
        }

        private static bool ImplementsInterface(MethodTable* source, MethodTable* iface)
        {
            uint count = source->NumInterfaces;
            MethodTable** map = source->InterfaceMap;
            for (uint i = 0; i < count; i++)
            {
                if (map[i] == iface)
                    return true;
            }
            return false;
        }

        public static object IsInstanceOfClass(MethodTable* targetType, object obj)
            => obj == null || IsAssignable(obj.m_pEEType, targetType) ? obj : null;

        public static object IsInstanceOfInterface(MethodTable* targetType, object obj)
            => obj == null || ImplementsInterface(obj.m_pEEType, targetType) ? obj : null;

        public static object IsInstanceOfAny(MethodTable* targetType, object obj)
            => obj == null || IsAssignable(obj.m_pEEType, targetType) ? obj : null;

        public static bool IsInstanceOfException(MethodTable* targetType, object obj)
            => obj != null && IsAssignable(obj.m_pEEType, targetType);

        public static object CheckCastAny(MethodTable* targetType, object obj)
        {
            if (obj == null || IsAssignable(obj.m_pEEType, targetType))
                return obj;
            throw new InvalidCastException();
        }

        public static object CheckCastInterface(MethodTable* targetType, object obj) => CheckCastAny(targetType, obj);

        public static object CheckCastClass(MethodTable* targetType, object obj) => CheckCastAny(targetType, obj);

        private static object CheckCastClassSpecial(MethodTable* targetType, object obj) => CheckCastAny(targetType, obj);

        public static void StelemRef(object[] array, nint index, object obj)
        {
            if ((nuint)index >= (uint)array.Length)
                throw new IndexOutOfRangeException();
            if (obj != null && !IsAssignable(obj.m_pEEType, array.m_pEEType->RelatedType))
                throw new ArrayTypeMismatchException();
            ((object*)PoolKernel.Runtime.ObjectAllocator.ArrayData(array))[index] = obj;
        }

        public static ref object LdelemaRef(object[] array, nint index, nint elementType)
        {
            if ((nuint)index >= (uint)array.Length)
                throw new IndexOutOfRangeException();
            if ((MethodTable*)elementType != array.m_pEEType->RelatedType)
                throw new ArrayTypeMismatchException();
            return ref ((object*)PoolKernel.Runtime.ObjectAllocator.ArrayData(array))[index];
        }
    }
}

namespace System.Runtime.InteropServices
{
    public interface IDynamicInterfaceCastable
    {
        RuntimeTypeHandle GetInterfaceImplementation(RuntimeTypeHandle interfaceType);

        private static nint GetDynamicInterfaceImplementation(object instance, nint interfaceType, ushort slot) => 0;
    }
}

namespace Internal.Runtime.CompilerServices
{
    internal static class TypeLoaderExports
    {
        public static nint GVMLookupForSlot(object obj, System.RuntimeMethodHandle slot)
            => throw new System.NotSupportedException("generic virtual methods are not supported");
    }
}
