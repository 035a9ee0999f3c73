namespace PoolKernel.Boot.Text
{
    /// <summary>
    /// A <see cref="TextOut"/> into caller-owned memory: ASCII bytes, '\n' line ends, at most the
    /// capacity given; what does not fit is counted in <see cref="Dropped"/> and not stored, so a
    /// report kept for later is either whole (<see cref="Dropped"/> == 0) or known to be cut.
    /// The kernel keeps its pools table as it stood at set-up in one (`pools boot`); the struct
    /// must stay where it is while a writer from <see cref="Out"/> is in use.
    /// </summary>
    public unsafe struct TextBuffer
    {
        private byte* _bytes;
        private int _capacity;

        /// <summary>Bytes stored so far.</summary>
        public int Length;

        /// <summary>Characters written after the buffer was full.</summary>
        public int Dropped;

        public TextBuffer(byte* bytes, int capacity)
        {
            _bytes = bytes;
            _capacity = capacity < 0 ? 0 : capacity;
            Length = 0;
            Dropped = 0;
        }

        /// <summary>A writer appending to the buffer at <paramref name="buffer"/>.</summary>
        public static TextOut Out(TextBuffer* buffer) => new TextOut(&Put, buffer);

        /// <summary>The stored byte at <paramref name="index"/> (0 &lt;= index &lt; Length).</summary>
        public byte this[int index] => _bytes[index];

        /// <summary>Writes the stored text to <paramref name="w"/>, then, if anything was cut, a line saying how much.</summary>
        public void CopyTo(TextOut w)
        {
            for (int i = 0; i < Length; i++)
                w.Write((char)_bytes[i]);
            if (Dropped > 0)
            {
                w.Write("(cut: ");
                w.Write((ulong)Dropped);
                w.WriteLine(" more characters did not fit)");
            }
        }

        private static void Put(void* sink, char c)
        {
            TextBuffer* b = (TextBuffer*)sink;
            if (b->Length < b->_capacity)
                b->_bytes[b->Length++] = c < (char)0x80 ? (byte)c : (byte)'?';
            else
                b->Dropped++;
        }
    }
}
