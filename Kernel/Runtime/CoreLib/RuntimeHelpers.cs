using System;
using System.Runtime;
using System.Runtime.CompilerServices;
using Internal.Runtime;
using PoolKernel.Runtime;

namespace Internal.Runtime.CompilerHelpers
{
    /// <summary>Targets of the compiler's implicit throws (range checks, null checks, overflow).</summary>
    internal static class ThrowHelpers
    {
        private static void ThrowOverflowException() => throw new OverflowException();
        private static void ThrowIndexOutOfRangeException() => throw new IndexOutOfRangeException();
        private static void ThrowNullReferenceException() => throw new NullReferenceException();
        private static void ThrowDivideByZeroException() => throw new DivideByZeroException();
        private static void ThrowArrayTypeMismatchException() => throw new ArrayTypeMismatchException();
        private static void ThrowPlatformNotSupportedException() => throw new PlatformNotSupportedException();
        private static void ThrowInvalidCastException() => throw new InvalidCastException();
        private static void ThrowTypeLoadException(int id, string className, string typeName) => throw new NotSupportedException("type load failure");
        private static void ThrowTypeLoadExceptionWithArgument(int id, string className, string typeName, string messageArg) => throw new NotSupportedException("type load failure");
        private static void ThrowMissingMethodException(int id, string methodName) => throw new NotSupportedException("missing method");
        private static void ThrowMissingFieldException(int id, string fieldName) => throw new NotSupportedException("missing field");
        private static void ThrowFileNotFoundException(int id, string fileName) => throw new NotSupportedException("file not found");
        private static void ThrowInvalidProgramException(int id) => throw new NotSupportedException("invalid program");
        private static void ThrowInvalidProgramExceptionWithArgument(int id, string methodName) => throw new NotSupportedException("invalid program");
        private static void ThrowBadImageFormatException(int id) => throw new NotSupportedException("bad image format");
        private static void ThrowMarshalDirectiveException(int id) => throw new NotSupportedException("marshalling");
        private static void ThrowAmbiguousMatchException(int id) => throw new NotSupportedException("ambiguous match");
        private static void ThrowNotSupportedException() => throw new NotSupportedException();
        private static void ThrowArgumentException() => throw new ArgumentException();
        private static void ThrowArgumentOutOfRangeException() => throw new ArgumentOutOfRangeException();
        private static void ThrowFeatureBodyRemoved() => throw new NotSupportedException("feature removed by the compiler");
    }

    /// <summary>Present for ilc; module initialisation is done by Kernel/Runtime/ModuleInitializer.cs.</summary>
    internal static class StartupCodeHelpers { }
}

namespace System.Runtime.CompilerServices
{
    /// <summary>
    /// Per-type class-constructor state emitted by ilc. Both conventions are honoured:
    /// a zero cctor address and initialized == 1 mean "already run".
    /// </summary>
    public struct StaticClassConstructionContext
    {
        public nint cctorMethodAddress;
        public int initialized;
    }

    internal static unsafe class ClassConstructorRunner
    {
        private static object CheckStaticClassConstructionReturnGCStaticBase(ref StaticClassConstructionContext context, object gcStaticBase)
        {
            EnsureClassConstructorRun(ref context);
            return gcStaticBase;
        }

        private static nint CheckStaticClassConstructionReturnNonGCStaticBase(ref StaticClassConstructionContext context, nint nonGcStaticBase)
        {
            EnsureClassConstructorRun(ref context);
            return nonGcStaticBase;
        }

        private static nint CheckStaticClassConstructionReturnThreadStaticBase(ref StaticClassConstructionContext context, nint threadStaticBase)
        {
            EnsureClassConstructorRun(ref context);
            return threadStaticBase;
        }

        // Single CPU, no threads yet: mark before running so a re-entrant access does not recurse.
        private static void EnsureClassConstructorRun(ref StaticClassConstructionContext context)
        {
            nint cctor = context.cctorMethodAddress;
            if (cctor == 0 || context.initialized == 1)
                return;
            context.cctorMethodAddress = 0;
            context.initialized = 1;
            ((delegate*<void>)cctor)();
        }
    }
}

namespace System.Runtime
{
    /// <summary>Object allocation, boxing and cloning entry points the compiler calls by name.</summary>
    internal static unsafe class RuntimeExports
    {
        [RuntimeExport("RhNewObject")]
        public static object RhNewObject(MethodTable* type) => ObjectAllocator.NewObject(type);

        [RuntimeExport("RhNewArray")]
        public static object RhNewArray(MethodTable* type, int length) => ObjectAllocator.NewArray(type, length);

        [RuntimeExport("RhBox")]
        public static object RhBox(MethodTable* type, ref byte data)
        {
            if (type->IsNullable)
                throw new NotSupportedException("boxing Nullable<T> is not supported");
            object result = ObjectAllocator.NewObject(type);
            fixed (byte* src = &data)
                ObjectAllocator.Copy(ObjectAllocator.DataOf(result), src, type->ValueTypeSize);
            return result;
        }

        [RuntimeExport("RhBoxAny")]
        public static object RhBoxAny(ref byte data, MethodTable* type)
        {
            if (type->IsValueType)
                return RhBox(type, ref data);
            fixed (byte* src = &data)
                return *(object*)src;
        }

        [RuntimeExport("RhUnbox2")]
        public static ref byte RhUnbox2(MethodTable* type, object obj)
        {
            if (obj == null || obj.m_pEEType != type)
                throw new InvalidCastException();
            return ref *ObjectAllocator.DataOf(obj);
        }

        [RuntimeExport("RhUnboxAny")]
        public static void RhUnboxAny(object obj, ref byte data, MethodTable* type)
        {
            fixed (byte* dst = &data)
            {
                if (type->IsValueType)
                {
                    if (obj == null || obj.m_pEEType != type)
                        throw new InvalidCastException();
                    ObjectAllocator.Copy(dst, ObjectAllocator.DataOf(obj), type->ValueTypeSize);
                }
                else
                {
                    *(object*)dst = obj;
                }
            }
        }

        [RuntimeExport("RhUnboxNullable")]
        public static void RhUnboxNullable(ref byte data, MethodTable* type, object obj) => throw new NotSupportedException("unboxing Nullable<T> is not supported");

        [RuntimeExport("RhMemberwiseClone")]
        public static object RhMemberwiseClone(object src) => ObjectAllocator.Clone(src);
    }

}

namespace Internal.Runtime.CompilerServices
{
    internal static class Unsafe { }
}

namespace System
{
    internal static unsafe partial class Buffer
    {
        /// <summary>Copies bytes that may hold object references; without a GC this is a plain copy.</summary>
        internal static void BulkMoveWithWriteBarrier(ref byte destination, ref byte source, nuint byteCount)
        {
            fixed (byte* d = &destination)
            fixed (byte* s = &source)
                ObjectAllocator.Copy(d, s, (uint)byteCount);
        }
    }

    public static class Math
    {
        public static double Round(double a) => (double)(long)(a < 0 ? a - 0.5 : a + 0.5);
        internal static int ConvertToInt32Checked(double value) => (int)value;
        internal static uint ConvertToUInt32Checked(double value) => (uint)value;
        internal static long ConvertToInt64Checked(double value) => (long)value;
        internal static ulong ConvertToUInt64Checked(double value) => (ulong)value;
        internal static long MultiplyChecked(long a, long b) => a * b;
        internal static ulong MultiplyChecked(ulong a, ulong b) => a * b;
    }

    public static class MathF
    {
        public static float Round(float a) => (float)(int)(a < 0 ? a - 0.5f : a + 0.5f);
    }
}
