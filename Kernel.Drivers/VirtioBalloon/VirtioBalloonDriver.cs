using System;
using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Pci;
using PoolKernel.Drivers.Platform;
using PoolKernel.Drivers.VirtioBlock;
using PoolKernel.Memory;
using PoolKernel.Mm;

namespace PoolKernel.Drivers.VirtioBalloon
{
    /// <summary>
    /// Legacy (transitional) virtio-balloon over PCI: vendor 0x1af4, device 0x1002, register block in
    /// the I/O BAR0 (QEMU: <c>-device virtio-balloon-pci,disable-modern=on</c>). The balloon lends
    /// whole page blocks of the pools to the host (Kernel.Memory/Balloon: elastic pools first, never
    /// below a guarantee) and takes them back, following the device's target without anyone typing
    /// (<see cref="Poll"/>, from the shell's idle loop); sends the guest's memory statistics when the
    /// host asks; gives lent memory back before the kernel reports out of memory (deflate-on-oom,
    /// through <see cref="MemoryShortage"/>); and reports large free blocks (free page reporting) so
    /// the host can drop their contents while they sit free. docs/balloon.md.
    ///
    /// Locking: <see cref="s_lock"/> (interrupts off while held) guards the balloon's counters, the
    /// page blocks given back by the shortage handler and not yet told to the host (<see cref="_owed"/>),
    /// and the inflate and deflate queues. Lock order: the heap lock, then this one, then the pools'
    /// lock. Nothing is allocated from the heap and nothing is printed while it is held.
    /// </summary>
    internal sealed unsafe class VirtioBalloonDriver : Driver
    {
        private const ushort VendorVirtio = 0x1AF4;
        private const ushort DeviceLegacyBalloon = 0x1002;
        private const string DeviceName = "virtio-balloon";

        /// <summary>Frame numbers one inflate or deflate buffer holds (16 KiB of u32s: 8 page blocks of 512 frames).</summary>
        private const uint PfnCapacity = 4096;
        /// <summary>Page blocks one <see cref="Poll"/> moves at most, so the shell stays responsive (256 MiB at 2 MiB blocks).</summary>
        private const ulong PageblocksPerPoll = 128;
        /// <summary>Free page reporting runs when the free memory grew by this many frames since the last report (32 MiB).</summary>
        private const ulong ReportGrowthPages = 8192;
        /// <summary>
        /// ... and stayed grown this many TSC cycles (1.5 to 2 s at the 2-3 GHz QEMU's TSC runs at), as
        /// Linux waits two seconds: memory freed and soon taken again is not worth reporting.
        /// </summary>
        private const ulong ReportDelayCycles = 5_000_000_000;
        /// <summary>Page blocks one reporting round holds at most (also the reporting queue's size in QEMU).</summary>
        private const uint ReportBatch = 32;
        /// <summary>Polls of a used ring before a request is declared lost (the device answers at once under QEMU).</summary>
        private const ulong SpinLimit = 200_000_000;

        /// <summary>Set again at each load with the function's node.</summary>
        private DmaDevice _rules = new DmaDevice(DeviceName, VirtioLegacy.QueueAddressBits, 0, LegacyVirtqueueLayout.RingAlignment);

        private static VirtioBalloonDriver s_active;
        private static SpinLock s_lock;
        /// <summary>Set while the driver itself holds free blocks for a report: the shortage handler then gives nothing back.</summary>
        private static bool s_reporting;

        private VirtioLegacy _registers;
        private LegacyVirtqueue _inflate, _deflate, _stats, _report;
        private DmaBuffer _inflateRing, _deflateRing, _statsRing, _reportRing, _pfns, _statsBuffer;
        private uint _offered, _accepted;
        private ushort _reportQueue;
        private ulong _pbPages;
        private bool _broken;
        private int _shortageSlot = -1;

        // Guarded by s_lock.
        private ulong[] _owed;
        private int _owedCount;
        private ulong _lentPageblocks;
        private uint _actualWritten;
        private ulong _inflated, _deflated, _oomDeflated;
        private MemoryStatus _lastStop;
        private ulong _inflateCycles, _deflateCycles;

