using PoolKernel.Memory;

namespace PoolKernel.Drivers.Dma
{
    /// <summary>
    /// Hands drivers DMA pools by their devices' rules. A device attaches with its rules: if a DMA
    /// pool already exists whose window the device can reach (every page below 2^bits of the device)
    /// on the device's node, it is shared; otherwise a new pool is created from matching free page
    /// blocks of the default pools, sized by the request. Pools grow on demand and are destroyed
    /// (their page blocks going back home) when the last user detaches.
    ///
    /// Sharing: the widest existing pool whose window the device reaches, on its node; a device that
    /// reaches 4 GiB never takes a pool below that (ISA) pool.
    /// Window choice: a new pool's window is [0, 2^bits) of the device that caused it, taking page
    /// blocks from the default pool with the highest window that still fits (dma32 before dma for a
    /// 32-bit device), so low ISA memory is kept for the devices that need it.
    /// </summary>
    public sealed unsafe class DmaPoolManager
    {
        /// <summary>
        /// DMA pools this manager creates (then <see cref="DmaStatus.TooManyPools"/>): at most one per address
        /// width and node that devices cannot share, and the widths in use (24, 32, 64 bits) on 4 nodes are 12,
        /// so 16. Each also takes a slot of the pool table; a full table refuses with the same status.
        /// </summary>
        public const int MaxDmaPools = 16;
        private const ulong PageblockBytes = 2UL << 20;

        private readonly DmaPool[] _pools = new DmaPool[MaxDmaPools];

        /// <summary>
        /// The DMA pools over <paramref name="memory"/>; every buffer is allocated and freed as
        /// <paramref name="owner"/> (an <see cref="AllocRequest.Owner"/>, 0..63), so no other owner can free it.
        /// <paramref name="onCorruption"/> is the memory owner's fail-fast, called when the pools
        /// answer Corruption (the kernel passes its PhysicalMemoryOwner.FailFast, which does not
        /// return); with null, as in the host tests, the call returns <see cref="DmaStatus.Corruption"/>.
        /// <paramref name="poolsLock"/> is taken around every call this manager and its pools make into the
        /// pools (which take their own locks inside it), and none allocates from the heap while holding it
        /// (docs/smp.md): the kernel passes a lock of its own (KernelDma) that keeps interrupts off there, as
        /// the pools' per-CPU state needs; null on the host.
        /// The manager's own tables (its pools, their users and buffers) are not locked: drivers and the
        /// shell, its only callers, run on the boot CPU.
        /// </summary>
        public DmaPoolManager(PhysicalMemory* memory, byte* directMapBase, byte owner, delegate*<void> onCorruption = null, SpinLock* poolsLock = null)
        {
            Memory = memory;
            DirectMapBase = directMapBase;
            Owner = owner;
            _onCorruption = onCorruption;
            _poolsLock = poolsLock;
        }

        private readonly delegate*<void> _onCorruption;
        /// <summary>Held around each call into <see cref="Memory"/> (not this manager's tables); taken by <see cref="LockPools"/>.</summary>
        private readonly SpinLock* _poolsLock;

        /// <summary>Takes the pools' lock (when the manager has one); the state for <see cref="UnlockPools"/>.</summary>
        private ulong LockPools() => _poolsLock == null ? 0 : _poolsLock->Acquire();

        private void UnlockPools(ulong state)
        {
            if (_poolsLock != null)
                _poolsLock->Release(state);
        }

        /// <summary><see cref="PhysicalMemory.AllocateRun"/> under the pools' lock, then the owner's policy (<see cref="Passed"/>).</summary>
        internal MemoryStatus AllocateRun(ulong pages, in AllocRequest request, out Pfn first)
        {
            ulong state = LockPools();
            MemoryStatus status = Memory->AllocateRun(pages, request, out first);
            UnlockPools(state);
            return Passed(status);
        }

