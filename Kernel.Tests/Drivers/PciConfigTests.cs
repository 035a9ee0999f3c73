using PoolKernel.Drivers.Pci;
using PoolKernel.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Drivers;

/// <summary>
/// PCI configuration mechanism #1 without the ports: the CONFIG_ADDRESS encoding (PCI Local Bus
/// 3.0, 3.2.2.3.2) and the 16-bit views of a configuration dword that PciBus.Read16/Write16 use.
/// </summary>
public class PciConfigTests
{
    private readonly ITestOutputHelper _output;

    public PciConfigTests(ITestOutputHelper output) => _output = output;

    [Theory]
    [InlineData(0, 0, 0, 0x00, 0x80000000u)]        // host bridge, vendor/device
    [InlineData(0, 3, 0, 0x10, 0x80001810u)]        // device 3's BAR0
    [InlineData(0, 31, 2, 0x08, 0x8000FA08u)]       // q35's ICH9 SATA function, class register
    [InlineData(1, 2, 3, 0x3E, 0x8001133Cu)]        // unaligned offset: the dword holding it
    [InlineData(255, 31, 7, 0xFF, 0x80FFFFFCu)]     // every field at its maximum
    public void Address_PutsEachFieldInItsBits(int bus, int device, int function, int offset, uint expected)
        => Assert.Equal(expected, PciConfig.Address(bus, device, function, offset));

    [Fact]
    public void CommandAndStatus_AreTheLowAndHighHalvesOfDword4()
    {
        const uint dword = 0x02800107;   // status 0x0280, command 0x0107
        Assert.Equal((ushort)0x0107, PciConfig.Extract16(dword, 0x04));
        Assert.Equal((ushort)0x0280, PciConfig.Extract16(dword, 0x06));
        // Writing the command register leaves the status half as it was read.
        Assert.Equal(0x02800004u, PciConfig.Merge16(dword, 0x04, 0x0004));
        Assert.Equal(0xFFFF0107u, PciConfig.Merge16(dword, 0x06, 0xFFFF));
    }

    /// <summary>Random dwords, 2-aligned offsets and values: Merge16 then Extract16 gives the value back and keeps the other half.</summary>
    [Fact]
    public void Merge16_ThenExtract16_RoundTrips_AndKeepsTheOtherHalf()
        => SeededRuns.Run(_output, "pci config 16-bit merge", "PCI_CONFIG", 8, 2000, (seed, ops) =>
        {
            var random = new Random(seed);
            for (int i = 0; i < ops; i++)
            {
                uint dword = (uint)random.NextInt64(0, 1L << 32);
                int offset = random.Next(0, 128) * 2;
                ushort value = (ushort)random.Next(0, 1 << 16);
                uint merged = PciConfig.Merge16(dword, offset, value);
                Assert.Equal(value, PciConfig.Extract16(merged, offset));
                int other = offset ^ 2;
                Assert.Equal(PciConfig.Extract16(dword, other), PciConfig.Extract16(merged, other));
            }
        });
}
