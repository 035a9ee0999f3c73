namespace System
{
    /// <summary>
    /// UTF-16 string. Layout fixed by the compiler: length, then the characters, then a NUL.
    /// Literals are frozen objects emitted by ilc. Only what the kernel uses is here.
    /// </summary>
    public sealed unsafe class String
    {
        private readonly int _stringLength;
        private char _firstChar;

        public int Length => _stringLength;

        [System.Runtime.CompilerServices.IndexerName("Chars")]
        public char this[int index]
        {
            get
            {
                fixed (char* p = &_firstChar)
                {
                    return p[index];
                }
            }
        }

        public static bool operator ==(string a, string b) => Equals(a, b);

        public static bool operator !=(string a, string b) => !Equals(a, b);

        public static bool Equals(string a, string b)
        {
            if ((object)a == (object)b)
                return true;
            if ((object)a == null || (object)b == null || a._stringLength != b._stringLength)
                return false;
            for (int i = 0; i < a._stringLength; i++)
            {
                if (a[i] != b[i])
                    return false;
            }
            return true;
        }

        public override bool Equals(object o) => o is string s && Equals(this, s);

        public override int GetHashCode()
        {
            int h = 5381;
            for (int i = 0; i < _stringLength; i++)
                h = (h * 33) ^ this[i];
            return h;
        }

        public override string ToString() => this;
    }
}
