using PoolKernel.Boot.Acpi;
using PoolKernel.Memory.Testing.Boot;
using Xunit;

namespace PoolKernel.Tests.Boot;

/// <summary>The BIOS-area RSDP scan, over a fake first MiB of physical memory.</summary>
public sealed unsafe class RsdpScannerTests : IDisposable
{
    private readonly NativeArena _arena = new();
    private readonly byte* _lowMemory;

    public RsdpScannerTests()
    {
        _lowMemory = _arena.High(0x100000);
        *(ushort*)(_lowMemory + 0x40E) = 0x9FC0; // EBDA at 0x9FC00, as SeaBIOS sets it
    }

    public void Dispose() => _arena.Dispose();

    private void Place(uint physical, byte[] bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
            _lowMemory[physical + i] = bytes[i];
    }

    private ulong Found() => (ulong)(RsdpScanner.FindInBiosArea(_lowMemory) - _lowMemory);

    [Fact]
    public void NothingThere_ReturnsNull()
        => Assert.True(RsdpScanner.FindInBiosArea(_lowMemory) == null);

    [Fact]
    public void FindsRsdpInBiosArea()
    {
        Place(0xF5A10, AcpiBuilder.RsdpBytes(0, 0x1FFE1000));
        Assert.Equal(0xF5A10UL, Found());
    }

    [Fact]
    public void EbdaIsSearchedFirst()
    {
        Place(0xE0000, AcpiBuilder.RsdpBytes(0, 1));
        Place(0x9FC00 + 0x100, AcpiBuilder.RsdpBytes(2, 2, 3));
        Assert.Equal(0x9FD00UL, Found());
    }

    [Fact]
    public void UnalignedSignature_IsNotFound()
    {
        Place(0xF5A18, AcpiBuilder.RsdpBytes(0, 1));
        Assert.True(RsdpScanner.FindInBiosArea(_lowMemory) == null);
    }

    [Fact]
    public void BadChecksumCandidate_IsSkipped()
    {
        Place(0xE0100, AcpiBuilder.RsdpBytes(0, 1, corruptChecksum: true));
        Place(0xE0200, AcpiBuilder.RsdpBytes(0, 2));
        Assert.Equal(0xE0200UL, Found());
    }

    [Fact]
    public void GarbageEbdaSegment_IsIgnored()
    {
        *(ushort*)(_lowMemory + 0x40E) = 0xFFFF;
        Place(0xFFFE0, AcpiBuilder.RsdpBytes(0, 2));
        Assert.Equal(0xFFFE0UL, Found());
    }

    [Fact]
    public void RsdpAtTheVeryEnd_NeedingBytesPastOneMiB_IsNotRead()
    {
        // Revision 2 at 0xFFFF0 would need 36 bytes; only 16 remain. The v1 part does not fit either.
        var bytes = AcpiBuilder.RsdpBytes(2, 1, 2);
        Place(0xFFFF0, bytes.Take(16).ToArray());
        Assert.True(RsdpScanner.FindInBiosArea(_lowMemory) == null);
    }

    [Fact]
    public void RsdpCheck_Revisions()
    {
        fixed (byte* v0 = AcpiBuilder.RsdpBytes(0, 0x1234))
        {
            Assert.Equal(RsdpStatus.Ok, Rsdp.Check(v0, 20, out var f));
            Assert.Equal((0, 0x1234u, 0UL), (f.Revision, f.RsdtAddress, f.XsdtAddress));
        }
        fixed (byte* v2 = AcpiBuilder.RsdpBytes(2, 0x1234, 0xABCD_0000_1000))
        {
            Assert.Equal(RsdpStatus.Ok, Rsdp.Check(v2, 36, out var f));
            Assert.Equal((2, 0xABCD_0000_1000UL, 36u), (f.Revision, f.XsdtAddress, f.Length));
            Assert.Equal(RsdpStatus.BadExtendedChecksum, Rsdp.Check(v2, 30, out f));
            Assert.Equal(0x1234u, f.RsdtAddress);
        }
        fixed (byte* bad = AcpiBuilder.RsdpBytes(2, 0x1234, 0x5678, corruptExtended: true))
        {
            Assert.Equal(RsdpStatus.BadExtendedChecksum, Rsdp.Check(bad, 36, out var f));
            Assert.Equal(0UL, f.XsdtAddress);
        }
    }
}