        // Boot CPU's poll only.
        private ulong _statsSent;
        private ulong _reports, _lastReportBlocks, _lastReportCycles, _reportedBlocks;
        private ulong _freeAtLastReport;
        /// <summary>When free memory was first seen grown since the last report (0: not grown).</summary>
        private ulong _grownSince;

        public override string Name => DeviceName;

        internal static VirtioBalloonDriver Active => s_active;

        public override bool Matches(in PciFunction function)
            => function.VendorId == VendorVirtio && function.DeviceId == DeviceLegacyBalloon;

        public override bool Load(PciFunction* function)
        {
            if (function == null || !function->HasBar(0) || !function->Bar(0).IsIo)
                return Fail("BAR0 is not an I/O window (is disable-modern=on set?)");
            _registers = new VirtioLegacy((ushort)function->Bar(0).Address);
            // The device's DMA memory on its node (the firmware's, -1 for none: any node).
            _rules = new DmaDevice(DeviceName, VirtioLegacy.QueueAddressBits, 0, LegacyVirtqueueLayout.RingAlignment, node: function->Node);
            PciBus.EnableBusMastering(*function);
            s_lock.SetInterruptHooks(&InterruptState.SaveAndDisable, &InterruptState.Restore);
            _pbPages = 1UL << PhysicalMemoryOwner.PageblockOrder;
            _owed = new ulong[PhysicalMemoryOwner.Unguarded->PageblockCount];
            _broken = false;

            _registers.Reset();
            _registers.AddStatus(VirtioLegacy.StatusAcknowledge);
            _registers.AddStatus(VirtioLegacy.StatusDriver);
            _offered = _registers.DeviceFeatures;
            // Statistics, deflate-on-oom and free page reporting when offered; never MUST_TELL_HOST
            // (deflate-on-oom reuses pages before the host hears of it), nor hinting or poisoning.
            _accepted = _offered & ((1u << BalloonProtocol.FeatureStatsQueue) | (1u << BalloonProtocol.FeatureDeflateOnOom) | (1u << BalloonProtocol.FeatureReporting));
            _registers.SetDriverFeatures(_accepted);
            _reportQueue = BalloonProtocol.ReportingQueue(_offered);

            DmaStatus status = KernelDma.Pools.Attach(_rules, 96 * 1024, out DmaPool pool, Owner);
            if (status != DmaStatus.Ok)
                return FailDevice(DmaStatusText.Describe(status));
            Pool = pool;
            if (!SetUpQueue(BalloonProtocol.InflateQueue, ref _inflate, ref _inflateRing, "inflate queue")
                || !SetUpQueue(BalloonProtocol.DeflateQueue, ref _deflate, ref _deflateRing, "deflate queue")
                || (Has(BalloonProtocol.FeatureStatsQueue) && !SetUpQueue(BalloonProtocol.StatsQueue, ref _stats, ref _statsRing, "stats queue"))
                || (Has(BalloonProtocol.FeatureReporting) && !SetUpQueue(_reportQueue, ref _report, ref _reportRing, "reporting queue")))
                return FailAndRelease("a queue is missing or its memory could not be had");
            status = pool.Allocate(_rules, PfnCapacity * 4, out _pfns);
            if (status == DmaStatus.Ok)
                status = pool.Allocate(_rules, 4096, out _statsBuffer);
            if (status != DmaStatus.Ok)
                return FailAndRelease(DmaStatusText.Describe(status));
            if (!KernelDma.Report(_rules, "pfns", _pfns.Physical, PfnCapacity * 4) || !KernelDma.Report(_rules, "stats", _statsBuffer.Physical, BalloonProtocol.StatsBytes))
                return FailAndRelease("a buffer breaks the device's rules");

            _registers.AddStatus(VirtioLegacy.StatusDriverOk);
            if ((_registers.Status & VirtioLegacy.StatusFailed) != 0)
                return FailAndRelease("device refused DRIVER_OK");
            _registers.WriteConfig32(BalloonProtocol.ConfigActualPages, 0);
            // The first stats buffer: the device keeps it until the host asks, then hands it back (Poll refills it).
            if (Has(BalloonProtocol.FeatureStatsQueue))
                SendStats();
            s_active = this;
            if (Has(BalloonProtocol.FeatureDeflateOnOom))
                _shortageSlot = MemoryShortage.Register(&OnShortage);

            Console.Write("virtio-balloon: io ");
            Console.WriteHex(_registers.Base);
            Console.Write(", features offered ");
            Console.WriteHex(_offered);
            Console.Write(" accepted ");
            Console.WriteHex(_accepted);
            Console.Write(", target ");
            Console.Write(_registers.ReadConfig32(BalloonProtocol.ConfigTargetPages));
            Console.Write(" pages, page block ");
            Console.Write(_pbPages);
            Console.Write(" pages");
            if (Has(BalloonProtocol.FeatureReporting))
            {
                Console.Write(", reporting queue ");
                Console.Write(_reportQueue);
            }
            Console.WriteLine();
            return true;
        }

