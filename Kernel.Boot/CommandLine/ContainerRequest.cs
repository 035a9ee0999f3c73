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
        private SpecName _name;

        /// <summary>The name's length in bytes (1..<see cref="PoolSpec.MaxNameLength"/>).</summary>
        public byte NameLength => _name.Length;

        /// <summary>Name byte <paramref name="index"/> (0 past the end).</summary>
        public byte NameByte(int index) => _name.Byte(index);

        /// <summary>True when the name equals <paramref name="length"/> bytes at <paramref name="text"/>.</summary>
        public bool NameEquals(byte* text, int length) => _name.Equals(text, length);

        /// <summary>Copies a name the caller has already validated.</summary>
        internal void SetName(byte* text, int length) => _name.Set(text, length);
    }
}
