namespace System
{
    /// <summary>Base of every array. Layout fixed by the compiler: length (with padding), then elements.</summary>
    public abstract class Array
    {
        private readonly int _numComponents;

        public int Length => _numComponents;
    }

    /// <summary>Generic arrays' base; ilc expects it for T[] of reference types.</summary>
    public class Array<T> : Array { }
}
