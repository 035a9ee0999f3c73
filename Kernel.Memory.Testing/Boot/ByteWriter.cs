namespace PoolKernel.Memory.Testing.Boot;

/// <summary>Little-endian byte-array builder for boot structures.</summary>
public sealed class ByteWriter
{
    private readonly List<byte> _bytes = new();

    public int Length => _bytes.Count;

    public ByteWriter U8(int v) { _bytes.Add((byte)v); return this; }
    public ByteWriter U16(int v) { U8(v); U8(v >> 8); return this; }
    public ByteWriter U32(uint v) { for (int i = 0; i < 4; i++) U8((int)(v >> (8 * i))); return this; }
    public ByteWriter U64(ulong v) { for (int i = 0; i < 8; i++) U8((int)(v >> (8 * i))); return this; }
    public ByteWriter Bytes(byte[] b) { _bytes.AddRange(b); return this; }
    public ByteWriter Ascii(string s) { foreach (char c in s) U8(c); return this; }
    public ByteWriter AsciiZ(string s) { Ascii(s); U8(0); return this; }
    public ByteWriter Zeros(int n) { for (int i = 0; i < n; i++) U8(0); return this; }
    public ByteWriter AlignTo(int a) { while (_bytes.Count % a != 0) U8(0); return this; }

    public void PatchU32(int offset, uint v)
    {
        for (int i = 0; i < 4; i++)
            _bytes[offset + i] = (byte)(v >> (8 * i));
    }

    public byte[] ToArray() => _bytes.ToArray();
}
