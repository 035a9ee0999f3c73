using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// DMA memory on the device's node (issue 16): the PCI device's node from the DSDT's root bridge
/// _PXM (QEMU's pxb-pcie expander with numa_node=), shown by lspci, the DMA pool made on that node
/// (dmapools says so), every address the driver hands the device inside that node's memory, and a
/// transfer checked byte by byte. Without an expander, the one root bridge has no _PXM and devices no node.
/// </summary>
public class NumaDmaBootTests
{
    private const int SectorSize = 512;
    private readonly ITestOutputHelper _output;

    public NumaDmaBootTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void VirtioBlockBehindExpanderOnNode1_DmaPoolAndBuffersOnNode1()
    {
        string image = VirtioBlockTests.CreateImage();
        try
        {
            QemuResult result = new QemuBoot
            {
                Memory = "512M",
                Nodes = 2,
                KernelCommandLine = "run=\"numa;lspci;disks;read vda 5 2;write vda 9 171 3;read vda 9 3;dmapools;halt\"",
                ExtraArgs = new[]
                {
                    "-device", "pxb-pcie,id=pxb1,bus_nr=0x80,numa_node=1,bus=pcie.0",
                    "-device", "pcie-root-port,id=rp1,bus=pxb1,chassis=1",
                    "-drive", $"file={image},if=none,id=d0,format=raw",
                    "-device", "virtio-blk-pci,drive=d0,disable-modern=on,disable-legacy=off,bus=rp1",
                    // Every PCI driver passes its function's node: the NIC behind the same expander too.
                    "-device", "pcie-root-port,id=rp2,bus=pxb1,chassis=2",
                    "-nic", "none", "-netdev", "hubport,id=n0,hubid=0", "-device", "rtl8139,netdev=n0,bus=rp2",
                },
            }.Run();
            _output.WriteLine(result.ToString());
            BootTests.AssertStatus(result, QemuResult.CleanHalt);
            BootTests.AssertContains(result, "acpi:     DSDT: 2 PCI root bridges: PCI0 bus 0x0 no _PXM, PC80 bus 0x80 _PXM 1");

            // Node 1's memory, as the kernel's numa report gives the SRAT's ranges.
            var node1 = Regex.Matches(result.Console, @"^  node 1: 0x([0-9a-f]+)-0x([0-9a-f]+) ", RegexOptions.Multiline)
                .Select(m => (ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber), ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber))).ToList();
            Assert.NotEmpty(node1);

            string[] lspci = VirtioBlockTests.Section(result, "lspci");
            Assert.Contains(lspci, l => Regex.IsMatch(l, @"^81:00\.0 1af4:1001 class 0100 \S.*\[driver virtio-blk\]  node 1$"));
            Assert.Contains(lspci, l => Regex.IsMatch(l, @"^00:00\.0 .*  node -$"));
            Assert.Contains(lspci, l => Regex.IsMatch(l, @"^82:00\.0 10ec:8139 class 0200 network controller  \[driver rtl8139\]  node 1$"));
            Assert.Equal("  vda  8192 sectors (4 MiB)  dma 44-bit boundary 0x0", VirtioBlockTests.Section(result, "disks").Single());

            byte[] read = VirtioBlockTests.HexDumpOf(result, "read vda 5 2", 5 * SectorSize, 2 * SectorSize);
            for (int i = 0; i < read.Length; i++)
                Assert.True(read[i] == VirtioBlockTests.Pattern(5 + i / SectorSize, i % SectorSize), $"sector {5 + i / SectorSize} byte {i % SectorSize}: {read[i]:x2}\n{result}");
            Assert.Equal("write: ok", VirtioBlockTests.Section(result, "write vda 9 171 3").Last());
            Assert.All(VirtioBlockTests.HexDumpOf(result, "read vda 9 3", 9 * SectorSize, 3 * SectorSize), b => Assert.Equal(0xAB, b));

            var nicDma = result.Lines.Where(l => l.StartsWith("dma: rtl8139 ")).ToList();
            Assert.NotEmpty(nicDma);
            var dma = result.Lines.Where(l => l.StartsWith("dma: virtio-blk ")).ToList();
            Assert.Equal(10, dma.Count); // the queue, then header, data, status for each of the three requests
            foreach (string line in dma.Concat(nicDma))
            {
                Match m = Regex.Match(line, @"phys=0x([0-9a-f]+) len=0x([0-9a-f]+) .* ok$");
                Assert.True(m.Success, line);
                ulong phys = ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber);
                ulong end = phys + ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber);
                Assert.True(node1.Any(r => phys >= r.Item1 && end <= r.Item2), $"not on node 1: {line}\n{result}");
            }

            string[] pools = VirtioBlockTests.Section(result, "dmapools");
            // The NIC (32-bit) has a pool of its own on node 1; each pool's user is its driver's container.
            int virtioPool = Array.FindIndex(pools, l => l.StartsWith("dma pool dma44-n1 "));
            int nicPool = Array.FindIndex(pools, l => l.StartsWith("dma pool dma32-n1 "));
            Assert.True(virtioPool >= 0 && nicPool >= 0, string.Join("\n", pools));
            Assert.Matches(@"^dma pool dma44-n1 \(pool \d+\): below 2\^44, node 1 \(the device's node\), ", pools[virtioPool]);
            Assert.Matches(@"^    user virtio-blk: 3 buffers, owner \d+ \(container\)$", pools[virtioPool + 1]);
            Assert.Matches(@"^dma pool dma32-n1 \(pool \d+\): below 2\^32, node 1 \(the device's node\), ", pools[nicPool]);
            Assert.Matches(@"^    user rtl8139: \d+ buffers, owner \d+ \(container\)$", pools[nicPool + 1]);
        }
        finally
        {
            File.Delete(image);
        }
    }

    [Fact]
    public void WithoutExpander_OneRootBridgeWithoutPxm_DevicesWithoutNode()
    {
        QemuResult result = new QemuBoot { Memory = "512M", Nodes = 2, KernelCommandLine = "run=\"lspci;halt\"" }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "acpi:     DSDT: 1 PCI root bridge: PCI0 bus 0x0 no _PXM");
        string[] lspci = VirtioBlockTests.Section(result, "lspci");
        Assert.NotEmpty(lspci);
        Assert.All(lspci.Where(l => !l.StartsWith("    bar")), l => Assert.EndsWith("  node -", l));
    }
}