        private bool Has(int feature) => ((_accepted >> feature) & 1) != 0;

        private bool SetUpQueue(ushort index, ref LegacyVirtqueue queue, ref DmaBuffer ring, string what)
        {
            _registers.SelectQueue(index);
            LegacyVirtqueueLayout layout = new LegacyVirtqueueLayout(_registers.SelectedQueueSize);
            if (!layout.IsValid || _registers.SelectedQueuePfn != 0)
                return false;
            if (Pool.Allocate(_rules, layout.TotalBytes, out ring) != DmaStatus.Ok)
                return false;
            if (!KernelDma.Report(_rules, what, ring.Physical, layout.TotalBytes))
                return false;
            ring.Fill(0);
            queue.Initialize(ring.Pointer, layout);
            _registers.SetSelectedQueuePfn((uint)(ring.Physical >> 12));
            return true;
        }

        public override void Unload()
        {
            if (s_active == this)
            {
                MemoryShortage.Unregister(_shortageSlot);
                _shortageSlot = -1;
                s_active = null;
            }
            // Everything lent comes back first (the device is told), then the device stops.
            ulong state = s_lock.Acquire();
            // (After a lost request the device was reset: the blocks come back to the pools untold.)
            while (MoveLocked(0, ulong.MaxValue) > 0)
            {
            }
            TellOwedLocked();
            s_lock.Release(state);
            _registers.Reset();
            ReleaseMemory();
        }

        /// <summary>
        /// Follows the device: sends the deflations the shortage handler owes, moves towards the target
        /// (at most <see cref="PageblocksPerPoll"/> page blocks), writes the actual size, refills the stats
        /// buffer when the host took it, and reports free blocks when free memory grew.
        /// </summary>
        public override void Poll()
        {
            if (_broken)
                return;
            ulong state = s_lock.Acquire();
            TellOwedLocked();
            uint target = _registers.ReadConfig32(BalloonProtocol.ConfigTargetPages);
            MoveLocked(BalloonProtocol.PageblocksFor(target, _pbPages), PageblocksPerPoll);
            s_lock.Release(state);

            if (Has(BalloonProtocol.FeatureStatsQueue) && _stats.HasUsed)
            {
                _stats.TakeUsed();
                SendStats();
            }
            if (Has(BalloonProtocol.FeatureReporting))
                ReportIfGrown();
        }

