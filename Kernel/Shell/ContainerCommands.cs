using System;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Mm;

namespace PoolKernel.Shell
{
    /// <summary>
    /// Containers from the shell (docs/containers.md): <c>container create NAME:quota=SIZE[,guarantee=SIZE][,pools=P1+P2]</c>
    /// (the command line's syntax and parser, so the same forms are refused with the same words),
    /// <c>container destroy NAME</c>, <c>containers</c> (the table), and <c>as NAME CMD...</c>.
    /// </summary>
    internal static unsafe class ContainerCommands
    {
        internal static void Register(ref int n)
        {
            Commands.Register(ref n, "container", "container create NAME:quota=SIZE[,guarantee=SIZE][,pools=P1+P2] | container destroy NAME | container cache NAME PAGES", &Container);
            Commands.Register(ref n, "containers", "every container: owner, quota, guarantee, pages held, peak, above guarantee, failures", &List);
            Commands.Register(ref n, "as", "as NAME CMD...: run CMD with the shell's alloc/free/stress as container NAME", &As);
            Commands.Register(ref n, "scopes", "scopes CMD...: run CMD, with a line as each acting scope (as, a driver's entry point) begins and ends saying whom objects are charged to", &Scopes);
        }

        private const string Usage = "usage: container create NAME:quota=SIZE[,guarantee=SIZE][,pools=P1+P2] | container destroy NAME | container cache NAME PAGES";

        /// <summary>Most pages one <c>container cache</c> takes (the size of the largest machine's memory in 4 KiB pages would do; 2^24 pages = 64 GiB).</summary>
        private const ulong MaxCachePages = 1UL << 24;

        /// <summary>The parser's output for <c>container create</c>: too large for the shell's stack, made once.</summary>
        private static byte[] s_options;

        private static void Container(ref ShellLine line)
        {
            if (line.WordIs(1, "create") && line.WordCount == 3)
                Create(ref line);
            else if (line.WordIs(1, "destroy") && line.WordCount == 3)
                Destroy(ref line);
            else if (line.WordIs(1, "cache") && line.WordCount == 4)
                Cache(ref line);
            else
                Console.WriteLine(Usage);
        }

        private static void Create(ref ShellLine line)
        {
            const string Key = "container=";
            byte* word = line.Word(2, out int length);
            byte* text = stackalloc byte[ShellLine.Capacity + 16];
            for (int i = 0; i < Key.Length; i++)
                text[i] = (byte)Key[i];
            for (int i = 0; i < length; i++)
                text[Key.Length + i] = word[i];
            if (s_options == null)
                s_options = new byte[sizeof(BootOptions)];
            fixed (byte* raw = s_options)
            {
                BootOptions* o = (BootOptions*)raw;
                CommandLineParser.Parse(text, Key.Length + length, o);
                if (o->DiagnosticCount != 0)
                {
                    Console.Write("container: refused: ");
                    Console.WriteLine(Diagnostic.Describe(o->DiagnosticAt(0)->Code));
                    return;
                }
                Containers.Create(o->Container(0), text);
            }
        }

        /// <summary>
        /// The container named by word 2, when it exists and is not a loaded driver's (only the driver acts as that
        /// one); otherwise false, the refusal printed.
        /// </summary>
        private static bool UserContainer(ref ShellLine line, out byte owner)
        {
            byte* name = line.Word(2, out int length);
            if (!Containers.Find(name, length, out owner))
            {
                Console.Write("container: no container named ");
                line.WriteWord(2);
                Console.WriteLine();
                return false;
            }
            if (Drivers.DriverManager.IsDriverOwner(owner))
            {
                Console.Write("container ");
                line.WriteWord(2);
                Console.WriteLine(": refused: a loaded driver runs as it (unload the driver)");
                return false;
            }
            return true;
        }

