using System.Diagnostics;
using PoolKernel.Memory;
using PoolKernel.Memory.Testing;

namespace PoolKernel.Bench;

/// <summary>
/// Migration between nodes (issue 16, docs/numa.md) on the host, against a plain copy of the same
/// bytes in the same process. The kernel's migrate (Kernel/Mm/VmAreas.cs) does per page: a frame on
/// the target node through a one-node bind policy, a 4 KiB copy, the mapping rewritten, the old frame
/// freed, plus the unmap and the TLB shootdown only a kernel has. Here the pools are the real ones
/// (Kernel.Memory on the QEMU `pc` map of 512 MiB with two nodes), the frames' contents live in one
/// host array indexed by frame number (the "physical memory"), and the mapping is an array of frame
/// numbers: everything but the page-table write and the shootdown. An area of <see cref="Pages"/>
/// pages moves node 0 -> 1 and back, page by page; the plain copy moves the same bytes page by page
/// between two buffers. <c>migrate_vs_memcpy</c> = migration throughput / copy throughput (1 = as fast
/// as the copy); best of <see cref="Rounds"/> each, both sides touched before timing.
/// </summary>
public static unsafe class MigrationBenchmarks
{
    private const ulong MiB = 1UL << 20;
    private const int Pages = 4096;
    private const int Rounds = 7;
    private const byte Owner = 7;
    private const int PageBytes = 4096;

    private static NumaPolicy Bind(int node)
    {
        if (NumaPolicy.Make(PolicyMode.Bind, 1UL << node, null, 0, out NumaPolicy p) != PolicyStatus.Ok)
            throw new InvalidOperationException("bind policy");
        return p;
    }

    public static List<KeyValuePair<string, double>> Measure()
    {
        using HostPhysicalMemory host = PairBenchmarks.Host(QemuMaps.Build("pc", 512 * MiB, 2), hugePages: true);
        PhysicalMemory* pm = host.Memory;
        NumaTopology topology = NumaTopology.Of(ref *pm);
        var contexts = new PolicyContext[2];
        for (int n = 0; n < 2; n++)
            if (contexts[n].Set(Bind(n), topology) != PolicyStatus.Ok)
                throw new InvalidOperationException("bind context");
        AllocRequest request = AllocRequest.Any;
        request.Owner = Owner;
        NumaCounters counters = default;

        ulong spanPages = 512 * MiB / PageBytes + 1024;
        byte[] physical = GC.AllocateUninitializedArray<byte>((int)(spanPages * PageBytes), pinned: true);
        var map = new ulong[Pages];
        for (int i = 0; i < Pages; i++)
        {
            PairBenchmarks.Check(contexts[0].Allocate(ref *pm, topology, 0, new Order(0), request, ref counters, out Pfn pfn, out _));
            map[i] = pfn.Value;
        }
        var rng = new Random(16);
        rng.NextBytes(physical);
        ulong checksum = Checksum(physical, map);

        byte[] from = GC.AllocateUninitializedArray<byte>(Pages * PageBytes, pinned: true);
        byte[] to = GC.AllocateUninitializedArray<byte>(Pages * PageBytes, pinned: true);
        rng.NextBytes(from);
        rng.NextBytes(to);

        double migrate = double.MaxValue, copy = double.MaxValue;
        int node = 0;
        fixed (byte* phys = physical)
        fixed (byte* src = from)
        fixed (byte* dst = to)
        {
            for (int round = 0; round < Rounds; round++)
            {
                node ^= 1;
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < Pages; i++)
                {
                    PairBenchmarks.Check(contexts[node].Allocate(ref *pm, topology, node, new Order(0), request, ref counters, out Pfn target, out int landed));
                    if (landed != node)
                        throw new InvalidOperationException("migration landed on the wrong node");
                    Buffer.MemoryCopy(phys + map[i] * PageBytes, phys + target.Value * PageBytes, PageBytes, PageBytes);
                    ulong old = map[i];
                    map[i] = target.Value;
                    PairBenchmarks.Check(pm->Free(new Pfn(old), new Order(0), Owner));
                }
                migrate = Math.Min(migrate, Stopwatch.GetElapsedTime(start).TotalSeconds);

                start = Stopwatch.GetTimestamp();
                for (int i = 0; i < Pages; i++)
                    Buffer.MemoryCopy(src + (long)i * PageBytes, dst + (long)i * PageBytes, PageBytes, PageBytes);
                copy = Math.Min(copy, Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }
        if (Checksum(physical, map) != checksum)
            throw new InvalidOperationException("migration: contents changed");
        if (!pm->Check().IsOk)
            throw new InvalidOperationException("migration: checker " + pm->Check().Code);
        double mib = (double)Pages * PageBytes / MiB;
        return new List<KeyValuePair<string, double>>
        {
            new("migrate_mib_s", Math.Round(mib / migrate, 1)),
            new("memcpy_mib_s", Math.Round(mib / copy, 1)),
            new("migrate_vs_memcpy", Math.Round(copy / migrate, 3)),
        };
    }

    /// <summary>The area's contents in mapping order (FNV-1a over every byte).</summary>
    private static ulong Checksum(byte[] physical, ulong[] map)
    {
        ulong h = 14695981039346656037UL;
        foreach (ulong pfn in map)
        {
            int at = (int)(pfn * PageBytes);
            for (int b = 0; b < PageBytes; b++)
                h = (h ^ physical[at + b]) * 1099511628211UL;
        }
        return h;
    }
}
