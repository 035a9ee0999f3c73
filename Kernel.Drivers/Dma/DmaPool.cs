using PoolKernel.Memory;

namespace PoolKernel.Drivers.Dma
{
    /// <summary>
    /// A pool of physical memory whose every page obeys a window of device addresses, shared by the
    /// devices whose rules that window satisfies. It is a real Kernel.Memory pool (flags Dma and
    /// Reserved: only requests naming it allocate from it), grown by moving page blocks from the
    /// default pools when it runs out and given back when its last user detaches.
    /// </summary>
    public sealed unsafe class DmaPool
    {
        private const int MaxUsers = 8;

        private readonly DmaPoolManager _manager;
        // Buffers handed out and not yet returned: address, pages, and the user that took them.
        private ulong[] _outPhysical = new ulong[32];
        private ulong[] _outPages = new ulong[32];
        private int[] _outUser = new int[32];
        private int _outstandingCount;
        private readonly string[] _users = new string[MaxUsers];
        private readonly int[] _userBuffers = new int[MaxUsers];
        /// <summary>
        /// The owner each user's buffers are allocated and freed as (docs/drivers.md, "Drivers as containers"):
        /// the driver's container, so its buffers are charged to it and limited by its quota, or the manager's
        /// owner for a user that named none. Pages of one DMA pool can so belong to several owners at once.
        /// </summary>
        private readonly byte[] _userOwners = new byte[MaxUsers];

        internal DmaPool(DmaPoolManager manager, PoolId id, byte addressBits, int node, PoolId donor, int deviceNode = -1)
        {
            DeviceNode = deviceNode;
            _manager = manager;
            Id = id;
            AddressBits = addressBits;
            Node = node;
            Donor = donor;
        }

        /// <summary>The Kernel.Memory pool behind this DMA pool.</summary>
        public PoolId Id { get; }
        /// <summary>Every page lies below 2^AddressBits.</summary>
        public byte AddressBits { get; }
        public int Node { get; }
        /// <summary>
        /// The node of the device the pool was made for (-1: it had none). When it differs from
        /// <see cref="Node"/>, that node had no memory to give and the pool came from the nearest that had.
        /// </summary>
        public int DeviceNode { get; }
        /// <summary>The default pool it grew from first; shrinking gives page blocks back there.</summary>
        internal PoolId Donor { get; }
        public int UserCount { get; private set; }
        public int OutstandingBuffers => _outstandingCount;
        public ulong GrowCount { get; internal set; }

        public string User(int i) => (uint)i < (uint)UserCount ? _users[i] : null;

        /// <summary>The owner user <paramref name="i"/>'s buffers are allocated and freed as (FrameOwner.None for no such user).</summary>
        public byte OwnerOf(int i) => (uint)i < (uint)UserCount ? _userOwners[i] : FrameOwner.None;

        /// <summary>Nodes other than <see cref="Node"/> the pool took page blocks from when its own node had none left (bit n: node n).</summary>
        public ulong GrownFromNodes { get; internal set; }

        public int BuffersOf(int user) => (uint)user < (uint)UserCount ? _userBuffers[user] : 0;

        internal bool HasUser(string name) => IndexOfUser(name) >= 0;

        /// <summary>The index of user <paramref name="name"/>, or -1.</summary>
        internal int IndexOf(string name) => IndexOfUser(name);

        private int IndexOfUser(string name)
        {
            for (int i = 0; i < UserCount; i++)
            {
                if (_users[i] == name)
                    return i;
            }
            return -1;
        }

        /// <summary>Adds <paramref name="name"/> as a user whose buffers belong to <paramref name="owner"/>; true when it is one now. False: the table is full, or the name is a user of another owner.</summary>
        internal bool AddUser(string name, byte owner)
        {
            int at = IndexOfUser(name);
            if (at >= 0)
                return _userOwners[at] == owner;
            if (UserCount == MaxUsers)
                return false;
            _users[UserCount] = name;
            _userBuffers[UserCount] = 0;
            _userOwners[UserCount] = owner;
            UserCount++;
            return true;
        }

        /// <summary>Removes a user that holds no buffers (the caller checked); renumbers the last user into its slot.</summary>
        internal void RemoveUser(string name)
        {
            int i = IndexOfUser(name);
            if (i < 0)
                return;
            UserCount--;
            _users[i] = _users[UserCount];
            _userBuffers[i] = _userBuffers[UserCount];
            _userOwners[i] = _userOwners[UserCount];
            _users[UserCount] = null;
            for (int b = 0; b < _outstandingCount; b++)
            {
                if (_outUser[b] == UserCount)
                    _outUser[b] = i;
            }
        }

