namespace PoolKernel.Boot.Acpi
{
    /// <summary>
    /// A small reader of the DSDT's AML (ACPI 6.x, section 20), enough to find the PCI root bridges
    /// and their <c>_BBN</c>, <c>_UID</c> and <c>_PXM</c>: it walks the term lists of the definition
    /// block, descends into <c>Scope</c> and <c>Device</c>, reads <c>Name</c> declarations whose value is
    /// a constant, and steps over everything else it knows the length of (methods, fields, regions,
    /// buffers, packages, <c>If</c>/<c>Else</c>/<c>While</c> blocks, processors, power resources, thermal
    /// zones, mutexes, events, aliases, externals). It does not evaluate: a root bridge whose <c>_PXM</c>
    /// or <c>_BBN</c> is a method is taken as having none. Anything else stops the reader with the offset
    /// and opcode (<see cref="AmlStatus.UnknownOpcode"/>), and then no device gets a node from it: the
    /// reader refuses what it does not understand, it never guesses. Pure: reads only [aml, aml+length).
    /// </summary>
    public static unsafe class AmlRootBridges
    {
        /// <summary>Scopes followed inside each other (\_SB.PCI0.S08... in QEMU's tables is 3 or 4).</summary>
        private const int MaxDepth = 16;

        /// <summary>EISA ids as the AML EISAID macro stores them: PNP0A08 (PCI Express root) and PNP0A03 (PCI root).</summary>
        public const uint PciExpressRoot = 0x080AD041, PciRoot = 0x030AD041;

        private const uint NameHid = 0x4449485F, NameCid = 0x4449435F, NameBbn = 0x4E42425F, NameUid = 0x4449555F, NamePxm = 0x4D58505F;

        /// <summary>The root bridges of the AML body (the DSDT without its 36-byte header).</summary>
        public static void Read(byte* aml, int length, RootBridges* result)
        {
            *result = default;
            Reader r;
            r.Aml = aml;
            r.Result = result;
            r.Status = AmlStatus.Ok;
            r.At = 0;
            r.Opcode = 0;
            r.Walk(0, length, 0, null);
            result->Status = r.Status;
            result->StoppedAt = r.At;
            result->StoppedOpcode = r.Opcode;
        }

        /// <summary>What a Device scope declared, collected while walking it.</summary>
        private struct DeviceNames
        {
            public uint Name;
            public bool RootBridge;
            public ulong Bbn, Uid;
            public int Proximity;
        }

        private struct Reader
        {
            public byte* Aml;
            public RootBridges* Result;
            public AmlStatus Status;
            public int At;
            public int Opcode;

            private bool Stop(AmlStatus status, int at, int opcode)
            {
                if (Status == AmlStatus.Ok)
                {
                    Status = status;
                    At = at;
                    Opcode = opcode;
                }
                return false;
            }

