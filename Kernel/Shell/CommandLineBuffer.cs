using System;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>
    /// One shell command line in a fixed buffer, split into space-separated words without
    /// allocating (objects are never collected yet, so the shell loop must not create garbage).
    /// </summary>
    internal unsafe struct CommandLineBuffer
    {
        internal const int Capacity = 256;
        internal const int MaxWords = 16;

        private fixed byte _text[Capacity];
        private fixed int _wordStart[MaxWords];
        private fixed int _wordLength[MaxWords];
        internal int Length;
        internal int WordCount;

        /// <summary>Reads a line from the serial console with echo; backspace and DEL erase.</summary>
        internal void ReadLine()
        {
            Length = 0;
            while (true)
            {
                byte c = NextInput();
                if (c == (byte)'\r' || c == (byte)'\n')
                {
                    Console.WriteLine();
                    break;
                }
                if (c == 8 || c == 127)
                {
                    if (Length > 0)
                    {
                        Length--;
                        Console.Write("\b \b");
                    }
                    continue;
                }
                if (c < 32 || c > 126 || Length == Capacity - 1)
                    continue;
                _text[Length++] = c;
                Console.Write((char)c);
            }
            Split();
        }

        /// <summary>Waits for the next byte from the serial port or the PS/2 keyboard.</summary>
        private static byte NextInput()
        {
            while (true)
            {
                if (Serial.HasInput)
                    return Serial.Read();
                byte key = Ps2Keyboard.Poll();
                if (key != 0)
                    return key;
                Cpu.Pause();
            }
        }

        /// <summary>Takes the line from memory (a run= command), truncated to the capacity.</summary>
        internal void Set(byte* text, int length)
        {
            Length = length < Capacity - 1 ? length : Capacity - 1;
            for (int i = 0; i < Length; i++)
                _text[i] = text[i];
            Split();
        }

        private void Split()
        {
            WordCount = 0;
            int i = 0;
            while (i < Length && WordCount < MaxWords)
            {
                while (i < Length && _text[i] == ' ')
                    i++;
                if (i == Length)
                    break;
                int start = i;
                while (i < Length && _text[i] != ' ')
                    i++;
                _wordStart[WordCount] = start;
                _wordLength[WordCount] = i - start;
                WordCount++;
            }
        }

        internal bool WordIs(int index, string literal)
        {
            if ((uint)index >= (uint)WordCount || _wordLength[index] != literal.Length)
                return false;
            for (int i = 0; i < literal.Length; i++)
            {
                if (_text[_wordStart[index] + i] != literal[i])
                    return false;
            }
            return true;
        }

        internal void WriteWord(int index)
        {
            if ((uint)index >= (uint)WordCount)
                return;
            for (int i = 0; i < _wordLength[index]; i++)
                Console.Write((char)_text[_wordStart[index] + i]);
        }

        /// <summary>Parses word <paramref name="index"/> as a decimal or 0x-hex number with an optional K/M/G suffix.</summary>
        internal bool TryNumber(int index, out ulong value)
        {
            value = 0;
            if ((uint)index >= (uint)WordCount)
                return false;
            int start = _wordStart[index], end = start + _wordLength[index];
            int i = start;
            ulong radix = 10;
            if (end - i > 2 && _text[i] == '0' && (_text[i + 1] == 'x' || _text[i + 1] == 'X'))
            {
                radix = 16;
                i += 2;
            }
            int digits = 0;
            for (; i < end; i++)
            {
                int d = Digit(_text[i]);
                if (d < 0 || (ulong)d >= radix)
                    break;
                ulong next = value * radix + (ulong)d;
                if (next / radix != value)
                    return false;
                value = next;
                digits++;
            }
            if (digits == 0)
                return false;
            if (i == end)
                return true;
            if (i != end - 1 || radix == 16)
                return false;
            int shift = _text[i] switch { (byte)'K' or (byte)'k' => 10, (byte)'M' or (byte)'m' => 20, (byte)'G' or (byte)'g' => 30, _ => -1 };
            if (shift < 0 || (value << shift) >> shift != value)
                return false;
            value <<= shift;
            return true;
        }

        private static int Digit(byte c)
        {
            if (c >= '0' && c <= '9')
                return c - '0';
            if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
            if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
            return -1;
        }
    }
}
