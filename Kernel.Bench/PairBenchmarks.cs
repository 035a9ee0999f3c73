using BenchmarkDotNet.Attributes;
using PoolKernel.Memory;

namespace PoolKernel.Bench;

/// <summary>
/// Allocation/free pairs on a QEMU `pc` 6 GiB two-node map, for the pool allocator and the classic
/// baseline (with its per-CPU lists; the order-0 pairs also on the plain buddy, <c>baseline_nopcp_*</c>),
/// each in two states. As set up ("fresh", the headline <c>order0_pair_ns</c>: the issue
/// asks for order-0 pairs with no state, and for fragmentation only in the constrained case): every
/// per-CPU baseline pops and pushes its list (refilled once by a batch split from a 4 MiB block), and
/// every plain-buddy order-0 pair splits a 4 MiB block ten times and merges it back. Fragmented:
/// 65,536 order-0 frames allocated from the normal and the DMA32 memory and every other one freed,
/// so the order-0 lists are long and a freed frame's buddy is busy; there the plain buddy's list
/// head is a one-entry LIFO cache. Each invocation runs <see cref="Pairs"/> pairs; results are per pair.
/// </summary>
[MemoryDiagnoser(false)]
public unsafe class PairBenchmarks
{
    public const int Pairs = 1024;
    /// <summary>The owner every benchmark request allocates as and every free names (AllocRequest.Owner).</summary>
    private const byte Owner = 5;
    private const ulong GiB = 1UL << 30;

    private HostPhysicalMemory _host;
    private PhysicalMemory* _pm;
    private PoolId _normal;
    private ClassicBuddy _classic;
    private ClassicBuddy _classicNoPcp;
    private AllocRequest _named;
    private AllocRequest _any;
    private AllocRequest _dma32Boundary;
    // Freshly set-up twins: every order-0 allocation splits a 4 MiB block and every free merges it back.
    private HostPhysicalMemory _freshHost;
    private ClassicBuddy _freshClassic;
    private ClassicBuddy _freshClassicNoPcp;
    private AllocRequest _freshNamed;

    /// <summary>
    /// The config of the instance every pool benchmark here runs on (null: the default). Set before <see cref="Setup"/>:
    /// <see cref="MobilityBenchmarks"/> runs the same pairs with grouping by mobility off (<see cref="MemoryConfig.OneMobilityClass"/>).
    /// </summary>
    internal MemoryConfig? Config { get; init; }

    [GlobalSetup]
    public void Setup()
    {
        _host = Host(QemuMaps.Build("pc", 6 * GiB, 2), hugePages: true, Config);
        _pm = _host.Memory;
        _normal = FindPool("node1-normal"); // pc 6G in two nodes: node 0 is the low 3 GiB, node 1 all RAM above 4 GiB
        PoolId dma32 = FindPool("node0-dma32");
        Fragment(Owned(AllocRequest.InPool(_normal)));
        Fragment(Owned(AllocRequest.InPool(dma32)));
        _named = Owned(AllocRequest.InPool(_normal));
        _any = Owned(AllocRequest.Any);
        _any.PreferredNode = 1;
        _dma32Boundary = Owned(AllocRequest.Dma(32));
        _dma32Boundary.Boundary = 64 * 1024;
        _dma32Boundary.PreferredNode = 0;

        var ranges = _host.Regions.Where(r => r.Type == MemoryType.Available)
            .Select(r => ((r.Base.Value + 4095) >> 12, (r.Base.Value + r.Length) >> 12)).ToArray();
        _classic = new ClassicBuddy(_host.BackingBytes / 4096, ranges);
        FragmentClassic(_classic, 2);
        FragmentClassic(_classic, 1);
        _classicNoPcp = new ClassicBuddy(_host.BackingBytes / 4096, ranges, perCpuLists: false);
        FragmentClassic(_classicNoPcp, 2);
        FragmentClassic(_classicNoPcp, 1);

        _freshHost = Host(QemuMaps.Build("pc", 6 * GiB, 2), hugePages: true, Config);
        _freshNamed = Owned(AllocRequest.InPool(_normal));
        _freshClassic = new ClassicBuddy(_host.BackingBytes / 4096, ranges);
        _freshClassicNoPcp = new ClassicBuddy(_host.BackingBytes / 4096, ranges, perCpuLists: false);
    }

    private static AllocRequest Owned(AllocRequest request)
    {
        request.Owner = Owner;
        return request;
    }

    private PoolId FindPool(string name)
    {
        for (PoolId id = _pm->FirstPool(); !id.IsNone; id = _pm->NextPool(id))
        {
            _pm->GetPoolProperties(id, out PoolProperties p);
            string n = new string(Enumerable.Range(0, p.Name.Length).Select(i => (char)p.Name[i]).ToArray());
            if (n == name)
                return id;
        }
        throw new InvalidOperationException(name);
    }

