using System;
using PoolKernel.Drivers.Pci;
using PoolKernel.Mm;

namespace PoolKernel.Drivers
{
    /// <summary>
    /// Loads drivers at boot for the devices present (PCI functions, then legacy ISA devices),
    /// keeps the block and network devices they register, and unloads them on request.
    /// </summary>
    internal static unsafe class DriverManager
    {
        private const int MaxDrivers = 16;
        private static Driver[] s_drivers;
        private static int s_driverCount;
        private static BlockDevice[] s_disks;
        private static int s_diskCount;
        private static NetworkDevice[] s_nics;
        private static int s_nicCount;

        internal static int DriverCount => s_driverCount;
        internal static Driver GetDriver(int i) => (uint)i < (uint)s_driverCount ? s_drivers[i] : null;
        internal static int DiskCount => s_diskCount;
        internal static BlockDevice GetDisk(int i) => (uint)i < (uint)s_diskCount ? s_disks[i] : null;
        internal static int NicCount => s_nicCount;
        internal static NetworkDevice GetNic(int i) => (uint)i < (uint)s_nicCount ? s_nics[i] : null;

        private static void Add(Driver driver) => s_drivers[s_driverCount++] = driver;

        /// <summary>The driver whose <see cref="Driver.Load"/> runs now (its disks and interfaces are registered as its), or null.</summary>
        private static Driver s_loading;

        /// <summary>Every driver the kernel has, in probe order.</summary>
        private static void CreateDrivers()
        {
            s_drivers = new Driver[MaxDrivers];
            s_disks = new BlockDevice[8];
            s_nics = new NetworkDevice[4];
            Add(new Net.Rtl8139Driver());
            Add(new Ata.PiixIdeDriver());
            Add(new VirtioBlock.VirtioBlockDriver());
            Add(new Floppy.FloppyDriver());
            Add(new VirtioBalloon.VirtioBalloonDriver());
        }

        internal static void LoadAll()
        {
            CreateDrivers();
            void* storage = Heap.KernelHeapGlue.Alloc((nuint)(sizeof(PciFunction) * PciBus.MaxFunctions), 8);
            PciBus.Enumerate(storage);
            KernelDma.Initialize();
            for (int i = 0; i < PciBus.Count; i++)
            {
                PciFunction* f = PciBus.Get(i);
                for (int d = 0; d < s_driverCount; d++)
                {
                    Driver driver = s_drivers[d];
                    if (driver.Loaded || !driver.Matches(*f))
                        continue;
                    Start(driver, f);
                    break;
                }
            }
            for (int d = 0; d < s_driverCount; d++)
            {
                Driver driver = s_drivers[d];
                if (!driver.Loaded && driver.ProbeLegacy())
                    Start(driver, null);
            }
        }

        private static void Start(Driver driver, PciFunction* f)
        {
            Console.Write("driver: ");
            Console.Write(driver.Name);
            if (f != null)
            {
                Console.Write(" takes pci ");
                WriteAddress(*f);
            }
            else
            {
                Console.Write(" takes its legacy device");
            }
            Console.WriteLine();
            driver.Function = f;
            driver.Owner = Containers.ForDriver(driver.Name, out bool created);
            driver.OwnsContainer = created;
            if (driver.Owner == Memory.FrameOwner.None)
            {
                Console.Write("driver: ");
                Console.Write(driver.Name);
                Console.WriteLine(" runs without a container (no container table, or every container number taken): its DMA memory is the dma owner's");
            }
            s_loading = driver;
            Heap.ContainerArenas.DriverScope acting = Driver.Enter(driver, "load");
            bool loaded = driver.Load(f);
            Driver.Leave(acting);
            s_loading = null;
            if (loaded)
            {
                driver.Loaded = true;
                return;
            }
            Console.Write("driver: ");
            Console.Write(driver.Name);
            Console.WriteLine(" did not load (no usable device, or the reason above)");
            GiveBack(driver, out _, out _, out _);
        }

