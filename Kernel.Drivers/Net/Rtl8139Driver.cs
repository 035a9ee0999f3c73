using System;
using PoolKernel.Drivers.Dma;
using PoolKernel.Drivers.Pci;
using PoolKernel.Drivers.Platform;
using R = PoolKernel.Drivers.Net.Rtl8139Registers;

namespace PoolKernel.Drivers.Net
{
    /// <summary>
    /// Realtek RTL8139 (PCI 10ec:8139) in internal MAC loopback: the transmitter-config LBK field
    /// set to 11 makes the chip hand every frame it sends straight to its own receiver, so the
    /// `netloop` test needs no second card and no host network. QEMU's model implements this mode
    /// (its transmit path checks TxConfig's loopback bits and calls its own receive routine).
    ///
    /// DMA, all 32-bit (the chip has 32-bit RBSTART and TSAD registers):
    /// - one receive ring, physically contiguous, 8K + 16 bytes plus 1500 spare bytes because the
    ///   ring runs in WRAP mode (a frame that reaches the end is written on past it, never split);
    /// - four transmit buffers (the chip has exactly four TSAD/TSD pairs, used round robin),
    ///   DWORD-aligned, up to 1792 bytes each, carved two to a page from a block pool.
    /// No interrupts: Send waits for TOK, Receive polls the buffer-empty bit.
    /// </summary>
    internal sealed unsafe class Rtl8139Driver : Driver
    {
        private const string DeviceName = "rtl8139";
        private const ushort VendorRealtek = 0x10EC;
        private const ushort Device8139 = 0x8139;

        /// <summary>RBLEN = 00: an 8 KiB ring; the chip's offsets wrap at this size.</summary>
        private const uint RingSize = 8192;
        /// <summary>8K + 16 (the datasheet's ring length for RBLEN 00) + 1500 spare for WRAP mode.</summary>
        private const uint RingBytes = RingSize + 16 + 1500;
        private const int TransmitBuffers = 4;
        /// <summary>Largest frame one TSD describes (datasheet: up to 1792 bytes).</summary>
        private const int MaxTransmitFrame = 1792;
        private const uint TransmitBlock = 2048;
        /// <summary>Shorter frames are padded with zeros: 60 bytes is Ethernet's minimum without CRC.</summary>
        private const int MinFrame = 60;
        /// <summary>Header (4) and CRC (4) around each frame in the ring; frames start DWORD-aligned.</summary>
        private const int ReceiveHeader = 4;
        private const int Crc = 4;
        private const int MaxReceiveLength = 1514 + Crc;
        private const int Spin = 2000000;

        /// <summary>Set again at each load with the function's node.</summary>
        private DmaDevice _rules = new DmaDevice(DeviceName, 32, boundary: 0, alignment: 4);
        private ushort _io;
        private byte* _mac;
        private DmaBuffer _ring;
        private DmaBlockPool _transmitPool;
        private readonly ulong[] _transmitPhysical = new ulong[TransmitBuffers];
        private readonly byte*[] _transmitPointer = new byte*[TransmitBuffers];
        private int _transmitCount;
        private int _nextTransmit;
        private uint _readOffset;
        private Rtl8139Nic _nic;

        public override string Name => DeviceName;

        internal DmaDevice Rules => _rules;

        internal byte* MacAddress => _mac;

        public override bool Matches(in PciFunction function)
            => function.VendorId == VendorRealtek && function.DeviceId == Device8139;

