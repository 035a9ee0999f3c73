namespace System
{
    /// <summary>
    /// Exceptions carry a message and a type name. There is no unwinder yet: a throw reports
    /// the exception on the console and halts (see Kernel/Runtime/Throw.cs).
    /// </summary>
    public class Exception
    {
        private readonly string _message;

        public Exception() { }

        public Exception(string message) { _message = message; }

        public virtual string Message => _message;

        /// <summary>Printed by the throw handler; there is no reflection to recover it.</summary>
        public virtual string TypeName => "System.Exception";
    }

    public class SystemException : Exception
    {
        public SystemException() { }
        public SystemException(string message) : base(message) { }
        public override string TypeName => "System.SystemException";
    }

    public class ArgumentException : SystemException
    {
        public ArgumentException() { }
        public ArgumentException(string message) : base(message) { }
        public override string TypeName => "System.ArgumentException";
    }

    public class ArgumentOutOfRangeException : ArgumentException
    {
        public ArgumentOutOfRangeException() { }
        public ArgumentOutOfRangeException(string message) : base(message) { }
        public override string TypeName => "System.ArgumentOutOfRangeException";
    }

    public class InvalidOperationException : SystemException
    {
        public InvalidOperationException() { }
        public InvalidOperationException(string message) : base(message) { }
        public override string TypeName => "System.InvalidOperationException";
    }

    public class NotSupportedException : SystemException
    {
        public NotSupportedException() { }
        public NotSupportedException(string message) : base(message) { }
        public override string TypeName => "System.NotSupportedException";
    }

    public sealed class IndexOutOfRangeException : SystemException
    {
        public IndexOutOfRangeException() : base("Index was outside the bounds of the array.") { }
        public override string TypeName => "System.IndexOutOfRangeException";
    }

    public sealed class NullReferenceException : SystemException
    {
        public NullReferenceException() : base("Object reference not set to an instance of an object.") { }
        public override string TypeName => "System.NullReferenceException";
    }

    public sealed class DivideByZeroException : SystemException
    {
        public DivideByZeroException() : base("Attempted to divide by zero.") { }
        public override string TypeName => "System.DivideByZeroException";
    }

    public sealed class OverflowException : SystemException
    {
        public OverflowException() : base("Arithmetic operation resulted in an overflow.") { }
        public override string TypeName => "System.OverflowException";
    }

    public sealed class InvalidCastException : SystemException
    {
        public InvalidCastException() : base("Specified cast is not valid.") { }
        public override string TypeName => "System.InvalidCastException";
    }

    public sealed class ArrayTypeMismatchException : SystemException
    {
        public ArrayTypeMismatchException() : base("Attempted to access an element as a type incompatible with the array.") { }
        public override string TypeName => "System.ArrayTypeMismatchException";
    }

    public sealed class OutOfMemoryException : SystemException
    {
        public OutOfMemoryException() : base("Insufficient memory to continue the execution of the program.") { }
        public override string TypeName => "System.OutOfMemoryException";
    }

    public sealed class PlatformNotSupportedException : NotSupportedException
    {
        public PlatformNotSupportedException() : base("Operation is not supported on this platform.") { }
        public override string TypeName => "System.PlatformNotSupportedException";
    }
}
