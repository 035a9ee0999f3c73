using PoolKernel.Drivers.Ata;
using Xunit;

namespace PoolKernel.Tests.Drivers;

/// <summary>
/// The bus-master PRD entries the IDE driver builds (SFF-8038i): address, 16-bit byte count where
/// 0 means 64 KiB, end of table on the last entry only; the transfer split into bounce buffers.
/// </summary>
public unsafe class AtaPrdTests
{
    /// <summary>Fills a table the way AtaChannel.Dma does: one entry per bounce buffer until the transfer is covered.</summary>
    private static int Build(uint* table, ulong bytes, ulong[] physicals, ulong bufferBytes)
    {
        ulong remaining = bytes;
        int entries = 0;
        for (int i = 0; i < physicals.Length && remaining > 0; i++)
        {
            ulong length = AtaPrd.EntryLength(remaining, bufferBytes);
            remaining -= length;
            AtaPrd.Write(table, entries++, physicals[i], length, remaining == 0);
        }
        Assert.Equal(0UL, remaining);
        return entries;
    }

    [Fact]
    public void OneSectorRead_IsOneEntryMarkedEndOfTable()
    {
        uint* table = stackalloc uint[4];
        Assert.Equal(1, Build(table, 512, new ulong[] { 0x0020_0000, 0x0021_0000 }, 0x10000));
        Assert.Equal(0x0020_0000u, table[0]);
        Assert.Equal(0x8000_0200u, table[1]);
    }

    [Fact]
    public void Full256SectorCommand_IsTwo64KiBEntries_CountWrittenAsZero()
    {
        uint* table = stackalloc uint[4];
        Assert.Equal(2, Build(table, 256 * 512, new ulong[] { 0x0030_0000, 0x0050_0000 }, 0x10000));
        Assert.Equal(0x0030_0000u, table[0]);
        Assert.Equal(0x0000_0000u, table[1]);   // 64 KiB, not the last
        Assert.Equal(0x0050_0000u, table[2]);
        Assert.Equal(0x8000_0000u, table[3]);   // 64 KiB, end of table
    }

    [Fact]
    public void PartialLastBuffer_CarriesOnlyTheRest()
    {
        uint* table = stackalloc uint[6];
        Assert.Equal(3, Build(table, 0x9000, new ulong[] { 0x1000, 0x5000, 0x9000 }, 0x4000));
        Assert.Equal(0x0000_4000u, table[1]);
        Assert.Equal(0x0000_4000u, table[3]);
        Assert.Equal(0x9000u, table[4]);
        Assert.Equal(0x8000_1000u, table[5]);
    }

    [Theory]
    [InlineData(100UL, 0x10000UL, 100UL)]
    [InlineData(0x10000UL, 0x10000UL, 0x10000UL)]
    [InlineData(0x30000UL, 0x10000UL, 0x10000UL)]
    public void EntryLength_IsTheRestAtMostOneBuffer(ulong remaining, ulong bufferBytes, ulong expected)
        => Assert.Equal(expected, AtaPrd.EntryLength(remaining, bufferBytes));
}
