using System.Runtime.InteropServices;
using PoolKernel.Memory;

namespace PoolKernel.Memory.Testing;

/// <summary>
/// A kernel heap over a host-simulated physical memory (<see cref="HostPhysicalMemory"/>), shared by the
/// tests and the benchmarks: the heap's block comes from native memory, its pages from the simulated
/// pools. A set-up the heap refuses throws (a fixture that cannot be built is a broken test, not a result).
/// The heap zeroes with <see cref="Zero"/> (the runtime's vectorised clear), as the kernel's heap does with
/// <c>rep stos</c>; <c>portableZeroing</c> leaves the heap's own <see cref="HeapZeroing.Portable"/> in place.
/// A second heap over the same pools (a container's arena, as the kernel makes them) is made with
/// <c>ownsHost: false</c>: disposing it leaves the pools to the first.
/// </summary>
public sealed unsafe class HostHeap : IDisposable
{
    public HostPhysicalMemory Host { get; }
    public KernelHeap* Heap { get; }
    public PhysicalMemory* Memory => Host.Memory;
    public ulong HeapBytes { get; }
    private readonly void* _block;
    private readonly bool _ownsHost;
    /// <summary>Where frame 0 would be: the heap's direct-map base.</summary>
    public byte* DirectMapBase { get; }

    public HostHeap(HostPhysicalMemory host, byte owner = 0, bool portableZeroing = false, bool ownsHost = true)
    {
        Host = host;
        _ownsHost = ownsHost;
        if (host.InitStatus != MemoryStatus.Ok)
            throw new InvalidOperationException($"host memory set-up: {host.InitStatus}");
        Require(KernelHeap.ComputeSize(host.Memory, out ulong bytes), "ComputeSize");
        HeapBytes = bytes;
        _block = NativeMemory.AlignedAlloc((nuint)bytes, 64);
        DirectMapBase = host.FrameMemory(new Pfn(0));
        Require(KernelHeap.Initialize(_block, bytes, host.Memory, DirectMapBase, owner, out KernelHeap* heap), "Initialize");
        Heap = heap;
        if (!portableZeroing)
            heap->SetZeroing(&Zero);
    }

    /// <summary>The host's zeroing routine for the heap: any address, any length.</summary>
    public static void Zero(byte* at, ulong bytes) => NativeMemory.Clear(at, (nuint)bytes);

    private static void Require(HeapStatus status, string what)
    {
        if (status != HeapStatus.Ok)
            throw new InvalidOperationException($"heap {what}: {status}");
    }

    public static HostHeap Boot(string machine, ulong ramBytes, int nodes) => new HostHeap(QemuMaps.Boot(machine, ramBytes, nodes));

    /// <summary>Every byte of the heap's own metadata block (header, lists, bitmaps).</summary>
    public byte[] Snapshot()
    {
        var copy = new byte[HeapBytes];
        Marshal.Copy((nint)_block, copy, 0, copy.Length);
        return copy;
    }

    public ulong FreePages => Memory->GetTotals().FreePages;

    public Pfn PfnOf(void* p) => new Pfn((ulong)((byte*)p - DirectMapBase) >> Pfn.PageShift);

    /// <summary>The node of the page block holding <paramref name="p"/>, as the pools record it.</summary>
    public int NodeOf(void* p)
    {
        Pfn pfn = PfnOf(p);
        Memory->GetPageblock((pfn.Value - Memory->BasePfn.Value) >> Memory->PageblockOrder, out PageblockUse use);
        return use.Node;
    }

    /// <summary>Free frames in the pools of <paramref name="node"/>.</summary>
    public ulong FreePagesOnNode(int node)
    {
        ulong free = 0;
        for (PoolId id = Memory->FirstPool(); !id.IsNone; id = Memory->NextPool(id))
        {
            Memory->GetPoolProperties(id, out PoolProperties props);
            if ((props.NodeMask & (1UL << node)) == 0)
                continue;
            Memory->GetPoolStats(id, out PoolStats stats);
            free += stats.FreePages;
        }
        return free;
    }

    public static string Describe(HeapCheckReport r) =>
        $"{r.Code} at 0x{r.Address:x} class {r.Class} node {r.Node}: expected {r.Expected}, actual {r.Actual}";

    public void Dispose()
    {
        NativeMemory.AlignedFree(_block);
        if (_ownsHost)
            Host.Dispose();
    }
}