        private static void Destroy(ref ShellLine line)
        {
            if (!UserContainer(ref line, out byte owner))
                return;
            // Its heap arena first: after a collection the objects the kernel still references are adopted by the kernel's heap
            // (re-owned off the container in place), then the arena is dropped (what is left of it is the container's: the
            // destruction frees it with the rest). Refused only when a survivor lies where the kernel's heap may not hold it.
            if (!Heap.ContainerArenas.Retire(owner, out HeapAdoption adopted, out ulong liveObjects, out ulong liveBytes))
            {
                Console.Write("container ");
                line.WriteWord(2);
                Console.Write(": refused: its heap arena holds ");
                Console.Write(liveObjects);
                Console.Write(" live managed objects (");
                Console.Write(liveBytes);
                Console.Write(" bytes) the kernel's heap cannot adopt (");
                Console.Write(MemoryText.Status(adopted.Refusal));
                Console.WriteLine("); drop the references and destroy again");
                return;
            }
            // The shell's cache of it goes next, through the container's frees (what it held stays counted in "given back").
            ulong cached = ContainerCache.Drop(owner);
            MemoryStatus status = Containers.Destroy(owner, out ulong pages);
            pages += cached;
            Console.Write("container ");
            line.WriteWord(2);
            if (status != MemoryStatus.Ok)
            {
                Console.Write(": refused: ");
                Console.WriteLine(MemoryText.Status(status));
                return;
            }
            Console.Write(": destroyed, ");
            Console.Write(pages);
            Console.Write(" pages given back");
            WriteAdopted(adopted);
            Console.WriteLine();
        }

        /// <summary>"; N live managed objects (B bytes, P pages) adopted by the kernel's heap" when the destroy adopted any.</summary>
        internal static void WriteAdopted(in HeapAdoption adopted)
        {
            if (adopted.Objects == 0)
                return;
            Console.Write("; ");
            Console.Write(adopted.Objects);
            Console.Write(" live managed objects (");
            Console.Write(adopted.Bytes);
            Console.Write(" bytes, ");
            Console.Write(adopted.Pages);
            Console.Write(" pages) adopted by the kernel's heap");
        }

        /// <summary>
        /// <c>container cache NAME PAGES</c>: PAGES order-0 pages allocated as NAME and kept as its reclaimable
        /// cache (<see cref="ContainerCache"/>): what the kernel's out-of-memory path takes back above its guarantee.
        /// </summary>
        private static void Cache(ref ShellLine line)
        {
            if (!UserContainer(ref line, out byte owner))
                return;
            if (!line.Arg(3, "PAGES", 1, MaxCachePages, out ulong pages))
                return;
            ulong kept = ContainerCache.Fill(owner, pages, out MemoryStatus stopped);
            Console.Write("container ");
            line.WriteWord(2);
            Console.Write(": ");
            Console.Write(kept);
            Console.Write(" pages kept as reclaimable cache");
            if (kept < pages)
            {
                Console.Write(", then ");
                Console.Write(MemoryText.Status(stopped));
            }
            Console.WriteLine();
        }

        private static void List(ref ShellLine line)
        {
            if (!line.NoMoreArgs(1))
                return;
            Console.WriteLine("owner name            quota    guarantee held     peak     above    fail: quota perm oom other");
            int count = 0;
            for (int o = Owners.FirstContainer; o < FrameOwner.Count; o++)
            {
                if (!Containers.Usage((byte)o, out ContainerUsage u))
                    continue;
                count++;
                Column((ulong)o, 6);
                int n = u.Name.Length;
                for (int i = 0; i < n; i++)
                    Console.Write((char)u.Name[i]);
                for (int i = n; i < 16; i++)
                    Console.Write(' ');
                Column(u.QuotaPages, 9);
                Column(u.GuaranteePages, 10);
                Column(u.HeldPages, 9);
                Column(u.PeakPages, 9);
                Column(u.AboveGuaranteePages, 15);
                Column(u.Failures[(int)ContainerFailure.Quota], 6);
                Column(u.Failures[(int)ContainerFailure.NotPermitted], 5);
                Column(u.Failures[(int)ContainerFailure.OutOfMemory], 4);
                Console.Write(u.Failures[(int)ContainerFailure.Other]);
                Console.WriteLine();
            }
            Console.Write("containers: ");
            Console.Write((ulong)count);
            Console.WriteLine(" (sizes in pages)");
            for (int o = Owners.FirstContainer; o < FrameOwner.Count; o++)
            {
                if (!ContainerCache.Counts((byte)o, out ulong cached, out ulong reclaimed) || !Containers.Usage((byte)o, out ContainerUsage u))
                    continue;
                Console.Write("cache ");
                for (int i = 0; i < u.Name.Length; i++)
                    Console.Write((char)u.Name[i]);
                Console.Write(": ");
                Console.Write(cached);
                Console.Write(" pages, ");
                Console.Write(reclaimed);
                Console.WriteLine(" taken back under pressure");
            }
            for (int o = Owners.FirstContainer; o < FrameOwner.Count; o++)
            {
                if (!Containers.Usage((byte)o, out ContainerUsage u) || (u.MovedUnderPressurePages | u.PressureNoRoomStops) == 0)
                    continue;
                Console.Write("movable ");
                for (int i = 0; i < u.Name.Length; i++)
                    Console.Write((char)u.Name[i]);
                Console.Write(": ");
                Console.Write(u.MovedUnderPressurePages);
                Console.Write(" pages migrated out of short pools under pressure; no room elsewhere ");
                Console.Write(u.PressureNoRoomStops);
                Console.WriteLine(" times");
            }
        }

