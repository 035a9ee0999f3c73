namespace System
{
    /// <summary>Block operations the JIT calls for struct zeroing, initialisation and copies.</summary>
    internal static unsafe class SpanHelpers
    {
        internal static void ClearWithoutReferences(ref byte destination, nuint byteCount)
        {
            fixed (byte* d = &destination)
            {
                for (nuint i = 0; i < byteCount; i++)
                    d[i] = 0;
            }
        }

        internal static void ClearWithReferences(ref nint destination, nuint pointerCount)
        {
            fixed (nint* d = &destination)
            {
                for (nuint i = 0; i < pointerCount; i++)
                    d[i] = 0;
            }
        }

        internal static void Fill(ref byte destination, nuint byteCount, byte value)
        {
            fixed (byte* d = &destination)
            {
                for (nuint i = 0; i < byteCount; i++)
                    d[i] = value;
            }
        }

        internal static void Memmove(ref byte destination, ref byte source, nuint byteCount)
        {
            fixed (byte* d = &destination)
            fixed (byte* s = &source)
            {
                if (d < s || d >= s + byteCount)
                {
                    for (nuint i = 0; i < byteCount; i++)
                        d[i] = s[i];
                }
                else
                {
                    for (nuint i = byteCount; i > 0; i--)
                        d[i - 1] = s[i - 1];
                }
            }
        }
    }
}
