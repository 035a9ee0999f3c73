// The fields below are the layout the compiler and the runtime read (a primitive's value, a
// handle's pointer, Nullable's pair); C# code never names them, which is what CS0169/CS0649 see.
#pragma warning disable CS0169, CS0649
namespace System
{
    // The primitive types. The compiler knows their layout; the single field is the value.
    public struct Boolean { private bool m_value; }
    public struct Char { private char m_value; }
    public struct SByte { private sbyte m_value; }
    public struct Byte { private byte m_value; }
    public struct Int16 { private short m_value; }
    public struct UInt16 { private ushort m_value; }
    public struct Int32 { private int m_value; public const int MaxValue = 0x7FFFFFFF; public const int MinValue = unchecked((int)0x80000000); }
    public struct UInt32 { private uint m_value; public const uint MaxValue = 0xFFFFFFFF; }
    public struct Int64 { private long m_value; public const long MaxValue = 0x7FFFFFFFFFFFFFFF; }
    public struct UInt64 { private ulong m_value; public const ulong MaxValue = 0xFFFFFFFFFFFFFFFF; }
    public struct Single { private float m_value; }
    public struct Double { private double m_value; }

    public unsafe struct IntPtr
    {
        private void* _value;
        public static readonly IntPtr Zero;
        public IntPtr(void* value) { _value = value; }
        public IntPtr(long value) { _value = (void*)value; }
        public static explicit operator IntPtr(long value) => new IntPtr(value);
        public static explicit operator IntPtr(void* value) => new IntPtr(value);
        public static explicit operator void*(IntPtr value) => value._value;
        public static explicit operator long(IntPtr value) => (long)value._value;
    }

    public unsafe struct UIntPtr
    {
        private void* _value;
        public UIntPtr(void* value) { _value = value; }
        public static explicit operator void*(UIntPtr value) => value._value;
    }

    public struct RuntimeTypeHandle { private nint _value; }
    public struct RuntimeMethodHandle { private nint _value; }
    public struct RuntimeFieldHandle { private nint _value; }
    public struct RuntimeArgumentHandle { private nint _value; }
    public struct TypedReference { private nint _value; private nint _type; }

    public struct Nullable<T> where T : struct
    {
        private readonly bool hasValue;
        internal T value;
        public bool HasValue => hasValue;
        public T Value => value;
    }

    /// <summary>Present for ilc; the kernel has no reflection, so instances are never created.</summary>
    internal sealed class RuntimeType : Type { }
}