        /// <summary><see cref="PhysicalMemory.FreeRun"/> as <paramref name="owner"/> (the buffer's user's), under the pools' lock, then the owner's policy.</summary>
        internal MemoryStatus FreeRun(Pfn first, ulong pages, byte owner)
        {
            ulong state = LockPools();
            MemoryStatus status = Memory->FreeRun(first, pages, owner);
            UnlockPools(state);
            return Passed(status);
        }

        internal void GetPoolStats(PoolId id, out PoolStats stats)
        {
            ulong state = LockPools();
            Memory->GetPoolStats(id, out stats);
            UnlockPools(state);
        }

        private MemoryStatus CreatePool(in PoolProperties props, PoolId donor, ulong pageblocks, out PoolId id)
        {
            ulong state = LockPools();
            MemoryStatus status = Memory->CreatePool(props, donor, pageblocks, out id);
            UnlockPools(state);
            return Passed(status);
        }

        internal PhysicalMemory* Memory { get; }
        /// <summary>The owner the buffers of a user that names none are allocated and freed as (the kernel: Owners.Dma).</summary>
        internal byte Owner { get; }
        internal byte* DirectMapBase { get; }

        /// <summary>A status from the pools, with the memory owner's policy applied: Corruption goes to its fail-fast first.</summary>
        internal MemoryStatus Passed(MemoryStatus status)
        {
            if (status == MemoryStatus.Corruption && _onCorruption != null)
                _onCorruption();
            return status;
        }

        public int Count { get; private set; }

        /// <summary>Buffers that came back breaking their rules and were refused (should stay 0).</summary>
        public ulong RuleViolations { get; internal set; }

        public DmaPool this[int index] => (uint)index < (uint)Count ? _pools[index] : null;

        /// <summary>
        /// The pool <paramref name="device"/> allocates from: shared when one fits, else created with
        /// room for <paramref name="expectedBytes"/> (at least one page block). The device's buffers are
        /// allocated and freed as <paramref name="owner"/> (its driver's container: charged to it and
        /// limited by its quota), or as this manager's <see cref="Owner"/> when it is FrameOwner.None.
        /// Refused (Foreign, nothing changed): the device's name is already a user of a pool as another owner.
        /// </summary>
        public DmaStatus Attach(in DmaDevice device, ulong expectedBytes, out DmaPool pool, byte owner = FrameOwner.None)
        {
            pool = null;
            if (!device.IsValid || device.Name == null)
                return DmaStatus.InvalidRules;
            if (owner == FrameOwner.None)
                owner = Owner;
            for (int i = 0; i < Count; i++)
            {
                int user = _pools[i].IndexOf(device.Name);
                if (user >= 0 && _pools[i].OwnerOf(user) != owner)
                    return DmaStatus.Foreign;
            }
            // Share the widest existing pool the device reaches; pools below 4 GiB's reach (ISA) are
            // kept for devices that cannot do better.
            DmaPool shared = null;
            for (int i = 0; i < Count; i++)
            {
                DmaPool p = _pools[i];
                if (p.AddressBits > device.AddressBits || (device.Node >= 0 && p.Node != device.Node))
                    continue;
                if (p.AddressBits < 32 && device.AddressBits >= 32)
                    continue;
                if (shared == null || p.AddressBits > shared.AddressBits)
                    shared = p;
            }
            if (shared != null && shared.AddUser(device.Name, owner))
            {
                pool = shared;
                return DmaStatus.Ok;
            }
            if (Count == MaxDmaPools)
                return DmaStatus.TooManyPools;
            DmaStatus status = Create(device, expectedBytes, out pool);
            if (status == DmaStatus.Ok)
                pool.AddUser(device.Name, owner);
            return status;
        }

