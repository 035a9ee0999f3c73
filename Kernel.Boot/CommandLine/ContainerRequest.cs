namespace PoolKernel.Boot.CommandLine
{
    /// <summary>
    /// One <c>container=NAME:quota=SIZE[,guarantee=SIZE][,pools=P1+P2]</c> as parsed. The parser
    /// checks the syntax, the sizes and that the guarantee fits the quota; the kernel resolves the
    /// pool names against its pool table and creates the container (Kernel.Memory's CreateContainer).
    /// </summary>
    public unsafe struct ContainerRequest
    {
        /// <summary>Stride of a ContainerRequest inside <see cref="BootOptions"/>; a host test checks sizeof fits.</summary>
        public const int StorageSize = 64;

        public ulong QuotaBytes;
        /// <summary>0 = no guarantee.</summary>
        public ulong GuaranteeBytes;
        /// <summary>The <c>pools=</c> value (names joined by '+') as offset and length in the command line; length 0 = every pool.</summary>
        public int PoolsOffset;
        public int PoolsLength;
        /// <summary>Index of the token that asked for it.</summary>
        public int TokenIndex;
        public byte NameLength;
        private fixed byte _name[PoolSpec.MaxNameLength + 1];

        /// <summary>Name byte <paramref name="index"/> (0 past the end).</summary>
        public byte NameByte(int index)
        {
            fixed (byte* name = _name)
                return (uint)index < (uint)NameLength ? name[index] : (byte)0;
        }

        public bool NameEquals(byte* text, int length)
        {
            if (length != NameLength)
                return false;
            for (int i = 0; i < length; i++)
                if (NameByte(i) != text[i])
                    return false;
            return true;
        }

        internal void SetName(byte* text, int length)
        {
            fixed (byte* name = _name)
            {
                for (int i = 0; i < length; i++)
                    name[i] = text[i];
                name[length] = 0;
            }
            NameLength = (byte)length;
        }
    }
}