        /// <summary>
        /// After a driver stopped (or failed to load): whatever DMA memory is still charged to its container goes
        /// back (<see cref="Dma.DmaPoolManager.ReleaseOwner"/>: <paramref name="takenBack"/> pages, 0 when the driver
        /// returned everything itself); then, for the container the manager made for it, the managed objects its code
        /// made that the kernel still references (the driver's tables keep them past its unload) are adopted by the
        /// kernel's heap (<see cref="Heap.ContainerArenas.Retire"/>: <paramref name="adopted"/>), and the container is
        /// destroyed (its held pages then, its heap arena's metadata and what the adoption left, in
        /// <paramref name="leftAtDestroy"/>). A command-line container of the driver's name stays, with its arena.
        /// False when the DMA pools, the adoption or the container refused.
        /// </summary>
        private static bool GiveBack(Driver driver, out ulong takenBack, out ulong leftAtDestroy, out Memory.HeapAdoption adopted)
        {
            takenBack = 0;
            leftAtDestroy = 0;
            adopted = default;
            byte owner = driver.Owner;
            if (owner == Memory.FrameOwner.None)
                return true;
            bool ok = KernelDma.Pools == null || KernelDma.Pools.ReleaseOwner(owner, out takenBack) == Dma.DmaStatus.Ok;
            if (ok && driver.OwnsContainer)
                ok = Heap.ContainerArenas.Retire(owner, out adopted, out _, out _);
            if (ok && driver.OwnsContainer)
                ok = Containers.Destroy(owner, out leftAtDestroy) == Memory.MemoryStatus.Ok;
            if (ok)
            {
                driver.Owner = Memory.FrameOwner.None;
                driver.OwnsContainer = false;
            }
            return ok;
        }

        /// <summary>True when <paramref name="owner"/> is the container of a loaded driver: only that driver allocates and frees as it.</summary>
        internal static bool IsDriverOwner(byte owner)
        {
            for (int d = 0; d < s_driverCount; d++)
            {
                if (s_drivers[d].Loaded && s_drivers[d].Owner == owner)
                    return true;
            }
            return false;
        }

        /// <summary>TSC cycles between two rounds of <see cref="PollIdle"/>: a few milliseconds at the GHz rates QEMU's TSC runs at.</summary>
        internal const ulong PollCycles = 10_000_000;

        /// <summary>When the last round of polls started; written only by the CPU holding <see cref="s_polling"/>.</summary>
        private static ulong s_lastPoll;

        /// <summary>1 while a CPU polls the drivers or unloads one: one poll round at a time, and no driver unloaded under its poll.</summary>
        private static int s_polling;

        /// <summary>
        /// Every loaded driver's <see cref="Driver.Poll"/>, once every <see cref="PollCycles"/> cycles.
        /// Called by the housekeeping CPU's idle loop at every timer tick (Platform/Smp.cs) and by the
        /// shell's idle loop while it waits for input; a call while another CPU polls returns at once.
        /// </summary>
        internal static void PollIdle()
        {
            if (s_drivers == null || System.Threading.Interlocked.CompareExchange(ref s_polling, 1, 0) != 0)
                return;
            ulong now = Platform.Clock.ReadTsc();
            if (now - s_lastPoll >= PollCycles)
            {
                s_lastPoll = now;
                for (int d = 0; d < s_driverCount; d++)
                {
                    if (s_drivers[d].Loaded)
                    {
                        Heap.ContainerArenas.DriverScope acting = Driver.Enter(s_drivers[d], "poll");
                        s_drivers[d].Poll();
                        Driver.Leave(acting);
                    }
                }
            }
            System.Threading.Volatile.Write(ref s_polling, 0);
        }

        internal static void RegisterDisk(BlockDevice disk)
        {
            disk.Driver = s_loading;
            if (s_diskCount < s_disks.Length)
                s_disks[s_diskCount++] = disk;
        }