            /// <summary>The term list [start, end); <paramref name="device"/> collects Name declarations of the enclosing Device.</summary>
            public bool Walk(int start, int end, int depth, DeviceNames* device)
            {
                if (depth > MaxDepth)
                    return Stop(AmlStatus.TooDeep, start, 0);
                int i = start;
                while (i < end)
                {
                    int op = Aml[i];
                    int at = i;
                    if (op == 0x10) // ScopeOp PkgLength NameString TermList
                    {
                        if (!Package(ref i, end, out int bodyEnd) || !NameString(ref i, bodyEnd, out _))
                            return Stop(AmlStatus.Truncated, at, op);
                        if (!Walk(i, bodyEnd, depth + 1, null))
                            return false;
                        i = bodyEnd;
                    }
                    else if (op == 0x08) // NameOp NameString DataRefObject
                    {
                        i++;
                        if (!NameString(ref i, end, out uint name))
                            return Stop(AmlStatus.Truncated, at, op);
                        int valueAt = i;
                        if (!Data(ref i, end, out ulong value, out bool isInteger, out uint text))
                            return Status == AmlStatus.Ok ? Stop(AmlStatus.UnknownOpcode, valueAt, Aml[valueAt]) : false;
                        if (device != null)
                            Note(device, name, value, isInteger, text);
                    }
                    else if (op == 0x14 || op == 0x11 || op == 0x12 || op == 0x13 || op == 0xA0 || op == 0xA1 || op == 0xA2)
                    {
                        // Method, Buffer, Package, VarPackage, If, Else, While: PkgLength covers the rest.
                        if (!Package(ref i, end, out int bodyEnd))
                            return Stop(AmlStatus.Truncated, at, op);
                        i = bodyEnd;
                    }
                    else if (op == 0x15) // External NameString ObjectType ArgumentCount
                    {
                        i++;
                        if (!NameString(ref i, end, out _) || i + 2 > end)
                            return Stop(AmlStatus.Truncated, at, op);
                        i += 2;
                    }
                    else if (op == 0x06) // Alias NameString NameString
                    {
                        i++;
                        if (!NameString(ref i, end, out _) || !NameString(ref i, end, out _))
                            return Stop(AmlStatus.Truncated, at, op);
                    }
                    else if (op == 0x5B)
                    {
                        if (i + 1 >= end)
                            return Stop(AmlStatus.Truncated, at, op);
                        int ext = Aml[i + 1];
                        i++; // Package/NameString below start after the second opcode byte
                        if (ext == 0x82) // Device PkgLength NameString TermList
                        {
                            if (!Package(ref i, end, out int bodyEnd) || !NameString(ref i, bodyEnd, out uint name))
                                return Stop(AmlStatus.Truncated, at, 0x5B00 | ext);
                            DeviceNames names = default;
                            names.Name = name;
                            names.Proximity = RootBridges.NoProximity;
                            if (!Walk(i, bodyEnd, depth + 1, &names))
                                return false;
                            if (names.RootBridge && !Result->Add(names.Name, names.Bbn, names.Uid, names.Proximity))
                                return Stop(AmlStatus.TooManyBridges, at, 0x5B00 | ext);
                            i = bodyEnd;
                        }
                        else if (ext == 0x81 || ext == 0x86 || ext == 0x87 || ext == 0x83 || ext == 0x84 || ext == 0x85)
                        {
                            // Field, IndexField, BankField, Processor, PowerResource, ThermalZone: PkgLength covers them.
                            if (!Package(ref i, end, out int bodyEnd))
                                return Stop(AmlStatus.Truncated, at, 0x5B00 | ext);
                            i = bodyEnd;
                        }
                        else if (ext == 0x80) // OperationRegion NameString RegionSpace RegionOffset RegionLen
                        {
                            i++;
                            if (!NameString(ref i, end, out _) || i >= end)
                                return Stop(AmlStatus.Truncated, at, 0x5B00 | ext);
                            i++;
                            for (int k = 0; k < 2; k++)
                            {
                                int termAt = i;
                                if (!Data(ref i, end, out _, out bool isInteger, out _) || !isInteger)
                                    return Status == AmlStatus.Ok ? Stop(AmlStatus.UnknownOpcode, termAt, Aml[termAt]) : false;
                            }
                        }
                        else if (ext == 0x01) // Mutex NameString SyncFlags
                        {
                            i++;
                            if (!NameString(ref i, end, out _) || i >= end)
                                return Stop(AmlStatus.Truncated, at, 0x5B00 | ext);
                            i++;
                        }
                        else if (ext == 0x02) // Event NameString
                        {
                            i++;
                            if (!NameString(ref i, end, out _))
                                return Stop(AmlStatus.Truncated, at, 0x5B00 | ext);
                        }
                        else
                        {
                            return Stop(AmlStatus.UnknownOpcode, at, 0x5B00 | ext);
                        }
                    }
                    else
                    {
                        return Stop(AmlStatus.UnknownOpcode, at, op);
                    }
                }
                return true;
            }

            /// <summary>A Name declaration inside a Device: the ids that make it a root bridge, and its _BBN, _UID, _PXM.</summary>
            private static void Note(DeviceNames* device, uint name, ulong value, bool isInteger, uint text)
            {
                if (name == NameHid || name == NameCid)
                {
                    // An EISAID integer, or the string form ("PNP0A08"): its last four characters.
                    if ((isInteger && (value == PciExpressRoot || value == PciRoot)) ||
                        (!isInteger && (text == 0x38304130 || text == 0x33304130)))
                        device->RootBridge = true;
                }
                else if (!isInteger)
                {
                    return;
                }
                else if (name == NameBbn)
                {
                    device->Bbn = value;
                }
                else if (name == NameUid)
                {
                    device->Uid = value;
                }
                else if (name == NamePxm)
                {
                    device->Proximity = value <= int.MaxValue ? (int)value : RootBridges.NoProximity;
                }
            }