        /// <summary>
        /// Inflates or deflates towards <paramref name="wanted"/> page blocks, at most
        /// <paramref name="limit"/> of them; returns how many moved. Inflation stops where the pools
        /// say (a guarantee, or no wholly free page block: <see cref="_lastStop"/>). Then writes the
        /// actual size when it changed. The lock held.
        /// </summary>
        private ulong MoveLocked(ulong wanted, ulong limit)
        {
            ulong moved = 0;
            ulong start = Clock.ReadTsc();
            uint* pfns = (uint*)_pfns.Pointer;
            uint count = 0;
            if (_lentPageblocks < wanted)
            {
                _lastStop = MemoryStatus.Ok;
                while (_lentPageblocks < wanted && moved < limit)
                {
                    MemoryStatus status = PhysicalMemoryOwner.InflatePageblock(out Pfn first, out _);
                    if (status != MemoryStatus.Ok)
                    {
                        _lastStop = status;
                        break;
                    }
                    if (!BalloonProtocol.WritePfns(pfns + count, first.Value, _pbPages))
                    {
                        // Beyond what a 32-bit frame number names: keep it out of the balloon.
                        PhysicalMemoryOwner.DeflatePageblock(first);
                        _lastStop = MemoryStatus.OutsideEveryPool;
                        break;
                    }
                    count += (uint)_pbPages;
                    _lentPageblocks++;
                    _inflated++;
                    moved++;
                    if (count + _pbPages > PfnCapacity && !SendLocked(ref _inflate, BalloonProtocol.InflateQueue, ref count))
                        break;
                }
                if (count != 0)
                    SendLocked(ref _inflate, BalloonProtocol.InflateQueue, ref count);
                _inflateCycles += Clock.ReadTsc() - start;
            }
            else if (_lentPageblocks > wanted)
            {
                while (_lentPageblocks > wanted && moved < limit)
                {
                    if (PhysicalMemoryOwner.DeflateNext(out Pfn first, out _) != MemoryStatus.Ok)
                        break;
                    BalloonProtocol.WritePfns(pfns + count, first.Value, _pbPages);
                    count += (uint)_pbPages;
                    _lentPageblocks--;
                    _deflated++;
                    moved++;
                    if (count + _pbPages > PfnCapacity && !SendLocked(ref _deflate, BalloonProtocol.DeflateQueue, ref count))
                        break;
                }
                if (count != 0)
                    SendLocked(ref _deflate, BalloonProtocol.DeflateQueue, ref count);
                _deflateCycles += Clock.ReadTsc() - start;
            }
            WriteActualLocked();
            return moved;
        }

        private void WriteActualLocked()
        {
            uint actual = (uint)(_lentPageblocks * _pbPages);
            if (actual == _actualWritten || _broken)
                return;
            _registers.WriteConfig32(BalloonProtocol.ConfigActualPages, actual);
            _actualWritten = actual;
        }

        /// <summary>Page blocks the shortage handler gave back: told to the host on the deflate queue. The lock held.</summary>
        private void TellOwedLocked()
        {
            if (_owedCount == 0)
                return;
            uint* pfns = (uint*)_pfns.Pointer;
            uint count = 0;
            for (int i = 0; i < _owedCount; i++)
            {
                BalloonProtocol.WritePfns(pfns + count, _owed[i], _pbPages);
                count += (uint)_pbPages;
                if (count + _pbPages > PfnCapacity)
                    SendLocked(ref _deflate, BalloonProtocol.DeflateQueue, ref count);
            }
            if (count != 0)
                SendLocked(ref _deflate, BalloonProtocol.DeflateQueue, ref count);
            _owedCount = 0;
            WriteActualLocked();
        }

        /// <summary>Sends the first <paramref name="count"/> frame numbers of the PFN buffer on a queue and waits for the device; count is reset.</summary>
        private bool SendLocked(ref LegacyVirtqueue queue, ushort index, ref uint count)
        {
            VirtqDescriptor* d = queue.Descriptor(0);
            d->Address = _pfns.Physical;
            d->Length = count * 4;
            d->Flags = 0;
            d->Next = 0;
            count = 0;
            return Submit(ref queue, index);
        }

        /// <summary>Publishes the chain at descriptor 0, kicks the queue, waits for it to come back (bounded); a lost request resets the device.</summary>
        private bool Submit(ref LegacyVirtqueue queue, ushort index)
        {
            if (_broken)
                return false;
            queue.Publish(0);
            _registers.Notify(index);
            ulong spin = 0;
            while (!queue.HasUsed && spin < SpinLimit)
            {
                Clock.Pause();
                spin++;
            }
            if (spin == SpinLimit)
            {
                _registers.Reset();
                _broken = true;
                return false;
            }
            queue.TakeUsed();
            return true;
        }