        /// <summary>Buffers <paramref name="name"/> has not returned.</summary>
        internal int BuffersOf(string name)
        {
            int i = IndexOfUser(name);
            return i < 0 ? 0 : _userBuffers[i];
        }

        /// <summary>Pages the pool holds and has free (from Kernel.Memory).</summary>
        public void GetSize(out ulong presentPages, out ulong freePages)
        {
            _manager.GetPoolStats(Id, out PoolStats s);
            presentPages = s.PresentPages;
            freePages = s.FreePages;
        }

        /// <summary>
        /// A contiguous buffer of <paramref name="bytes"/> for <paramref name="device"/>, obeying its
        /// rules, zeroed. Grows the pool from matching free page blocks when it is full. The result is
        /// checked against the rules before it is returned; a violation is refused (RuleViolation).
        /// </summary>
        public DmaStatus Allocate(in DmaDevice device, ulong bytes, out DmaBuffer buffer)
        {
            buffer = default;
            if (!device.IsValid)
                return DmaStatus.InvalidRules;
            if (device.AddressBits < AddressBits)
                return DmaStatus.InvalidRules;
            if (bytes == 0 || (device.Boundary != 0 && bytes > device.Boundary) || (device.MaxContiguous != 0 && bytes > device.MaxContiguous))
                return DmaStatus.TooLarge;
            int user = IndexOfUser(device.Name);
            if (user < 0)
                return DmaStatus.Foreign;

            ulong pages = (bytes + Pfn.PageSize - 1) >> Pfn.PageShift;
            AllocRequest request = AllocRequest.InPool(Id);
            request.Owner = _userOwners[user];
            request.Boundary = device.Boundary >= Pfn.PageSize ? device.Boundary : 0;
            request.Alignment = device.Alignment > Pfn.PageSize ? device.Alignment : 0;
            request.DmaAddressBits = device.AddressBits < 64 ? device.AddressBits : (byte)0;
            MemoryStatus status = _manager.AllocateRun(pages, request, out Pfn first);
            if (status == MemoryStatus.OutOfMemory && _manager.Grow(this, pages))
                status = _manager.AllocateRun(pages, request, out first);
            if (status != MemoryStatus.Ok)
                return FromPools(status);

            ulong physical = first.Value << Pfn.PageShift;
            if (!device.Admits(physical, bytes) || !Verify(physical, pages))
            {
                _manager.RuleViolations++;
                _manager.FreeRun(first, pages, _userOwners[user]);
                return DmaStatus.RuleViolation;
            }
            Track(physical, pages, user);
            _userBuffers[user]++;
            buffer.Physical = physical;
            buffer.Pointer = _manager.DirectMapBase + physical;
            buffer.Length = bytes;
            buffer.Pages = pages;
            buffer.Pool = this;
            for (ulong i = 0; i < pages << Pfn.PageShift; i++)
                buffer.Pointer[i] = 0;
            return DmaStatus.Ok;
        }

        /// <summary>
        /// What a refused <see cref="Allocate"/> tells the driver, from the pools' answer: only the
        /// answers a driver can act on get their own meaning (out of memory, no memory obeys the
        /// rules, rules malformed or impossible for this size, the driver's container at its quota); Corruption stays Corruption, and any
        /// other refusal (a pool that is gone, an owner it does not admit) is PoolsRefused, never
        /// passed off as one of those.
        /// </summary>
        public static DmaStatus FromPools(MemoryStatus status) => status switch
        {
            MemoryStatus.Ok => DmaStatus.Ok,
            MemoryStatus.OutOfMemory => DmaStatus.OutOfMemory,
            MemoryStatus.NoPoolSatisfies => DmaStatus.NoMatchingMemory,
            MemoryStatus.InvalidArgument => DmaStatus.InvalidRules,
            MemoryStatus.ImpossibleRules => DmaStatus.TooLarge,
            MemoryStatus.Corruption => DmaStatus.Corruption,
            MemoryStatus.QuotaExceeded => DmaStatus.QuotaExceeded,
            _ => DmaStatus.PoolsRefused,
        };

        /// <summary>The pool's own window: every page below 2^AddressBits.</summary>
        private bool Verify(ulong physical, ulong pages)
            => AddressBits >= 64 || physical + (pages << Pfn.PageShift) <= 1UL << AddressBits;

