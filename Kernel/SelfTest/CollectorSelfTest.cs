using System;
using System.Runtime.CompilerServices;
using PoolKernel.Heap;
using PoolKernel.Memory;
using PoolKernel.Platform;
using PoolKernel.Runtime;

namespace PoolKernel.SelfTest
{
    /// <summary>
    /// The collector's boot self-test, run once the heap exists: objects reachable only from a
    /// static, only from the stack, only from another object and only from a strong handle survive a
    /// collection with their contents; an object nothing reaches is freed; the heap checker is clean
    /// afterwards. A failure names the check and ends the run with ExitCode.SelfTestFailed.
    /// </summary>
    internal static unsafe class CollectorSelfTest
    {
        private sealed class Node
        {
            public Node Next;
            public long Value;
            public string Name;
        }

        private static Node s_onlyStatic;
        private static Node s_holder;
        private static int s_passed;

        internal static void Run()
        {
            s_passed = 0;
            s_onlyStatic = new Node { Value = 101, Name = "static" };
            s_holder = new Node { Value = 1 };
            s_holder.Next = new Node { Value = 202 };
            Node onStack = new Node { Value = 303 };
            int handle = GcHandles.Alloc(new Node { Value = 404 });
            ulong* raw = (ulong*)KernelHeapGlue.Alloc(8, 8);
            *raw = (ulong)ObjectAllocator.AddressOf(GcHandles.Get(handle));   // only native memory and the handle
            ulong garbage = MakeGarbageDeep(24);
            ulong before = Gc.Collections;
            Check(KernelHeapGlue.Collect() && Gc.Collections == before + 1, "a collection runs");
            Check(s_onlyStatic.Value == 101 && s_onlyStatic.Name == "static" && Live(s_onlyStatic), "an object reachable only from a static survives");
            Check(onStack.Value == 303 && Live(onStack), "an object reachable only from the stack survives");
            Check(s_holder.Next.Value == 202 && Live(s_holder.Next), "an object reachable only from another object survives");
            Node handled = (Node)GcHandles.Get(handle);
            Check(handled.Value == 404 && (ulong)ObjectAllocator.AddressOf(handled) == *raw && Live(handled), "an object reachable only from a strong handle survives");
            Check(!LiveAt(garbage ^ GarbageKey), "an object nothing reaches is freed");
            Check(KernelHeapGlue.Check().IsOk, "the heap checker is clean after a collection");
            GcHandles.Free(handle);
            KernelHeapGlue.Free(raw);
            s_onlyStatic = null;
            s_holder = null;
            Console.Write("collector self-test: ");
            Console.Write(s_passed);
            Console.WriteLine(" checks passed");
        }

        private const ulong GarbageKey = 0x5A5A5A5A5A5A5A5AUL;

        /// <summary>
        /// An unreachable object made deeper in the stack than the collector's own frame reaches, its
        /// address returned hidden (XORed) so no word the collector scans points at it.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static ulong MakeGarbageDeep(int depth)
        {
            if (depth > 0)
                return MakeGarbageDeep(depth - 1);
            Node lost = new Node { Value = 505 };
            return (ulong)ObjectAllocator.AddressOf(lost) ^ GarbageKey;
        }

        private static bool Live(object o) => LiveAt((ulong)ObjectAllocator.AddressOf(o));

        /// <summary>The heap holds an allocated managed block at the object's address minus its header word.</summary>
        private static bool LiveAt(ulong reference)
        {
            byte* block = (byte*)(reference - KernelHeap.ObjectHeaderBytes);
            return KernelHeapGlue.Describe(block, out HeapObjectInfo info) == HeapStatus.Ok
                && info.Allocated && info.Start == block && KernelHeap.IsTagged(block);
        }

        private static void Check(bool condition, string what)
        {
            if (condition)
            {
                s_passed++;
                return;
            }
            Console.Write("collector self-test FAILED: ");
            Console.WriteLine(what);
            QemuExit.Exit(ExitCode.SelfTestFailed);
        }
    }
}
