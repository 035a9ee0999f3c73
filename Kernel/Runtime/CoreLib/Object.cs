// PoolKernel's own core library: the System types the C# compiler and ilc require,
// and nothing more. There is no BCL in the kernel; this is the whole of it.
namespace System
{
    /// <summary>Root of every reference type. The first field is the MethodTable pointer.</summary>
    public unsafe class Object
    {
        internal Internal.Runtime.MethodTable* m_pEEType;

        public Object() { }

        ~Object() { }

        public virtual bool Equals(object o) => (object)this == o;

        public virtual int GetHashCode() => 0;

        public virtual string ToString() => "object";

        public Type GetType() => null;
    }

    /// <summary>Type objects are not supported (no reflection); the class exists for the compiler.</summary>
    public abstract class Type { }

    public abstract class ValueType { }

    public abstract class Enum : ValueType { }

    public struct Void { }

    public abstract class Delegate
    {
        internal object _firstParameter;
        internal object _helperObject;
        internal nint _extraFunctionPointerOrData;
        internal nint _functionPointer;

        // The compiler binds delegate construction to these: see Runtime/Delegates.md in docs.
        private void InitializeClosedInstance(object firstParameter, nint functionPointer)
        {
            _functionPointer = functionPointer;
            _firstParameter = firstParameter;
        }

        private void InitializeClosedInstanceSlow(object firstParameter, nint functionPointer)
        {
            _functionPointer = functionPointer;
            _firstParameter = firstParameter;
        }

        private void InitializeClosedInstanceWithGVMResolution(object firstParameter, nint tokenOfGenericVirtualMethod)
        {
            _functionPointer = tokenOfGenericVirtualMethod;
            _firstParameter = firstParameter;
        }

        private void InitializeClosedInstanceToInterface(object firstParameter, nint dispatchCell)
        {
            _functionPointer = dispatchCell;
            _firstParameter = firstParameter;
        }

        private void InitializeClosedStaticThunk(object firstParameter, nint functionPointer, nint functionPointerThunk)
        {
            _extraFunctionPointerOrData = functionPointer;
            _helperObject = firstParameter;
            _functionPointer = functionPointerThunk;
            _firstParameter = this;
        }

        private void InitializeOpenStaticThunk(object firstParameter, nint functionPointer, nint functionPointerThunk)
        {
            _firstParameter = this;
            _functionPointer = functionPointerThunk;
            _extraFunctionPointerOrData = functionPointer;
        }

        private void InitializeOpenInstanceThunk(object firstParameter, nint functionPointer, nint functionPointerThunk)
        {
            _firstParameter = this;
            _functionPointer = functionPointerThunk;
            _extraFunctionPointerOrData = functionPointer;
        }
    }

    public abstract class MulticastDelegate : Delegate { }

    public delegate void Action();
    public delegate void Action<T>(T arg);
    public delegate TResult Func<TResult>();
    public delegate TResult Func<T, TResult>(T arg);
    public delegate TResult Func<T1, T2, TResult>(T1 arg1, T2 arg2);
}