        private DmaStatus Create(in DmaDevice device, ulong expectedBytes, out DmaPool pool)
        {
            pool = null;
            // Devices that reach everything still get a window below the end of RAM's 52-bit space.
            byte bits = device.AddressBits > 52 ? (byte)52 : device.AddressBits;
            ulong pageblocks = (expectedBytes + PageblockBytes - 1) / PageblockBytes;
            if (pageblocks == 0)
                pageblocks = 1;
            bool anyMatch = false;
            // Donors on the device's node first, then on the other nodes by SLIT distance from it
            // (issue 16: DMA memory on the device's node, falling back by distance), then on any
            // node. A device without a node takes any node in both passes, as before.
            ulong tried = 0;
            int nodeCount = Memory->NodeCount;
            for (int pass = 0; pass < nodeCount + 1; pass++)
            {
                int onNode = -1;
                if (device.Node >= 0 && device.Node < nodeCount && pass < nodeCount)
                {
                    onNode = NearestUntried(device.Node, tried, nodeCount);
                    tried |= 1UL << onNode;
                }
                else if (pass > 1)
                {
                    break;
                }
                PoolId donor = BestDonor(bits, onNode, out int node);
                while (!donor.IsNone)
                {
                    PoolProperties props = Properties(bits, node);
                    ulong want = pageblocks;
                    MemoryStatus status;
                    PoolId id;
                    // Take what was asked for, or less, down to one page block; Grow adds the rest later.
                    while ((status = CreatePool(props, donor, want, out id)) == MemoryStatus.OutOfMemory && want > 1)
                        want = want / 2;
                    if (status == MemoryStatus.PoolTableFull)
                        return DmaStatus.TooManyPools;
                    if (status == MemoryStatus.Corruption)
                        return DmaStatus.Corruption;
                    if (status == MemoryStatus.Ok)
                    {
                        pool = new DmaPool(this, id, bits, node, donor, device.Node);
                        _pools[Count++] = pool;
                        return DmaStatus.Ok;
                    }
                    anyMatch = true;
                    donor = NextDonor(donor, bits, onNode, out node);
                }
            }
            return anyMatch ? DmaStatus.OutOfMemory : DmaStatus.NoMatchingMemory;
        }

        /// <summary>The node not in <paramref name="tried"/> nearest to <paramref name="from"/> (itself first; ties by number).</summary>
        private int NearestUntried(int from, ulong tried, int nodeCount)
        {
            int best = -1, bestDistance = int.MaxValue;
            for (int n = 0; n < nodeCount; n++)
            {
                if (((tried >> n) & 1) != 0)
                    continue;
                int d = n == from ? -1 : PoolChoice.Distance(ref *Memory, (byte)from, 1UL << n);
                if (d < bestDistance)
                {
                    best = n;
                    bestDistance = d;
                }
            }
            return best;
        }

        private static PoolProperties Properties(byte bits, int node)
        {
            PoolProperties props = PoolProperties.Open("dma");
            props.Name = PoolName.FromParts("dma", bits, node == 0 ? "-n0" : node == 1 ? "-n1" : node == 2 ? "-n2" : node == 3 ? "-n3" : "-nX");
            props.NodeMask = 1UL << node;
            props.WindowLow = new PhysAddr(0);
            props.WindowHigh = new PhysAddr(bits >= 52 ? 0 : 1UL << bits);
            props.Flags = PoolFlags.Dma | PoolFlags.Reserved;
            return props;
        }

        /// <summary>
        /// Default (non-DMA-managed, non-reserved) pools whose window starts below 2^bits, on
        /// <paramref name="node"/> (or any), ranked by the highest window start first.
        /// </summary>
        private PoolId BestDonor(byte bits, int node, out int donorNode) => NextDonor(PoolId.None, bits, node, out donorNode);

