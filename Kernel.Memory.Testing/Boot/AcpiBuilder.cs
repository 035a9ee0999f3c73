namespace PoolKernel.Memory.Testing.Boot;

/// <summary>
/// Builds ACPI tables in native memory with correct checksums (unless told otherwise).
/// Tables go to low memory by default so an RSDT can reference them.
/// </summary>
public sealed unsafe class AcpiBuilder
{
    private readonly NativeArena _arena;

    public AcpiBuilder(NativeArena arena) => _arena = arena;

    public static byte Checksum(byte[] bytes, int count)
    {
        int sum = 0;
        for (int i = 0; i < count; i++)
            sum += bytes[i];
        return (byte)(-sum);
    }

    /// <summary>Header (36 bytes) + body, checksum fixed at offset 9; the length field may lie.</summary>
    public static byte[] TableBytes(string signature, byte revision, byte[] body, uint? lengthOverride = null)
    {
        var w = new ByteWriter()
            .Ascii(signature)
            .U32(lengthOverride ?? (uint)(36 + body.Length))
            .U8(revision)
            .U8(0)
            .Ascii("POOLK ")
            .Ascii("POOLTEST")
            .U32(1)
            .Ascii("PKTB")
            .U32(1)
            .Bytes(body);
        var bytes = w.ToArray();
        int covered = (int)Math.Min((long)bytes.Length, lengthOverride ?? (uint)bytes.Length);
        bytes[9] = Checksum(bytes, covered);
        return bytes;
    }

    public byte* Table(string signature, byte revision, byte[] body, bool high = false, bool corruptChecksum = false, uint? lengthOverride = null)
    {
        var bytes = TableBytes(signature, revision, body, lengthOverride);
        if (corruptChecksum)
            bytes[9] ^= 0x5A;
        return high ? _arena.HighCopy(bytes) : _arena.LowCopy(bytes);
    }

    public byte* Rsdt(params ulong[] tables)
    {
        var w = new ByteWriter();
        foreach (var t in tables)
            w.U32(checked((uint)t));
        return Table("RSDT", 1, w.ToArray());
    }

    public byte* Xsdt(params ulong[] tables)
    {
        var w = new ByteWriter();
        foreach (var t in tables)
            w.U64(t);
        return Table("XSDT", 1, w.ToArray(), high: true);
    }

    /// <summary>RSDP bytes: 20 for revision 0, 36 for revision 2; checksums right unless corrupted.</summary>
    public static byte[] RsdpBytes(byte revision, uint rsdt, ulong xsdt = 0, bool corruptChecksum = false, bool corruptExtended = false)
    {
        var w = new ByteWriter().Ascii("RSD PTR ").U8(0).Ascii("POOLK ").U8(revision).U32(rsdt);
        if (revision >= 2)
            w.U32(36).U64(xsdt).U8(0).Zeros(3);
        var b = w.ToArray();
        b[8] = Checksum(b, 20);
        if (revision >= 2)
            b[32] = Checksum(b, 36);
        if (corruptChecksum)
            b[8] ^= 0x11;
        if (corruptExtended)
            b[32] ^= 0x22;
        return b;
    }

    public byte* Rsdp(byte revision, uint rsdt, ulong xsdt = 0, bool corruptChecksum = false, bool corruptExtended = false)
        => _arena.LowCopy(RsdpBytes(revision, rsdt, xsdt, corruptChecksum, corruptExtended));

    // ---- MADT ----
    public static byte[] LocalApic(byte uid, byte apicId, bool enabled = true, bool onlineCapable = false)
        => new ByteWriter().U8(0).U8(8).U8(uid).U8(apicId).U32((enabled ? 1u : 0) | (onlineCapable ? 2u : 0)).ToArray();

    public static byte[] X2Apic(uint x2apicId, uint uid, bool enabled = true)
        => new ByteWriter().U8(9).U8(16).U16(0).U32(x2apicId).U32(enabled ? 1u : 0).U32(uid).ToArray();

    public static byte[] IoApic(byte id, uint address)
        => new ByteWriter().U8(1).U8(12).U8(id).U8(0).U32(address).U32(0).ToArray();

    public static byte[] MadtBody(uint localApicAddress, params byte[][] entries)
    {
        var w = new ByteWriter().U32(localApicAddress).U32(1); // PCAT_COMPAT
        foreach (var e in entries)
            w.Bytes(e);
        return w.ToArray();
    }

    // ---- SRAT ----
    public static byte[] ProcessorAffinity(uint domain, byte apicId, bool enabled = true)
        => new ByteWriter().U8(0).U8(16).U8((int)domain).U8(apicId).U32(enabled ? 1u : 0)
            .U8(0).U8((int)(domain >> 8)).U8((int)(domain >> 16)).U8((int)(domain >> 24)).U32(0).ToArray();

    public static byte[] MemoryAffinity(uint domain, ulong baseAddress, ulong length, bool enabled = true, bool hotPluggable = false)
        => new ByteWriter().U8(1).U8(40).U32(domain).U16(0).U64(baseAddress).U64(length).U32(0)
            .U32((enabled ? 1u : 0) | (hotPluggable ? 2u : 0)).U64(0).ToArray();

    public static byte[] X2ApicAffinity(uint domain, uint x2apicId, bool enabled = true)
        => new ByteWriter().U8(2).U8(24).U16(0).U32(domain).U32(x2apicId).U32(enabled ? 1u : 0).U32(0).U32(0).ToArray();

    public static byte[] SratBody(params byte[][] entries)
    {
        var w = new ByteWriter().U32(1).U64(0);
        foreach (var e in entries)
            w.Bytes(e);
        return w.ToArray();
    }

    // ---- SLIT ----
    public static byte[] SlitBody(byte[,] matrix)
    {
        int n = matrix.GetLength(0);
        var w = new ByteWriter().U64((ulong)n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                w.U8(matrix[i, j]);
        return w.ToArray();
    }
}
