namespace PoolKernel.Boot.CommandLine
{
    /// <summary>
    /// The name a command-line token gives what it asks for (a <c>pool=</c> pool, a <c>container=</c>
    /// container): 1..<see cref="PoolSpec.MaxNameLength"/> bytes the parser has validated, kept inline
    /// with a terminating zero so the records that hold it stay unmanaged and fixed in size.
    /// </summary>
    public unsafe struct SpecName
    {
        public byte Length;
        private fixed byte _bytes[PoolSpec.MaxNameLength + 1];

        /// <summary>Byte <paramref name="index"/> of the name; 0 past its end.</summary>
        public byte Byte(int index)
        {
            fixed (byte* name = _bytes)
                return (uint)index < (uint)Length ? name[index] : (byte)0;
        }

        /// <summary>True when the name equals <paramref name="length"/> bytes at <paramref name="text"/>.</summary>
        public bool Equals(byte* text, int length)
        {
            if (length != Length)
                return false;
            fixed (byte* name = _bytes)
            {
                for (int i = 0; i < length; i++)
                {
                    if (name[i] != text[i])
                        return false;
                }
            }
            return true;
        }

        /// <summary>Copies a name the caller has already validated (1..<see cref="PoolSpec.MaxNameLength"/> bytes).</summary>
        internal void Set(byte* text, int length)
        {
            fixed (byte* name = _bytes)
            {
                for (int i = 0; i < length; i++)
                    name[i] = text[i];
                name[length] = 0;
            }
            Length = (byte)length;
        }
    }
}