        private PoolId NextDonor(PoolId after, byte bits, int node, out int donorNode)
        {
            // Candidates ordered by (window start descending, id ascending); return the one after `after`.
            donorNode = 0;
            ulong lockState = LockPools();
            ulong afterLow = ulong.MaxValue;
            int afterId = -1;
            if (!after.IsNone)
            {
                Memory->GetPoolProperties(after, out PoolProperties a);
                afterLow = a.WindowLow.Value;
                afterId = after.Value;
            }
            PoolId best = PoolId.None;
            ulong bestLow = 0;
            for (PoolId id = Memory->FirstPool(); !id.IsNone; id = Memory->NextPool(id))
            {
                Memory->GetPoolProperties(id, out PoolProperties p);
                if ((p.Flags & PoolFlags.Reserved) != 0 || IsManaged(id))
                    continue;
                if (bits < 52 && p.WindowLow.Value >= 1UL << bits)
                    continue;
                if (node >= 0 && (p.NodeMask & (1UL << node)) == 0)
                    continue;
                ulong low = p.WindowLow.Value;
                bool afterPrevious = low < afterLow || (low == afterLow && id.Value > afterId);
                if (!afterPrevious)
                    continue;
                if (best.IsNone || low > bestLow || (low == bestLow && id.Value < best.Value))
                {
                    best = id;
                    bestLow = low;
                    donorNode = LowestNode(p.NodeMask);
                }
            }
            UnlockPools(lockState);
            return best;
        }

        private static int LowestNode(ulong mask)
        {
            for (int n = 0; n < 64; n++)
            {
                if ((mask & (1UL << n)) != 0)
                    return n;
            }
            return 0;
        }

        private bool IsManaged(PoolId id)
        {
            for (int i = 0; i < Count; i++)
            {
                if (_pools[i].Id == id)
                    return true;
            }
            return false;
        }

        /// <summary>
        /// Moves enough matching free page blocks into <paramref name="pool"/> for <paramref name="pages"/> more
        /// pages: from donors on the pool's own node first, then on the other nodes nearest first by SLIT
        /// distance from the device's node (the pool's, for a device without one). A page block of another
        /// node widens the pool's node mask to it (<see cref="PhysicalMemory.MovePageblocksAcrossNodes"/>) and is recorded
        /// in <see cref="DmaPool.GrownFromNodes"/>, which `dmapools` shows. On a one-node machine it is the
        /// one pass it always was.
        /// </summary>
        internal bool Grow(DmaPool pool, ulong pages)
        {
            ulong pageblockPages = PageblockBytes >> Pfn.PageShift;
            ulong count = (pages + pageblockPages - 1) / pageblockPages;
            int nodeCount = Memory->NodeCount;
            int from = pool.DeviceNode >= 0 && pool.DeviceNode < nodeCount ? pool.DeviceNode : pool.Node;
            ulong tried = 0;
            for (int pass = 0; pass < nodeCount; pass++)
            {
                // The pool's own node first (it is the device's, or the nearest that had memory), then by distance.
                int node = pass == 0 ? pool.Node : NearestUntried(from, tried, nodeCount);
                if (node < 0)
                    break;
                tried |= 1UL << node;
                PoolId donor = BestDonor(pool.AddressBits, node, out _);
                while (!donor.IsNone)
                {
                    ulong state = LockPools();
                    MemoryStatus moved = node == pool.Node
                        ? Memory->MovePageblocks(donor, pool.Id, count)
                        : Memory->MovePageblocksAcrossNodes(donor, pool.Id, count);
                    UnlockPools(state);
                    if (Passed(moved) == MemoryStatus.Ok)
                    {
                        pool.GrowCount++;
                        if (node != pool.Node)
                            pool.GrownFromNodes |= 1UL << node;
                        return true;
                    }
                    donor = NextDonor(donor, pool.AddressBits, node, out _);
                }
            }
            return false;
        }

        /// <summary>
        /// Gives back everything <paramref name="owner"/> holds in the DMA pools: the buffers its users have
        /// not returned are freed as it, its users removed, and a pool left without users destroyed (its page
        /// blocks go home), as at the last <see cref="Detach"/>. What a driver's unload calls after the
        /// driver's own Unload, so that nothing it forgot stays charged to it. The pages it had to free in
        /// <paramref name="pages"/> (0 when the driver returned everything itself).
        /// </summary>
        public DmaStatus ReleaseOwner(byte owner, out ulong pages)
        {
            pages = 0;
            for (int i = Count - 1; i >= 0; i--)
            {
                DmaPool pool = _pools[i];
                DmaStatus status = pool.ReleaseOwner(owner, out ulong freed);
                pages += freed;
                if (status != DmaStatus.Ok)
                    return status;
                if (pool.UserCount == 0 && pool.OutstandingBuffers == 0)
                {
                    ulong lockState = LockPools();
                    MemoryStatus destroyed = Memory->DestroyPool(pool.Id);
                    UnlockPools(lockState);
                    if (Passed(destroyed) != MemoryStatus.Ok)
                        return DmaStatus.InUse;
                    Forget(pool);
                }
            }
            return DmaStatus.Ok;
        }