            /// <summary>
            /// A DataRefObject: an integer constant (Zero, One, Ones, Byte/Word/DWord/QWordConst), a
            /// string (<paramref name="text"/>: its last four characters before the NUL, for ids), or a
            /// Buffer/Package/VarPackage stepped over. False for anything else (not understood).
            /// </summary>
            public bool Data(ref int i, int end, out ulong value, out bool isInteger, out uint text)
            {
                value = 0;
                text = 0;
                isInteger = true;
                if (i >= end)
                    return Stop(AmlStatus.Truncated, i, 0);
                int op = Aml[i];
                int size;
                switch (op)
                {
                    case 0x00: i++; return true;
                    case 0x01: i++; value = 1; return true;
                    case 0xFF: i++; value = ulong.MaxValue; return true;
                    case 0x0A: size = 1; break;
                    case 0x0B: size = 2; break;
                    case 0x0C: size = 4; break;
                    case 0x0E: size = 8; break;
                    case 0x0D:
                        isInteger = false;
                        int s = i + 1;
                        while (s < end && Aml[s] != 0)
                        {
                            text = (text >> 8) | ((uint)Aml[s] << 24);
                            s++;
                        }
                        if (s >= end)
                            return Stop(AmlStatus.Truncated, i, op);
                        i = s + 1;
                        return true;
                    case 0x11:
                    case 0x12:
                    case 0x13:
                        isInteger = false;
                        if (!Package(ref i, end, out int bodyEnd))
                            return Stop(AmlStatus.Truncated, i, op);
                        i = bodyEnd;
                        return true;
                    default:
                        return false;
                }
                if (i + 1 + size > end)
                    return Stop(AmlStatus.Truncated, i, op);
                for (int b = 0; b < size; b++)
                    value |= (ulong)Aml[i + 1 + b] << (8 * b);
                i += 1 + size;
                return true;
            }

            /// <summary>
            /// At an opcode followed by a PkgLength: moves <paramref name="i"/> past both and gives the
            /// end of the package (the length counts from the PkgLength's first byte). False when it
            /// runs past <paramref name="end"/>.
            /// </summary>
            public bool Package(ref int i, int end, out int bodyEnd)
            {
                bodyEnd = 0;
                int p = i + 1;
                if (p >= end)
                    return false;
                int lead = Aml[p];
                int extra = lead >> 6;
                if (p + extra >= end && extra != 0)
                    return false;
                int length = extra == 0 ? lead & 0x3F : lead & 0x0F;
                for (int b = 0; b < extra; b++)
                    length |= Aml[p + 1 + b] << (4 + 8 * b);
                bodyEnd = p + length;
                if (bodyEnd > end || length < 1 + extra)
                    return false;
                i = p + 1 + extra;
                return true;
            }

            /// <summary>A NameString (root/parent prefixes, one, two or N segments, or the null name); its last segment.</summary>
            public bool NameString(ref int i, int end, out uint last)
            {
                last = 0;
                while (i < end && (Aml[i] == 0x5C || Aml[i] == 0x5E))
                    i++;
                if (i >= end)
                    return false;
                int segments;
                if (Aml[i] == 0x00)
                {
                    i++;
                    return true;
                }
                if (Aml[i] == 0x2E)
                {
                    segments = 2;
                    i++;
                }
                else if (Aml[i] == 0x2F)
                {
                    if (i + 1 >= end)
                        return false;
                    segments = Aml[i + 1];
                    i += 2;
                }
                else
                {
                    segments = 1;
                }
                if (i + 4 * segments > end)
                    return false;
                if (segments > 0)
                    last = *(uint*)(Aml + i + 4 * (segments - 1));
                i += 4 * segments;
                return true;
            }
        }
    }
}
