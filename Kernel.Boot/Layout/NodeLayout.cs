using PoolKernel.Boot.Acpi;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.MemoryMap;
using PoolKernel.Memory;

namespace PoolKernel.Boot.Layout
{
    /// <summary>How the node layout was decided: the firmware's SRAT, or the command line (numa=off, numa=fake=N).</summary>
    public enum NumaMode : byte { Firmware, Off, Fake }

    /// <summary>
    /// The machine's NUMA node layout as the pools see it: the firmware's (the SRAT in
    /// <see cref="AcpiInfo"/>), or one node (numa=off), or fake nodes at given addresses
    /// (numa=fake=N). Decided before the pools are set up (<see cref="UseFirmware"/>, then at most
    /// one of <see cref="SetOff"/> / <see cref="SetFake"/>) and read-only afterwards. The kernel's
    /// Machine holds one; the host simulator (Kernel.Sim) another, so both cut RAM at the same
    /// node boundaries. The caller owns the storage; the ACPI information must outlive it.
    /// </summary>
    public unsafe struct NodeLayout
    {
        /// <summary>
        /// The most node boundaries <see cref="NextNodeBoundary"/> can cut at: both edges of every SRAT
        /// memory range (numa=fake=N has fewer, N - 1).
        /// </summary>
        public const int MaxBoundaries = 2 * AcpiInfo.MaxMemoryRanges;

        private AcpiInfo* _acpi;
        private fixed ulong _fakeStart[BootOptions.MaxFakeNodes];
        private int _fakeCount;

        public NumaMode Mode;

        /// <summary>Highest end address of available RAM in the sanitized map.</summary>
        public ulong RamEnd;

        /// <summary>
        /// The firmware's layout. A SRAT whose nodes leave more than <see cref="AcpiInfo.MaxUncoveredRam"/>
        /// of available RAM on no node is dropped (one node, as numa=off); <paramref name="uncovered"/>
        /// says how much it left (the kernel prints a line when the SRAT was dropped). Returns whether it was.
        /// </summary>
        public bool UseFirmware(SanitizedMemoryMap* map, AcpiInfo* acpi, out ulong uncovered)
        {
            _acpi = acpi;
            Mode = NumaMode.Firmware;
            _fakeCount = 0;
            RamEnd = 0;
            uncovered = 0;
            for (int i = 0; i < map->Count; i++)
            {
                MemoryMapEntry r = map->Get(i);
                if (r.Type != MemoryType.Available)
                    continue;
                if (r.End > RamEnd)
                    RamEnd = r.End;
                uncovered += acpi->UncoveredBytes(r.Base, r.End);
            }
            if (uncovered <= AcpiInfo.MaxUncoveredRam)
                return false;
            acpi->DropNumaLayout();
            return true;
        }

        /// <summary>numa=off: one node for everything.</summary>
        public void SetOff() => Mode = NumaMode.Off;

        /// <summary>
        /// numa=fake=N: node n is [starts[n], starts[n + 1]), the last one open-ended; replaces the
        /// firmware's nodes. Distances are 10 local, 20 remote; CPUs are dealt out round-robin.
        /// At most <see cref="BootOptions.MaxFakeNodes"/> nodes (more are not kept).
        /// </summary>
        public void SetFake(ulong* starts, int count)
        {
            if (count > BootOptions.MaxFakeNodes)
                count = BootOptions.MaxFakeNodes;
            for (int i = 0; i < count; i++)
                _fakeStart[i] = starts[i];
            _fakeCount = count;
            Mode = NumaMode.Fake;
        }

        /// <summary>
        /// The NUMA node of a physical address: the SRAT's answer (node 0 without one, and for the at most
        /// <see cref="AcpiInfo.MaxUncoveredRam"/> of RAM a used SRAT may leave uncovered), unless the command line decided.
        /// </summary>
        public int NodeOf(ulong address)
        {
            if (Mode == NumaMode.Off)
                return 0;
            if (Mode == NumaMode.Fake)
            {
                int n = 0;
                while (n + 1 < _fakeCount && address >= _fakeStart[n + 1])
                    n++;
                return n;
            }
            int node = _acpi->NodeOfAddress(address);
            return node < 0 ? 0 : node;
        }

        public int NodeCount => Mode == NumaMode.Off ? 1 : Mode == NumaMode.Fake ? _fakeCount : _acpi->NodeCount < 1 ? 1 : _acpi->NodeCount;

        /// <summary>SLIT distance between two nodes (10 = local); fake nodes are 10/20.</summary>
        public byte Distance(int from, int to)
        {
            if (Mode == NumaMode.Firmware)
                return _acpi->Distance(from, to);
            return from == to ? AcpiInfo.LocalDistance : AcpiInfo.RemoteDistance;
        }

        /// <summary>Node of CPU <paramref name="cpu"/> (round-robin over fake nodes).</summary>
        public int CpuNode(int cpu)
        {
            if (Mode == NumaMode.Off)
                return 0;
            if (Mode == NumaMode.Fake)
                return cpu % _fakeCount;
            int node = _acpi->CpuNode(cpu);
            return node < 0 ? 0 : node;
        }

        /// <summary>
        /// The first node boundary inside (start, end), or end: where a piece of RAM handed to the
        /// pools must be cut so that each piece lies on one node.
        /// </summary>
        public ulong NextNodeBoundary(ulong start, ulong end)
        {
            ulong cut = end;
            if (Mode == NumaMode.Off)
                return cut;
            if (Mode == NumaMode.Fake)
            {
                for (int n = 1; n < _fakeCount; n++)
                {
                    if (_fakeStart[n] > start && _fakeStart[n] < cut)
                        cut = _fakeStart[n];
                }
                return cut;
            }
            for (int r = 0; r < _acpi->MemoryRangeCount; r++)
            {
                MemoryAffinity a = _acpi->GetMemoryRange(r);
                ulong aEnd = a.Base + a.Length;
                if (a.Base > start && a.Base < cut)
                    cut = a.Base;
                if (aEnd > start && aEnd < cut)
                    cut = aEnd;
            }
            return cut;
        }

        /// <summary>With numa=fake: where fake node <paramref name="node"/> starts.</summary>
        public ulong FakeNodeStart(int node) => (uint)node < (uint)_fakeCount ? _fakeStart[node] : 0;
    }
}
