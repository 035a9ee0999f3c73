using System;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>
    /// One line typed at the shell prompt (or one command of <c>run=</c>) in a fixed buffer, split into
    /// space-separated words without allocating (the loop makes no garbage, so a command that makes
    /// none never brings on a collection). Not the kernel command line, which is <c>Boot.CommandLine.BootOptions</c>.
    /// </summary>
    internal unsafe struct ShellLine
    {
        internal const int Capacity = 256;
        internal const int MaxWords = 16;

        private fixed byte _text[Capacity];
        private fixed int _wordStart[MaxWords];
        private fixed int _wordLength[MaxWords];
        internal int Length;
        internal int WordCount;

        /// <summary>
        /// Why the line must not run, or <see cref="LineFault.None"/>: a line cut to the buffer or to
        /// <see cref="MaxWords"/> words is not the line that was given, and running a prefix of a
        /// command (a <c>write</c> without its count) would do something nobody asked for.
        /// </summary>
        internal LineFault Fault;

        /// <summary>
        /// Reads a line from the serial console with echo. Only printable ASCII is stored and echoed;
        /// backspace and DEL erase, Ctrl-C echoes "^C" and abandons the line, other control bytes
        /// and bytes above 126 are dropped without echo (a raw control byte would drive the terminal).
        /// </summary>
        internal void ReadLine()
        {
            Length = 0;
            Fault = LineFault.None;
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
                if (c == CtrlC)
                {
                    Console.WriteLine("^C");
                    Length = 0;
                    break;
                }
                if (!IsPrintable(c))
                    continue;
                if (Length == Capacity - 1)
                {
                    Fault = LineFault.TooLong;
                    continue;
                }
                _text[Length++] = c;
                Console.Write((char)c);
            }
            Split();
        }

        private const byte CtrlC = 3;

        internal static bool IsPrintable(byte c) => c >= 32 && c <= 126;

        /// <summary>The whole line through <see cref="Console.WriteAscii"/> (the echo of a run= command).</summary>
        internal void WriteLineText()
        {
            fixed (byte* text = _text)
                Console.WriteAscii(text, (ulong)Length);
        }

        /// <summary>Waits for the next byte from the serial port or the PS/2 keyboard, running the kernel's periodic work meanwhile (<see cref="Platform.Housekeeping.Run"/>).</summary>
        private static byte NextInput()
        {
            while (true)
            {
                if (Serial.HasInput)
                    return Serial.Read();
                byte key = Ps2Keyboard.Poll();
                if (key != 0)
                    return key;
                // Idle: drivers without interrupts do their background work (the balloon follows its target),
                // and the realtime pools move towards their limits.
                Platform.Housekeeping.Run();
                Cpu.Pause();
            }
        }

        /// <summary>
        /// Takes the line from memory (a run= command), cut to the capacity; returns false when it
        /// had to cut (<see cref="Fault"/> then says so, and the line does not run).
        /// </summary>
        internal bool Set(byte* text, int length)
        {
            Fault = length < Capacity ? LineFault.None : LineFault.TooLong;
            Length = length < Capacity - 1 ? length : Capacity - 1;
            for (int i = 0; i < Length; i++)
                _text[i] = text[i];
            Split();
            return Length == length;
        }

        /// <summary>
        /// This line becomes <paramref name="source"/> from word <paramref name="index"/> on (the shell's
        /// <c>as NAME CMD...</c> runs CMD...); false when there is no such word.
        /// </summary>
        internal bool SetFromWord(ref ShellLine source, int index)
        {
            if ((uint)index >= (uint)source.WordCount)
                return false;
            fixed (byte* text = source._text)
            {
                int start = source._wordStart[index];
                Set(text + start, source.Length - start);
            }
            return true;
        }

        /// <summary>Word <paramref name="index"/> as a pointer into the line and a length (length 0 when there is no such word); valid while the line is.</summary>
        internal byte* Word(int index, out int length)
        {
            length = (uint)index < (uint)WordCount ? _wordLength[index] : 0;
            fixed (byte* text = _text)
                return text + (length == 0 ? 0 : _wordStart[index]);
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
            while (i < Length && _text[i] == ' ')
                i++;
            if (i < Length && Fault == LineFault.None)
                Fault = LineFault.TooManyWords;
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

        /// <summary>Copies word <paramref name="index"/> (at most <paramref name="capacity"/> bytes) to <paramref name="into"/>; its length, 0 for a missing word.</summary>
        internal int CopyWord(int index, byte* into, int capacity)
        {
            if ((uint)index >= (uint)WordCount)
                return 0;
            int length = _wordLength[index] < capacity ? _wordLength[index] : capacity;
            for (int i = 0; i < length; i++)
                into[i] = _text[_wordStart[index] + i];
            return length;
        }

        internal void WriteWord(int index)
        {
            if ((uint)index >= (uint)WordCount)
                return;
            for (int i = 0; i < _wordLength[index]; i++)
                Console.WriteVisible(_text[_wordStart[index] + i]);
        }

        /// <summary>
        /// Reads word <paramref name="index"/> as a number in [min, max] (<see cref="ShellArgs.Read"/>).
        /// On refusal prints one line naming the command, the argument, the word and the range, and
        /// returns false; the caller then ends the command without doing anything.
        /// </summary>
        internal bool Arg(int index, string name, ulong min, ulong max, out ulong value)
        {
            ArgStatus status;
            fixed (byte* text = _text)
            {
                byte* p = (uint)index < (uint)WordCount ? text + _wordStart[index] : null;
                status = ShellArgs.Read(p, p == null ? 0 : _wordLength[index], min, max, out value);
            }
            if (status == ArgStatus.Ok)
                return true;
            WriteWord(0);
            Console.Write(": ");
            Console.Write(name);
            if (status != ArgStatus.Missing)
            {
                Console.Write(" '");
                WriteWord(index);
                Console.Write("'");
            }
            Console.Write(" ");
            Console.Write(ShellArgs.Describe(status));
            Console.Write("; expected ");
            Console.Write(min);
            Console.Write("..");
            Console.Write(max);
            Console.WriteLine();
            return false;
        }

        /// <summary>
        /// Like <see cref="Arg"/>, but a missing word gives <paramref name="fallback"/> (the default
        /// the command's help names); a word that is there must be valid.
        /// </summary>
        internal bool OptionalArg(int index, string name, ulong min, ulong max, ulong fallback, out ulong value)
        {
            if (index >= WordCount)
            {
                value = fallback;
                return true;
            }
            return Arg(index, name, min, max, out value);
        }

        /// <summary>True when the line has no word from <paramref name="index"/> on; otherwise prints "CMD: unexpected 'WORD'" and returns false.</summary>
        internal bool NoMoreArgs(int index)
        {
            if (index >= WordCount)
                return true;
            WriteWord(0);
            Console.Write(": unexpected '");
            WriteWord(index);
            Console.WriteLine("'");
            return false;
        }
    }

    /// <summary>Why a shell line was not run as given.</summary>
    internal enum LineFault : byte
    {
        None,
        /// <summary>Longer than <see cref="ShellLine.Capacity"/> - 1 bytes.</summary>
        TooLong,
        /// <summary>More than <see cref="ShellLine.MaxWords"/> words.</summary>
        TooManyWords,
    }
}