    private void Fragment(AllocRequest req)
    {
        var frames = new Pfn[65536];
        for (int i = 0; i < frames.Length; i++)
            Check(_pm->Allocate(new Order(0), req, out frames[i]));
        for (int i = 0; i < frames.Length; i += 2)
            Check(_pm->Free(frames[i], new Order(0), Owner));
    }

    private static void FragmentClassic(ClassicBuddy classic, int zone)
    {
        var frames = new long[65536];
        for (int i = 0; i < frames.Length; i++)
            frames[i] = classic.Allocate(0, zone);
        for (int i = 0; i < frames.Length; i += 2)
            classic.Free((ulong)frames[i], 0);
    }

    /// <summary>A two-node host memory over <paramref name="map"/> (the shared fixture), which must set up.</summary>
    internal static HostPhysicalMemory Host(MemoryRegion[] map, bool hugePages = false, MemoryConfig? config = null)
    {
        var host = new HostPhysicalMemory(map, QemuMaps.TwoNodeDistances, config, hugePages);
        Check(host.InitStatus);
        return host;
    }

    internal static void Check(MemoryStatus s)
    {
        if (s != MemoryStatus.Ok)
            throw new InvalidOperationException(s.ToString());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _classic.Dispose();
        _classicNoPcp.Dispose();
        _host.Dispose();
        _freshClassic.Dispose();
        _freshClassicNoPcp.Dispose();
        _freshHost.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "order0_pair_fragmented")]
    public void Order0PairFragmented()
    {
        PhysicalMemory* pm = _pm;
        for (int i = 0; i < Pairs; i++)
        {
            pm->Allocate(new Order(0), _named, out Pfn pfn);
            pm->Free(pfn, new Order(0), Owner);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "order0_pair_pool_choice")]
    public void Order0PairChoice()
    {
        PhysicalMemory* pm = _pm;
        for (int i = 0; i < Pairs; i++)
        {
            pm->Allocate(new Order(0), _any, out Pfn pfn);
            pm->Free(pfn, new Order(0), Owner);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "baseline_order0_pair_fragmented")]
    public void BaselineOrder0PairFragmented()
    {
        ClassicBuddy c = _classic;
        for (int i = 0; i < Pairs; i++)
            c.Free((ulong)c.Allocate(0, 2), 0);
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "baseline_nopcp_order0_pair_fragmented")]
    public void BaselineNoPcpOrder0PairFragmented()
    {
        ClassicBuddy c = _classicNoPcp;
        for (int i = 0; i < Pairs; i++)
            c.Free((ulong)c.Allocate(0, 2), 0);
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "order0_pair")]
    public void Order0Pair()
    {
        PhysicalMemory* pm = _freshHost.Memory;
        for (int i = 0; i < Pairs; i++)
        {
            pm->Allocate(new Order(0), _freshNamed, out Pfn pfn);
            pm->Free(pfn, new Order(0), Owner);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "baseline_order0_pair")]
    public void BaselineOrder0Pair()
    {
        ClassicBuddy c = _freshClassic;
        for (int i = 0; i < Pairs; i++)
            c.Free((ulong)c.Allocate(0, 2), 0);
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "baseline_nopcp_order0_pair")]
    public void BaselineNoPcpOrder0Pair()
    {
        ClassicBuddy c = _freshClassicNoPcp;
        for (int i = 0; i < Pairs; i++)
            c.Free((ulong)c.Allocate(0, 2), 0);
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "order9_pair")]
    public void Order9Pair()
    {
        PhysicalMemory* pm = _pm;
        for (int i = 0; i < Pairs; i++)
        {
            pm->Allocate(new Order(9), _named, out Pfn pfn);
            pm->Free(pfn, new Order(9), Owner);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "baseline_order9_pair")]
    public void BaselineOrder9Pair()
    {
        ClassicBuddy c = _classic;
        for (int i = 0; i < Pairs; i++)
            c.Free((ulong)c.Allocate(9, 2), 9);
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "constrained_dma32_64k_pair")]
    public void ConstrainedPair()
    {
        PhysicalMemory* pm = _pm;
        for (int i = 0; i < Pairs; i++)
        {
            pm->Allocate(new Order(0), _dma32Boundary, out Pfn pfn);
            pm->Free(pfn, new Order(0), Owner);
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "baseline_dma32_pair")]
    public void BaselineDma32Pair()
    {
        ClassicBuddy c = _classic;
        for (int i = 0; i < Pairs; i++)
            c.Free((ulong)c.Allocate(0, 1), 0);
    }

    [Benchmark(OperationsPerInvoke = Pairs, Description = "baseline_nopcp_dma32_pair")]
    public void BaselineNoPcpDma32Pair()
    {
        ClassicBuddy c = _classicNoPcp;
        for (int i = 0; i < Pairs; i++)
            c.Free((ulong)c.Allocate(0, 1), 0);
    }
}
