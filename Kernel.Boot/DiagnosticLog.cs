namespace PoolKernel.Boot
{
    /// <summary>
    /// The list machinery shared by the boot parsers' diagnostics (multiboot, memory map, ACPI):
    /// a fixed-capacity list of records {code, index, other, signature, value0, value1}. When the
    /// list is full, further problems are only counted in <see cref="Dropped"/>.
    /// Each area wraps one of these in its own struct that gives the code its enum type, returns its
    /// own entry struct and owns its Describe table; columns an area does not use stay unread.
    /// The storage is sized for the largest area (<see cref="MaxCapacity"/>); each area passes its
    /// own, possibly smaller, capacity to <see cref="Add"/>, so a zeroed log is ready to use and
    /// needs no initialization beyond <see cref="Clear"/>.
    /// </summary>
    public unsafe struct DiagnosticLog
    {
        /// <summary>The largest capacity any area uses (the memory map's 64).</summary>
        public const int MaxCapacity = 64;

        private fixed uint _code[MaxCapacity];
        private fixed int _index[MaxCapacity];
        private fixed int _other[MaxCapacity];
        private fixed uint _signature[MaxCapacity];
        private fixed ulong _value0[MaxCapacity];
        private fixed ulong _value1[MaxCapacity];

        /// <summary>Records held, at most the capacity the area passes to <see cref="Add"/>.</summary>
        public int Count;
        /// <summary>Problems found after the list was full.</summary>
        public int Dropped;

        /// <summary>One record as stored; the area's wrapper converts it to its typed entry.</summary>
        public struct Entry
        {
            public uint Code;
            public int Index;
            public int Other;
            public uint Signature;
            public ulong Value0;
            public ulong Value1;
        }

        public void Clear()
        {
            Count = 0;
            Dropped = 0;
        }

        /// <summary>
        /// Records one problem, or counts it in <see cref="Dropped"/> when <paramref name="capacity"/>
        /// records are already held. A capacity above <see cref="MaxCapacity"/> is treated as
        /// <see cref="MaxCapacity"/>, so a wrong argument cannot write past the buffers.
        /// </summary>
        public void Add(int capacity, uint code, int index, int other, uint signature, ulong value0, ulong value1)
        {
            if ((uint)Count >= (uint)capacity || (uint)Count >= MaxCapacity)
            {
                Dropped++;
                return;
            }
            _code[Count] = code;
            _index[Count] = index;
            _other[Count] = other;
            _signature[Count] = signature;
            _value0[Count] = value0;
            _value1[Count] = value1;
            Count++;
        }

        /// <summary>Record <paramref name="i"/>, or an all-zero entry (code 0, "None") when out of range.</summary>
        public Entry Get(int i)
        {
            Entry e = default;
            if ((uint)i >= (uint)Count)
                return e;
            e.Code = _code[i];
            e.Index = _index[i];
            e.Other = _other[i];
            e.Signature = _signature[i];
            e.Value0 = _value0[i];
            e.Value1 = _value1[i];
            return e;
        }

        /// <summary>How many recorded problems carry <paramref name="code"/>.</summary>
        public int CountOf(uint code)
        {
            int n = 0;
            for (int i = 0; i < Count; i++)
            {
                if (_code[i] == code)
                    n++;
            }
            return n;
        }
    }
}
