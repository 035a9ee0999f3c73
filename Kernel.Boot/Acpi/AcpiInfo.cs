namespace PoolKernel.Boot.Acpi
{
    /// <summary>
    /// What the kernel takes from ACPI: the enabled CPUs, the NUMA layout (memory ranges per node,
    /// distances) and where the tables were. Nodes are dense ids 0..NodeCount-1 assigned in order of
    /// first appearance of their proximity domain in the SRAT; without a SRAT there is one node, 0.
    /// Filled by <see cref="AcpiParser.Parse"/>.
    /// </summary>
    public unsafe struct AcpiInfo
    {
        public const int MaxCpus = 64;
        /// <summary>
        /// Every node the pools can name (node masks are 64-bit, <see cref="Memory.NodeDistances.MaxNodes"/>):
        /// one limit for the SRAT, the command line and the memory manager. A SRAT with more domains is
        /// not used at all (see <see cref="DropNumaLayout"/>).
        /// </summary>
        public const int MaxNodes = Memory.NodeDistances.MaxNodes;
        /// <summary>
        /// Four ranges a node: QEMU and firmware split a node's RAM at the 640 KiB and 1 MiB edges and
        /// the PCI hole below 4 GiB, and list hot-pluggable space apart.
        /// </summary>
        public const int MaxMemoryRanges = 4 * MaxNodes;
        public const byte LocalDistance = 10;
        public const byte RemoteDistance = 20;
        /// <summary>Returned by <see cref="NodeOfAddress"/> for memory no SRAT range covers.</summary>
        public const int NoNode = -1;

        /// <summary>The RSDP used, its revision, and the root table walked.</summary>
        public ulong RsdpAddress;
        public byte RsdpRevision;
        public ulong RootTableAddress;
        public bool UsesXsdt;

        /// <summary>Addresses of the accepted (checksum-valid) tables, 0 when absent or rejected.</summary>
        public ulong MadtAddress;
        public ulong SratAddress;
        public ulong SlitAddress;
        /// <summary>The DSDT the FADT points at (X_DSDT when set, else DSDT), 0 without a valid FADT; not validated here.</summary>
        public ulong DsdtAddress;

        /// <summary>From the MADT header, or its type-5 override.</summary>
        public ulong LocalApicAddress;

        public int CpuCount;
        /// <summary>CPUs the MADT lists as present but not enabled (not counted in CpuCount).</summary>
        public int DisabledCpuCount;
        private fixed uint _cpuApicId[MaxCpus];
        private fixed byte _cpuNode[MaxCpus];

        public int MemoryRangeCount;
        private fixed ulong _memoryBase[MaxMemoryRanges];
        private fixed ulong _memoryLength[MaxMemoryRanges];
        private fixed byte _memoryNode[MaxMemoryRanges];
        private fixed byte _memoryHotPluggable[MaxMemoryRanges];

        public int NodeCount;
        private fixed uint _nodeDomain[MaxNodes];
        private fixed byte _distance[MaxNodes * MaxNodes];

        public AcpiDiagnostics Diagnostics;

        /// <summary>Resets to "no ACPI": one node, no CPUs, no ranges, default distances.</summary>
        public void Clear()
        {
            RsdpAddress = 0;
            RsdpRevision = 0;
            RootTableAddress = 0;
            UsesXsdt = false;
            MadtAddress = 0;
            SratAddress = 0;
            SlitAddress = 0;
            DsdtAddress = 0;
            LocalApicAddress = 0;
            CpuCount = 0;
            DisabledCpuCount = 0;
            MemoryRangeCount = 0;
            NodeCount = 0;
            ResetDistances();
            Diagnostics.Clear();
        }

        internal void ResetDistances()
        {
            for (int i = 0; i < MaxNodes; i++)
            {
                for (int j = 0; j < MaxNodes; j++)
                    _distance[i * MaxNodes + j] = i == j ? LocalDistance : RemoteDistance;
            }
        }

        public uint CpuApicId(int cpu) => (uint)cpu < (uint)CpuCount ? _cpuApicId[cpu] : 0;
        public int CpuNode(int cpu) => (uint)cpu < (uint)CpuCount ? _cpuNode[cpu] : NoNode;

        /// <summary>The index of the CPU with <paramref name="apicId"/>, or -1.</summary>
        public int FindCpu(uint apicId)
        {
            for (int i = 0; i < CpuCount; i++)
            {
                if (_cpuApicId[i] == apicId)
                    return i;
            }
            return -1;
        }

        internal bool AddCpu(uint apicId)
        {
            if ((uint)CpuCount >= MaxCpus)
                return false;
            _cpuApicId[CpuCount] = apicId;
            _cpuNode[CpuCount] = 0;
            CpuCount++;
            return true;
        }

        internal void SetCpuNode(int cpu, int node) => _cpuNode[cpu] = (byte)node;

        public MemoryAffinity GetMemoryRange(int index)
        {
            MemoryAffinity m = default;
            if ((uint)index >= (uint)MemoryRangeCount)
                return m;
            m.Base = _memoryBase[index];
            m.Length = _memoryLength[index];
            m.Node = _memoryNode[index];
            m.HotPluggable = _memoryHotPluggable[index] != 0;
            return m;
        }

        internal bool AddMemoryRange(ulong baseAddress, ulong length, int node, bool hotPluggable)
        {
            if ((uint)MemoryRangeCount >= MaxMemoryRanges)
                return false;
            _memoryBase[MemoryRangeCount] = baseAddress;
            _memoryLength[MemoryRangeCount] = length;
            _memoryNode[MemoryRangeCount] = (byte)node;
            _memoryHotPluggable[MemoryRangeCount] = hotPluggable ? (byte)1 : (byte)0;
            MemoryRangeCount++;
            return true;
        }

        /// <summary>The proximity domain the firmware gave node <paramref name="node"/>.</summary>
        public uint NodeDomain(int node) => (uint)node < (uint)NodeCount ? _nodeDomain[node] : 0;

        /// <summary>The node of proximity domain <paramref name="domain"/> (a _PXM value), NoNode when the SRAT named no such domain.</summary>
        public readonly int NodeOfDomain(uint domain)
        {
            for (int i = 0; i < NodeCount; i++)
            {
                if (_nodeDomain[i] == domain)
                    return i;
            }
            return NoNode;
        }

        /// <summary>
        /// The dense node for <paramref name="domain"/>, assigning the next id on first sight;
        /// NoNode when all MaxNodes ids are taken.
        /// </summary>
        internal int NodeForDomain(uint domain)
        {
            for (int i = 0; i < NodeCount; i++)
            {
                if (_nodeDomain[i] == domain)
                    return i;
            }
            if (NodeCount >= MaxNodes)
                return NoNode;
            _nodeDomain[NodeCount] = domain;
            return NodeCount++;
        }

        /// <summary>
        /// Renumbers the dense nodes so that node ids follow ascending proximity domains (first-seen
        /// order depends on whether CPUs or memory are listed first). Called once the SRAT is parsed,
        /// before the SLIT, which is read by domain.
        /// </summary>
        internal void NumberNodesByDomain()
        {
            byte* newId = stackalloc byte[MaxNodes];
            for (int i = 0; i < NodeCount; i++)
            {
                int rank = 0;
                for (int j = 0; j < NodeCount; j++)
                {
                    if (_nodeDomain[j] < _nodeDomain[i])
                        rank++;
                }
                newId[i] = (byte)rank;
            }
            uint* domains = stackalloc uint[MaxNodes];
            for (int i = 0; i < NodeCount; i++)
                domains[newId[i]] = _nodeDomain[i];
            for (int i = 0; i < NodeCount; i++)
                _nodeDomain[i] = domains[i];
            for (int c = 0; c < CpuCount; c++)
            {
                if (_cpuNode[c] < NodeCount)
                    _cpuNode[c] = newId[_cpuNode[c]];
            }
            for (int r = 0; r < MemoryRangeCount; r++)
            {
                if (_memoryNode[r] < NodeCount)
                    _memoryNode[r] = newId[_memoryNode[r]];
            }
        }

        /// <summary>
        /// Forgets the SRAT's layout (nodes, CPU nodes, memory ranges, distances): the machine is then
        /// one node, as with numa=off. Used when the SRAT describes more than fits, because a partial
        /// layout would put the memory of the domains left out on the wrong node.
        /// </summary>
        internal void DropNumaLayout()
        {
            NodeCount = 0;
            MemoryRangeCount = 0;
            for (int c = 0; c < CpuCount; c++)
                _cpuNode[c] = 0;
            ResetDistances();
        }

        /// <summary>SLIT distance from node <paramref name="from"/> to <paramref name="to"/> (10 = local); 0 for bad ids.</summary>
        public byte Distance(int from, int to)
        {
            if ((uint)from >= (uint)NodeCount || (uint)to >= (uint)NodeCount)
                return 0;
            return _distance[from * MaxNodes + to];
        }

        internal void SetDistance(int from, int to, byte distance) => _distance[from * MaxNodes + to] = distance;

        /// <summary>
        /// The node whose SRAT memory range contains <paramref name="physicalAddress"/>. Without any
        /// memory affinity information every address is on node 0; with it, an address no range
        /// covers gives <see cref="NoNode"/>.
        /// </summary>
        public int NodeOfAddress(ulong physicalAddress)
        {
            if (MemoryRangeCount == 0)
                return 0;
            for (int i = 0; i < MemoryRangeCount; i++)
            {
                // Ranges were checked not to wrap, so the subtraction form is exact.
                if (physicalAddress >= _memoryBase[i] && physicalAddress - _memoryBase[i] < _memoryLength[i])
                    return _memoryNode[i];
            }
            return NoNode;
        }

        /// <summary>
        /// Bytes of [start, end) that no SRAT memory range covers (overlapping ranges counted once);
        /// 0 without memory affinity information, where every address is on node 0.
        /// </summary>
        public ulong UncoveredBytes(ulong start, ulong end)
        {
            if (MemoryRangeCount == 0)
                return 0;
            ulong uncovered = 0;
            while (start < end)
            {
                // The end of the range holding start, or else the next range's start: the piece
                // [start, next) is wholly covered or wholly not.
                ulong next = end;
                bool covered = false;
                for (int i = 0; i < MemoryRangeCount; i++)
                {
                    ulong rangeEnd = _memoryBase[i] + _memoryLength[i];
                    if (start >= _memoryBase[i] && start < rangeEnd)
                    {
                        covered = true;
                        next = rangeEnd < end ? rangeEnd : end;
                        break;
                    }
                    if (_memoryBase[i] > start && _memoryBase[i] < next)
                        next = _memoryBase[i];
                }
                if (!covered)
                    uncovered += next - start;
                start = next;
            }
            return uncovered;
        }

        /// <summary>
        /// The most available RAM a SRAT may leave uncovered and still be used (as Linux allows): a
        /// firmware rounding its ranges; more means its layout would put that memory on a node it
        /// does not belong to, so the SRAT is not used (see <see cref="DropNumaLayout"/>).
        /// </summary>
        public const ulong MaxUncoveredRam = 1UL << 20;
    }

    /// <summary>One enabled SRAT memory affinity range: [Base, Base + Length) on Node.</summary>
    public struct MemoryAffinity
    {
        public ulong Base;
        public ulong Length;
        public int Node;
        public bool HotPluggable;
    }
}
