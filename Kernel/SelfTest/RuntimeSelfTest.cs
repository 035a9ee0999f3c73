using System;
using PoolKernel.Platform;
using PoolKernel.Runtime;

namespace PoolKernel.SelfTest
{
    /// <summary>
    /// Proves at every boot that the language features the kernel relies on work on this
    /// runtime: classes, virtual calls, structs, arrays, strings, generics, interfaces (also
    /// through dispatch cells), delegates and closures, statics, class constructors, casts,
    /// boxing. A failure names the check and ends the run with ExitCode.SelfTestFailed.
    /// </summary>
    internal static unsafe class RuntimeSelfTest
    {
        private static int s_passed;

        internal static void Run()
        {
            s_passed = 0;
            Classes();
            Structs();
            Arrays();
            Strings();
            Generics();
            Interfaces();
            Delegates();
            Statics();
            CastsAndBoxing();
            Console.Write("runtime self-test: ");
            Console.Write(s_passed);
            Console.WriteLine(" checks passed");
        }

        private static void Check(bool condition, string what)
        {
            if (condition)
            {
                s_passed++;
                return;
            }
            Console.Write("runtime self-test FAILED: ");
            Console.WriteLine(what);
            QemuExit.Exit(ExitCode.SelfTestFailed);
        }

        private abstract class Shape
        {
            public abstract long Area();
            public virtual string Kind => "shape";
        }

        private sealed class Square : Shape
        {
            private readonly long _side;
            public Square(long side) { _side = side; }
            public override long Area() => _side * _side;
            public override string Kind => "square";
        }

        private sealed class Rect : Shape
        {
            private readonly long _w, _h;
            public Rect(long w, long h) { _w = w; _h = h; }
            public override long Area() => _w * _h;
        }

        private static void Classes()
        {
            Shape[] shapes = { new Square(3), new Rect(2, 5) };
            long total = 0;
            for (int i = 0; i < shapes.Length; i++)
                total += shapes[i].Area();
            Check(total == 19, "virtual calls through a base class");
            Check(shapes[0].Kind == "square" && shapes[1].Kind == "shape", "overridden and inherited virtual properties");
        }

        private struct Point
        {
            public long X, Y;
            public Point(long x, long y) { X = x; Y = y; }
            public Point Add(Point o) => new Point(X + o.X, Y + o.Y);
        }

        private static void Structs()
        {
            Point p = new Point(1, 2).Add(new Point(10, 20));
            Check(p.X == 11 && p.Y == 22, "struct methods and copies");
            Point[] points = new Point[4];
            points[3] = p;
            Check(points[3].Y == 22 && points[0].X == 0, "arrays of structs, zero-initialised");
        }

        private static void Arrays()
        {
            int[] numbers = new int[100];
            for (int i = 0; i < numbers.Length; i++)
                numbers[i] = i * i;
            Check(numbers.Length == 100 && numbers[99] == 9801, "int arrays");
            object[] objects = new object[3];
            objects[1] = "x";
            Check(objects[0] == null && (string)objects[1] == "x", "object arrays and covariant stores");
            byte[][] jagged = new byte[2][];
            jagged[1] = new byte[7];
            jagged[1][6] = 42;
            Check(jagged[1][6] == 42 && jagged[0] == null, "jagged arrays");
        }

        private static void Strings()
        {
            string s = "PoolKernel";
            Check(s.Length == 10 && s[4] == 'K', "string length and indexer");
            Check(s == "PoolKernel" && s != "Pool", "string equality");
        }

        private sealed class Stack<T>
        {
            private T[] _items = new T[2];
            private int _count;

            public void Push(T item)
            {
                if (_count == _items.Length)
                {
                    T[] bigger = new T[_items.Length * 2];
                    for (int i = 0; i < _count; i++)
                        bigger[i] = _items[i];
                    _items = bigger;
                }
                _items[_count++] = item;
            }

            public T Pop() => _items[--_count];

            public int Count => _count;
        }