        /// <summary>Fills the stats buffer with the pools' figures and hands it to the device (which keeps it until the host asks again).</summary>
        private void SendStats()
        {
            MemoryTotals t = PhysicalMemoryOwner.GetTotals();
            BalloonStatsValues v = default;
            // No swap, no page cache, no fault or huge-page counters in this kernel: those figures are 0.
            v.SwapIn = 0;
            v.SwapOut = 0;
            v.MajorFaults = 0;
            v.MinorFaults = 0;
            v.CacheBytes = 0;
            v.HugePageAllocations = 0;
            v.HugePageFailures = 0;
            v.FreeBytes = t.FreePages << 12;
            v.TotalBytes = (t.PresentPages - t.BalloonedPages) << 12;
            // Available: what could still be lent without breaking a guarantee; the host sees the guarantee here.
            v.AvailableBytes = PhysicalMemoryOwner.BalloonablePages() << 12;
            int length = BalloonProtocol.WriteStats(_statsBuffer.Pointer, v);
            VirtqDescriptor* d = _stats.Descriptor(0);
            d->Address = _statsBuffer.Physical;
            d->Length = (uint)length;
            d->Flags = 0;
            d->Next = 0;
            _stats.Publish(0);
            _registers.Notify(BalloonProtocol.StatsQueue);
            _statsSent++;
        }

        /// <summary>
        /// Free page reporting when free memory grew by <see cref="ReportGrowthPages"/> since the last
        /// report and stayed so for <see cref="ReportDelayCycles"/>: every free page block of every pool is taken (owner Balloon), handed to the device
        /// in chains of up to <see cref="ReportBatch"/>, and freed again once the device gave the chain back;
        /// the blocks stay free memory (the host only drops their contents).
        /// </summary>
        private void ReportIfGrown()
        {
            ulong free = PhysicalMemoryOwner.GetTotals().FreePages;
            if (free < _freeAtLastReport)
                _freeAtLastReport = free;
            ulong start = Clock.ReadTsc();
            if (free < _freeAtLastReport + ReportGrowthPages)
            {
                _grownSince = 0;
                return;
            }
            if (_grownSince == 0)
                _grownSince = start;
            if (start - _grownSince < ReportDelayCycles)
                return;
            _grownSince = 0;
            ulong blocks = 0;
            ulong* held = stackalloc ulong[(int)ReportBatch];
            Order order = new Order(PhysicalMemoryOwner.PageblockOrder);
            s_reporting = true;
            for (int p = 0; p < PhysicalMemoryOwner.PoolCapacity && !_broken; p++)
            {
                PoolId id = new PoolId((byte)p);
                if (PhysicalMemoryOwner.GetPoolStats(id, out _) != MemoryStatus.Ok)
                    continue;
                ulong available = 0;
                for (int o = order.Value; o <= PhysicalMemoryOwner.MaxOrder; o++)
                    available += PhysicalMemoryOwner.FreeBlocks(id, new Order(o)) << (o - order.Value);
                AllocRequest request = AllocRequest.InPool(id);
                request.Owner = Owners.Balloon;
                while (available > 0 && !_broken)
                {
                    uint n = 0;
                    while (n < ReportBatch && available > 0 && PhysicalMemoryOwner.Allocate(order, request, out Pfn pfn) == MemoryStatus.Ok)
                    {
                        held[n++] = pfn.Value;
                        available--;
                    }
                    if (n == 0)
                        break;
                    for (uint i = 0; i < n; i++)
                    {
                        VirtqDescriptor* d = _report.Descriptor((int)i);
                        d->Address = held[i] << 12;
                        d->Length = (uint)(_pbPages << 12);
                        d->Flags = (ushort)(VirtqDescriptor.FlagWrite | (i + 1 < n ? VirtqDescriptor.FlagNext : 0));
                        d->Next = (ushort)(i + 1 < n ? i + 1 : 0);
                    }
                    Submit(ref _report, _reportQueue);
                    for (uint i = 0; i < n; i++)
                        PhysicalMemoryOwner.Free(new Pfn(held[i]), order, Owners.Balloon);
                    blocks += n;
                    if (n < ReportBatch)
                        break;
                }
            }
            s_reporting = false;
            _reports++;
            _lastReportBlocks = blocks;
            _reportedBlocks += blocks;
            _lastReportCycles = Clock.ReadTsc() - start;
            _freeAtLastReport = PhysicalMemoryOwner.GetTotals().FreePages;
        }

