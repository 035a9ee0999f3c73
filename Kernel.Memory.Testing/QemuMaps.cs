using PoolKernel.Memory;

namespace PoolKernel.Memory.Testing;

/// <summary>
/// The e820 maps QEMU's firmware hands a multiboot kernel, for the `pc` (i440fx) and `q35`
/// machines at several -m sizes, optionally split into two NUMA nodes at half the RAM.
/// Low RAM: all of it up to the PCI hole; pc keeps up to 3.5 GiB low (then 3 GiB), q35 up to
/// 2816 MiB (then 2 GiB); the rest is above 4 GiB. The firmware reserves the top 128 KiB of low
/// RAM, 0x9fc00-0xa0000 (EBDA), 0xf0000-0x100000 (BIOS) and 0xfffc0000-4 GiB (flash); q35 also
/// reserves its PCIe ECAM window 0xb0000000-0xc0000000.
/// The one map builder of the host tests and the benchmarks.
/// </summary>
public static class QemuMaps
{
    private const ulong MiB = 1UL << 20, GiB = 1UL << 30;

    public static readonly byte[] TwoNodeDistances = { 10, 21, 21, 10 };

    /// <summary>RAM below 4 GiB: all of it up to the PCI hole (pc: 3.5 GiB, else 3 GiB low; q35: 2816 MiB, else 2 GiB low).</summary>
    public static ulong LowRam(string machine, ulong ramBytes)
    {
        ulong lowMax = machine == "pc" ? (ramBytes > 3584 * MiB ? 3 * GiB : ramBytes) : (ramBytes >= 2816 * MiB ? 2 * GiB : ramBytes);
        return Math.Min(ramBytes, lowMax);
    }

    /// <param name="asBooted">
    /// The map exactly as QEMU 7.2 with SeaBIOS hands it to the kernel (what a boot's banner shows,
    /// for the simulator Kernel.Sim): q35's firmware reserves 132 KiB at the top of low RAM (one page
    /// more than pc) and its chipset's root complex register block 0xfed1c000-0xfed20000, and both
    /// machines reserve the AMD HyperTransport window 0xfd00000000-1 TiB (qemu64 is an AMD CPU with
    /// 40 address bits). Off for the tests and benchmarks, which do not need the extra entries.
    /// </param>
    public static MemoryRegion[] Build(string machine, ulong ramBytes, int nodes, bool asBooted = false)
    {
        ulong low = LowRam(machine, ramBytes);
        ulong high = ramBytes - low;
        var ranges = new List<(ulong b, ulong e, MemoryType t)>
        {
            (0, 0x9fc00, MemoryType.Available),
            (0x9fc00, 0xa0000, MemoryType.Reserved),
            (0xf0000, 0x100000, MemoryType.Reserved),
        };
        ulong topReserved = asBooted && machine == "q35" ? 0x21000UL : 0x20000UL;
        ranges.Add((0x100000, low - topReserved, MemoryType.Available));
        ranges.Add((low - topReserved, low, MemoryType.Reserved));
        if (machine == "q35")
            ranges.Add((0xb0000000, 0xc0000000, MemoryType.Reserved));
        if (asBooted && machine == "q35")
            ranges.Add((0xfed1c000, 0xfed20000, MemoryType.Reserved));
        ranges.Add((0xfffc0000, 0x100000000, MemoryType.Reserved));
        if (high != 0)
            ranges.Add((4 * GiB, 4 * GiB + high, MemoryType.Available));
        if (asBooted)
            ranges.Add((0xfd00000000, 0x10000000000, MemoryType.Reserved));

        // Two nodes: the first half of the RAM (counted in address order) is node 0.
        ulong half = ramBytes / 2;
        ulong split = half <= low ? half : 4 * GiB + (half - low);
        var result = new List<MemoryRegion>();
        foreach (var (b, e, t) in ranges)
        {
            if (nodes == 2 && t == MemoryType.Available && b < split && split < e)
            {
                result.Add(new MemoryRegion(b, split - b, t, 0));
                result.Add(new MemoryRegion(split, e - split, t, 1));
            }
            else
                result.Add(new MemoryRegion(b, e - b, t, (byte)(nodes == 2 && b >= split ? 1 : 0)));
        }
        return result.ToArray();
    }

    /// <summary>Whole available frames of a map (what set-up must find).</summary>
    public static ulong AvailableFrames(MemoryRegion[] map)
    {
        ulong n = 0;
        foreach (var r in map)
        {
            if (r.Type != MemoryType.Available)
                continue;
            ulong f = (r.Base.Value + 4095) >> 12, e = (r.Base.Value + r.Length) >> 12;
            if (e > f)
                n += e - f;
        }
        return n;
    }

    public static HostPhysicalMemory Boot(string machine, ulong ramBytes, int nodes, MemoryConfig? config = null)
    {
        return new HostPhysicalMemory(Build(machine, ramBytes, nodes), nodes == 2 ? TwoNodeDistances : null, config);
    }

    /// <summary>The table of machines the set-up tests run on.</summary>
    public static IEnumerable<object[]> Table()
    {
        foreach (var machine in new[] { "pc", "q35" })
            foreach (var mib in new ulong[] { 128, 1024, 6144 })
                foreach (var nodes in new[] { 1, 2 })
                    yield return new object[] { machine, mib, nodes };
    }
}
