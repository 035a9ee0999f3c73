using PoolKernel.Boot.Acpi;
using Xunit;

namespace PoolKernel.Tests.Boot;

/// <summary>
/// The DSDT reader for PCI root bridges: AML shaped like QEMU's q35 DSDT with a pxb-pcie expander
/// (\_SB.PCI0 at bus 0, \_SB.PC80 at bus 0x80 with _PXM), and refusals of what it does not understand.
/// </summary>
public unsafe class AmlRootBridgesTests
{
    private static byte[] Pkg(byte op, params byte[][] body) => Pkg(new[] { op }, body);

    /// <summary>Opcode(s), a PkgLength (1 or 2 bytes) covering itself and the body, then the body.</summary>
    private static byte[] Pkg(byte[] op, params byte[][] body)
    {
        byte[] content = body.SelectMany(b => b).ToArray();
        var bytes = new List<byte>(op);
        int length = content.Length + 1;
        if (length < 64)
            bytes.Add((byte)length);
        else
        {
            length++;
            bytes.Add((byte)(0x40 | (length & 0x0F)));
            bytes.Add((byte)(length >> 4));
        }
        bytes.AddRange(content);
        return bytes.ToArray();
    }

    private static byte[] Seg(string name) => System.Text.Encoding.ASCII.GetBytes(name);
    private static byte[] Name(string name, params byte[] value) => new byte[] { 0x08 }.Concat(Seg(name)).Concat(value).ToArray();
    private static byte[] Dword(uint v) => new byte[] { 0x0C, (byte)v, (byte)(v >> 8), (byte)(v >> 16), (byte)(v >> 24) };
    private static byte[] Byte(byte v) => new byte[] { 0x0A, v };
    private static byte[] Device(string name, params byte[][] body) => Pkg(new byte[] { 0x5B, 0x82 }, new[] { Seg(name) }.Concat(body).ToArray());
    private static byte[] Scope(byte[] name, params byte[][] body) => Pkg(0x10, new[] { name }.Concat(body).ToArray());
    private static byte[] Method(string name, params byte[] body) => Pkg(0x14, Seg(name), new byte[] { 0x04 }, body);

    private static byte[] PciRoot(string name, byte bus, int pxm, bool pxmAsMethod = false)
    {
        var body = new List<byte[]>
        {
            Name("_UID", Byte(bus)),
            Name("_BBN", Byte(bus)),
            Name("_HID", Dword(AmlRootBridges.PciExpressRoot)),
            Name("_CID", Dword(AmlRootBridges.PciRoot)),
            // _OSC's body and a resource template: stepped over by their lengths.
            Method("_OSC", Enumerable.Repeat((byte)0x70, 90).ToArray()),
            Name("_CRS", Pkg(0x11, Byte(8), new byte[] { 0x88, 0x0D, 0, 2, 0x0C, 0, 0, 0, 0x79, 0 })),
            Device("S00_", Name("_ADR", 0x00)),
        };
        if (pxm >= 0)
            body.Add(pxmAsMethod ? Method("_PXM", 0xA4, 0x0A, (byte)pxm) : Name("_PXM", Byte((byte)pxm)));
        return Device(name, body.ToArray());
    }

    private static byte[] Q35Like(params byte[][] extra)
    {
        byte[] sb = new byte[] { 0x5C }.Concat(Seg("_SB_")).ToArray();
        var top = new List<byte[]>
        {
            new byte[] { 0x5B, 0x80 }.Concat(Seg("PCST")).Concat(new byte[] { 0x01 }).Concat(Dword(0xAE00)).Concat(Byte(8)).ToArray(),
            Pkg(new byte[] { 0x5B, 0x81 }, Seg("PCST"), new byte[] { 0x44, 0x00, 0x20 }),
            new byte[] { 0x5B, 0x01 }.Concat(Seg("BLK_")).Concat(new byte[] { 0 }).ToArray(),
            Name("_S5_", Pkg(0x12, new byte[] { 0x04, 0x00, 0x00, 0x00, 0x00 })),
            Scope(sb, PciRoot("PCI0", 0, -1), PciRoot("PC80", 0x80, 1)),
        };
        top.AddRange(extra);
        return top.SelectMany(b => b).ToArray();
    }

    private static RootBridges Read(byte[] aml)
    {
        RootBridges result;
        fixed (byte* p = aml)
            AmlRootBridges.Read(p, aml.Length, &result);
        return result;
    }

    [Fact]
    public void Q35WithExpander_BothRootBridges_BusesToTheirBridge()
    {
        RootBridges r = Read(Q35Like());
        Assert.Equal(AmlStatus.Ok, r.Status);
        Assert.Equal(2, r.Count);
        Assert.Equal(0x30494350u, r.Name(0)); // "PCI0"
        Assert.Equal(RootBridges.NoProximity, r.Proximity(0));
        Assert.Equal(0x80UL, r.BaseBus(1));
        Assert.Equal(0x80UL, r.Uid(1));
        Assert.Equal(1, r.Proximity(1));
        Assert.Equal(0, r.BridgeOfBus(0));
        Assert.Equal(0, r.BridgeOfBus(0x7F));
        Assert.Equal(1, r.BridgeOfBus(0x80));
        Assert.Equal(1, r.BridgeOfBus(0x81));
    }

    [Fact]
    public void PxmAsAMethod_NotEvaluated_NoProximity()
    {
        byte[] sb = new byte[] { 0x5C }.Concat(Seg("_SB_")).ToArray();
        RootBridges r = Read(Scope(sb, PciRoot("PC40", 0x40, 2, pxmAsMethod: true)));
        Assert.Equal(AmlStatus.Ok, r.Status);
        Assert.Equal(RootBridges.NoProximity, r.Proximity(0));
    }

    [Fact]
    public void UnknownOpcode_Refused_WithItsOffset_NoBridgeAnswers()
    {
        byte[] aml = Q35Like(new byte[] { 0x70, 0x01, 0x60 }); // Store(One, Local0) at the top level
        RootBridges r = Read(aml);
        Assert.Equal(AmlStatus.UnknownOpcode, r.Status);
        Assert.Equal(0x70, r.StoppedOpcode);
        Assert.Equal(aml.Length - 3, r.StoppedAt);
        Assert.Equal(-1, r.BridgeOfBus(0x81));
    }

    [Fact]
    public void NameWithAnExpression_Refused()
    {
        byte[] aml = Scope(new byte[] { 0x5C }.Concat(Seg("_SB_")).ToArray(), Device("PC80", Name("_BBN", 0x72, 0x01, 0x01, 0x00)));
        Assert.Equal(AmlStatus.UnknownOpcode, Read(aml).Status);
    }

    [Fact]
    public void PackageRunningPastItsScope_Truncated()
    {
        byte[] aml = Q35Like();
        Assert.Equal(AmlStatus.Truncated, Read(aml[..^5]).Status);
    }

    [Fact]
    public void EmptyTable_NoBridges()
    {
        RootBridges r = Read(Array.Empty<byte>());
        Assert.Equal(AmlStatus.Ok, r.Status);
        Assert.Equal(0, r.Count);
        Assert.Equal(-1, r.BridgeOfBus(0));
    }
}
