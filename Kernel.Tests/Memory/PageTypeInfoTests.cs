using PoolKernel.Boot.Reports;
using PoolKernel.Memory;
using PoolKernel.Sim;
using PoolKernel.Tests.Support;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// `pagetypeinfo` (docs/antifrag.md): free blocks per order on each class's lists, the whole free page
/// blocks on the shared lists, and page blocks per class, read off a small pool whose splits are known.
/// </summary>
public unsafe class PageTypeInfoTests
{
    private const ulong MiB = 1UL << 20;

    private static string[] Row(string text, string label)
    {
        foreach (string line in text.Split('\n'))
        {
            string[] words = line.Split(' ', System.StringSplitOptions.RemoveEmptyEntries);
            if (words.Length > 2 && words[0] == "pool" && words[1] == "ptype" && words[2] == label)
                return words[3..];
        }
        throw new Xunit.Sdk.XunitException($"no row '{label}' in:\n{text}");
    }

    [Fact]
    public void EachClassShowsTheSplitsOfItsOwnPageblock_WholeBlocksOnTheSharedRow_PageblocksCountedByClass()
    {
        using var host = QemuMaps.Boot("pc", 128 * MiB, 1);
        PhysicalMemory* pm = host.Memory;
        PoolId dma32 = MemoryAssert.FindPool(pm, "node0-dma32");
        // Four page blocks: too small for a frame cache, so every free block is on a list.
        Assert.Equal(MemoryStatus.Ok, pm->CreatePool(PoolProperties.Open("ptype"), dma32, 4, out PoolId pool));
        AllocRequest movable = AllocRequest.InPool(pool);
        movable.Mobility = MobilityClass.Movable;
        AllocRequest reclaimable = AllocRequest.InPool(pool);
        reclaimable.Mobility = MobilityClass.Reclaimable;
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(0), movable, out _));
        Assert.Equal(MemoryStatus.Ok, pm->Allocate(new Order(1), reclaimable, out _));

        using var text = new StringOut();
        MemoryReports.PageTypeInfo(text.Out, pm);
        string s = text.ToString();
        int pbo = pm->PageblockOrder;

        // One order-0 frame out of a page block leaves one free block of each order 0..pbo-1 in it.
        string[] mov = Row(s, "movable");
        string[] rec = Row(s, "reclaimable");
        string[] unm = Row(s, "unmovable");
        string[] whole = Row(s, "whole");
        Assert.Equal(pm->MaxOrder + 1, mov.Length);
        for (int o = 0; o < pbo; o++)
        {
            Assert.Equal("1", mov[o]);
            Assert.Equal(o == 0 ? "0" : "1", rec[o]);
            Assert.Equal("0", unm[o]);
            Assert.Equal("-", whole[o]);
        }
        ulong wholePages = 0;
        for (int o = pbo; o <= pm->MaxOrder; o++)
        {
            Assert.Equal("-", mov[o]);
            wholePages += ulong.Parse(whole[o]) << o;
        }
        Assert.Equal(2UL << pbo, wholePages);

        string blocksTable = s[s.IndexOf("Page blocks per class", System.StringComparison.Ordinal)..];
        string blocks = System.Array.Find(blocksTable.Split('\n'), l => l.StartsWith("pool ptype ", System.StringComparison.Ordinal))!;
        Assert.Equal(new[] { "pool", "ptype", "0", "1", "1", "2" }, blocks.Split(' ', System.StringSplitOptions.RemoveEmptyEntries));
    }
}