        internal static void RegisterNic(NetworkDevice nic)
        {
            nic.Driver = s_loading;
            if (s_nicCount < s_nics.Length)
                s_nics[s_nicCount++] = nic;
        }

        internal static void UnregisterDisk(BlockDevice disk)
        {
            for (int i = 0; i < s_diskCount; i++)
            {
                if (s_disks[i] == disk)
                {
                    s_disks[i] = s_disks[--s_diskCount];
                    s_disks[s_diskCount] = null;
                    return;
                }
            }
        }

        internal static void UnregisterNic(NetworkDevice nic)
        {
            for (int i = 0; i < s_nicCount; i++)
            {
                if (s_nics[i] == nic)
                {
                    s_nics[i] = s_nics[--s_nicCount];
                    s_nics[s_nicCount] = null;
                    return;
                }
            }
        }

        /// <summary>What unloading a driver gave back, for the shell's line.</summary>
        internal struct UnloadReport
        {
            /// <summary>The container the driver ran as (FrameOwner.None: none).</summary>
            public byte Owner;
            /// <summary>Pages the container held just before the driver stopped.</summary>
            public ulong HeldBefore;
            /// <summary>Pages of DMA buffers the driver had not returned, freed for it.</summary>
            public ulong TakenBack;
            /// <summary>Whether the container was destroyed (it was made for the driver) and that and the DMA pools agreed.</summary>
            public bool Destroyed;
            public bool Refused;
            /// <summary>What the kernel's heap adopted of the container's heap arena (the objects its code made that are still referenced).</summary>
            public Memory.HeapAdoption Adopted;
            /// <summary>Pages the container still held when it was destroyed (its arena's metadata and what the adoption left), given back.</summary>
            public ulong GivenBack;
        }

        /// <summary>Unloads a driver by name; its memory goes back and its DMA pool shrinks or goes away.</summary>
        internal static bool Unload(Driver driver) => Unload(driver, out _);

        /// <summary>
        /// Unloads a driver: its own Unload stops the device and returns its buffers, then <see cref="GiveBack"/>
        /// takes back what it left and destroys the container made for it. False when it was not loaded.
        /// </summary>
        internal static bool Unload(Driver driver, out UnloadReport report)
        {
            report = default;
            report.Owner = driver.Owner;
            if (driver.Owner != Memory.FrameOwner.None && Containers.Usage(driver.Owner, out Memory.ContainerUsage usage))
                report.HeldBefore = usage.HeldPages;
            // Not under a poll of another CPU (PollIdle): wait until it is done, and keep the next out.
            while (System.Threading.Interlocked.CompareExchange(ref s_polling, 1, 0) != 0)
                Platform.Clock.Pause();
            bool loaded = driver.Loaded;
            if (loaded)
            {
                // The sector cache writes its pages back and forgets the disks first, and reaches no disk meanwhile.
                BlockCache.SectorCache.BeginUnload();
                Heap.ContainerArenas.DriverScope acting = Driver.Enter(driver, "unload");
                driver.Unload();
                Driver.Leave(acting);
                driver.Loaded = false;
                bool owned = driver.OwnsContainer;
                report.Refused = !GiveBack(driver, out report.TakenBack, out report.GivenBack, out report.Adopted);
                report.Destroyed = owned && !report.Refused;
                BlockCache.SectorCache.EndUnload();
            }
            System.Threading.Volatile.Write(ref s_polling, 0);
            return loaded;
        }

        internal static void WriteAddress(in PciFunction f)
        {
            WriteHex2(f.Bus);
            Console.Write(":");
            WriteHex2(f.Device);
            Console.Write(".");
            Console.Write(f.Function);
        }

        internal static void WriteHex2(uint value)
        {
            const string digits = "0123456789abcdef";
            Console.Write(digits[(int)(value >> 4) & 15]);
            Console.Write(digits[(int)value & 15]);
        }

        internal static void WriteHex4(uint value)
        {
            WriteHex2(value >> 8);
            WriteHex2(value & 0xFF);
        }
    }
}
