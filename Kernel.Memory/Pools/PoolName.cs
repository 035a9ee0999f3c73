namespace PoolKernel.Memory;

/// <summary>
/// A pool's name: up to 16 ASCII bytes, zero-padded, stored inline (no managed string in metadata).
/// </summary>
public unsafe struct PoolName
{
    public const int Capacity = 16;

    private fixed byte _bytes[Capacity];

    /// <summary>Copies the first 16 characters of <paramref name="text"/> (non-ASCII becomes '?').</summary>
    public static PoolName From(string text)
    {
        PoolName name = default;
        int n = text.Length < Capacity ? text.Length : Capacity;
        for (int i = 0; i < n; i++)
        {
            char c = text[i];
            name._bytes[i] = c < 0x80 ? (byte)c : (byte)'?';
        }
        return name;
    }

    /// <summary>Bytes before the first zero.</summary>
    public readonly int Length
    {
        get
        {
            int n = 0;
            while (n < Capacity && _bytes[n] != 0)
                n++;
            return n;
        }
    }

    public readonly byte this[int index] { get { return (uint)index < Capacity ? _bytes[index] : (byte)0; } }

    /// <summary>Appends <paramref name="text"/> then the decimal digits of <paramref name="number"/> (for generated names).</summary>
    public static PoolName FromParts(string text, uint number, string suffix)
    {
        PoolName name = From(text);
        int at = name.Length;
        byte* digits = stackalloc byte[10];
        int count = 0;
        do
        {
            digits[count++] = (byte)('0' + number % 10);
            number /= 10;
        } while (number != 0);
        while (count > 0 && at < Capacity)
            name._bytes[at++] = digits[--count];
        for (int i = 0; i < suffix.Length && at < Capacity; i++)
            name._bytes[at++] = (byte)suffix[i];
        return name;
    }

    /// <summary>Byte-for-byte equal names.</summary>
    public readonly bool SameAs(in PoolName other)
    {
        for (int i = 0; i < Capacity; i++)
            if (_bytes[i] != other[i])
                return false;
        return true;
    }
}
