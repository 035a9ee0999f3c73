using BenchmarkDotNet.Attributes;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>
/// The kernel heap on the host (<see cref="HostHeap"/>, the tests' fixture) over a QEMU <c>pc</c> 1 GiB
/// one-node map backed by 2 MiB pages, like the kernel's direct map. Three shapes (issue 12):
/// <list type="bullet">
/// <item><c>heap_pair32_ns</c>: a 32-byte alloc+free pair on an empty heap (the class's cached empty slab), per pair;</item>
/// <item><c>heap_mixed_ns</c>: per operation, a seeded sequence over <see cref="Slots"/> slots, each either freed
/// (when live) or given a new object of a size uniform in 16..2048 bytes, so about half the slots are live;</item>
/// <item><c>heap_zero_gib_s</c>: alloc+free of a <see cref="ZeroObjectBytes"/> object, which the heap zeroes
/// whole on allocation, as bytes zeroed per second (the pools' share of the pair is included; it is small
/// next to 256 pages of stores). The run comes back from the same frames each time, so this is the zeroing
/// routine's cache speed (the object fits the 1.25 MiB L2 of this machine's cores), as for any reused memory.</item>
/// </list>
/// The static <c>Run*</c> methods are what both builds time: BenchmarkDotNet here, <see cref="AotPairs"/> under ilc.
/// </summary>
public unsafe class HeapBenchmarks
{
    public const int Pairs = 1024;
    public const int MixedOps = 4096;
    public const int Slots = 4096;
    public const int ZeroObjects = 8;
    public const ulong ZeroObjectBytes = 1UL << 20;
    /// <summary>Length of the precomputed operation sequence (a power of two: the cursor wraps with a mask).</summary>
    private const int SequenceLength = 1 << 16;
    private const int Seed = 12;
    private const ulong GiB = 1UL << 30;

    private HostHeap _heap;
    private int[] _slotOf;
    private ulong[] _sizeOf;
    private nint[] _live;
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        _heap = new HostHeap(new HostPhysicalMemory(QemuMaps.Build("pc", GiB, 1), hugePages: true));
        var rng = new Random(Seed);
        _slotOf = new int[SequenceLength];
        _sizeOf = new ulong[SequenceLength];
        for (int i = 0; i < SequenceLength; i++)
        {
            _slotOf[i] = rng.Next(Slots);
            _sizeOf[i] = (ulong)rng.Next(16, 2049);
        }
        _live = new nint[Slots];
        // Start at about half live, so the first timed operations already see the steady state.
        for (int s = 0; s < Slots; s += 2)
            _live[s] = (nint)Allocate(_heap.Heap, (ulong)rng.Next(16, 2049));
        _cursor = 0;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        for (int s = 0; s < Slots; s++)
            if (_live[s] != 0)
                Release(_heap.Heap, (void*)_live[s]);
        HeapCheckReport report = _heap.Heap->Check();
        if (!report.IsOk)
            throw new InvalidOperationException("heap checker after the benchmarks: " + HostHeap.Describe(report));
        _heap.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "heap_pair32")]
    public void Pair32() => RunPair32(_heap.Heap);

    [Benchmark(OperationsPerInvoke = MixedOps, Description = "heap_mixed")]
    public void Mixed() => _cursor = RunMixed(_heap.Heap, _live, _slotOf, _sizeOf, _cursor);

    [Benchmark(OperationsPerInvoke = ZeroObjects, Description = "heap_zero_1m")]
    public void Zero1M() => RunZero(_heap.Heap);

    /// <summary><see cref="Pairs"/> 32-byte alloc+free pairs.</summary>
    public static void RunPair32(KernelHeap* heap)
    {
        for (int i = 0; i < Pairs; i++)
            heap->Free(heap->Alloc(32, 0, 0));
    }

    /// <summary><see cref="MixedOps"/> operations of the sequence from <paramref name="cursor"/>; returns the next cursor.</summary>
    public static int RunMixed(KernelHeap* heap, nint[] live, int[] slotOf, ulong[] sizeOf, int cursor)
    {
        for (int i = 0; i < MixedOps; i++)
        {
            int slot = slotOf[cursor];
            if (live[slot] != 0)
            {
                Release(heap, (void*)live[slot]);
                live[slot] = 0;
            }
            else
            {
                live[slot] = (nint)Allocate(heap, sizeOf[cursor]);
            }
            cursor = (cursor + 1) & (SequenceLength - 1);
        }
        return cursor;
    }

    /// <summary><see cref="ZeroObjects"/> alloc+free pairs of a <see cref="ZeroObjectBytes"/> object.</summary>
    public static void RunZero(KernelHeap* heap)
    {
        for (int i = 0; i < ZeroObjects; i++)
            Release(heap, Allocate(heap, ZeroObjectBytes));
    }

    /// <summary>GiB/s from the time of one <see cref="RunZero"/> object in nanoseconds.</summary>
    public static double ZeroGiBPerSecond(double nsPerObject) => ZeroObjectBytes / nsPerObject * 1e9 / GiB;

    private static void* Allocate(KernelHeap* heap, ulong size)
    {
        void* p = heap->Alloc(size, 0, 0);
        if (p == null)
            throw new InvalidOperationException($"heap allocation of {size} bytes failed: {heap->LastFailure.Status}");
        return p;
    }

    private static void Release(KernelHeap* heap, void* p)
    {
        HeapStatus s = heap->Free(p);
        if (s != HeapStatus.Ok)
            throw new InvalidOperationException($"heap free refused: {s}");
    }

    /// <summary>
    /// The three shapes for <see cref="AotPairs"/>: <paramref name="best"/>(invocation, invocations a round,
    /// operations an invocation) gives the best round's nanoseconds per operation. About two million pairs
    /// or operations a round, and 2,000 objects (2 GiB zeroed) for the zeroing.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, double>> RunAot(Func<Action, int, int, double> best)
    {
        var b = new HeapBenchmarks();
        b.Setup();
        double pair = best(b.Pair32, 2000, Pairs);
        double mixed = best(b.Mixed, 500, MixedOps);
        double zero = best(b.Zero1M, 250, ZeroObjects);
        b.Cleanup();
        return new[]
        {
            new KeyValuePair<string, double>("heap_pair32_ns", Math.Round(pair, 2)),
            new KeyValuePair<string, double>("heap_mixed_ns", Math.Round(mixed, 2)),
            new KeyValuePair<string, double>("heap_zero_gib_s", Math.Round(ZeroGiBPerSecond(zero), 2)),
        };
    }
}