        private static T Largest<T>(T a, T b, Func<T, T, bool> greater) => greater(a, b) ? a : b;

        private static void Generics()
        {
            var ints = new Stack<int>();
            for (int i = 0; i < 10; i++)
                ints.Push(i);
            Check(ints.Count == 10 && ints.Pop() == 9, "generic class over a value type");
            var strings = new Stack<string>();
            strings.Push("a");
            strings.Push("b");
            strings.Push("c");
            Check(strings.Pop() == "c" && strings.Count == 2, "generic class over a reference type");
            Check(Largest(3, 7, (x, y) => x > y) == 7, "generic method with a delegate");
        }

        private interface IPageSource
        {
            ulong Take(ulong pages);
            string Name { get; }
        }

        private sealed class CountingSource : IPageSource
        {
            private ulong _taken;
            private readonly object _owner = new object();
            public ulong Take(ulong pages) { _taken += pages; return _taken; }
            public string Name => _owner != null ? "counting" : "broken";
        }

        private class DoublingSource : IPageSource
        {
            public virtual ulong Take(ulong pages) => pages * 2;
            public string Name => "doubling";
        }

        private sealed class TriplingSource : DoublingSource
        {
            public override ulong Take(ulong pages) => pages * 3;
        }

        private static void Interfaces()
        {
            IPageSource[] sources = { new CountingSource(), new DoublingSource(), new TriplingSource() };
            ulong total = 0;
            for (int round = 0; round < 2; round++)
            {
                for (int i = 0; i < sources.Length; i++)
                    total += sources[i].Take(5);
            }
            // counting: 5 then 10; doubling: 10, 10; tripling: 15, 15.
            Check(total == 65, "interface dispatch: sealed, virtual and inherited implementations");
            Check(sources[0].Name == "counting" && sources[2].Name == "doubling", "interface properties");
            Check(sources[1] is IPageSource && !((object)"text" is IPageSource), "interface type tests");
        }

        private sealed class Counter
        {
            public int Value;
            public void Increment() => Value++;
        }

        private static void Delegates()
        {
            var counter = new Counter();
            Action increment = counter.Increment;
            increment();
            increment();
            Check(counter.Value == 2, "delegate to an instance method");
            int captured = 40;
            Func<int, int> add = x => x + captured;
            Check(add(2) == 42, "closure");
            Func<int, int> square = SquareOf;
            Check(square(9) == 81, "delegate to a static method");
        }

        private static int SquareOf(int x) => x * x;

        private static class Lazy
        {
            public static readonly ulong[] Table = Build();
            public static int Builds;

            private static ulong[] Build()
            {
                Builds++;
                var t = new ulong[8];
                for (int i = 0; i < t.Length; i++)
                    t[i] = 1UL << i;
                return t;
            }
        }

        private static ulong s_plainStatic;
        private static object s_objectStatic;

        private static void Statics()
        {
            Check(Lazy.Table[7] == 128 && Lazy.Table[0] == 1, "static readonly initialised by a class constructor");
            Check(Lazy.Builds == 1, "class constructor runs once");
            s_plainStatic = 0x1234;
            s_objectStatic = "kept";
            Check(s_plainStatic == 0x1234 && (string)s_objectStatic == "kept", "static fields");
            fixed (ulong* p = &s_plainStatic)
            {
                // Non-GC statics live in the image; a wrong module walk would put them elsewhere.
                Check((ulong)p >= Cpu.KernelStart() && (ulong)p < Cpu.KernelEnd(), "non-GC statics live inside the kernel image");
            }
            Check(ModuleInitializer.GCStaticBases > 0, "GC static bases were allocated");
        }

        private static void CastsAndBoxing()
        {
            object boxed = 1234;
            Check(boxed is int && (int)boxed == 1234, "boxing and unboxing");
            object shape = new Square(2);
            Check(shape is Shape && !(shape is Rect) && shape as Rect == null, "class type tests");
            Check(((Shape)shape).Area() == 4, "downcast");
        }
    }
}
