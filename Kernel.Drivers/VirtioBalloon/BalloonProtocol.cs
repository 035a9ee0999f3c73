namespace PoolKernel.Drivers.VirtioBalloon
{
    /// <summary>The guest's memory figures one stats buffer carries (bytes; counters the kernel does not have are 0).</summary>
    internal struct BalloonStatsValues
    {
        public ulong SwapIn;
        public ulong SwapOut;
        public ulong MajorFaults;
        public ulong MinorFaults;
        public ulong FreeBytes;
        public ulong TotalBytes;
        public ulong AvailableBytes;
        public ulong CacheBytes;
        public ulong HugePageAllocations;
        public ulong HugePageFailures;
    }

    /// <summary>
    /// The virtio-balloon wire format and arithmetic, pure (host-tested, <c>BalloonProtocolTests</c>):
    /// feature bits, the legacy configuration layout, the stats buffer (a packed array of
    /// {u16 tag, u64 value}, little-endian), and how a target in 4 KiB pages becomes whole page blocks.
    /// </summary>
    internal static unsafe class BalloonProtocol
    {
        /// <summary>The device must be told before a deflated page is used (not accepted: deflate-on-oom reuses first).</summary>
        internal const int FeatureMustTellHost = 0;
        /// <summary>Queue 2 carries guest memory statistics.</summary>
        internal const int FeatureStatsQueue = 1;
        /// <summary>The guest may deflate when it runs out of memory.</summary>
        internal const int FeatureDeflateOnOom = 2;
        /// <summary>Free page hinting for migration (not accepted); when offered, its queue sits before the reporting queue.</summary>
        internal const int FeatureFreePageHint = 3;
        /// <summary>Free page reporting: free blocks handed to the host, which may discard their contents.</summary>
        internal const int FeatureReporting = 5;

        internal const ushort InflateQueue = 0;
        internal const ushort DeflateQueue = 1;
        internal const ushort StatsQueue = 2;

        /// <summary>Legacy configuration: the pages the device wants in the balloon (device-written).</summary>
        internal const ushort ConfigTargetPages = 0;
        /// <summary>Legacy configuration: the pages the driver holds in the balloon (driver-written).</summary>
        internal const ushort ConfigActualPages = 4;

        /// <summary>The balloon's page: 4 KiB whatever the guest's page size, frame numbers as u32.</summary>
        internal const int PageShift = 12;

        /// <summary>Stats tags, in the order the buffer carries them.</summary>
        internal const ushort TagSwapIn = 0, TagSwapOut = 1, TagMajorFaults = 2, TagMinorFaults = 3, TagFree = 4,
            TagTotal = 5, TagAvailable = 6, TagCaches = 7, TagHugeAlloc = 8, TagHugeFail = 9;

        internal const int StatsCount = 10;
        /// <summary>One entry: u16 tag then u64 value, packed.</summary>
        internal const int StatsEntryBytes = 10;
        internal const int StatsBytes = StatsCount * StatsEntryBytes;

        /// <summary>Queue index of the reporting queue: after inflate, deflate, stats, and the hinting queue when the device has one.</summary>
        internal static ushort ReportingQueue(uint offered)
            => (ushort)(((offered >> FeatureFreePageHint) & 1) != 0 ? 4 : 3);

        /// <summary>Writes the ten standard statistics into <paramref name="buffer"/> (<see cref="StatsBytes"/> bytes); returns the length.</summary>
        internal static int WriteStats(byte* buffer, in BalloonStatsValues v)
        {
            int at = 0;
            Put(buffer, ref at, TagSwapIn, v.SwapIn);
            Put(buffer, ref at, TagSwapOut, v.SwapOut);
            Put(buffer, ref at, TagMajorFaults, v.MajorFaults);
            Put(buffer, ref at, TagMinorFaults, v.MinorFaults);
            Put(buffer, ref at, TagFree, v.FreeBytes);
            Put(buffer, ref at, TagTotal, v.TotalBytes);
            Put(buffer, ref at, TagAvailable, v.AvailableBytes);
            Put(buffer, ref at, TagCaches, v.CacheBytes);
            Put(buffer, ref at, TagHugeAlloc, v.HugePageAllocations);
            Put(buffer, ref at, TagHugeFail, v.HugePageFailures);
            return at;
        }

        private static void Put(byte* buffer, ref int at, ushort tag, ulong value)
        {
            buffer[at] = (byte)tag;
            buffer[at + 1] = (byte)(tag >> 8);
            for (int i = 0; i < 8; i++)
                buffer[at + 2 + i] = (byte)(value >> (8 * i));
            at += StatsEntryBytes;
        }

        /// <summary>
        /// The page blocks the balloon should hold for a device target of <paramref name="targetPages"/>
        /// 4 KiB pages: whole page blocks only, rounded down (the guest never lends more than asked).
        /// </summary>
        internal static ulong PageblocksFor(uint targetPages, ulong pageblockPages) => targetPages / pageblockPages;

        /// <summary>Writes the frame numbers of the page block at <paramref name="firstPfn"/> (<paramref name="pages"/> frames) as u32s; false if a frame number does not fit 32 bits.</summary>
        internal static bool WritePfns(uint* destination, ulong firstPfn, ulong pages)
        {
            if (firstPfn + pages > (1UL << 32))
                return false;
            for (ulong i = 0; i < pages; i++)
                destination[i] = (uint)(firstPfn + i);
            return true;
        }
    }
}