        /// <summary>
        /// The shortage handler (<see cref="MemoryShortage"/>, deflate-on-oom): gives back enough lent
        /// page blocks for <paramref name="pages"/> frames (at least one), records them for the host
        /// (told at the next poll: MUST_TELL_HOST is not negotiated, so they may be used at once), and
        /// returns the frames given back.
        /// </summary>
        private static ulong OnShortage(ulong pages)
        {
            VirtioBalloonDriver d = s_active;
            if (d == null || s_reporting)
                return 0;
            ulong state = s_lock.Acquire();
            ulong want = (pages + d._pbPages - 1) / d._pbPages;
            if (want == 0)
                want = 1;
            ulong given = 0;
            while (given < want && d._owedCount < d._owed.Length && d._lentPageblocks > 0)
            {
                if (PhysicalMemoryOwner.DeflateNext(out Pfn first, out _) != MemoryStatus.Ok)
                    break;
                d._owed[d._owedCount++] = first.Value;
                d._lentPageblocks--;
                d._oomDeflated++;
                given++;
            }
            s_lock.Release(state);
            return given * d._pbPages;
        }

        /// <summary>What the shell's <c>balloon</c> command shows, read under the lock.</summary>
        internal struct Report
        {
            public uint TargetPages, ActualPages;
            public ulong LentPageblocks, PageblockPages, Inflated, Deflated, OomDeflated, InflateCycles, DeflateCycles;
            public ulong StatsSent, Reports, LastReportBlocks, LastReportCycles, ReportedBlocks, Owed;
            public uint Offered, Accepted;
            public MemoryStatus LastStop;
            public bool Broken;
        }

        internal Report Snapshot()
        {
            Report r = default;
            ulong state = s_lock.Acquire();
            r.TargetPages = _broken ? 0 : _registers.ReadConfig32(BalloonProtocol.ConfigTargetPages);
            r.ActualPages = _actualWritten;
            r.LentPageblocks = _lentPageblocks;
            r.PageblockPages = _pbPages;
            r.Inflated = _inflated;
            r.Deflated = _deflated;
            r.OomDeflated = _oomDeflated;
            r.InflateCycles = _inflateCycles;
            r.DeflateCycles = _deflateCycles;
            r.Owed = (ulong)_owedCount;
            r.LastStop = _lastStop;
            s_lock.Release(state);
            r.StatsSent = _statsSent;
            r.Reports = _reports;
            r.LastReportBlocks = _lastReportBlocks;
            r.LastReportCycles = _lastReportCycles;
            r.ReportedBlocks = _reportedBlocks;
            r.Offered = _offered;
            r.Accepted = _accepted;
            r.Broken = _broken;
            return r;
        }

        private void ReleaseMemory()
        {
            Release(ref _inflateRing);
            Release(ref _deflateRing);
            Release(ref _statsRing);
            Release(ref _reportRing);
            Release(ref _pfns);
            Release(ref _statsBuffer);
            if (Pool != null)
            {
                DmaStatus status = KernelDma.Pools.Detach(Pool, DeviceName);
                if (status != DmaStatus.Ok)
                {
                    Console.Write("virtio-balloon: detach from DMA pool refused: ");
                    Console.WriteLine(DmaStatusText.Describe(status));
                }
                Pool = null;
            }
        }

        private static void Release(ref DmaBuffer buffer)
        {
            if (buffer.IsValid)
                buffer.Release();
            buffer = default;
        }

        private bool FailAndRelease(string reason)
        {
            _registers.Reset();
            ReleaseMemory();
            return Fail(reason);
        }

        private bool FailDevice(string reason)
        {
            _registers.AddStatus(VirtioLegacy.StatusFailed);
            return Fail(reason);
        }

        private static bool Fail(string reason)
        {
            Console.Write("virtio-balloon: ");
            Console.WriteLine(reason);
            return false;
        }
    }
}