        /// <summary>Returns a buffer. Refused with state unchanged: already returned, or not from this pool; PoolsRefused or Corruption when the pools will not take back a buffer this pool handed out.</summary>
        public DmaStatus Free(ref DmaBuffer buffer)
        {
            if (buffer.Pool != this)
                return DmaStatus.Foreign;
            int slot = Find(buffer.Physical);
            if (slot < 0)
                return DmaStatus.DoubleFree;
            ulong pages = _outPages[slot];
            if (pages != buffer.Pages)
                return DmaStatus.Foreign;
            return FreeSlot(slot, ref buffer);
        }

        /// <summary>Frees the buffer tracked in <paramref name="slot"/> as the owner of the user that took it, and forgets it.</summary>
        private DmaStatus FreeSlot(int slot, ref DmaBuffer buffer)
        {
            ulong pages = _outPages[slot];
            int user = _outUser[slot];
            // The buffer is one this pool handed out, with its page count and its user's owner: the
            // pools refusing it back means they and this pool disagree, which is not the caller's mistake.
            MemoryStatus status = _manager.FreeRun(new Pfn(_outPhysical[slot] >> Pfn.PageShift), pages, _userOwners[user]);
            if (status != MemoryStatus.Ok)
                return status == MemoryStatus.Corruption ? DmaStatus.Corruption : DmaStatus.PoolsRefused;
            if ((uint)user < (uint)UserCount && _userBuffers[user] > 0)
                _userBuffers[user]--;
            _outstandingCount--;
            _outPhysical[slot] = _outPhysical[_outstandingCount];
            _outPages[slot] = _outPages[_outstandingCount];
            _outUser[slot] = _outUser[_outstandingCount];
            buffer.Pool = null;
            return DmaStatus.Ok;
        }

        /// <summary>
        /// Frees every buffer the users of <paramref name="owner"/> have not returned and removes those users
        /// (a driver being unloaded: whatever its Unload left behind goes back). The pages freed in
        /// <paramref name="pages"/>; a refusal of the pools stops it (PoolsRefused or Corruption), what was freed stays freed.
        /// </summary>
        internal DmaStatus ReleaseOwner(byte owner, out ulong pages)
        {
            pages = 0;
            for (int slot = _outstandingCount - 1; slot >= 0; slot--)
            {
                if (_userOwners[_outUser[slot]] != owner)
                    continue;
                ulong slotPages = _outPages[slot];
                DmaBuffer stale = default;
                DmaStatus status = FreeSlot(slot, ref stale);
                if (status != DmaStatus.Ok)
                    return status;
                pages += slotPages;
            }
            for (int u = UserCount - 1; u >= 0; u--)
            {
                if (_userOwners[u] == owner)
                    RemoveUser(_users[u]);
            }
            return DmaStatus.Ok;
        }

        /// <summary>Buffer <paramref name="slot"/> (0..<see cref="OutstandingBuffers"/>-1): its address, pages and owner.</summary>
        internal void BufferAt(int slot, out ulong physical, out ulong pages, out byte owner)
        {
            physical = _outPhysical[slot];
            pages = _outPages[slot];
            owner = _userOwners[_outUser[slot]];
        }

        private int Find(ulong physical)
        {
            for (int i = 0; i < _outstandingCount; i++)
            {
                if (_outPhysical[i] == physical)
                    return i;
            }
            return -1;
        }

        private void Track(ulong physical, ulong pages, int user)
        {
            if (_outstandingCount == _outPhysical.Length)
            {
                int n = _outPhysical.Length * 2;
                ulong[] physicals = new ulong[n];
                ulong[] pageCounts = new ulong[n];
                int[] users = new int[n];
                for (int i = 0; i < _outstandingCount; i++)
                {
                    physicals[i] = _outPhysical[i];
                    pageCounts[i] = _outPages[i];
                    users[i] = _outUser[i];
                }
                _outPhysical = physicals;
                _outPages = pageCounts;
                _outUser = users;
            }
            _outPhysical[_outstandingCount] = physical;
            _outPages[_outstandingCount] = pages;
            _outUser[_outstandingCount] = user;
            _outstandingCount++;
        }

        /// <summary>A sub-allocator of fixed-size blocks (descriptors, rings) from this pool for <paramref name="device"/>.</summary>
        public DmaBlockPool CreateBlockPool(in DmaDevice device, uint blockSize, uint alignment)
            => new DmaBlockPool(this, device, blockSize, alignment);
    }
}
