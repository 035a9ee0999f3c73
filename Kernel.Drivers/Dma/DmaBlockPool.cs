namespace PoolKernel.Drivers.Dma
{
    /// <summary>
    /// Fixed-size DMA blocks for descriptors, rings and small headers (Linux's dma_pool): carved from
    /// page-sized buffers of a <see cref="DmaPool"/>, each block aligned and never crossing the
    /// device's boundary. Block bookkeeping lives outside DMA memory (a bitmap per page), so a device
    /// scribbling on a free block cannot corrupt it, and double frees are caught.
    /// </summary>
    public sealed unsafe class DmaBlockPool
    {
        private const int PageSize = 4096;
        private const int MaxBlocksPerPage = PageSize / 16;

        private readonly DmaPool _pool;
        private readonly DmaDevice _device;
        private DmaBuffer[] _pages = new DmaBuffer[4];
        private ulong[] _used = new ulong[4 * (MaxBlocksPerPage / 64)];
        private int _pageCount;
        private readonly int _blocksPerPage;
        private readonly uint _stride;

        /// <summary>Maximum pages the pool may hold; 0 = unlimited. Reaching it is OutOfMemory.</summary>
        public int PageLimit { get; set; }

        public uint BlockSize { get; }
        public int BlocksInUse { get; private set; }
        public int Pages => _pageCount;

        internal DmaBlockPool(DmaPool pool, in DmaDevice device, uint blockSize, uint alignment)
        {
            _pool = pool;
            _device = device;
            BlockSize = blockSize;
            uint align = alignment < 16 ? 16 : alignment;
            _stride = (blockSize + align - 1) & ~(align - 1);
            // Blocks are laid out at multiples of the stride; with a boundary below a page, only
            // positions whose block does not cross it are used.
            int n = 0;
            for (uint offset = 0; offset + blockSize <= PageSize && n < MaxBlocksPerPage; offset += _stride)
            {
                if (Fits(offset))
                    n++;
            }
            _blocksPerPage = blockSize == 0 || blockSize > PageSize || _stride > PageSize ? 0 : n;
        }

        private bool Fits(uint offset)
        {
            ulong boundary = _device.Boundary;
            return boundary == 0 || boundary >= PageSize || (offset & ~(boundary - 1)) == ((offset + BlockSize - 1) & ~(boundary - 1));
        }

        /// <summary>Offset within a page of the <paramref name="index"/>-th usable block position.</summary>
        private uint OffsetOf(int index)
        {
            int n = 0;
            for (uint offset = 0; offset + BlockSize <= PageSize; offset += _stride)
            {
                if (!Fits(offset))
                    continue;
                if (n == index)
                    return offset;
                n++;
            }
            return uint.MaxValue;
        }

        /// <summary>A zeroed block: its bus address and kernel pointer.</summary>
        public DmaStatus Allocate(out ulong physical, out byte* pointer)
        {
            physical = 0;
            pointer = null;
            if (_blocksPerPage == 0)
                return DmaStatus.TooLarge;
            for (int p = 0; p < _pageCount; p++)
            {
                for (int b = 0; b < _blocksPerPage; b++)
                {
                    if (!IsUsed(p, b))
                        return Take(p, b, out physical, out pointer);
                }
            }
            if (PageLimit != 0 && _pageCount >= PageLimit)
                return DmaStatus.OutOfMemory;
            // Pages are whole buffers: a boundary below a page applies to blocks, not to the page.
            DmaDevice pageRules = _device;
            if (pageRules.Boundary < PageSize)
                pageRules.Boundary = 0;
            pageRules.MaxContiguous = 0;
            DmaStatus status = _pool.Allocate(pageRules, PageSize, out DmaBuffer page);
            if (status != DmaStatus.Ok)
                return status;
            if (_pageCount == _pages.Length)
                GrowTables();
            _pages[_pageCount++] = page;
            return Take(_pageCount - 1, 0, out physical, out pointer);
        }

        private DmaStatus Take(int page, int block, out ulong physical, out byte* pointer)
        {
            uint offset = OffsetOf(block);
            physical = _pages[page].Physical + offset;
            pointer = _pages[page].Pointer + offset;
            if (!_device.Admits(physical, BlockSize))
            {
                physical = 0;
                pointer = null;
                return DmaStatus.RuleViolation;
            }
            SetUsed(page, block, true);
            BlocksInUse++;
            for (uint i = 0; i < BlockSize; i++)
                pointer[i] = 0;
            return DmaStatus.Ok;
        }

        /// <summary>Returns a block by its bus address. Refused: not a block of this pool, or already free.</summary>
        public DmaStatus Free(ulong physical)
        {
            for (int p = 0; p < _pageCount; p++)
            {
                ulong start = _pages[p].Physical;
                if (physical < start || physical >= start + PageSize)
                    continue;
                uint offset = (uint)(physical - start);
                for (int b = 0; b < _blocksPerPage; b++)
                {
                    if (OffsetOf(b) != offset)
                        continue;
                    if (!IsUsed(p, b))
                        return DmaStatus.DoubleFree;
                    SetUsed(p, b, false);
                    BlocksInUse--;
                    return DmaStatus.Ok;
                }
                return DmaStatus.Foreign;
            }
            return DmaStatus.Foreign;
        }

        /// <summary>Gives every page back to the DMA pool; refused while blocks are in use.</summary>
        public DmaStatus Release()
        {
            if (BlocksInUse != 0)
                return DmaStatus.InUse;
            for (int p = 0; p < _pageCount; p++)
                _pages[p].Release();
            _pageCount = 0;
            return DmaStatus.Ok;
        }

        private bool IsUsed(int page, int block)
            => (_used[page * (MaxBlocksPerPage / 64) + block / 64] & (1UL << (block % 64))) != 0;

        private void SetUsed(int page, int block, bool used)
        {
            ref ulong word = ref _used[page * (MaxBlocksPerPage / 64) + block / 64];
            if (used)
                word |= 1UL << (block % 64);
            else
                word &= ~(1UL << (block % 64));
        }

        private void GrowTables()
        {
            DmaBuffer[] pages = new DmaBuffer[_pages.Length * 2];
            ulong[] used = new ulong[pages.Length * (MaxBlocksPerPage / 64)];
            for (int i = 0; i < _pageCount; i++)
                pages[i] = _pages[i];
            for (int i = 0; i < _pageCount * (MaxBlocksPerPage / 64); i++)
                used[i] = _used[i];
            _pages = pages;
            _used = used;
        }
    }
}
