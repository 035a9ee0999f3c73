namespace System
{
    /// <summary>Base of every array. Layout fixed by the compiler: length (with padding), then elements.</summary>
    public abstract class Array
    {
#pragma warning disable CS0649 // written by the runtime's array allocation, never by C#
        private readonly int _numComponents;
#pragma warning restore CS0649

        public int Length => _numComponents;
    }

    /// <summary>Generic arrays' base; ilc expects it for T[] of reference types.</summary>
    public class Array<T> : Array { }
}
