namespace PoolKernel.Boot.MemoryMap
{
    /// <summary>
    /// One code per kind of problem the sanitizer repairs. The meaning of the numbers of a
    /// <see cref="MemoryMapDiagnostic"/> is given per code; <see cref="MemoryMapDiagnostics.Describe"/>
    /// returns a constant sentence the kernel prints after "memmap: entry N ".
    /// </summary>
    public enum MemoryMapDiagnosticCode : uint
    {
        None = 0,
        /// <summary>Value0 = base. Entry dropped.</summary>
        ZeroLength = 1,
        /// <summary>Value0 = base, Value1 = length; base + length wraps past 2^64. Entry dropped.</summary>
        AddressOverflow = 2,
        /// <summary>Value0 = base, Value1 = length; the end lies beyond 2^52. Entry dropped.</summary>
        BeyondPhysicalLimit = 3,
        /// <summary>Value0 = the type number; the entry is treated as reserved.</summary>
        UnknownType = 4,
        /// <summary>Value0 = base, Value1 = length of an available entry; it was shrunk inward to 4 KiB boundaries.</summary>
        UnalignedShrunk = 5,
        /// <summary>Value0 = base, Value1 = length of an available entry holding no whole 4 KiB page. Entry dropped.</summary>
        UnalignedNoWholePage = 6,
        /// <summary>Other = earlier entry; Value0..Value1 = overlap. Available memory lost the overlap.</summary>
        AvailableOverlapsReserved = 7,
        /// <summary>Other = earlier entry; Value0..Value1 = overlap. Both available: merged.</summary>
        AvailableOverlapsAvailable = 8,
        /// <summary>Other = earlier entry; Value0..Value1 = overlap. Same non-available type: merged.</summary>
        ReservedOverlapsSameType = 9,
        /// <summary>Other = earlier entry; Value0..Value1 = overlap. Different non-available types: the more restrictive wins.</summary>
        ReservedOverlapsOtherType = 10,
        /// <summary>Value0 = entries dropped because the raw map was full, all of them available RAM; Value1 = their bytes (Index = -1).</summary>
        RawMapOverflow = 11,
    }

    /// <summary>One problem: what, which raw entry (Index), which other entry if any (Other, else -1), and numbers.</summary>
    public struct MemoryMapDiagnostic
    {
        public MemoryMapDiagnosticCode Code;
        public int Index;
        public int Other;
        public ulong Value0;
        public ulong Value1;
    }

    /// <summary>Fixed-capacity list of diagnostics over <see cref="DiagnosticLog"/>; further problems are only counted.</summary>
    public struct MemoryMapDiagnostics
    {
        /// <summary>Enough for every entry of a badly broken map to report once or twice.</summary>
        public const int Capacity = 64;
        /// <summary>Does not compile if <see cref="Capacity"/> exceeds the shared log's storage.</summary>
        private const uint CapacityFitsLog = (uint)(DiagnosticLog.MaxCapacity - Capacity);

        private DiagnosticLog _log;

        public int Count => _log.Count;
        /// <summary>Problems found after the list was full.</summary>
        public int Dropped => _log.Dropped;

        public void Clear() => _log.Clear();

        public void Add(MemoryMapDiagnosticCode code, int index, int other, ulong value0, ulong value1)
            => _log.Add(Capacity, (uint)code, index, other, 0, value0, value1);

        public MemoryMapDiagnostic Get(int i)
        {
            DiagnosticLog.Entry e = _log.Get(i);
            MemoryMapDiagnostic d = default;
            d.Code = (MemoryMapDiagnosticCode)e.Code;
            d.Index = e.Index;
            d.Other = e.Other;
            d.Value0 = e.Value0;
            d.Value1 = e.Value1;
            return d;
        }

        /// <summary>How many recorded diagnostics carry <paramref name="code"/>.</summary>
        public int CountOf(MemoryMapDiagnosticCode code) => _log.CountOf((uint)code);

        /// <summary>A constant sentence for <paramref name="code"/>; the caller prints the numbers around it.</summary>
        public static string Describe(MemoryMapDiagnosticCode code)
        {
            switch (code)
            {
                case MemoryMapDiagnosticCode.None: return "no problem";
                case MemoryMapDiagnosticCode.ZeroLength: return "has length zero; dropped (base)";
                case MemoryMapDiagnosticCode.AddressOverflow: return "wraps past 2^64; dropped (base, length)";
                case MemoryMapDiagnosticCode.BeyondPhysicalLimit: return "ends beyond 2^52; dropped (base, length)";
                case MemoryMapDiagnosticCode.UnknownType: return "has an unknown type; treated as reserved (type)";
                case MemoryMapDiagnosticCode.UnalignedShrunk: return "is available but not page aligned; shrunk inward to 4 KiB (base, length)";
                case MemoryMapDiagnosticCode.UnalignedNoWholePage: return "is available but holds no whole 4 KiB page; dropped (base, length)";
                case MemoryMapDiagnosticCode.AvailableOverlapsReserved: return "overlaps the other entry, one not available; overlap removed from RAM (overlap start, end)";
                case MemoryMapDiagnosticCode.AvailableOverlapsAvailable: return "overlaps the other available entry; merged (overlap start, end)";
                case MemoryMapDiagnosticCode.ReservedOverlapsSameType: return "overlaps the other entry of the same type; merged (overlap start, end)";
                case MemoryMapDiagnosticCode.ReservedOverlapsOtherType: return "overlaps the other entry of a different reserved type; stricter type kept (overlap start, end)";
                case MemoryMapDiagnosticCode.RawMapOverflow: return "loader reported more entries than fit; available entries not used, every reserved one kept (entries, bytes of RAM)";
                default: return "unknown memory map diagnostic";
            }
        }
    }
}