        /// <summary>
        /// The DMA pools' ownership invariants, the drivers-as-containers part of `check`: every buffer a pool
        /// handed out heads a run in that pool whose owner byte is its user's owner, and for every user that
        /// is a container, its pages in the pool (the container's per-pool count) are exactly the pages of
        /// its buffers there (a DMA pool is Reserved: only this manager allocates from it). Null when all
        /// hold, else what broke, with the pool and the buffer's address (0 for a count). Reads the pools
        /// under the pools' lock, pool by pool.
        /// </summary>
        public string Check(out int pools, out int buffers, out PoolId pool, out ulong physical)
        {
            pools = Count;
            buffers = 0;
            pool = PoolId.None;
            physical = 0;
            for (int i = 0; i < Count; i++)
            {
                DmaPool p = _pools[i];
                pool = p.Id;
                buffers += p.OutstandingBuffers;
                ulong state = LockPools();
                string broken = null;
                for (int b = 0; b < p.OutstandingBuffers && broken == null; b++)
                {
                    p.BufferAt(b, out physical, out _, out byte owner);
                    Pfn first = new Pfn(physical >> Pfn.PageShift);
                    if (Memory->PoolOf(first) != p.Id)
                        broken = "a buffer outside its DMA pool";
                    else if (Memory->OwnerOf(first) != owner)
                        broken = "a buffer whose frames name another owner than its user's";
                }
                for (int u = 0; u < p.UserCount && broken == null; u++)
                {
                    byte owner = p.OwnerOf(u);
                    if (!Memory->IsContainer(owner) || Memory->GetContainerHeld(owner, owner, p.Id.Value, false, out ulong held) != MemoryStatus.Ok)
                        continue;
                    ulong tracked = 0;
                    for (int b = 0; b < p.OutstandingBuffers; b++)
                    {
                        p.BufferAt(b, out _, out ulong pages, out byte o);
                        if (o == owner)
                            tracked += pages;
                    }
                    if (tracked != held)
                    {
                        physical = 0;
                        broken = "a driver's container counts other pages in the DMA pool than its buffers";
                    }
                }
                UnlockPools(state);
                if (broken != null)
                    return broken;
            }
            pool = PoolId.None;
            physical = 0;
            return null;
        }

        private void Forget(DmaPool pool)
        {
            for (int i = 0; i < Count; i++)
            {
                if (_pools[i] == pool)
                {
                    _pools[i] = _pools[--Count];
                    _pools[Count] = null;
                    return;
                }
            }
        }

        /// <summary>
        /// The device stops using its pool. Refused while it holds buffers (InUse). The last user's
        /// detach destroys the pool and its page blocks go back to their home pools; otherwise the
        /// pool keeps its memory for the remaining users.
        /// </summary>
        public DmaStatus Detach(DmaPool pool, string deviceName)
        {
            if (pool == null || !pool.HasUser(deviceName))
                return DmaStatus.Foreign;
            if (pool.BuffersOf(deviceName) != 0)
                return DmaStatus.InUse;
            pool.RemoveUser(deviceName);
            if (pool.UserCount > 0)
                return DmaStatus.Ok;
            if (pool.OutstandingBuffers != 0)
                return DmaStatus.InUse;
            ulong lockState = LockPools();
            MemoryStatus destroyed = Memory->DestroyPool(pool.Id);
            UnlockPools(lockState);
            if (Passed(destroyed) != MemoryStatus.Ok)
                return DmaStatus.InUse;
            Forget(pool);
            return DmaStatus.Ok;
        }
    }
}