        /// <summary>Writes <paramref name="value"/> left-aligned in <paramref name="width"/> characters (at least one space after).</summary>
        private static void Column(ulong value, int width)
        {
            Console.Write(value);
            int digits = 1;
            for (ulong v = value; v >= 10; v /= 10)
                digits++;
            for (int i = digits; i < width; i++)
                Console.Write(' ');
            if (digits >= width)
                Console.Write(' ');
        }

        /// <summary>
        /// `scopes CMD...`: runs CMD with the running CPU tracing its acting scopes (<see cref="Heap.ContainerArenas.TraceScope"/>):
        /// the shell's `as` and every driver entry point CMD reaches on this CPU say, as they begin and end, whom the CPU's
        /// managed objects are charged to. A diagnostic of nesting: `scopes as web read hda 0 1` shows the read charged to the
        /// disk's driver and web's scope charged again after it.
        /// </summary>
        private static void Scopes(ref ShellLine line)
        {
            if (line.WordCount < 2)
            {
                Console.WriteLine("usage: scopes CMD...");
                return;
            }
            ShellLine command = default;
            command.SetFromWord(ref line, 1);
            Heap.ContainerArenas.TraceScopes(true);
            bool known = Commands.TryRun(ref command);
            Heap.ContainerArenas.TraceScopes(false);
            if (!known)
            {
                Console.Write("scopes: unknown command '");
                command.WriteWord(0);
                Console.WriteLine("'");
            }
        }

        private static void As(ref ShellLine line)
        {
            if (line.WordCount < 3)
            {
                Console.WriteLine("usage: as NAME CMD...");
                return;
            }
            byte* name = line.Word(1, out int length);
            if (!Containers.Find(name, length, out byte owner))
            {
                Console.Write("as: no container named ");
                line.WriteWord(1);
                Console.WriteLine();
                return;
            }
            if (Drivers.DriverManager.IsDriverOwner(owner))
            {
                // A driver's container holds the buffers its device reads and writes: the shell freeing
                // or allocating in its name would break the isolation the container is for.
                Console.Write("as: ");
                line.WriteWord(1);
                Console.WriteLine(" is a loaded driver's container: only the driver allocates as it");
                return;
            }
            ShellLine command = default;
            command.SetFromWord(ref line, 2);
            // The command's allocations as the container: the shell's alloc/free/stress/vmalloc through ShellOwner, raw
            // heap blocks and managed objects through the container's heap arena (docs/containers.md "Heap arenas").
            ShellOwner.Current = owner;
            byte before = Heap.ContainerArenas.ObjectOwner;
            Heap.ContainerArenas.ActAs(owner);
            Heap.ContainerArenas.TraceScope(null, "as", owner, false, before);
            bool known = Commands.TryRun(ref command);
            Heap.ContainerArenas.StopActing();
            Heap.ContainerArenas.TraceScope(null, "as", owner, true, Owners.Kernel);
            ShellOwner.Current = Owners.Shell;
            if (!known)
            {
                Console.Write("as: unknown command '");
                command.WriteWord(0);
                Console.WriteLine("'");
            }
        }
    }
}