        public override bool Load(PciFunction* function)
        {
            if (function == null || !function->HasBar(0) || !function->Bar(0).IsIo)
            {
                Console.WriteLine("rtl8139: no I/O BAR 0");
                return false;
            }
            _io = (ushort)function->Bar(0).Address;
            // The device's DMA memory on its node (the firmware's, -1 for none: any node).
            _rules = new DmaDevice(DeviceName, 32, boundary: 0, alignment: 4, node: function->Node);
            if (_mac == null)
                _mac = (byte*)Heap.KernelHeapGlue.Alloc(8, 8);
            if (_nic == null)
                _nic = new Rtl8139Nic(this);

            PciBus.EnableBusMastering(*function);
            Ports.OutB((ushort)(_io + R.Config1), 0);
            if (!Reset())
            {
                Console.WriteLine("rtl8139: reset did not complete");
                return false;
            }
            for (int i = 0; i < 6; i++)
                _mac[i] = Ports.InB((ushort)(_io + R.MacAddress + i));

            if (!TakeMemory())
            {
                ReturnMemory();
                DisableBusMastering(function);
                return false;
            }

            Ports.OutD((ushort)(_io + R.ReceiveBufferStart), (uint)_ring.Physical);
            Ports.OutW((ushort)(_io + R.InterruptMask), 0);
            Ports.OutW((ushort)(_io + R.InterruptStatus), R.InterruptAll);
            // The transmitter must be enabled before TCR is written (the chip ignores TCR writes
            // while it is off), so enable both first, then configure.
            Ports.OutB((ushort)(_io + R.Command), R.CommandReceiverEnable | R.CommandTransmitterEnable);
            Ports.OutD((ushort)(_io + R.ReceiveConfig), R.ReceiveAcceptMyAddress | R.ReceiveAcceptMulticast | R.ReceiveAcceptBroadcast
                | R.ReceiveNoWrap | R.ReceiveDmaUnlimited | R.ReceiveRing8K | R.ReceiveNoThreshold);
            Ports.OutD((ushort)(_io + R.TransmitConfig), R.TransmitLoopbackMac | R.TransmitDmaBurst2048 | R.TransmitGapStandard);
            uint tcr = Ports.InD((ushort)(_io + R.TransmitConfig));
            if ((tcr & R.TransmitLoopbackMask) != R.TransmitLoopbackMac)
            {
                Console.Write("rtl8139: loopback not accepted, TCR=");
                Console.WriteHex(tcr);
                Console.WriteLine();
                Reset();
                ReturnMemory();
                DisableBusMastering(function);
                return false;
            }
            for (int i = 0; i < TransmitBuffers; i++)
                Ports.OutD((ushort)(_io + R.TransmitAddress0 + 4 * i), (uint)_transmitPhysical[i]);
            _readOffset = 0;
            _nextTransmit = 0;

            Console.Write("rtl8139: mac ");
            for (int i = 0; i < 6; i++)
            {
                if (i != 0)
                    Console.Write(":");
                DriverManager.WriteHex2(_mac[i]);
            }
            Console.Write(" io ");
            Console.WriteHex(_io);
            Console.Write(" TCR=");
            Console.WriteHex(tcr);
            Console.WriteLine(" (internal MAC loopback)");
            DriverManager.RegisterNic(_nic);
            return true;
        }

        public override void Unload()
        {
            // Reset first: it clears RE/TE and RBSTART, so the chip no longer touches our memory.
            if (!Reset())
                Console.WriteLine("rtl8139: reset on unload did not complete");
            DisableBusMastering(Function);
            DriverManager.UnregisterNic(_nic);
            ReturnMemory();
        }

        /// <summary>Software reset (CR.RST); true once the chip clears the bit again.</summary>
        private bool Reset()
        {
            Ports.OutB((ushort)(_io + R.Command), R.CommandReset);
            for (int spin = 0; spin < Spin; spin++)
            {
                if ((Ports.InB((ushort)(_io + R.Command)) & R.CommandReset) == 0)
                    return true;
                Clock.Pause();
            }
            return false;
        }

        private static void DisableBusMastering(PciFunction* function)
        {
            if (function != null)
                PciBus.Write16(*function, 0x04, (ushort)(PciBus.Read16(*function, 0x04) & ~PciBus.CommandBusMaster));
        }

        /// <summary>The pool, the receive ring and the four transmit buffers, each checked and reported. False = some failed (reason printed).</summary>
        private bool TakeMemory()
        {
            DmaStatus status = KernelDma.Pools.Attach(_rules, RingBytes + 2 * 4096, out DmaPool pool, Owner);
            if (status != DmaStatus.Ok)
                return Fail("attach", status);
            Pool = pool;
            status = pool.Allocate(_rules, RingBytes, out _ring);
            if (status != DmaStatus.Ok)
                return Fail("receive ring", status);
            if (!KernelDma.Report(_rules, "rx-ring", _ring.Physical, RingBytes))
                return false;
            _transmitPool = pool.CreateBlockPool(_rules, TransmitBlock, 4);
            for (int i = 0; i < TransmitBuffers; i++)
            {
                status = _transmitPool.Allocate(out ulong physical, out byte* pointer);
                if (status != DmaStatus.Ok)
                    return Fail("transmit buffer", status);
                _transmitPhysical[i] = physical;
                _transmitPointer[i] = pointer;
                _transmitCount++;
                if (!KernelDma.Report(_rules, TransmitName(i), physical, TransmitBlock))
                    return false;
            }
            return true;
        }

        private static string TransmitName(int i)
            => i == 0 ? "tx-buffer0" : i == 1 ? "tx-buffer1" : i == 2 ? "tx-buffer2" : "tx-buffer3";

        private static bool Fail(string what, DmaStatus status)
        {
            Console.Write("rtl8139: ");
            Console.Write(what);
            Console.Write(": ");
            Console.WriteLine(DmaStatusText.Describe(status));
            return false;
        }

        /// <summary>Gives back whatever <see cref="TakeMemory"/> took (also after a partial take), then detaches.</summary>
        private void ReturnMemory()
        {
            for (int i = 0; i < _transmitCount; i++)
            {
                DmaStatus freed = _transmitPool.Free(_transmitPhysical[i]);
                if (freed != DmaStatus.Ok)
                    Fail("free transmit buffer", freed);
                _transmitPhysical[i] = 0;
                _transmitPointer[i] = null;
            }
            _transmitCount = 0;
            if (_transmitPool != null)
            {
                DmaStatus released = _transmitPool.Release();
                if (released != DmaStatus.Ok)
                    Fail("release transmit pool", released);
                _transmitPool = null;
            }
            if (_ring.IsValid)
            {
                DmaStatus released = _ring.Release();
                if (released != DmaStatus.Ok)
                    Fail("release receive ring", released);
            }
            _ring = default;
            if (Pool != null)
            {
                DmaStatus detached = KernelDma.Pools.Detach(Pool, DeviceName);
                if (detached != DmaStatus.Ok)
                    Fail("detach", detached);
                Pool = null;
            }
        }

        /// <summary>
        /// Copies the frame into the next transmit buffer and hands it to the chip; waits for TOK.
        /// False when the buffer is still the chip's, the frame is too long, or the send aborted.
        /// </summary>
        internal bool Send(byte* frame, int length)
        {
            if (length <= 0 || length > MaxTransmitFrame || _transmitCount != TransmitBuffers)
                return false;
            int i = _nextTransmit;
            ushort tsd = (ushort)(_io + R.TransmitStatus0 + 4 * i);
            if (!WaitHostOwns(tsd))
                return false;
            byte* buffer = _transmitPointer[i];
            for (int b = 0; b < length; b++)
                buffer[b] = frame[b];
            int size = length;
            for (; size < MinFrame; size++)
                buffer[size] = 0;
            // OWN = 0 and the size hand the buffer to the chip; early-transmit threshold 0 (8 bytes).
            Ports.OutD(tsd, (uint)size & R.TransmitSizeMask);
            _nextTransmit = (i + 1) % TransmitBuffers;
            for (int spin = 0; spin < Spin; spin++)
            {
                uint status = Ports.InD(tsd);
                if ((status & (R.TransmitAborted | R.TransmitUnderrun)) != 0)
                    return false;
                if ((status & R.TransmitOk) != 0)
                {
                    Ports.OutW((ushort)(_io + R.InterruptStatus), R.InterruptTransmitOk);
                    return true;
                }
                Clock.Pause();
            }
            return false;
        }

        private bool WaitHostOwns(ushort tsd)
        {
            for (int spin = 0; spin < Spin; spin++)
            {
                if ((Ports.InD(tsd) & R.TransmitHostOwns) != 0)
                    return true;
                Clock.Pause();
            }
            return false;
        }

        /// <summary>
        /// Takes the next frame from the receive ring: header (status, length incl. CRC), frame,
        /// CRC, then the next DWORD. Advances CAPR past it. 0 when the ring is empty; a bad header
        /// resynchronises the ring at the chip's write position and returns 0.
        /// </summary>
        internal int Receive(byte* destination, int capacity)
        {
            if ((Ports.InB((ushort)(_io + R.Command)) & R.CommandBufferEmpty) != 0)
                return 0;
            byte* entry = _ring.Pointer + _readOffset;
            ushort status = *(ushort*)entry;
            int length = *(ushort*)(entry + 2);
            if ((status & R.ReceiveStatusOk) == 0 || length < 14 + Crc || length > MaxReceiveLength)
            {
                Console.Write("rtl8139: bad receive header status=");
                Console.WriteHex(status);
                Console.Write(" length=");
                Console.Write(length);
                Console.WriteLine(", ring resynchronised");
                // CBR (0x3A) is where the chip will write next; skip everything before it.
                _readOffset = Ports.InW((ushort)(_io + R.ReadPointer + 2)) % RingSize;
                Ports.OutW((ushort)(_io + R.ReadPointer), (ushort)(_readOffset - 16));
                return 0;
            }
            int frameLength = length - Crc;
            int n = frameLength < capacity ? frameLength : capacity;
            // WRAP mode: the frame lies in one piece even when it runs past the 8K ring end.
            for (int b = 0; b < n; b++)
                destination[b] = entry[ReceiveHeader + b];
            _readOffset = ((_readOffset + ReceiveHeader + (uint)length + 3) & ~3u) % RingSize;
            Ports.OutW((ushort)(_io + R.ReadPointer), (ushort)(_readOffset - 16));
            Ports.OutW((ushort)(_io + R.InterruptStatus), R.InterruptReceiveOk);
            return n;
        }
    }

    /// <summary>The network interface an <see cref="Rtl8139Driver"/> registers.</summary>
    internal sealed unsafe class Rtl8139Nic : NetworkDevice
    {
        private readonly Rtl8139Driver _driver;

        internal Rtl8139Nic(Rtl8139Driver driver) => _driver = driver;

        public override string Name => _driver.Name;
        public override byte* MacAddress => _driver.MacAddress;
        protected override bool SendFrame(byte* frame, int length) => _driver.Send(frame, length);
        protected override int ReceiveFrame(byte* buffer, int capacity) => _driver.Receive(buffer, capacity);
        public override DmaDevice Rules => _driver.Rules;
    }
}
